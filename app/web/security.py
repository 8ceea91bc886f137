"""Gateway fit and response hardening: proxies, body size, CORS, security headers, no debugger.

- ``TRUSTED_PROXY_HOPS`` proxies in front of us are believed (werkzeug's ``ProxyFix``), so logs and
  rate limits see the real client; with 0 (the default) forwarded headers are ignored.
- Request bodies are capped at ``MAX_REQUEST_BODY_BYTES`` (413 problem beyond).
- CORS is off unless ``CORS_ALLOWED_ORIGINS`` lists the browser origins allowed to call us.
- Every answer says ``nosniff``, cannot be framed, sends no referrer and, unless it set its own
  caching rule, ``Cache-Control: no-store``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, request
from flask_cors import CORS
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from app.web.answers import SECURITY_HEADERS

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

CORS_REQUEST_HEADERS = ["X-API-Key", "Authorization", "X-Request-ID", "If-None-Match", "Content-Type"]
CORS_EXPOSED_HEADERS = ["ETag", "Age", "X-Cache", "Cache-Status", "X-Request-ID", "Retry-After"]
CORS_MAX_AGE_SECONDS = 600


def add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def refuse_large_bodies() -> None:
    """Refuse an announced oversized body before anything reads it (413 problem)."""
    limit = request.max_content_length  # Flask's own limit, set from MAX_REQUEST_BODY_BYTES
    if limit is not None and request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge(f"Request bodies are limited to {limit} bytes.")


def behind_proxies(wsgi_app: WSGIApp, hops: int) -> WSGIApp:
    """Believe ``hops`` proxies' forwarded headers (none: ignore them)."""
    if not hops:
        return wsgi_app
    return ProxyFix(wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)


def allow_browsers(app: Flask, origins: tuple[str, ...]) -> None:
    """Answer CORS for ``origins`` (Flask-Cors's after-request hook); with none, CORS stays off."""
    if origins:
        CORS(app, origins=list(origins), allow_headers=CORS_REQUEST_HEADERS, expose_headers=CORS_EXPOSED_HEADERS,
             max_age=CORS_MAX_AGE_SECONDS, vary_header=True)
