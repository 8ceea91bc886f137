"""Flask's part of the request trace: begin it (or carry on the fast path's), and end each request
with its ``X-Request-ID`` header, its HTTP metrics and its one request line (``app.observability``).
"""
from __future__ import annotations

import time
from collections.abc import Callable

from flask import Response, g, request

from app import metrics, tracing
from app.observability import (
    KNOWN_METHODS,
    REQUEST_ID_HEADER,
    AccessLog,
    RequestTrace,
    begin_trace,
    end_trace,
)


def start_request() -> None:
    g.trace = begin_trace(request.headers.get(REQUEST_ID_HEADER))
    g.request_id = g.trace.request_id
    method = request.method if request.method in KNOWN_METHODS else "OTHER"
    g.span = tracing.begin_request(method, route_of_request(), request.environ)


def route_of_request() -> str:
    return request.url_rule.rule if request.url_rule else "unmatched"


def request_finisher(access: AccessLog) -> Callable[[Response], Response]:
    """The after-request hook that ends each request, its line written to ``access``."""

    def finish_request(response: Response) -> Response:
        trace: RequestTrace | None = g.get("trace")
        if trace is None:  # refused before the first before_request hook ran
            trace = begin_trace(None)
        response.headers[REQUEST_ID_HEADER] = trace.request_id
        elapsed = time.perf_counter() - trace.started
        route = route_of_request()
        method = request.method if request.method in KNOWN_METHODS else "OTHER"
        metrics.HTTP_REQUESTS.labels(route, method, str(response.status_code)).inc()
        metrics.HTTP_DURATION.labels(route).observe(elapsed)
        caller = g.get("caller")
        access.write(trace.request_id, request.remote_addr, caller.name if caller else None, method, route,
                     response.status_code, response.headers.get("X-Cache"), trace.upstream_seconds, elapsed)
        tracing.end_request(g.pop("span", None), response.status_code, response.headers.get("X-Cache"), route, method)
        return response

    return finish_request


def end_request(_error: BaseException | None) -> None:
    """Teardown: nothing of this request stays current (a span still open here ended in an error)."""
    tracing.end_request(g.pop("span", None), 500, None)
    end_trace()
