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
import threading
import time
from collections.abc import Callable

import limits
from flask import Flask, Response, current_app, g, request
from flask_limiter import Limiter, RequestLimit
from limits import RateLimitItem
from limits.strategies import RateLimiter

from app.store.redis_topology import limiter_storage_options, limiter_storage_uri
from app.web.auth import Caller
from app.web.errors import problem_response
from app.web.problems import TOO_MANY_REQUESTS
from config import redis_enabled

log = logging.getLogger(__name__)

EXTENSION = "passport_bff_limiter"
BUDGET_EXTENSION = "passport_bff_fast_path_budget"
# Flask-Limiter counts default limits per endpoint: the lookup route's name is its scope.
LOOKUP_SCOPE = "customers.get_customer"
# Set in the WSGI environ by app.web.fast_path on a lookup it has counted with FastPathBudget and then
# handed to Flask (a problem to render): Flask-Limiter must not count it a second time.
COUNTED = "passport_bff.rate_counted"


def caller_key() -> str:
    return caller_key_for(g.get("caller"), request.remote_addr)


def caller_key_for(caller: Caller | None, remote_addr: str | None) -> str:
    """Whom a request counts against: the authenticated caller, else the client address."""
    return f"caller:{caller.name}" if caller is not None else f"addr:{remote_addr}"


def exempt() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "public", False)


def counted_by_fast_path() -> bool:
    """A lookup ``FastPathBudget`` has counted already (checked before any limit is resolved)."""
    return bool(request.environ.get(COUNTED))


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
    options = limiter_storage_options(app.config) if shared else {}
    key_prefix = f"{app.config['CACHE_KEY_PREFIX']}:v1:ratelimit"
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
        key_prefix=key_prefix,
        headers_enabled=False,
        on_breach=refuse,
        swallow_errors=True,
        in_memory_fallback_enabled=True,
    )
    limiter.request_filter(counted_by_fast_path)
    app.extensions[EXTENSION] = limiter
    app.extensions[BUDGET_EXTENSION] = FastPathBudget(
        limiter.limiter, limits.parse_many(limit), key_prefix, app.config["RATELIMIT_SYNC_SECONDS"]
    )


def fast_path_budget(app: Flask) -> FastPathBudget | None:
    """The fast path's rate limits; None when rate limiting is off."""
    return app.extensions.get(BUDGET_EXTENSION)


class FastPathBudget:
    """Rate limits for the lookups ``app.web.fast_path`` takes on, without a Redis call per request.

    Why: the limiter's Redis script costs a worker more CPU than the rest of a hit. Each worker
    counts a caller's lookups in memory — those it answers, and those it hands to Flask marked
    ``COUNTED`` — and adds them to the caller's shared window (the very counters
    Flask-Limiter uses for the lookup route, so both paths count together) at most every
    ``RATELIMIT_SYNC_SECONDS`` — the approach of Kong's ``sync_rate``. When the window cannot
    take them, the caller's requests go to the Flask route unmarked for that long, where
    Flask-Limiter decides exactly (and answers 429). The price: a caller may exceed its limit by
    what it sends to one worker within one sync interval; a worker that dies loses at most that
    many counts. ``RATELIMIT_SYNC_SECONDS=0`` counts every lookup in Redis at once (exact).
    """

    MAX_CALLERS = 10_000

    def __init__(self, strategy: RateLimiter, limits_: list[RateLimitItem], key_prefix: str, sync_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._strategy = strategy
        self._limits = sorted(limits_)
        self._key_prefix = key_prefix
        self._sync_seconds = sync_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[str, int] = {}
        self._synced_at: dict[str, float] = {}
        self._refused_until: dict[str, float] = {}

    def admit(self, key: str) -> bool:
        """Count one lookup for ``key``; False means: let Flask-Limiter decide this request."""
        now = self._clock()
        with self._lock:
            if self._refused_until.get(key, -math.inf) > now:
                return False
            pending = self._pending.get(key, 0) + 1
            if now - self._synced_at.get(key, -math.inf) < self._sync_seconds:
                self._pending[key] = pending
                return True
            if len(self._synced_at) >= self.MAX_CALLERS:
                self._forget_callers()
            self._pending[key] = 0
            self._synced_at[key] = now
        return self._add_to_window(key, pending, now)

    def _add_to_window(self, key: str, count: int, now: float) -> bool:
        try:
            admitted = all(self._strategy.hit(limit, self._key_prefix, key, LOOKUP_SCOPE, cost=count)
                           for limit in self._limits)
        except Exception:  # noqa: BLE001 — Redis down: the Flask route's limiter falls back to memory
            log.debug("rate limit counts could not be added to the shared window", exc_info=True)
            return False
        if not admitted:
            with self._lock:
                self._refused_until[key] = now + self._sync_seconds
        return admitted

    def _forget_callers(self) -> None:
        """Bound memory with many distinct callers (JWT subjects): drop every local count."""
        self._pending.clear()
        self._synced_at.clear()
        self._refused_until.clear()
