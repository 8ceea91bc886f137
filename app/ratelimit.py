"""Per-caller rate limits (Flask-Limiter), shared through the same Redis as the cache.

Limits are counted per authenticated caller (API key name or JWT subject), or per client address
for anonymous requests, with ``RATELIMIT_DEFAULT`` (Flask-Limiter's syntax, e.g. ``600 per
minute``; ``off`` disables it). Over the limit: 429 problem+json with ``Retry-After``. When Redis
is down the limiter **fails open**, availability first: it logs it and counts per process in
memory until Redis answers again. Health checks are never limited.
"""
from __future__ import annotations

import logging

from flask import Flask, Response, current_app, g, request
from flask_limiter import Limiter

from app.redis_topology import client_options, limiter_storage_uri
from config import redis_enabled

log = logging.getLogger(__name__)

EXTENSION = "passport_bff_limiter"
RETRY_STATUSES = (429, 503)


def caller_key() -> str:
    caller = g.get("caller")
    return f"caller:{caller.name}" if caller is not None else f"addr:{request.remote_addr}"


def exempt() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "public", False)


def keep_retry_after_for_refusals(response: Response) -> Response:
    """Flask-Limiter adds ``Retry-After`` to every answer; it only means something on a refusal."""
    if response.status_code not in RETRY_STATUSES:
        response.headers.pop("Retry-After", None)
    return response


def init_app(app: Flask) -> None:
    """Install the limiter; call after caller authentication so that ``g.caller`` is known."""
    limit = app.config["RATELIMIT_DEFAULT"]
    if not limit:
        return
    app.after_request(keep_retry_after_for_refusals)  # registered first, so it runs after the limiter's
    shared = redis_enabled(app.config)
    options = client_options(app.config) if shared else {}
    limiter = Limiter(
        caller_key,
        app=app,
        default_limits=[limit],
        default_limits_exempt_when=exempt,
        storage_uri=limiter_storage_uri(app.config) if shared else "memory://",
        storage_options=options,
        strategy="moving-window",
        key_prefix=f"{app.config['CACHE_KEY_PREFIX']}:v1:ratelimit",
        headers_enabled=True,
        swallow_errors=True,
        in_memory_fallback_enabled=True,
    )
    app.extensions[EXTENSION] = limiter
