"""Passport-style error responses (the unofficial `{message, http_code, type, trace_id, code}`)."""

from __future__ import annotations

import uuid

from flask import Flask, Response, current_app, jsonify
from werkzeug.exceptions import HTTPException

HTTP_INTERNAL_ERROR = 500

# status -> (type, code) as seen in third-party integrations; anything else is generic.
ERROR_KINDS: dict[int, tuple[str, str]] = {
    400: ("BAD_REQUEST", "invalid_request"),
    401: ("UNAUTHORIZED", "invalid_token"),
    403: ("FORBIDDEN", "forbidden"),
    404: ("NOT_FOUND", "not_found"),
    405: ("METHOD_NOT_ALLOWED", "method_not_allowed"),
    409: ("CONFLICT", "conflict"),
    415: ("UNSUPPORTED_MEDIA_TYPE", "unsupported_media_type"),
    429: ("TOO_MANY_REQUESTS", "too_many_requests"),
    500: ("INTERNAL_SERVER_ERROR", "internal_error"),
    502: ("BAD_GATEWAY", "bad_gateway"),
    503: ("SERVICE_UNAVAILABLE", "service_unavailable"),
    504: ("GATEWAY_TIMEOUT", "gateway_timeout"),
}


def error_body(status: int, message: str) -> dict[str, object]:
    """The JSON body Passport is believed to send with an error."""
    kind, code = ERROR_KINDS.get(status, ("ERROR", f"http_{status}"))
    return {
        "message": message,
        "http_code": status,
        "type": kind,
        "trace_id": str(uuid.uuid4()),
        "code": code,
    }


def passport_error(status: int, message: str) -> Response:
    """A complete Passport-style error response."""
    response = jsonify(error_body(status, message))
    response.status_code = status
    return response


def _http_exception(error: HTTPException) -> Response:
    status = error.code or HTTP_INTERNAL_ERROR
    return passport_error(status, error.description or error.name)


def _unexpected(error: Exception) -> Response:
    current_app.logger.exception("emulator error")
    return passport_error(HTTP_INTERNAL_ERROR, f"emulator error: {type(error).__name__}")


def register_error_handlers(app: Flask) -> None:
    """Answer unknown routes, wrong methods and crashes with JSON error bodies."""
    app.register_error_handler(HTTPException, _http_exception)
    app.register_error_handler(Exception, _unexpected)
