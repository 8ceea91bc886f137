"""passport-bff: a caching backend-for-frontend for Passport's customer API."""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Flask is imported by the factory only: the gunicorn master imports app.web.server_errors
    from flask import Flask


def create_app(environ: Mapping[str, str] | None = None) -> Flask:
    """Build the app from the environment (``os.environ`` unless given; ``APP_ENV`` picks the config)."""
    from flask import Flask

    from app.web.install import install
    from config import load_config

    app = Flask(__name__)
    install(app, load_config(environ))
    return app
