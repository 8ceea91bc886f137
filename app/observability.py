"""Request ids, logs and HTTP metrics: every request gets an id, every log line carries it,
one log line and one metric sample per request.

The id is the gateway's ``X-Request-ID`` when it is sane (short, printable, no spaces), otherwise
a new one; it is echoed in the response, sent to Passport and written in every problem body.
A request's id, start and time spent on Passport live in its ``RequestTrace``, current (a context
variable) while the request runs, begun by whichever adapter serves it: the lookup fast path
(``app.web.fast_path``) or Flask's hooks (``app.web.request_log``). Nothing here imports Flask: the
Passport client adds its time to the trace from any layer.

Logs go to stdout, as JSON lines (``LOG_FORMAT=json``, the production default, via
python-json-logger) or as text for people (``LOG_FORMAT=text``, the development default). The
request line carries request id, client, caller, method, route template, status, cache result,
time spent on Passport and total duration — never a body, never a header value but the id. With
tracing on (``app.tracing``) JSON lines also carry ``trace_id``, and text lines show it after the
request id; with it off, nothing of tracing is on the logging path.
Every record passes the PII/credential redaction filter (``app.redaction``).
"""
from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

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


access_log = logging.getLogger("passport_bff.access")


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


def log_access(request_id: str, client: str | None, caller: str | None, method: str, route: str, status: int,
               cache: str | None, upstream_seconds: float, elapsed: float) -> None:
    """The one log line of a request, whichever path (Flask or ``app.web.fast_path``) answered it."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    fields = {
        "request_id": request_id,
        "client": client,
        "caller": caller,
        "method": method,
        "route": route,
        "status": status,
        "cache": cache,
        "upstream_ms": round(upstream_seconds * 1000, 1),
        "duration_ms": round(elapsed * 1000, 1),
    }
    access_log.info("%s %s %s client=%s caller=%s cache=%s upstream=%.1fms %.1fms", method, route, status,
                    client, caller or "-", cache or "-", fields["upstream_ms"], fields["duration_ms"], extra=fields)
