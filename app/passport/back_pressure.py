"""Passport's back-pressure, honoured by the whole fleet; calls in flight capped; retries budgeted.

Why: a worker's breaker protects Passport only from that worker. When Passport answers 429 (or
503) with ``Retry-After``, every worker of every instance must stop calling it until then — Envoy
does this fleet-wide — or the other workers go on hammering a Passport that asked for a pause.

- ``FleetPause``: the answer's ``Retry-After`` (delta-seconds or an HTTP date, clamped to
  ``PASSPORT_MAX_RETRY_AFTER_SECONDS``) becomes a shared "not before T" in Redis. Every call first
  asks it (one ``GET``; a worker that already knows is not even that) and, before T, fails at once
  with ``PassportRateLimited`` carrying the time left: stale copies are served, others get a 503
  with that ``Retry-After``. At T one call — one probe, fleet-wide (``SET NX``) — goes through; its
  success lifts the pause for all, another 429 sets a new T. With Redis down the pause is this
  worker's alone (said once in the log).
- ``InFlightLimit``: at most ``PASSPORT_MAX_IN_FLIGHT`` calls per worker at once; one more fails
  at once with ``PassportOverloaded`` (503, or the stale copy) rather than queueing on a slow
  Passport.
- ``RetryBudget``: retries stay under ``PASSPORT_RETRY_BUDGET`` of the calls of the last
  ``RETRY_WINDOW_SECONDS`` (with a floor of ``MIN_RETRIES`` so that a quiet worker may still
  retry), so that retries cannot multiply the load on a Passport that is failing.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar
from email.utils import parsedate_to_datetime

from app.passport.errors import PassportOverloaded, PassportPaused
from app.store.cache import CacheKeys, CacheStore, StoreUnavailable

log = logging.getLogger(__name__)

DEFAULT_RETRY_AFTER_SECONDS = 5  # a 429 without a usable Retry-After
PROBE_WINDOW_SECONDS = 10.0  # the pause outlives T by this much: the probe's time to answer
RETRY_WINDOW_SECONDS = 10.0
MIN_RETRIES = 3
READING_FRESH_SECONDS = 0.1  # a pause read along with the request's own read serves its first call

# The pause as this request's first store read found it (monotonic time, value): a miss then asks
# Passport without another round trip to learn whether it may (app.policy.records reads it).
_reading: ContextVar[tuple[float, bytes | None] | None] = ContextVar("passport_pause_reading", default=None)


def note_pause_reading(value: bytes | None) -> None:
    """Remember the pause's value, read just now in the same round trip as the request's entry."""
    _reading.set((time.monotonic(), value))


def retry_after_seconds(value: str | None, maximum: float, now: float) -> float:
    """``Retry-After`` as seconds from ``now`` (RFC 9110 §10.2.3), within 1..``maximum``.

    Absent, malformed, negative or past values get ``DEFAULT_RETRY_AFTER_SECONDS`` (or 1, for a
    date already past); huge ones are clamped: a hostile or broken header cannot stop us for days.
    """
    text = (value or "").strip()
    if text.isdigit():
        seconds = float(text)
    elif text:
        try:
            seconds = parsedate_to_datetime(text).timestamp() - now
        except (TypeError, ValueError, IndexError, OverflowError):
            seconds = DEFAULT_RETRY_AFTER_SECONDS
    else:
        seconds = DEFAULT_RETRY_AFTER_SECONDS
    return max(1.0, min(maximum, seconds))


class FleetPause:
    """The shared "not before T" of Passport's back-pressure (see the module's docstring)."""

    def __init__(self, store: CacheStore, keys: CacheKeys, max_seconds: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._key = keys.passport_not_before
        self._probe_key = keys.passport_probe
        self._max_seconds = max_seconds
        self._clock = clock
        self._local_until = 0.0
        self._said_store_down = False

    @property
    def paused(self) -> bool:
        """Whether this worker knows of a pause now (no store call: readiness asks it)."""
        return self._clock() < self._local_until

    def admit(self) -> bool:
        """Let a call go, or raise ``PassportPaused``; True when this call is the fleet's probe."""
        now = self._clock()
        if now < self._local_until:
            raise PassportPaused(math.ceil(self._local_until - now))
        try:
            raw = self._recent_reading()
            if raw is None:
                return False
            until = float(raw)
            if now < until:
                self._local_until = until
                raise PassportPaused(math.ceil(until - now))
            if self._store.add(self._probe_key, b"1", PROBE_WINDOW_SECONDS):
                return True  # T has come: this call probes for the whole fleet
            raise PassportPaused(1)
        except StoreUnavailable:
            self._store_down()
            return False
        except ValueError:
            return False  # an unreadable value: no pause

    def _recent_reading(self) -> bytes | None:
        """The pause's value: as read with this request's entry a moment ago (used once), else now."""
        reading = _reading.get()
        if reading is not None:
            _reading.set(None)
            read_at, value = reading
            if time.monotonic() - read_at < READING_FRESH_SECONDS:
                return value
        return self._store.get(self._key)

    def pause(self, retry_after: str | None) -> float:
        """Passport asked for a pause: share it; returns its length in seconds."""
        now = self._clock()
        seconds = retry_after_seconds(retry_after, self._max_seconds, now)
        until = now + seconds
        self._local_until = max(self._local_until, until)
        try:
            self._store.set(self._key, b"%.3f" % until, seconds + PROBE_WINDOW_SECONDS)
            self._store.delete(self._probe_key)
        except StoreUnavailable:
            self._store_down()
        log.warning("Passport asked for a pause of %.0f s: no worker calls it before then", seconds)
        return seconds

    def probe_failed(self) -> None:
        """The probe got no answer (timeout, connection error): free the probe for the next call."""
        try:
            self._store.delete(self._probe_key)
        except StoreUnavailable:
            self._store_down()

    def resume(self) -> None:
        """The probe was answered: lift the pause for the whole fleet."""
        self._local_until = 0.0
        try:
            self._store.set_and_delete([], [self._key, self._probe_key])
        except StoreUnavailable:
            self._store_down()

    def _store_down(self) -> None:
        if not self._said_store_down:
            self._said_store_down = True
            log.warning("Redis is unavailable: Passport's pauses are honoured by this worker only")


class InFlightLimit:
    """At most ``limit`` Passport calls of this worker at once; one more fails at once."""

    def __init__(self, limit: int) -> None:
        self._slots = threading.BoundedSemaphore(limit)
        self.limit = limit

    def __enter__(self) -> InFlightLimit:
        if not self._slots.acquire(blocking=False):
            raise PassportOverloaded(f"{self.limit} calls to Passport already in flight in this worker")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._slots.release()


class RetryBudget:
    """Retries as a share of calls over a sliding window (Finagle's and Envoy's retry budgets)."""

    def __init__(self, ratio: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ratio = ratio
        self._clock = clock
        self._calls: deque[float] = deque()
        self._retries: deque[float] = deque()
        self._lock = threading.Lock()

    def called(self) -> None:
        with self._lock:
            self._calls.append(self._clock())

    def may_retry(self) -> bool:
        """Spend one retry if the budget allows it."""
        with self._lock:
            now = self._clock()
            for times in (self._calls, self._retries):
                while times and times[0] < now - RETRY_WINDOW_SECONDS:
                    times.popleft()
            if len(self._retries) >= max(MIN_RETRIES, self._ratio * len(self._calls)):
                return False
            self._retries.append(now)
            return True
