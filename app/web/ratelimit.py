"""Per-caller rate limits (Flask-Limiter), shared through the same Redis as the cache.

Limits are counted per authenticated caller (API key name or JWT subject), or per client address
for anonymous requests, with ``RATELIMIT_DEFAULT`` (Flask-Limiter's syntax, e.g. ``600 per
minute``; ``off`` disables it), counted with a sliding-window counter. Over the limit: 429
problem+json with ``Retry-After``; answers within the limit carry no rate-limit headers. When Redis
is down the limiter **fails open**, availability first: it logs it and counts per process in
memory until Redis answers again. Health checks are never limited; the customer lookup counts
itself, on the same storage and counters (``app.web.lookup_limit``).
"""
from __future__ import annotations

import logging
import math
import time

import limits
from flask import Flask, Response, current_app, g, request
from flask_limiter import Limiter, RequestLimit
from limits.storage import storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

from app.store.cache import CacheKeys
from app.store.redis_topology import limiter_storage_options, limiter_storage_uri
from app.web.errors import problem_response
from app.web.lookup_limit import REFRESH_SCOPE, LookupRateLimit, caller_key_for
from app.web.problems import TOO_MANY_REQUESTS
from config.settings import Settings

log = logging.getLogger(__name__)

EXTENSION = "passport_bff_limiter"
LOOKUP_EXTENSION = "passport_bff_lookup_rate_limit"
REFRESH_EXTENSION = "passport_bff_refresh_rate_limit"


def caller_key() -> str:
    return caller_key_for(g.get("caller"), request.remote_addr)


def exempt() -> bool:
    """Health checks are never limited; the lookup limits itself (``app.web.lookup_limit``)."""
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "public", False) or getattr(view, "answers_itself", False)


def refuse(limit: RequestLimit) -> Response:
    """The 429 problem, with the ``Retry-After`` computed only now that it is needed."""
    retry_after = max(1, math.ceil(limit.reset_at - time.time()))
    return problem_response(TOO_MANY_REQUESTS, f"Over the limit of {limit.limit}; retry later.",
                            {"Retry-After": str(retry_after)})


def init_app(app: Flask, settings: Settings) -> None:
    """Install the limiter; call after caller authentication so that ``g.caller`` is known."""
    shared = settings.redis.enabled
    options = limiter_storage_options(settings.redis) if shared else {}
    key_prefix = CacheKeys(settings.cache.key_prefix).rate_limit_prefix
    storage_uri = limiter_storage_uri(settings.redis) if shared else "memory://"
    refresh = settings.http.refresh_rate_limit
    if refresh:  # exact (no local budget): refreshes are rare, and each may cost a Passport call
        strategy = SlidingWindowCounterRateLimiter(storage_from_string(storage_uri, **options))
        app.extensions[REFRESH_EXTENSION] = LookupRateLimit(strategy, limits.parse_many(refresh), key_prefix, 0.0,
                                                            scope=REFRESH_SCOPE)
    limit = settings.http.rate_limit
    if not limit:
        return
    limiter = Limiter(
        caller_key,
        app=app,
        default_limits=[limit],
        default_limits_exempt_when=exempt,
        storage_uri=storage_uri,
        storage_options=options,
        # Constant cost per request (two counters), where a moving window's grows with the limit;
        # no X-RateLimit-* headers on every answer, which cost a second Redis script per request.
        strategy="sliding-window-counter",
        key_prefix=key_prefix,
        headers_enabled=False,
        on_breach=refuse,
        swallow_errors=True,
        in_memory_fallback_enabled=True,
    )
    app.extensions[EXTENSION] = limiter
    app.extensions[LOOKUP_EXTENSION] = lambda scope: LookupRateLimit(
        limiter.limiter, limits.parse_many(limit), key_prefix, settings.http.rate_limit_sync_seconds, scope=scope
    )


def refresh_rate_limit(app: Flask) -> LookupRateLimit | None:
    """The limit on a caller's revalidation requests (``RATELIMIT_REFRESH``); None when off."""
    limit: LookupRateLimit | None = app.extensions.get(REFRESH_EXTENSION)
    return limit


def lookup_rate_limit(app: Flask, scope: str) -> LookupRateLimit | None:
    """A lookup route's rate limit, counted as Flask-Limiter counts the route ``scope`` (its endpoint,
    e.g. ``customers.get_customer``), on the same storage; None when rate limiting is off."""
    build = app.extensions.get(LOOKUP_EXTENSION)
    return None if build is None else build(scope)
