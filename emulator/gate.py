"""The common front of every Passport endpoint: count the call, apply faults, check the token."""

from __future__ import annotations

import time

from flask import Response, request

from emulator.errors import passport_error
from emulator.faults import Fault
from emulator.store import Store, TraceHeaders, current_store

REQUEST_ID_HEADER = "X-Request-ID"
TRACEPARENT_HEADER = "traceparent"
TRACESTATE_HEADER = "tracestate"
BEARER_SCHEME = "bearer"
HTTP_OK = 200
HTTP_UNAUTHORIZED = 401
FIRST_ERROR_STATUS = 400
MILLIS_PER_SECOND = 1000.0


def bearer_token() -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != BEARER_SCHEME or not token.strip():
        return None
    return token.strip()


def authorized(store: Store) -> bool:
    """True when the request carries a known, unexpired, unrevoked token."""
    token = bearer_token()
    return token is not None and store.token_valid(token)


def trace_headers() -> TraceHeaders:
    """The request's W3C trace context headers, kept raw (even malformed) for tests to inspect."""
    return TraceHeaders(request.headers.get(TRACEPARENT_HEADER), request.headers.get(TRACESTATE_HEADER))


def fault_response(fault: Fault) -> Response:
    """The response an answering fault asks for (with its ``Retry-After``, if it gave one)."""
    status = fault.status or HTTP_OK
    if fault.body is not None:
        response = Response(fault.body, status=status, content_type=fault.content_type)
    elif status < FIRST_ERROR_STATUS:
        response = Response(b"", status=status, content_type=fault.content_type)
    else:
        response = passport_error(status, "injected fault")
        response.content_type = fault.content_type
    if fault.retry_after is not None:
        response.headers["Retry-After"] = fault.retry_after
    return response


def open_call(kind: str, target: str, customer_id: str | None = None,
              needs_auth: bool = True) -> Response | None:
    """Count the call, apply faults, then enforce the bearer token.

    `kind` is the stats counter to bump, `target` the fault target this endpoint belongs
    to. Returns the response to send instead of the normal one, or None to carry on.
    """
    store = current_store()
    authorization_ok = authorized(store) if needs_auth else None
    request_id = request.headers.get(REQUEST_ID_HEADER)
    store.record_call(kind, request_id, customer_id, authorization_ok, trace_headers())
    action = store.take_faults(target, customer_id)
    if action.latency_ms:
        time.sleep(action.latency_ms / MILLIS_PER_SECOND)
    if action.answer is not None:
        return fault_response(action.answer)
    if needs_auth and not authorization_ok:
        return passport_error(HTTP_UNAUTHORIZED, "access token is missing, invalid or expired")
    return None
