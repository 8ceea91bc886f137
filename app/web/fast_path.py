"""The lookup fast path: a WSGI layer in front of Flask that serves every record lookup itself.

Why: a lookup's answer is stored bytes, ready to send, and Flask's machinery around them (request
and app contexts, a dozen before/after hooks, a Response object, header parsing) costs several
times the lookup itself — more than a bare Flask + Redis route spends in all on a hit. This layer
is an adapter, like the Flask views: it hands ``GET /v1/<plural>/<id>`` (a customer, an account, a
key, a recipient) to that kind's one lookup (``app.web.lookup``), sends the answer it returns,
whatever it is (a record, a 304, a problem), and writes the request's log line and metrics as
``app.web.request_log`` does for Flask.

It declines only what is not a plain lookup, which Flask then serves: other routes and methods,
an id holding a ``/``, a path not sent in its canonical spelling (``app.web.request_target``), a
request with a body, a CORS request. ``HIT_FAST_PATH=false`` takes this layer out (for A/B
measurements; answers are the same), and so does ``CORS_ALLOWED_ORIGINS``: Flask-Cors's headers
depend on the origin list and the request in ways not worth copying. ``app.web.install`` puts it
inside ProxyFix, so that the client address it logs and limits by is the real one.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.http import HTTP_STATUS_CODES

from app import metrics, tracing
from app.observability import REQUEST_ID_HEADER, AccessLog, begin_trace, end_trace
from app.web.answers import problem_answer
from app.web.lookup import LookupAnswer, RecordLookup
from app.web.problems import INTERNAL_ERROR, Problem

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
ENVIRON_KEYS = {name: "HTTP_" + name.upper().replace("-", "_") for name in (
    "X-API-Key", "Authorization", "If-None-Match", "X-Purpose", "X-Request-ID", "Cache-Control")}
STATUS_LINES = {code: f"{code} {phrase.upper()}" for code, phrase in HTTP_STATUS_CODES.items()}  # as Werkzeug


class WsgiHeaders:
    """The request's headers as the lookup reads them, straight from the WSGI environ.

    Why not Werkzeug's ``EnvironHeaders``: each of its reads costs about a microsecond (a lookup
    reads five or six headers); a header ``Name`` is the environ's ``HTTP_NAME`` (RFC 3875), which
    is all a lookup asks for — no ``Content-Type``, no repeated headers.
    """

    __slots__ = ("_environ",)

    def __init__(self, environ: dict[str, Any]) -> None:
        self._environ = environ

    def get(self, name: str, default: str | None = None) -> str | None:
        key = ENVIRON_KEYS.get(name)
        if key is None:
            key = "HTTP_" + name.upper().replace("-", "_")
        value = self._environ.get(key, default)
        return value if isinstance(value, str) or value is None else default


class RouteMetrics:
    """A lookup route's request counter (by status, labelled once each) and duration histogram."""

    def __init__(self, route: str) -> None:
        self.route = route
        self.duration = metrics.HTTP_DURATION.labels(route)
        self._answers: dict[int, Any] = {}

    def answered(self, status: int) -> Any:
        counter = self._answers.get(status)
        if counter is None:
            counter = self._answers[status] = metrics.HTTP_REQUESTS.labels(self.route, "GET", str(status))
        return counter


class LookupFastPath:
    """Serve record lookups before Flask; hand everything else to ``flask_app``."""

    def __init__(self, lookups: list[RecordLookup], flask_app: WSGIApp, access: AccessLog) -> None:
        # "/v1/customers/" -> its lookup and metrics; a path's prefix is found with one split
        self._routes = {f"/v1/{lookup.resource.plural}/": (lookup, RouteMetrics(lookup.route)) for lookup in lookups}
        self._flask_app = flask_app
        self._access = access

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = self._plain_lookup(environ)
        if target is None:
            return self._flask_app(environ, start_response)
        lookup, route, raw_id = target
        headers = WsgiHeaders(environ)
        trace = begin_trace(headers.get(REQUEST_ID_HEADER))
        span = tracing.begin_request("GET", route.route, environ)
        try:
            found = self._answer(lookup, raw_id, headers, environ.get("REMOTE_ADDR"), trace.request_id)
            answer = found.http
            start_response(STATUS_LINES[answer.status], answer.headers)
            elapsed = time.perf_counter() - trace.started
            route.answered(answer.status).inc()
            route.duration.observe(elapsed)
            self._access.write(trace.request_id, environ.get("REMOTE_ADDR"),
                               found.caller.name if found.caller else None, "GET", route.route, answer.status,
                               found.cache.value if found.cache else None, trace.upstream_seconds, elapsed)
            tracing.end_request(span, answer.status, found.cache.value if found.cache else None)
            span = None
        finally:
            tracing.end_request(span, 500, None)  # only if sending the answer failed
            end_trace()
        return [answer.body] if answer.body else []

    @staticmethod
    def _answer(lookup: RecordLookup, raw_id: str, headers: WsgiHeaders, client: str | None,
                request_id: str) -> LookupAnswer:
        """The lookup's answer; a bug in it is a 500 problem, logged with its traceback (as Flask's)."""
        try:
            return lookup.answer(raw_id, headers, client, request_id)
        except Exception:
            log.exception("unhandled error")
            return LookupAnswer(problem_answer(Problem(INTERNAL_ERROR, INTERNAL_ERROR.detail), request_id), None, None)

    def _plain_lookup(self, environ: dict[str, Any]) -> tuple[RecordLookup, RouteMetrics, str] | None:
        """The lookup, metrics and id of a bodiless, non-CORS ``GET /v1/<plural>/<id>`` sent as it reads."""
        path: str = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "GET" or not path.startswith("/v1/"):
            return None
        prefix_end = path.find("/", 4) + 1
        target = self._routes.get(path[:prefix_end]) if prefix_end else None
        if (
            target is None
            or environ.get("RAW_URI", path).partition("?")[0] != path  # spelled otherwise: app.web.request_target
            or environ.get("CONTENT_LENGTH") not in (None, "", "0")
            or "HTTP_TRANSFER_ENCODING" in environ
            or "HTTP_ORIGIN" in environ
        ):
            return None
        raw_id = path[prefix_end:]
        return (*target, raw_id) if raw_id and "/" not in raw_id else None
