"""Request bodies read whole, up front, by the outermost WSGI layer: one request, one answer.

Why: a request body's framing (its chunks, or a Content-Length the bytes fall short of) is only
checked as the body is read. Read late, by Werkzeug inside a view, a broken chunk is an exception
in the middle of the app (a 500); left unread, by a route that ignores bodies (``/healthz``, a
lookup, a 401), it is found by gunicorn while it drains the body before the connection's next
request, and gunicorn then sends an unsolicited second answer, a 400, after the app's 200.

So ``BodyFraming`` reads a request's body before anything else runs, within the app's body limit
(``MAX_REQUEST_BODY_BYTES``), and hands the app the bytes, framed by their
length. When the body cannot be read, the request never reaches the app: the error goes up to the
server, which answers it once and closes the connection — only the server can close it (gunicorn
drops a ``Connection`` header an app sends), and ``app.web.server_errors`` makes its answer a problem:

- a broken chunk: the server's own parse error (gunicorn's ``InvalidChunkSize``, ...), untouched;
- a body that ends early (the client closed or reset the connection): ``IncompleteRequestBody``;
- a chunked body over the limit: ``RequestBodyTooLarge``. An announced ``Content-Length`` over the
  limit is not read at all: the app refuses it as before (``app.web.security``, a 413 problem).

A request without a body (no Transfer-Encoding, no Content-Length or 0: every lookup) costs two
dict lookups here. Neither Flask nor gunicorn is imported here: the worker classes of
``app.web.server_errors``, loaded by the gunicorn master before any app exists, use its exceptions.
"""
from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
NO_BODY = (None, "", "0")


class IncompleteRequestBody(Exception):
    """The request body ended, or the connection failed, before the body's framing said it ends."""


class RequestBodyTooLarge(Exception):
    """A chunked request body grew past the body limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"Request bodies are limited to {limit} bytes.")
        self.limit = limit


class BodyFraming:
    """Read every request body whole before ``app`` runs; let a body that cannot be read go up."""

    def __init__(self, app: WSGIApp, limit: int) -> None:
        self._app = app
        self._limit = limit

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if "HTTP_TRANSFER_ENCODING" not in environ and environ.get("CONTENT_LENGTH") in NO_BODY:
            return self._app(environ, start_response)
        body = self._chunked_body(environ) if "HTTP_TRANSFER_ENCODING" in environ else self._sized_body(environ)
        if body is not None:
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self._app(environ, start_response)

    def _chunked_body(self, environ: dict[str, Any]) -> bytes:
        body = read_body(environ["wsgi.input"], self._limit + 1)
        if len(body) > self._limit:
            raise RequestBodyTooLarge(self._limit)
        unchunk(environ)
        return body

    def _sized_body(self, environ: dict[str, Any]) -> bytes | None:
        """The ``Content-Length`` bytes; None for a length the app refuses before reading (as before)."""
        length = environ["CONTENT_LENGTH"]
        if not length.isdigit() or int(length) > self._limit:
            return None
        body = read_body(environ["wsgi.input"], int(length))
        if len(body) < int(length):
            raise IncompleteRequestBody(f"{len(body)} of {length} body bytes arrived")
        return body


def read_body(stream: Any, size: int) -> bytes:
    """Up to ``size`` bytes of the body; a connection that fails meanwhile is an incomplete body."""
    try:
        body: bytes = stream.read(size)
        return body
    except OSError as exc:  # gunicorn's NoMoreData, a reset, a timeout
        raise IncompleteRequestBody(str(exc) or type(exc).__name__) from exc


def unchunk(environ: dict[str, Any]) -> None:
    """Drop ``chunked`` from Transfer-Encoding: the body is now framed by its length (RFC 9112 section 7.1.3)."""
    codings = [c for c in environ.pop("HTTP_TRANSFER_ENCODING").split(",") if c.strip().lower() != "chunked"]
    if codings:
        environ["HTTP_TRANSFER_ENCODING"] = ",".join(codings)
