"""The cache-hit fast path: a WSGI layer in front of Flask that answers fresh cache hits itself.

Why: on a hit the cached bytes are ready to send, and Flask's machinery around them (request and
app contexts, a dozen before/after hooks, a Response object, header parsing) costs several times
the lookup itself — more than a bare Flask + Redis route spends in all. This layer answers
``GET /v1/customers/<uuid>`` when a fresh copy is at hand and the request is plainly fine, making
every decision with the same functions as the Flask route: caller authentication and scope
(``app.auth``), the customer binding, the rate limit (``app.ratelimit.FastPathBudget``), the cache
policy (``CustomerService.cached_hit``), the answer's headers and 304 (``app.api``), the security
headers (``app.security``), the request id, log line and metrics (``app.observability``).

Anything else is **declined** to Flask, which gives the same answer the slow way: other routes and
methods, a non-uuid id, a request with a body, a CORS request, a failed or missing authentication,
a caller outside its scope or binding, a rate limit to judge exactly, and any lookup that is not a
fresh hit (miss, stale, remembered 404, store down). Declining is always safe, so an unexpected
error here is logged and declined too. A declined lookup carries on what was already done, so
that a miss pays for nothing twice: its count in the rate limit (``ratelimit.COUNTED``: the
Flask route's limiter skips it) and its read of the store (``api.STORE_READ``: the route's
lookup starts from it).

``HIT_FAST_PATH=false`` takes this layer out (for A/B measurements; answers are the same).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from werkzeug.datastructures import EnvironHeaders

from app import auth, metrics, ratelimit, services
from app.api import JSON, STORE_READ, UUID_PATTERN, cache_headers, not_modified
from app.customers import CustomerAnswer
from app.errors import Problem
from app.observability import REQUEST_ID_HEADER, log_access, sane_request_id
from app.security import SECURITY_HEADERS

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
PREFIX = "/v1/customers/"
ROUTE = "/v1/customers/<path:customer_id>"  # the Flask route's template: one series in logs and metrics
ID_LENGTH = 36
READ_SCOPE = "customers.read"
STATIC_HEADERS = list(SECURITY_HEADERS.items())


class HitFastPath:
    """Answer fresh hits of the customer lookup before Flask; hand everything else to ``flask_app``."""

    def __init__(self, app: Flask, flask_app: WSGIApp) -> None:
        self._app = app
        self._flask_app = flask_app
        self._answers_200 = metrics.HTTP_REQUESTS.labels(ROUTE, "GET", "200")
        self._answers_304 = metrics.HTTP_REQUESTS.labels(ROUTE, "GET", "304")
        self._duration = metrics.HTTP_DURATION.labels(ROUTE)
        self._hits = metrics.CACHE_REQUESTS.labels("hit")

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        customer_id = self._plain_lookup_id(environ)
        if customer_id is None:
            return self._flask_app(environ, start_response)
        try:
            served = self._serve_hit(environ, start_response, customer_id, started)
        except Exception:  # noqa: BLE001 — a bug here must not cost the caller an answer
            log.exception("the fast path failed; Flask answers instead")
            served = None
        return served if served is not None else self._flask_app(environ, start_response)

    @staticmethod
    def _plain_lookup_id(environ: dict[str, Any]) -> str | None:
        """The canonical customer id of a bodiless, non-CORS ``GET /v1/customers/<uuid>``; else None."""
        path: str = environ.get("PATH_INFO", "")
        if (
            environ.get("REQUEST_METHOD") != "GET"
            or not path.startswith(PREFIX)
            or len(path) != len(PREFIX) + ID_LENGTH
            or environ.get("CONTENT_LENGTH") not in (None, "", "0")
            or "HTTP_TRANSFER_ENCODING" in environ
            or "HTTP_ORIGIN" in environ
        ):
            return None
        customer_id = path[len(PREFIX):]
        return customer_id.lower() if UUID_PATTERN.fullmatch(customer_id) else None

    def _serve_hit(self, environ: dict[str, Any], start_response: Callable[..., Any], customer_id: str,
                   started: float) -> list[bytes] | None:
        headers = EnvironHeaders(environ)
        caller = self._authorized_caller(headers, customer_id)
        if caller is None:
            return None
        budget = ratelimit.fast_path_budget(self._app)
        if budget is not None:
            if not budget.admit(ratelimit.caller_key_for(caller, environ.get("REMOTE_ADDR"))):
                return None
            environ[ratelimit.COUNTED] = True
        customers = services.of(self._app).customers
        read = customers.read(customer_id)
        answer = customers.cached_hit(read)
        if answer is None:
            environ[STORE_READ] = read
            return None
        request_id = sane_request_id(headers.get(REQUEST_ID_HEADER))
        status, body = self._respond(start_response, answer, headers.get("If-None-Match"), request_id)
        self._account(environ, request_id, caller, status, started)
        return body

    def _authorized_caller(self, headers: EnvironHeaders, customer_id: str) -> auth.Caller | None:
        """The caller, if it may read this customer; None (decline) for anything to explain."""
        try:
            caller = self._app.extensions[auth.EXTENSION].authenticate(headers)
        except Problem:
            return None
        if READ_SCOPE not in caller.scopes or not caller.may_read(customer_id):
            return None
        return caller

    def _respond(self, start_response: Callable[..., Any], answer: CustomerAnswer, if_none_match: str | None,
                 request_id: str) -> tuple[int, list[bytes]]:
        entry = answer.entry
        headers = [("ETag", entry.etag), *cache_headers(answer).items(), (REQUEST_ID_HEADER, request_id)]
        headers += STATIC_HEADERS
        if not_modified(if_none_match, entry.etag):
            start_response("304 NOT MODIFIED", headers)
            return 304, []
        headers += [("Content-Type", JSON), ("Content-Length", str(len(entry.body)))]
        start_response("200 OK", headers)
        return 200, [entry.body]

    def _account(self, environ: dict[str, Any], request_id: str, caller: auth.Caller, status: int,
                 started: float) -> None:
        """The request's metrics and log line, as ``app.observability`` writes them for Flask."""
        elapsed = time.perf_counter() - started
        self._hits.inc()
        (self._answers_200 if status == 200 else self._answers_304).inc()
        self._duration.observe(elapsed)
        log_access(request_id, environ.get("REMOTE_ADDR"), caller.name, "GET", ROUTE, status, "HIT", 0.0, elapsed)


def init_app(app: Flask) -> None:
    """Put the fast path in front of Flask; call before ``app.security`` wraps the app in ProxyFix,
    so that the client address the fast path logs and limits by is the real one.

    Not with CORS configured: Flask-Cors's headers depend on the origin list and the request in
    ways not worth copying; browsers' requests then take the Flask route.
    """
    if app.config["HIT_FAST_PATH"] and not app.config["CORS_ALLOWED_ORIGINS"]:
        app.wsgi_app = HitFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
