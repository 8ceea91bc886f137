"""A circuit breaker for threaded workers, guarding Passport and Redis.

Why not pybreaker: it holds one process-wide lock for the whole guarded call, so under gunicorn's
threaded workers only one Passport call per process could be in flight (danielfm/pybreaker#3;
PRs #40, #41, #57 and #77 to lift it were closed unmerged); fabfuel/circuitbreaker has no locking
at all. This one locks only around state changes.

States: **closed** (calls pass; ``failure_threshold`` consecutive failures open it), **open**
(calls fail at once with ``CircuitOpen`` for ``reset_seconds``), **half-open** (one trial call
passes; its success closes the breaker, its failure opens it again; others fail fast meanwhile).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half-open"


class CircuitOpen(Exception):
    """The breaker is open: the guarded dependency is not called."""

    def __init__(self, name: str, retry_after: float) -> None:
        super().__init__(f"{name} circuit is open")
        self.retry_after = retry_after


class CircuitBreaker:
    """Count consecutive failures of one dependency and stop calling it for a while."""

    def __init__(
        self,
        name: str,
        failure_threshold: int,
        reset_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        on_state: Callable[[str, str], None] | None = None,
    ) -> None:
        self.name = name
        self._on_state = on_state
        self._threshold = failure_threshold
        self._reset_seconds = reset_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False
        self._reported: str | None = None

    @property
    def state(self) -> str:
        with self._lock:
            return self._state_now()

    def before_call(self) -> None:
        """Let the call through, or raise ``CircuitOpen``; in half-open, admit one trial only."""
        with self._lock:
            state = self._state_now()
            self._report(state)
            if state == CLOSED:
                return
            if state == HALF_OPEN and not self._trial_in_flight:
                self._trial_in_flight = True
                return
            raise CircuitOpen(self.name, self._retry_after())

    @contextmanager
    def guard(self, is_failure: Callable[[BaseException], bool]) -> Iterator[None]:
        """Run the ``with`` body as one guarded call; ``is_failure`` says which errors count."""
        self.before_call()
        try:
            yield
        except BaseException as exc:
            if is_failure(exc):
                self.record_failure()
            else:
                self.record_neutral()
            raise
        self.record_success()

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_in_flight = False
            self._report(CLOSED)

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial_in_flight or self._failures >= self._threshold:
                self._opened_at = self._clock()
            self._trial_in_flight = False
            self._report(self._state_now())

    def record_neutral(self) -> None:
        """End a call that says nothing about the dependency's health (a 404, say)."""
        with self._lock:
            self._trial_in_flight = False

    def _report(self, state: str) -> None:
        """Tell ``on_state`` of a state it has not been told yet: on transitions, not on every call."""
        if state != self._reported and self._on_state is not None:
            self._reported = state
            self._on_state(self.name, state)

    def _state_now(self) -> str:
        if self._opened_at is None:
            return CLOSED
        if self._clock() - self._opened_at < self._reset_seconds:
            return OPEN
        return HALF_OPEN

    def _retry_after(self) -> float:
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self._reset_seconds - self._clock())
