"""One error shape for every error: RFC 9457 ``application/problem+json`` with the request id.

Application errors are ``Problem`` exceptions (werkzeug ``HTTPException``s, the flask-smorest
way); Passport's errors are translated to problems in ``PASSPORT_PROBLEMS``, the single table
that decides what a frontend sees when Passport fails. Unhandled exceptions become a bare 500
problem: the stack trace goes to the log, never to the caller.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from flask import Flask, Response, g
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from app.passport import errors as passport_errors

log = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:passport-bff:problem:"


@dataclass(frozen=True)
class ProblemType:
    slug: str
    status: int
    title: str


INVALID_CUSTOMER_ID = ProblemType("invalid-customer-id", 400, "Invalid customer id")
INVALID_PARAMETER = ProblemType("invalid-parameter", 400, "Invalid parameter")
INVALID_BODY = ProblemType("invalid-body", 400, "Invalid request body")
NON_CANONICAL_PATH = ProblemType("non-canonical-path", 404, "Path not in canonical form")
CACHE_UNAVAILABLE = ProblemType("cache-unavailable", 503, "The cache is unavailable")
CUSTOMER_NOT_FOUND = ProblemType("customer-not-found", 404, "Customer not found")
CUSTOMER_FORBIDDEN = ProblemType("customer-forbidden", 403, "Access to this customer is not allowed")
UPSTREAM_AUTH_FAILED = ProblemType("upstream-auth-failed", 502, "Passport refused our credentials")
UPSTREAM_ERROR = ProblemType("upstream-error", 502, "Passport answered with an error")
UPSTREAM_BAD_RESPONSE = ProblemType("upstream-bad-response", 502, "Passport sent an invalid answer")
UPSTREAM_UNREACHABLE = ProblemType("upstream-unreachable", 502, "Passport could not be reached")
UPSTREAM_TIMEOUT = ProblemType("upstream-timeout", 504, "Passport did not answer in time")
UPSTREAM_RATE_LIMITED = ProblemType("upstream-rate-limited", 503, "Passport is rate limiting us")
UPSTREAM_CIRCUIT_OPEN = ProblemType("upstream-circuit-open", 503, "Passport is failing; not calling it for now")
INTERNAL_ERROR = ProblemType("internal-error", 500, "Internal error")

PASSPORT_PROBLEMS: dict[type[passport_errors.PassportError], tuple[ProblemType, str]] = {
    passport_errors.PassportError: (UPSTREAM_ERROR, "Passport could not answer."),
    passport_errors.PassportNotFound: (CUSTOMER_NOT_FOUND, "Passport has no customer with this id."),
    passport_errors.PassportForbidden: (CUSTOMER_FORBIDDEN, "Passport does not allow access to this customer."),
    passport_errors.PassportUnauthorized: (UPSTREAM_AUTH_FAILED, "Passport refused our access token."),
    passport_errors.PassportCredentialsRejected: (UPSTREAM_AUTH_FAILED, "Passport refused our credentials."),
    passport_errors.PassportRejectedRequest: (UPSTREAM_ERROR, "Passport rejected the request."),
    passport_errors.PassportRateLimited: (UPSTREAM_RATE_LIMITED, "Passport asked us to slow down; retry later."),
    passport_errors.PassportServerError: (UPSTREAM_ERROR, "Passport failed to answer."),
    passport_errors.PassportTimeout: (UPSTREAM_TIMEOUT, "Passport did not answer within the time limit."),
    passport_errors.PassportBusy: (UPSTREAM_TIMEOUT, "No connection to Passport came free within the time limit."),
    passport_errors.PassportUnreachable: (UPSTREAM_UNREACHABLE, "The connection to Passport failed."),
    passport_errors.PassportBadResponse: (UPSTREAM_BAD_RESPONSE, "Passport's answer failed validation."),
    passport_errors.PassportCircuitOpen: (UPSTREAM_CIRCUIT_OPEN, "Passport failed repeatedly; retry later."),
}


class Problem(HTTPException):
    """An error answered as problem+json; raise it anywhere in a request."""

    def __init__(self, kind: ProblemType, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(description=detail)
        self.code = kind.status
        self.kind = kind
        self.extra_headers = headers or {}


def problem_from_passport(error: passport_errors.PassportError) -> Problem:
    """Translate a Passport failure into what the frontend is told."""
    kind, detail = next(PASSPORT_PROBLEMS[c] for c in type(error).__mro__ if c in PASSPORT_PROBLEMS)
    headers = {}
    if isinstance(error, (passport_errors.PassportRateLimited, passport_errors.PassportCircuitOpen)):
        headers["Retry-After"] = str(error.retry_after)
    return Problem(kind, detail, headers)


def problem_response(kind: ProblemType, detail: str, headers: dict[str, str] | None = None) -> Response:
    """Render a problem document, carrying the request id."""
    body = {
        "type": TYPE_PREFIX + kind.slug,
        "title": kind.title,
        "status": kind.status,
        "detail": detail,
        "request_id": g.get("request_id"),
    }
    response = Response(json.dumps(body), status=kind.status, content_type=PROBLEM_CONTENT_TYPE)
    response.headers["Cache-Control"] = "no-store"
    response.headers.update(headers or {})
    return response


def handle_problem(error: Problem) -> Response:
    return problem_response(error.kind, error.description or error.kind.title, error.extra_headers)


def handle_passport_error(error: passport_errors.PassportError) -> Response:
    return handle_problem(problem_from_passport(error))


def handle_http_exception(error: HTTPException) -> WerkzeugResponse:
    """Give werkzeug's own errors (404 route, 405, 413, ...) the same shape."""
    if isinstance(error.response, WerkzeugResponse):  # already rendered (the rate limiter's 429 problem)
        return error.response
    code = error.code or 500
    slug = (error.name or "error").lower().replace(" ", "-")
    kept = {k: v for k, v in error.get_headers() if k.lower() in ("allow", "retry-after", "www-authenticate")}
    return problem_response(ProblemType(slug, code, error.name), error.description or error.name, kept)


def handle_unexpected(error: Exception) -> Response:
    log.exception("unhandled error")
    return problem_response(INTERNAL_ERROR, "The server failed to complete the request.")


def init_app(app: Flask) -> None:
    """Route every error of ``app`` to a problem document."""
    app.register_error_handler(Problem, handle_problem)
    app.register_error_handler(passport_errors.PassportError, handle_passport_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
