"""In-process request coalescing: one call per key at a time, its outcome shared by the waiters.

The Redis lock in ``app.policy.records`` coalesces across workers and instances; this does the same
for the threads of one worker first, so that a burst on one cold id costs one Redis lock
attempt per process instead of one per thread (and still coalesces when Redis is down).
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Flight(Generic[T]):
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


class SingleFlight:
    """Run ``fn`` once per key among concurrent callers (Go's ``singleflight``)."""

    def __init__(self, max_wait_seconds: float) -> None:
        self._max_wait = max_wait_seconds
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight[Any]] = {}

    def run(self, key: str, fn: Callable[[], T]) -> tuple[T, bool]:
        """Return ``fn()``'s result (or raise its error) and whether this caller ran it."""
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if not leader:
            return self._follow(flight, fn)
        try:
            flight.result = fn()
            return flight.result, True
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()

    def _follow(self, flight: _Flight[T], fn: Callable[[], T]) -> tuple[T, bool]:
        # The leader's work is itself bounded; the timeout only guards against the unforeseen.
        if not flight.done.wait(self._max_wait):
            return fn(), True
        if flight.error is not None:
            raise flight.error
        return flight.result, False
