"""passport-bff: a caching backend-for-frontend for Passport's customer API."""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # Flask is imported by the factory only: the gunicorn master imports app.web.server_errors
    from flask import Flask


def create_app(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Flask:
    """Build the app from the environment (``APP_ENV`` picks the config), plus test overrides."""
    from flask import Flask

    from app.web import (
        api,
        api_collections,
        auth,
        errors,
        fast_path,
        framing,
        health,
        openapi,
        ratelimit,
        request_log,
        request_target,
        security,
        services,
    )
    from app.web.lookup import CustomerLookup
    from config import load_config

    app = Flask(__name__)
    app.config.from_mapping(load_config(environ))
    app.config.from_mapping(overrides or {})
    request_log.init_app(app)
    request_target.init_app(app)  # before any other hook: a non-canonical path reaches nothing
    fast_path.init_app(app)  # inside ProxyFix, which security.init_app puts outermost
    security.init_app(app)
    errors.init_app(app)
    services.init_app(app)
    auth.init_app(app)
    ratelimit.init_app(app)
    app.register_blueprint(health.bp)
    api.register(app, CustomerLookup(auth.authenticator(app), ratelimit.lookup_rate_limit(app),
                                     services.of(app).customers))
    app.register_blueprint(api_collections.bp)
    openapi.init_app(app)
    framing.init_app(app)  # last: the outermost WSGI layer, around ProxyFix and the fast path
    return app
