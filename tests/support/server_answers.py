"""What the production server does with a request the app lets go up, for Flask's test client.

Why: ``app.web.framing`` does not answer a request whose body cannot be read (a chunked body past the
limit, a body that ends early); it raises, so that gunicorn answers once and closes the connection
(``app.web.server_errors``). Flask's test client has no server: the exception would reach the test.
``as_served(app)`` puts in front of the app the answer ``app.web.server_errors`` gives — the same
problem table, the same bytes — so tests that drive the app in-process see what a client of the
real server sees. Anything the server would answer with a 500 still goes up: a test must see it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from app.web.server_errors import INTERNAL_ERROR, REQUEST_ID_HEADER, problem_answer, problem_for, request_id_for


class ParsedRequest:
    """The part of a gunicorn request ``request_id_for`` reads: its headers, upper-cased names."""

    def __init__(self, environ: dict[str, Any]) -> None:
        value = environ.get("HTTP_" + REQUEST_ID_HEADER.upper().replace("-", "_"))
        self.headers = [(REQUEST_ID_HEADER.upper(), value)] if value is not None else []


def server_answer(exc: BaseException, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """Status, headers and body of the answer ``app.web.server_errors`` writes for ``exc``."""
    raw = problem_answer(problem_for(exc), request_id_for(ParsedRequest(environ)))
    head, body = raw.split(b"\r\n\r\n", 1)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = [(name, value) for name, value in (line.split(": ", 1) for line in lines)]
    return status_line.split(" ", 1)[1], headers, body


def as_served(app: Flask) -> Flask:
    """``app`` with the server's answer to what it lets go up, as under gunicorn with our workers."""
    inner = app.wsgi_app

    def served(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            return inner(environ, start_response)
        except Exception as exc:
            if problem_for(exc) is INTERNAL_ERROR:
                raise
            status, headers, body = server_answer(exc, environ)
            start_response(status, headers)
            return [body]

    app.wsgi_app = served  # type: ignore[method-assign]
    return app
