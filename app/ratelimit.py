"""Per-caller rate limits (Flask-Limiter), shared through the same Redis as the cache.

Limits are counted per authenticated caller (API key name or JWT subject), or per client address
for anonymous requests, with ``RATELIMIT_DEFAULT`` (Flask-Limiter's syntax, e.g. ``600 per
minute``; ``off`` disables it), counted with a sliding-window counter. Over the limit: 429
problem+json with ``Retry-After``; answers within the limit carry no rate-limit headers. When Redis
is down the limiter **fails open**, availability first: it logs it and counts per process in
memory until Redis answers again. Health checks are never limited.
"""
from __future__ import annotations

import logging

import math
import time

from flask import Flask, Response, current_app, g, request
from flask_limiter import Limiter, RequestLimit

from app.errors import ProblemType, problem_response
from app.redis_topology import client_options, limiter_storage_uri
from config import redis_enabled

log = logging.getLogger(__name__)

EXTENSION = "passport_bff_limiter"
TOO_MANY_REQUESTS = ProblemType("too-many-requests", 429, "Too Many Requests")


def caller_key() -> str:
    caller = g.get("caller")
    return f"caller:{caller.name}" if caller is not None else f"addr:{request.remote_addr}"


def exempt() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "public", False)


def refuse(limit: RequestLimit) -> Response:
    """The 429 problem, with the ``Retry-After`` computed only now that it is needed."""
    retry_after = max(1, math.ceil(limit.reset_at - time.time()))
    return problem_response(TOO_MANY_REQUESTS, f"Over the limit of {limit.limit}; retry later.",
                            {"Retry-After": str(retry_after)})


def init_app(app: Flask) -> None:
    """Install the limiter; call after caller authentication so that ``g.caller`` is known."""
    limit = app.config["RATELIMIT_DEFAULT"]
    if not limit:
        return
    shared = redis_enabled(app.config)
    options = client_options(app.config) if shared else {}
    limiter = Limiter(
        caller_key,
        app=app,
        default_limits=[limit],
        default_limits_exempt_when=exempt,
        storage_uri=limiter_storage_uri(app.config) if shared else "memory://",
        storage_options=options,
        # Constant cost per request (two counters), where a moving window's grows with the limit;
        # no X-RateLimit-* headers on every answer, which cost a second Redis script per request.
        strategy="sliding-window-counter",
        key_prefix=f"{app.config['CACHE_KEY_PREFIX']}:v1:ratelimit",
        headers_enabled=False,
        on_breach=refuse,
        swallow_errors=True,
        in_memory_fallback_enabled=True,
    )
    app.extensions[EXTENSION] = limiter
