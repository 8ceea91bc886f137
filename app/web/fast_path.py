"""The lookup fast path: a WSGI layer in front of Flask that answers customer lookups itself.

Why: a lookup's answer is stored bytes, ready to send, and Flask's machinery around them (request
and app contexts, a dozen before/after hooks, a Response object, header parsing) costs several
times the lookup itself — more than a bare Flask + Redis route spends in all on a hit, and a
sixth of a miss. This layer answers ``GET /v1/customers/<uuid>`` whenever the answer is a
customer (``HIT``, ``MISS``, ``STALE``, ``BYPASS``, or a 304), making every decision with the same
functions as the Flask route: caller authentication and scope (``app.web.auth``), the customer
binding, the rate limit (``app.web.ratelimit.FastPathBudget``), the cache policy
(``CustomerService.read``, ``cached_hit`` and ``lookup``), the answer's headers and 304
(``app.web.api``), the security headers (``app.web.security``), the request trace, log line and metrics
(``app.observability``).

Anything else is **declined** to Flask, which gives the same answer the slow way: other routes and
methods, a non-uuid id, a path not sent in its canonical spelling (``app.web.request_target``), a
request with a body, a CORS request, a failed or missing authentication,
a caller outside its scope or binding, and a rate limit to judge exactly. Declining is always
safe, so an unexpected error here is logged and declined too. A lookup that ends in a problem (a
remembered or new 404, a Passport failure) is handed to the Flask route with its outcome
(``api.LOOKUP_OUTCOME``), which renders it: problems have one renderer. What the fast path did
is never done twice: the request trace (its id, start and Passport time) carries on, and a
counted request is not counted again (``ratelimit.COUNTED``).

``HIT_FAST_PATH=false`` takes this layer out (for A/B measurements; answers are the same).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from werkzeug.datastructures import EnvironHeaders

from app import metrics
from app.observability import REQUEST_ID_HEADER, RequestTrace, begin_trace, end_trace, log_access
from app.passport.errors import PassportError
from app.policy.customers import CacheResult, CustomerAnswer
from app.web import auth, ratelimit, services
from app.web.api import JSON, LOOKUP_OUTCOME, UUID_PATTERN, cache_headers, not_modified
from app.web.errors import Problem
from app.web.headers import SECURITY_HEADERS

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
PREFIX = "/v1/customers/"
ROUTE = "/v1/customers/<path:customer_id>"  # the Flask route's template: one series in logs and metrics
ID_LENGTH = 36
READ_SCOPE = "customers.read"
STATIC_HEADERS = list(SECURITY_HEADERS.items())


class LookupFastPath:
    """Answer customer lookups before Flask; hand everything else to ``flask_app``."""

    def __init__(self, app: Flask, flask_app: WSGIApp) -> None:
        self._app = app
        self._flask_app = flask_app
        self._answers = {status: metrics.HTTP_REQUESTS.labels(ROUTE, "GET", str(status)) for status in (200, 304)}
        self._duration = metrics.HTTP_DURATION.labels(ROUTE)
        self._results = {result: metrics.CACHE_REQUESTS.labels(result.value.lower()) for result in CacheResult}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        customer_id = self._plain_lookup_id(environ)
        if customer_id is None:
            return self._flask_app(environ, start_response)
        headers = EnvironHeaders(environ)
        trace = begin_trace(environ, headers.get(REQUEST_ID_HEADER))
        try:
            served = self._serve(environ, headers, start_response, customer_id, trace)
        except Exception:  # noqa: BLE001 — a bug here must not cost the caller an answer
            log.exception("the fast path failed; Flask answers instead")
            served = None
        if served is None:
            return self._flask_app(environ, start_response)  # its teardown ends the trace
        end_trace()
        return served

    @staticmethod
    def _plain_lookup_id(environ: dict[str, Any]) -> str | None:
        """The canonical customer id of a bodiless, non-CORS ``GET /v1/customers/<uuid>``; else None."""
        path: str = environ.get("PATH_INFO", "")
        if (
            environ.get("REQUEST_METHOD") != "GET"
            or not path.startswith(PREFIX)
            or len(path) != len(PREFIX) + ID_LENGTH
            or environ.get("RAW_URI", path).partition("?")[0] != path  # spelled otherwise: app.web.request_target
            or environ.get("CONTENT_LENGTH") not in (None, "", "0")
            or "HTTP_TRANSFER_ENCODING" in environ
            or "HTTP_ORIGIN" in environ
        ):
            return None
        customer_id = path[len(PREFIX):]
        return customer_id.lower() if UUID_PATTERN.fullmatch(customer_id) else None

    def _serve(self, environ: dict[str, Any], headers: EnvironHeaders, start_response: Callable[..., Any],
               customer_id: str, trace: RequestTrace) -> list[bytes] | None:
        """Answer the lookup; None when Flask must (declined, or a problem to render)."""
        caller = self._authorized_caller(headers, customer_id)
        if caller is None:
            return None
        budget = ratelimit.fast_path_budget(self._app)
        if budget is not None:
            if not budget.admit(ratelimit.caller_key_for(caller, environ.get("REMOTE_ADDR"))):
                return None
            environ[ratelimit.COUNTED] = True
        answer = self._look_up(customer_id, trace.request_id)
        if isinstance(answer, PassportError) or not answer.entry.found:
            environ[LOOKUP_OUTCOME] = (customer_id, answer)
            return None
        status, body = self._respond(start_response, answer, headers.get("If-None-Match"), trace.request_id)
        self._account(environ, trace, caller, status, answer.cache)
        return body

    def _look_up(self, customer_id: str, request_id: str) -> CustomerAnswer | PassportError:
        """A fresh hit straight from the read; anything else through the whole cache policy."""
        customers = services.of(self._app).customers
        read = customers.read(customer_id)
        try:
            return customers.cached_hit(read) or customers.lookup(customer_id, request_id, read)
        except PassportError as exc:
            return exc

    def _authorized_caller(self, headers: EnvironHeaders, customer_id: str) -> auth.Caller | None:
        """The caller, if it may read this customer; None (decline) for anything to explain."""
        try:
            caller: auth.Caller = self._app.extensions[auth.EXTENSION].authenticate(headers)
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

    def _account(self, environ: dict[str, Any], trace: RequestTrace, caller: auth.Caller, status: int,
                 result: CacheResult) -> None:
        """The request's metrics and log line, as ``app.observability`` writes them for Flask."""
        elapsed = time.perf_counter() - trace.started
        self._results[result].inc()
        self._answers[status].inc()
        self._duration.observe(elapsed)
        log_access(trace.request_id, environ.get("REMOTE_ADDR"), caller.name, "GET", ROUTE, status, result.value,
                   trace.upstream_seconds, elapsed)


def init_app(app: Flask) -> None:
    """Put the fast path in front of Flask; call before ``app.web.security`` wraps the app in ProxyFix,
    so that the client address the fast path logs and limits by is the real one.

    Not with CORS configured: Flask-Cors's headers depend on the origin list and the request in
    ways not worth copying; browsers' requests then take the Flask route.
    """
    if app.config["HIT_FAST_PATH"] and not app.config["CORS_ALLOWED_ORIGINS"]:
        app.wsgi_app = LookupFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
