"""Say a recurring failure in the log at most once a minute; its metric counts every occurrence.

Why: a sink that fails (a full disk under the audit trail, a collector that is down under the
traces) fails for every request; a warning each time would flood the log with one line per answer
while saying nothing new. Shared by ``app.web.audit`` and ``app.tracing``; imports no layer.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

REPORT_EVERY_SECONDS = 60.0


class FailureReport:
    """``report(*args)`` logs ``message % args`` as a warning, at most once per ``every_seconds``."""

    def __init__(self, log: logging.Logger, message: str, every_seconds: float = REPORT_EVERY_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._log = log
        self._message = message
        self._every = every_seconds
        self._clock = clock
        self._next = -float("inf")
        self._lock = threading.Lock()

    def __call__(self, *args: object) -> None:
        with self._lock:
            now = self._clock()
            if now < self._next:
                return
            self._next = now + self._every
        self._log.warning(self._message, *args)
