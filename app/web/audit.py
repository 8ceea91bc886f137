"""The audit trail: one JSON line for every customer record that leaves the service.

Why: we hold personal data for many frontends; "who looked at customer X, when, through which
route, and why" must be answerable long after the request logs have rotated away, and from a
sink of its own (a file that is shipped to the audit store, or stdout where the platform
collects it), never sampled. A disclosure is a customer record in an answer: a lookup's 200 or
304 (the caller holds the record and we confirm it), each customer of a batch, each customer of a
listing page. A problem answer or a remembered 404 discloses nothing and writes nothing.

Each line (``AUDIT_LOG=stdout|file:PATH|off``)::

    {"time":"2026-12-07T01:02:03.456Z","event":"customer.disclosed","customer_id":"<uuid>",
     "caller":"<API key name or JWT sub>","route":"/v1/customers/<path:customer_id>",
     "result":"HIT","request_id":"...","trace_id":"<32 hex>"|null,"purpose":"..."|null}

``result`` is ``HIT``, ``MISS``, ``STALE``, ``BYPASS`` (the ``X-Cache`` of the record) or
``NOT_MODIFIED`` (a 304). No other personal data is written: the customer id is the subject, the
rest describes the access. The caller may say why it asks in ``X-Purpose`` (validated: 1 to 64
characters of ``A-Z a-z 0-9 . _ : / # = + -``, starting with a letter or digit; anything else is a
400 naming the header, before any cache or Passport call).

A sink that fails (a full disk, a file gone) costs the request nothing: the event is counted in
``passport_bff_audit_write_failures_total`` and the failure logged at most once a minute.
"""
from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from logging.handlers import WatchedFileHandler
from typing import Any

from app import metrics
from app.tracing import current_trace_id
from app.web.problems import INVALID_PURPOSE, Problem
from config.settings import AuditSettings

log = logging.getLogger(__name__)

PURPOSE_HEADER = "X-Purpose"
SANE_PURPOSE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/#=+-]{0,63}")
NOT_MODIFIED = "NOT_MODIFIED"
EVENT = "customer.disclosed"
FAILURE_REPORT_SECONDS = 60.0


def purpose_of(value: str | None) -> str | None:
    """The caller's stated purpose, or None; a malformed one is a 400 problem."""
    if value is None:
        return None
    if not SANE_PURPOSE.fullmatch(value):
        raise Problem(INVALID_PURPOSE, f"{PURPOSE_HEADER} must be 1 to 64 characters of A-Z a-z 0-9 . _ : / # = + -, "
                                       "starting with a letter or a digit.")
    return value


class AuditTrail:
    """Write disclosures to the configured sink, one line each; a no-op when ``AUDIT_LOG=off``."""

    def __init__(self, settings: AuditSettings) -> None:
        self._logger = audit_logger(settings)

    @property
    def enabled(self) -> bool:
        return self._logger is not None

    def disclosed(self, records: Iterable[tuple[str, str]], *, caller: str | None, route: str, request_id: str,
                  purpose: str | None) -> None:
        """One line per ``(customer_id, result)`` of ``records``, disclosed to ``caller`` by ``route``."""
        if self._logger is None:
            return
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        trace_id = current_trace_id()
        for customer_id, result in records:
            self._logger.info(json.dumps({
                "time": now, "event": EVENT, "customer_id": customer_id, "caller": caller, "route": route,
                "result": result, "request_id": request_id, "trace_id": trace_id, "purpose": purpose,
            }, separators=(",", ":")))
            metrics.AUDIT_EVENTS.inc()


class FailureCounting(logging.Handler):
    """A sink's failures: counted every time, logged (by the app's logger) at most once a minute."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._next_report = 0.0
        self._report_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        """Write the line; any failure (some of logging's own steps raise) is handled, never raised."""
        try:
            super().emit(record)
        except Exception:  # noqa: BLE001 — the sink's failure must not become the request's
            self.handleError(record)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 — logging's name
        self.after_failure()
        metrics.AUDIT_WRITE_FAILURES.inc()
        error = sys.exc_info()[1]
        with self._report_lock:
            now = time.monotonic()
            if now < self._next_report:
                return
            self._next_report = now + FAILURE_REPORT_SECONDS
        log.warning("the audit trail could not be written (%s: %s); failures are counted in "
                    "passport_bff_audit_write_failures_total", type(error).__name__, error)


    def after_failure(self) -> None:
        """Make the next event start clean."""


class AuditStream(FailureCounting, logging.StreamHandler):  # type: ignore[type-arg]
    """stdout, where the platform collects it."""


class AuditFile(FailureCounting, WatchedFileHandler):
    """A file, reopened when log rotation moves it; opened at the first event, not at start-up."""

    def after_failure(self) -> None:
        """Drop the file and what its buffer held (that event is counted as lost); the next event
        reopens it, so that a file deleted or a disk that filled up and was freed heals by itself."""
        stream, self.stream = self.stream, None
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass


def audit_logger(settings: AuditSettings) -> logging.Logger | None:
    """A logger of the app's own (not the root's: no level, no redaction, no other handler), or None."""
    if settings.sink == "off":
        return None
    handler: logging.Handler
    if settings.sink == "file" and settings.path:
        handler = AuditFile(settings.path, delay=True, encoding="utf-8")
    else:
        handler = AuditStream(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.Logger("passport_bff.audit", logging.INFO)  # one per app, never shared by name
    logger.addHandler(handler)
    logger.propagate = False
    return logger
