"""The lookup's rate limit, judged without Flask: a caller's lookups counted against its window.

Lookups (``app.web.lookup``) are limited here, not by Flask-Limiter (which limits the other
routes, ``app.web.ratelimit``), on the very counters Flask-Limiter would use for the lookup route
(same storage, key prefix, strategy and scope), so a window is one window whoever counts in it.

``FastPathBudget`` keeps the hot path off Redis: each worker counts a caller's lookups in memory and
adds them to the shared window at most every ``RATELIMIT_SYNC_SECONDS`` (Kong's ``sync_rate``).
When the window cannot take them — or Redis cannot be asked — ``LookupRateLimit`` judges the request
exactly, one hit per limit as Flask-Limiter does: over a limit is a 429 ``too-many-requests``
problem with ``Retry-After``. With Redis down it counts in this process's memory (as Flask-Limiter's
in-memory fallback does), and asks Redis again after ``STORAGE_RETRY_SECONDS``.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

from limits import RateLimitItem
from limits.storage import MemoryStorage
from limits.strategies import RateLimiter, SlidingWindowCounterRateLimiter

from app.web.auth import Caller
from app.web.problems import TOO_MANY_REQUESTS, Problem

log = logging.getLogger(__name__)

# Flask-Limiter counts default limits per endpoint: the lookup route's name is its scope.
LOOKUP_SCOPE = "customers.get_customer"
# A caller's revalidation requests (Cache-Control: no-cache) count in a window of their own.
REFRESH_SCOPE = "customers.refresh"
STORAGE_RETRY_SECONDS = 2.0


def caller_key_for(caller: Caller | None, remote_addr: str | None) -> str:
    """Whom a request counts against: the authenticated caller, else the client address."""
    return f"caller:{caller.name}" if caller is not None else f"addr:{remote_addr}"


class LookupRateLimit:
    """Admit a caller's lookup, or refuse it with a 429 problem."""

    def __init__(self, strategy: RateLimiter, limits_: list[RateLimitItem], key_prefix: str, sync_seconds: float,
                 clock: Callable[[], float] = time.monotonic, scope: str = LOOKUP_SCOPE) -> None:
        self._strategy = strategy
        self._fallback = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._limits = limits_
        self._key_prefix = key_prefix
        self._scope = scope
        self._budget = FastPathBudget(strategy, limits_, key_prefix, sync_seconds, clock, scope)
        self._clock = clock
        self._storage_dead_until = -math.inf

    def check(self, caller: Caller | None, remote_addr: str | None) -> None:
        """Count this lookup; raise the 429 problem when the caller is over one of its limits."""
        key = caller_key_for(caller, remote_addr)
        if self._budget.admit(key):
            return
        strategy = self._live_strategy()
        for limit in self._limits:  # in the configured order; the first limit breached is the answer
            try:
                admitted = strategy.hit(limit, self._key_prefix, key, self._scope)
            except Exception:  # noqa: BLE001 — the storage failed: count in memory for a while
                log.warning("Rate limit storage unreachable - falling back to in-memory storage")
                self._storage_dead_until = self._clock() + STORAGE_RETRY_SECONDS
                strategy = self._fallback
                admitted = strategy.hit(limit, self._key_prefix, key, self._scope)
            if not admitted:
                raise self._refusal(strategy, limit, key)

    def _live_strategy(self) -> RateLimiter:
        return self._fallback if self._clock() < self._storage_dead_until else self._strategy

    def _refusal(self, strategy: RateLimiter, limit: RateLimitItem, key: str) -> Problem:
        """The 429 problem, with the ``Retry-After`` computed only now that it is needed."""
        try:
            reset_at = strategy.get_window_stats(limit, self._key_prefix, key, self._scope).reset_time
        except Exception:  # noqa: BLE001 — the window's end is unknown: one expiry from now
            reset_at = time.time() + limit.get_expiry()
        retry_after = max(1, math.ceil(reset_at - time.time()))
        return Problem(TOO_MANY_REQUESTS, f"Over the limit of {limit}; retry later.", {"Retry-After": str(retry_after)})


class FastPathBudget:
    """A caller's lookups counted in memory, added to its shared window at most every sync interval.

    Why: the limiter's Redis script costs a worker more CPU than the rest of a hit. When the window
    cannot take them, the caller's lookups are judged exactly (``LookupRateLimit``) for one
    interval. The price: a caller may exceed its limit by what it sends to one worker within one
    sync interval; a worker that dies loses at most that many counts. ``RATELIMIT_SYNC_SECONDS=0``
    counts every lookup in Redis at once (exact).
    """

    MAX_CALLERS = 10_000

    def __init__(self, strategy: RateLimiter, limits_: list[RateLimitItem], key_prefix: str, sync_seconds: float,
                 clock: Callable[[], float] = time.monotonic, scope: str = LOOKUP_SCOPE) -> None:
        self._strategy = strategy
        self._scope = scope
        self._limits = sorted(limits_)
        self._key_prefix = key_prefix
        self._sync_seconds = sync_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[str, int] = {}
        self._synced_at: dict[str, float] = {}
        self._refused_until: dict[str, float] = {}

    def admit(self, key: str) -> bool:
        """Count one lookup for ``key``; False means: judge this request exactly."""
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
            admitted = all(self._strategy.hit(limit, self._key_prefix, key, self._scope, cost=count)
                           for limit in self._limits)
        except Exception:  # noqa: BLE001 — Redis down: the exact judgement falls back to memory
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
