"""The audit trail: one JSON line for every record of personal data that leaves the service.

Why: we hold personal data for many frontends; "who looked at customer X, when, through which
route, and why" must be answerable long after the request logs have rotated away, and from a
sink of its own (a file that is shipped to the audit store, or stdout where the platform
collects it), never sampled. A disclosure is a record in an answer: a lookup's 200 or 304 (the
caller holds the record and we confirm it), each customer of a batch, each customer of a listing
page. A problem answer or a remembered 404 discloses nothing and writes nothing.

Each line (``AUDIT_LOG=stdout|file:PATH|off``)::

    {"time":"2026-12-07T01:02:03.456Z","event":"customer.disclosed","customer_id":"<uuid>",
     "caller":"<API key name or JWT sub>","route":"/v1/customers/<path:customer_id>",
     "result":"HIT","request_id":"...","trace_id":"<32 hex>"|null,"purpose":"..."|null}

A record of another kind names its own id and the customer it belongs to (``null`` when Passport's
record names none), so that the same question finds it::

    {"time":"...","event":"account.disclosed","account_id":"<uuid>","customer_id":"<owner uuid>",
     "caller":"...","route":"/v1/accounts/<path:account_id>","result":"MISS",...}

``result`` is ``HIT``, ``MISS``, ``STALE``, ``BYPASS`` (the ``X-Cache`` of the record) or
``NOT_MODIFIED`` (a 304). No other personal data is written: the ids are the subject, the rest
describes the access. The caller may say why it asks in ``X-Purpose`` (validated: 1 to 64
characters of ``A-Z a-z 0-9 . _ : / # = + -``, starting with a letter or digit; anything else is a
400 naming the header, before any cache or Passport call).

A sink that fails (a full disk, a file gone) costs the request nothing: the event is counted in
``passport_bff_audit_write_failures_total`` and the failure logged at most once a minute. The
sink is not Python's ``logging`` (see ``AuditTrail``), but the app's logs never hold these lines.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterable

from app import metrics
from app.failure_report import FailureReport
from app.observability import MillisStamp, StdoutLines, json_text, write_all
from app.tracing import current_trace_id
from app.web.problems import INVALID_PURPOSE, Problem
from config.settings import AuditSettings

log = logging.getLogger(__name__)

PURPOSE_HEADER = "X-Purpose"
SANE_PURPOSE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/#=+-]{0,63}")
NOT_MODIFIED = "NOT_MODIFIED"
CUSTOMER = "customer"
ROTATION_CHECK_SECONDS = 1.0


def purpose_of(value: str | None) -> str | None:
    """The caller's stated purpose, or None; a malformed one is a 400 problem."""
    if value is None:
        return None
    if not SANE_PURPOSE.fullmatch(value):
        raise Problem(INVALID_PURPOSE, f"{PURPOSE_HEADER} must be 1 to 64 characters of A-Z a-z 0-9 . _ : / # = + -, "
                                       "starting with a letter or a digit.")
    return value


class AuditTrail:
    """Write disclosures to the configured sink, one line each; a no-op when ``AUDIT_LOG=off``.

    Why not ``logging``: a hit is a disclosure, and a log record (creation, handler lock, formatter,
    buffered write, flush) cost ~40 µs — a tenth of a hit. An event here is one string and one
    ``write``: ids, route, result, request id, trace id and purpose are all of a validated
    alphabet, so only the caller's name (a JWT ``sub`` may hold anything) needs JSON escaping.
    """

    def __init__(self, settings: AuditSettings) -> None:
        self._sink: AuditSink | None = None
        if settings.sink == "file" and settings.path:
            self._sink = AuditFile(settings.path)
        elif settings.sink == "stdout":
            self._sink = AuditStream()
        self._clock = MillisStamp.iso_utc()
        self.enabled = self._sink is not None

    def disclosed(self, kind: str, records: Iterable[tuple[str, str | None, str]], *, caller: str | None, route: str,
                  request_id: str, purpose: str | None) -> None:
        """One line per ``(id, owner, result)`` of ``records`` of ``kind``, disclosed to ``caller`` by ``route``.

        ``owner`` is the customer a record belongs to (a customer's is None: it is its own).
        """
        sink = self._sink
        if sink is None:
            return
        trace_id = current_trace_id()
        head = f'{{"time":"{self._clock.now()}","event":"{kind}.disclosed","{kind}_id":"'
        middle = f'","caller":{json_text(caller)},"route":"{route}","result":"'
        end = f'","request_id":"{request_id}","trace_id":{quoted(trace_id)},"purpose":{quoted(purpose)}}}\n'
        if kind == CUSTOMER:
            lines = (head + record_id + middle + result + end for record_id, _, result in records)
        else:
            lines = (head + record_id + f'","customer_id":{quoted(owner)}' + middle[1:] + result + end
                     for record_id, owner, result in records)
        sink.write("".join(lines).encode())


def quoted(value: str | None) -> str:
    """A JSON string of a value of a validated alphabet (no quote, no backslash), or null."""
    return "null" if value is None else f'"{value}"'


class AuditSink:
    """Where lines go; a failure is counted and said at most once a minute, never raised."""

    def __init__(self, where: str) -> None:
        self._report = FailureReport(log, f"the audit trail could not be written to {where} (%s: %s); failures "
                                          "are counted in passport_bff_audit_write_failures_total")

    def write(self, lines: bytes) -> None:
        try:
            self._write(lines)
        except (OSError, ValueError) as error:  # ValueError: a closed stream
            self._failed(lines.count(b"\n"), error)

    def _write(self, lines: bytes) -> None:
        raise NotImplementedError

    def _failed(self, events: int, error: Exception) -> None:
        metrics.AUDIT_WRITE_FAILURES.inc(events)
        self._report(type(error).__name__, error)


class AuditStream(AuditSink):
    """stdout, where the platform collects it, with the log lines: one ``write`` per answer
    (``app.observability.StdoutLines``)."""

    def __init__(self) -> None:
        super().__init__("stdout")
        self._lines = StdoutLines()

    def _write(self, lines: bytes) -> None:
        self._lines.write(lines)


class AuditFile(AuditSink):
    """A file, appended to with one ``write`` per answer (``O_APPEND``: workers' lines never mix).

    Opened at the first event, not at start-up; reopened when log rotation moved or removed it
    (checked at most once a second) and after a failed write, so a disk that filled up and was
    freed, or a file deleted, heals by itself.
    """

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self._path = path
        self._fd: int | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def _write(self, lines: bytes) -> None:
        with self._lock:
            try:
                write_all(self._current_fd(), lines)
            except OSError:
                self._close()
                raise

    def _current_fd(self) -> int:
        now = time.monotonic()
        if self._fd is not None and now - self._checked_at >= ROTATION_CHECK_SECONDS:
            self._checked_at = now
            if not self._still_the_file(self._fd):
                self._close()
        if self._fd is None:
            self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            self._checked_at = now
        return self._fd

    def _still_the_file(self, fd: int) -> bool:
        try:
            on_disk, ours = os.stat(self._path), os.fstat(fd)
        except OSError:
            return False
        return (on_disk.st_dev, on_disk.st_ino) == (ours.st_dev, ours.st_ino)

    def _close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass
