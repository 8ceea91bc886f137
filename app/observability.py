"""Request ids, logs and HTTP metrics: every request gets an id, every log line carries it,
one log line and one metric sample per request.

The id is the gateway's ``X-Request-ID`` when it is sane (short, printable, no spaces), otherwise
a new one; it is echoed in the response, sent to Passport and written in every problem body.
A request's id, start and time spent on Passport live in its ``RequestTrace``, current (a context
variable) while the request runs, begun by whichever adapter serves it: the lookup fast path
(``app.web.fast_path``) or Flask's hooks (``app.web.request_log``). Nothing here imports Flask: the
Passport client adds its time to the trace from any layer.

Logs go to stdout, as JSON lines (``LOG_FORMAT=json``, the production default, via
python-json-logger) or as text for people (``LOG_FORMAT=text``, the development default). With
tracing on (``app.tracing``) JSON lines also carry ``trace_id``, and text lines show it after the
request id; with it off, nothing of tracing is on the logging path. Every record passes the
PII/credential redaction filter (``app.redaction``).

The request line (``AccessLog``, logger name ``passport_bff.access``) carries request id, client,
caller, method, route template, status, cache result, time spent on Passport and total duration —
never a body, never a header value but the id. It has the shape of every other line, but it is not
a ``logging`` record: it is written straight to stdout, as the audit trail's lines are.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

from app.failure_report import FailureReport
from app.redaction import RedactingFilter
from app.tracing import current_trace_id

REQUEST_ID_HEADER = "X-Request-ID"
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+=/-]{0,127}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
TRACED_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s trace=%(trace_id)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s"
TRACED_JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(request_id)s %(trace_id)s %(message)s"
JSON_RENAMES = {"asctime": "time", "levelname": "level", "name": "logger"}
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
ACCESS_LOGGER = "passport_bff.access"  # the request line's ``logger`` field, as if logged by that name

log = logging.getLogger(__name__)


@dataclass
class RequestTrace:
    """What the request line reports about one request, gathered while it runs."""

    request_id: str
    started: float
    upstream_seconds: float = 0.0


_current_trace: ContextVar[RequestTrace | None] = ContextVar("passport_bff_trace", default=None)


def begin_trace(gateway_request_id: str | None) -> RequestTrace:
    """Begin the request's trace and make it current."""
    trace = RequestTrace(sane_request_id(gateway_request_id), time.perf_counter())
    _current_trace.set(trace)
    return trace


def end_trace() -> None:
    """Nothing is current between requests (a keep-alive connection's next one starts afresh)."""
    _current_trace.set(None)


def current_request_id() -> str:
    trace = _current_trace.get()
    return trace.request_id if trace is not None else "-"


class RequestIdFilter(logging.Filter):
    """Stamp every record with the current request id (or ``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class TraceIdFilter(logging.Filter):
    """With tracing on, stamp every record with the current trace id (``-`` outside a trace), so
    that a log line leads to its trace; with it off, this filter is not installed at all."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "trace_id"):
            record.trace_id = current_trace_id() or "-"
        return True


def log_handler(stream: TextIO, log_format: str = "text", traced: bool = False) -> logging.Handler:
    """The handler every log line goes through: request id (and trace id) stamped, PII and secrets redacted."""
    handler = logging.StreamHandler(stream)
    if log_format == "json":
        handler.setFormatter(JsonFormatter(TRACED_JSON_FIELDS if traced else JSON_FIELDS, rename_fields=JSON_RENAMES))
    else:
        handler.setFormatter(logging.Formatter(TRACED_TEXT_FORMAT if traced else TEXT_FORMAT))
    handler.addFilter(RequestIdFilter())
    if traced:
        handler.addFilter(TraceIdFilter())
    handler.addFilter(RedactingFilter())
    return handler


def configure_logging(level: str, log_format: str, traced: bool = False) -> None:
    """Log to stdout (12-factor), once per process, whoever builds the app first."""
    root = logging.getLogger()
    if any(getattr(h, "passport_bff", False) for h in root.handlers):
        return
    handler = log_handler(sys.stdout, log_format, traced)
    handler.passport_bff = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    skip_unused_record_fields()


def skip_unused_record_fields() -> None:
    """Do not collect what no line prints: the caller's source position (a stack walk per record),
    thread and multiprocessing names — the Python logging HOWTO's "Optimization" knobs; together
    about a third of the cost of a request's log line. The process id stays: gunicorn's own lines
    in a worker print it (``[%(process)d]``), and without it they fail to format."""
    logging._srcfile = None  # documented in the HOWTO
    logging.logThreads = False
    logging.logMultiprocessing = False


def add_upstream_time(seconds: float) -> None:
    """Count time spent waiting on Passport toward the current request's log line."""
    trace = _current_trace.get()
    if trace is not None:
        trace.upstream_seconds += seconds


def sane_request_id(candidate: str | None) -> str:
    """Keep a sane gateway id; replace a missing or hostile one."""
    return candidate if candidate and SANE_REQUEST_ID.fullmatch(candidate) else str(uuid.uuid4())


class AccessLog:
    """The request line: one per request, in the log format (``LOG_FORMAT``), straight to stdout.

    Why not ``logging``: every request writes one, and a record through ``logging`` and
    python-json-logger cost ~190,000 instructions — 45 % of a cached hit's. Here a line is one
    string and one ``write``, like the audit trail's: a hit went from 419,000 instructions to 271,000,
    a miss from 2.90 to 2.74 million (``bench/instructions.py``, ``--misses``).
    It honours ``LOG_LEVEL`` (no request lines above INFO) and has the shape of the other lines
    (time, level, logger, request id, trace id with tracing on, message, then its fields). Its
    fields cannot hold PII (a route *template*, never the path); the two that come from outside —
    the client's address (``X-Forwarded-For`` behind a trusted proxy) and the caller's name (a JWT
    ``sub`` may hold anything) — are escaped, in text lines too, so no line can be forged.
    """

    def __init__(self, level: str, log_format: str = "text", traced: bool = False) -> None:
        self.enabled = logging.getLevelName(level.upper()) <= logging.INFO
        self._json = log_format == "json"
        self._traced = traced
        self._clock = MillisStamp.of_logging()
        self._lines = StdoutLines()
        self._report = FailureReport(log, "request lines could not be written to stdout (%s: %s)")

    def write(self, request_id: str, client: str | None, caller: str | None, method: str, route: str, status: int,
              cache: str | None, upstream_seconds: float, elapsed: float) -> None:
        """Write the line of one answered request (``request_id``: a sane one, ``sane_request_id``)."""
        if not self.enabled:
            return
        upstream_ms, duration_ms = round(upstream_seconds * 1000, 1), round(elapsed * 1000, 1)
        message = (f"{method} {route} {status} client={client} caller={caller or '-'} cache={cache or '-'} "
                   f"upstream={upstream_ms:.1f}ms {duration_ms:.1f}ms")
        trace_id = (current_trace_id() or "-") if self._traced else None
        if self._json:
            traced = f'"trace_id": "{trace_id}", ' if trace_id else ""
            line = (f'{{"time": "{self._clock.now()}", "level": "INFO", "logger": "{ACCESS_LOGGER}", '
                    f'"request_id": "{request_id}", {traced}"message": {json.dumps(message)}, '
                    f'"client": {json_text(client)}, "caller": {json_text(caller)}, "method": {json_text(method)}, '
                    f'"route": {json_text(route)}, "status": {status}, "cache": {json_text(cache)}, '
                    f'"upstream_ms": {upstream_ms}, "duration_ms": {duration_ms}}}\n')
        else:
            ids = f"{request_id} trace={trace_id}" if trace_id else request_id
            line = f"{self._clock.now()} INFO {ACCESS_LOGGER} [{ids}] {json.dumps(message)[1:-1]}\n"
        try:
            self._lines.write(line.encode())
        except (OSError, ValueError) as error:  # an answer does not fail for its line
            self._report(type(error).__name__, error)


@functools.lru_cache(maxsize=1024)
def json_text(value: str | None) -> str:
    """A field's JSON value; callers, clients, routes and cache results are few, so each is remembered."""
    return json.dumps(value)


class MillisStamp:
    """A time stamp with milliseconds, its seconds part formatted once a second: lines are written
    many times a second, and ``strftime`` is most of a stamp's cost."""

    def __init__(self, seconds_format: str, convert: Callable[[float], time.struct_time], millis_format: str) -> None:
        self._seconds_format = seconds_format
        self._convert = convert
        self._millis_format = millis_format
        self._second = -1
        self._prefix = ""

    @classmethod
    def of_logging(cls) -> MillisStamp:
        """``logging``'s default stamp, in local time: ``2026-12-07 14:22:50,549``."""
        return cls("%Y-%m-%d %H:%M:%S", time.localtime, ",%03d")

    @classmethod
    def iso_utc(cls) -> MillisStamp:
        """ISO 8601 in UTC: ``2026-12-07T14:22:50.549Z``."""
        return cls("%Y-%m-%dT%H:%M:%S", time.gmtime, ".%03dZ")

    def now(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._prefix = time.strftime(self._seconds_format, self._convert(second))
            self._second = second
        return self._prefix + self._millis_format % int((now - second) * 1000)


class StdoutLines:
    """Whole lines to stdout, one ``write`` of its file descriptor each.

    stdout is looked up at each write, as ``print`` does: a test's capture, or a stream that has no
    file descriptor, gets the lines through its own ``write``. The log handler flushes after every
    line, so nothing of its is pending when a line goes straight to the descriptor; one lock for
    every writer (request lines, audit events) keeps a line that the pipe took in parts from
    mixing with another thread's.
    """

    _lock = threading.Lock()

    def write(self, lines: bytes) -> None:
        """Write ``lines``; a failure raises (``OSError``, or ``ValueError`` for a closed stream)."""
        stream = sys.stdout
        try:
            fd = stream.fileno()
        except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is both
            stream.write(lines.decode())
            stream.flush()
            return
        with self._lock:
            write_all(fd, lines)


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is out (a write may be cut short by a signal or a full pipe)."""
    written = os.write(fd, data)
    while written < len(data):
        data = data[written:]
        written = os.write(fd, data)
