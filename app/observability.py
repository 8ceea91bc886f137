"""Request ids and logs: every request gets an id, every log line carries it, one line per request.

The id is the gateway's ``X-Request-ID`` when it is sane (short, printable, no spaces), otherwise
a new one; it is echoed in the response, sent to Passport and written in every problem body.
Request log lines carry method, route template, status, cache result and duration, never a
body or a header value other than the request id.
"""
from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from typing import TextIO

from flask import Flask, Response, g, has_request_context, request

from app.redaction import RedactingFilter

REQUEST_ID_HEADER = "X-Request-ID"
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+=/-]{0,127}")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"

access_log = logging.getLogger("passport_bff.access")


class RequestIdFilter(logging.Filter):
    """Stamp every record with the current request id (or ``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def log_handler(stream: TextIO) -> logging.Handler:
    """The handler every log line goes through: request id stamped, PII and secrets redacted."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactingFilter())
    return handler


def configure_logging(level: str) -> None:
    """Log to stdout (12-factor), once per process, whoever builds the app first."""
    root = logging.getLogger()
    if any(getattr(h, "passport_bff", False) for h in root.handlers):
        return
    handler = log_handler(sys.stdout)
    handler.passport_bff = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)


def incoming_request_id() -> str:
    """Keep a sane gateway id; replace a missing or hostile one."""
    candidate = request.headers.get(REQUEST_ID_HEADER, "")
    return candidate if SANE_REQUEST_ID.fullmatch(candidate) else str(uuid.uuid4())


def start_request() -> None:
    g.request_id = incoming_request_id()
    g.started = time.perf_counter()


def finish_request(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
    elapsed_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
    route = request.url_rule.rule if request.url_rule else "-"
    caller = g.get("caller")
    access_log.info(
        "%s %s %s client=%s caller=%s cache=%s %.1fms",
        request.method, route, response.status_code, request.remote_addr, caller.name if caller else "-",
        response.headers.get("X-Cache", "-"), elapsed_ms,
    )
    return response


def init_app(app: Flask) -> None:
    configure_logging(app.config["LOG_LEVEL"])
    app.before_request(start_request)
    app.after_request(finish_request)
