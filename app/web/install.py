"""Everything the web layer puts into a Flask app, in one function, in the order that makes it work.

A request passes, from the socket in:

1. WSGI layers, outermost first: ``BodyFraming`` (bodies read whole, ``app.web.framing``), then
   ``ProxyFix`` when proxies are trusted (the real client address), then ``LookupFastPath``
   (plain lookups served ahead of Flask, so it must sit inside ProxyFix), then Flask.
2. Flask's before-request hooks, in the order they run: the request trace, the canonical path,
   the body size, the caller (not for public views nor the lookup, which authenticates itself),
   then Flask-Limiter (it counts per caller, so after the caller is known).
3. The view; errors become problems (``app.web.errors``).
4. After-request hooks, in the order they run: security headers, CORS headers, then the request's
   log line and metrics (last, so they see the answer as sent). Flask runs these in the reverse
   order of registration, which is why they are registered last-first below.
"""
from __future__ import annotations

from flask import Flask

from app import tracing
from app.observability import AccessLog, configure_logging
from app.passport.resources import RESOURCES
from app.web import (
    api,
    api_collections,
    auth,
    errors,
    health,
    openapi,
    overview,
    ratelimit,
    request_log,
    request_target,
    security,
    services,
)
from app.web.audit import AuditTrail
from app.web.fast_path import LookupFastPath
from app.web.framing import BodyFraming, WSGIApp
from app.web.lookup import RecordLookup
from config.settings import Settings


def install(app: Flask, settings: Settings) -> None:
    """Build the service's parts from ``settings`` and wire them into ``app``."""
    http = settings.http
    tracing.configure(settings.tracing)  # per worker: the app is built after gunicorn's fork
    configure_logging(settings.log.level, settings.log.format, traced=settings.tracing.enabled)
    access = AccessLog(settings.log.level, settings.log.format, traced=settings.tracing.enabled)
    app.config["MAX_CONTENT_LENGTH"] = http.max_request_body_bytes  # Flask's own limit (413)
    if settings.app_env == "production":
        app.debug = False  # no Werkzeug debugger, whatever FLASK_DEBUG says
    parts = services.init_app(app, settings)
    authenticator = auth.init_app(app, settings.auth)

    # 4. after-request hooks, registered last-first (Flask runs them in reverse)
    app.after_request(request_log.request_finisher(access))
    app.teardown_request(request_log.end_request)
    security.allow_browsers(app, http.cors_allowed_origins)
    app.after_request(security.add_security_headers)
    # 2. before-request hooks, in the order they run (Flask-Limiter's comes last)
    app.before_request(request_log.start_request)
    app.before_request(request_target.refuse_non_canonical_paths)
    app.before_request(security.refuse_large_bodies)
    app.before_request(auth.authenticate_request)
    ratelimit.init_app(app, settings)
    # 3. views and errors
    errors.init_app(app)
    health.init_app(app, http.readiness_strict_checks)
    audit = AuditTrail(settings.audit)
    refresh_limit = ratelimit.refresh_rate_limit(app)
    lookups = [
        RecordLookup(resource, authenticator, ratelimit.lookup_rate_limit(app, api.endpoint_of(resource)),
                     parts.records[resource.name], http.customer_cache_control, audit, refresh_limit)
        for resource in RESOURCES
    ]
    api.register(app, lookups)
    api_collections.init_app(app, http.customer_cache_control, audit)
    overview.init_app(app, http.customer_cache_control, audit)
    openapi.init_app(app)  # last: it documents every route registered before it

    # 1. WSGI layers, innermost first
    wsgi: WSGIApp = app.wsgi_app
    if http.lookup_fast_path and not http.cors_allowed_origins:  # browsers' requests take Flask's CORS
        wsgi = LookupFastPath(lookups, wsgi, access)
    wsgi = security.behind_proxies(wsgi, http.trusted_proxy_hops)
    app.wsgi_app = BodyFraming(wsgi, http.max_request_body_bytes)  # type: ignore[method-assign]
