"""gunicorn's own error answers as RFC 9457 problems: worker classes whose ``handle_error`` says it in JSON.

Why: gunicorn refuses some requests before the app runs — a request line or header it cannot
parse, too long a request line, too many or too large headers, a transfer coding it does not
implement — and answers the errors that reach it from the app's side of the socket: a broken body
(``app.web.framing`` lets it come up so that the connection is closed), an app crash. Stock gunicorn
writes those answers as ``text/html``; every other error of this service is
``application/problem+json`` with a request id (README "Errors"). ``GeventWorker`` and
``ThreadWorker`` are gunicorn's gevent and gthread workers with that one method replaced:

- the status stays gunicorn's (400, 403, 413 for our ``RequestBodyTooLarge``, 414, 417, 431, 501;
  500 for anything else, an app crash included); ``SERVER_PROBLEMS`` names each problem type;
- the request id is the gateway's ``X-Request-ID`` when gunicorn had parsed the headers and the id
  is sane (the rule of ``app.observability``), else a new UUID;
- a client's error is one WARNING line with the request id, no traceback; a 500 logs its traceback;
- the answer says ``Connection: close``, and the connection is closed: after a framing error,
  where the next request would start is unknown.

Not problem+json, because nothing can be sent in its place: an answer the app already started
when it failed (gunicorn cuts the connection), a request a worker timeout aborts (the worker is
killed), and a connection that closed before its request was complete. Outside these worker
classes (``flask run``, ``gunicorn -k gevent`` without ``config/gunicorn.py``) the servers' own
answers stay theirs. The problems come from the catalogue (``app.web.problems``). This module must
not import Flask: the gunicorn master imports it, long before a worker builds the app.
"""
from __future__ import annotations

import dataclasses
import ssl
import uuid
from http import HTTPStatus
from typing import Any

from gunicorn import util
from gunicorn.http import errors as http
from gunicorn.workers import ggevent, gthread

from app.observability import REQUEST_ID_HEADER, SANE_REQUEST_ID
from app.web.answers import SECURITY_HEADERS
from app.web.framing import IncompleteRequestBody, RequestBodyTooLarge
from app.web.problems import (
    EXPECTATION_FAILED,
    HEADERS_TOO_LARGE,
    INTERNAL_ERROR,
    INVALID_BODY_FRAMING,
    INVALID_HEADER,
    INVALID_HTTP2_PREFACE,
    INVALID_PROXY_PROTOCOL,
    INVALID_REQUEST,
    INVALID_REQUEST_LINE,
    PROBLEM_CONTENT_TYPE,
    PROXY_FORBIDDEN,
    REQUEST_LINE_TOO_LONG,
    REQUEST_TOO_LARGE,
    TLS_FAILED,
    UNSUPPORTED_TRANSFER_CODING,
    ProblemType,
    problem_json,
)

STATIC_HEADERS = "".join(f"{name}: {value}\r\n" for name, value in SECURITY_HEADERS.items())

# Looked up along the exception's class hierarchy: the most specific entry wins.
SERVER_PROBLEMS: dict[type[BaseException], ProblemType] = {
    BaseException: INTERNAL_ERROR,
    http.ParseException: INVALID_REQUEST,
    http.InvalidRequestLine: INVALID_REQUEST_LINE,
    http.InvalidRequestMethod: INVALID_REQUEST_LINE,
    http.InvalidHTTPVersion: INVALID_REQUEST_LINE,
    http.InvalidHeader: INVALID_HEADER,
    http.InvalidHeaderName: INVALID_HEADER,
    http.ObsoleteFolding: INVALID_HEADER,
    http.InvalidSchemeHeaders: INVALID_HEADER,
    http.InvalidResponseHeader: INTERNAL_ERROR,  # a header the app sent: the app's fault
    http.InvalidResponseHeaderName: INTERNAL_ERROR,
    http.ConfigurationProblem: INTERNAL_ERROR,
    http.InvalidChunkSize: INVALID_BODY_FRAMING,
    http.ChunkMissingTerminator: INVALID_BODY_FRAMING,
    http.InvalidChunkExtension: INVALID_BODY_FRAMING,
    IncompleteRequestBody: INVALID_BODY_FRAMING,
    RequestBodyTooLarge: REQUEST_TOO_LARGE,
    http.LimitRequestLine: REQUEST_LINE_TOO_LONG,
    http.LimitRequestHeaders: HEADERS_TOO_LARGE,
    http.ExpectationFailed: EXPECTATION_FAILED,
    http.UnsupportedTransferCoding: UNSUPPORTED_TRANSFER_CODING,
    http.InvalidProxyLine: INVALID_PROXY_PROTOCOL,
    http.InvalidProxyHeader: INVALID_PROXY_PROTOCOL,
    http.ForbiddenProxyRequest: PROXY_FORBIDDEN,
    http.InvalidH2CPreface: INVALID_HTTP2_PREFACE,
    ssl.SSLError: TLS_FAILED,
}


def problem_for(error: BaseException) -> ProblemType:
    """The problem that answers ``error``."""
    problem = next(SERVER_PROBLEMS[c] for c in type(error).__mro__ if c in SERVER_PROBLEMS)
    if isinstance(error, RequestBodyTooLarge):
        return dataclasses.replace(problem, detail=str(error))  # the limit, worded as the app words it
    return problem


def request_id_for(req: Any | None) -> str:
    """The gateway's request id if gunicorn parsed a sane one, else a new one (as ``app.observability``)."""
    for name, value in getattr(req, "headers", None) or ():
        if name == REQUEST_ID_HEADER.upper() and SANE_REQUEST_ID.fullmatch(value):
            return str(value)
    return str(uuid.uuid4())


def problem_answer(problem: ProblemType, request_id: str) -> bytes:
    """A whole HTTP/1.1 answer carrying ``problem``, after which the connection closes."""
    body = problem_json(problem, problem.detail, request_id)
    head = (
        f"HTTP/1.1 {problem.status} {HTTPStatus(problem.status).phrase}\r\n"
        f"Date: {util.http_date()}\r\n"
        "Connection: close\r\n"
        f"Content-Type: {PROBLEM_CONTENT_TYPE}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        f"{STATIC_HEADERS}"
        f"{REQUEST_ID_HEADER}: {request_id}\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


class ProblemAnswers:
    """``handle_error`` for a gunicorn worker: log the error once, answer it as a problem, close."""

    log: Any

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        req = req or getattr(exc, "req", None)  # an invalid header carries the request it was in
        problem = problem_for(exc)
        request_id = request_id_for(req)
        if problem is not INTERNAL_ERROR:  # the client's error: gunicorn's own wording, and the request id
            client_ip = addr[0] if addr else ""
            self.log.warning("Invalid request from ip=%s: %s (%s, request_id=%s)", client_ip, exc, problem.slug,
                             request_id)
        else:
            self.log.exception("Error handling request %s %s (request_id=%s)", getattr(req, "method", "-"),
                               getattr(req, "uri", "-"), request_id)
        try:
            util.write_nonblock(client, problem_answer(problem, request_id))
        except Exception:  # noqa: BLE001 — the client may be gone; nothing else to tell it
            self.log.debug("Failed to send error message.")


class GeventWorker(ProblemAnswers, ggevent.GeventWorker):
    """gunicorn's gevent worker, answering its errors as problems."""


class ThreadWorker(ProblemAnswers, gthread.ThreadWorker):
    """gunicorn's gthread worker, answering its errors as problems."""
