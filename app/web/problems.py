"""Every problem this service answers, in one catalogue, and their one rendering (RFC 9457).

An error is a ``ProblemType`` (its ``type`` slug, status and title, and for the server's own
refusals a fixed detail) and a detail saying what went wrong with this request; the document also
carries the request id. Nothing here imports Flask or Werkzeug: the app's error handlers
(``app.web.errors``), the WSGI fast path and gunicorn's worker classes (``app.web.server_errors``,
loaded by the master before any app exists) all render from this module. The README's "Errors"
table and the OpenAPI document list these types.

``PASSPORT_PROBLEMS`` is the single table that decides what a frontend sees when Passport fails.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from app.passport import errors as passport_errors
from app.passport.resource import Resource
from app.passport.resources import RESOURCES

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:passport-bff:problem:"


@dataclass(frozen=True)
class ProblemType:
    """One kind of error: ``type`` is ``TYPE_PREFIX + slug``; ``detail`` is set for fixed wordings only."""

    slug: str
    status: int
    title: str
    detail: str = ""


@dataclass(frozen=True)
class RecordProblems:
    """The problems of one kind of record (``customer-not-found``...), named from its declaration."""

    name: str
    example_id: str  # what a well-formed id looks like, for the 400's detail
    invalid_id: ProblemType  # 400: the id is not a UUID
    not_allowed: ProblemType  # 403: the caller is bound to other customers
    forbidden: ProblemType  # 403: Passport does not let us see it
    not_found: ProblemType  # 404: Passport has none with this id

    @classmethod
    def of(cls, resource: Resource[Any]) -> RecordProblems:
        name = resource.name
        return cls(
            name,
            resource.example_id,
            ProblemType(f"invalid-{name}-id", 400, f"Invalid {name} id"),
            ProblemType(f"{name}-not-allowed", 403, f"This {name} is not allowed for this caller"),
            ProblemType(f"{name}-forbidden", 403, f"Access to this {name} is not allowed"),
            ProblemType(f"{name}-not-found", 404, f"{resource.title} not found"),
        )

    @property
    def types(self) -> tuple[ProblemType, ...]:
        return self.invalid_id, self.not_allowed, self.forbidden, self.not_found


RECORD_PROBLEMS = {resource.name: RecordProblems.of(resource) for resource in RESOURCES}
CUSTOMER_PROBLEMS = RECORD_PROBLEMS["customer"]

# The caller's request
INVALID_CUSTOMER_ID = CUSTOMER_PROBLEMS.invalid_id
INVALID_PARAMETER = ProblemType("invalid-parameter", 400, "Invalid parameter")
INVALID_BODY = ProblemType("invalid-body", 400, "Invalid request body")
INVALID_PURPOSE = ProblemType("invalid-purpose", 400, "Invalid X-Purpose header")
NON_CANONICAL_PATH = ProblemType("non-canonical-path", 404, "Path not in canonical form")
# What Flask and Werkzeug refuse themselves; slug and title are Werkzeug's names for the status.
BAD_REQUEST = ProblemType("bad-request", 400, "Bad Request")
NOT_FOUND = ProblemType("not-found", 404, "Not Found")  # an unknown route
METHOD_NOT_ALLOWED = ProblemType("method-not-allowed", 405, "Method Not Allowed")
REQUEST_TOO_LARGE = ProblemType(  # werkzeug's name for a 413, kept by gunicorn's refusal too
    "request-entity-too-large", 413, "Request Entity Too Large", "The request body is too large.")
TOO_MANY_REQUESTS = ProblemType("too-many-requests", 429, "Too Many Requests")

# The caller
UNAUTHENTICATED = ProblemType("unauthenticated", 401, "Authentication required")
INSUFFICIENT_SCOPE = ProblemType("insufficient-scope", 403, "Not allowed for this caller")
CUSTOMER_NOT_ALLOWED = CUSTOMER_PROBLEMS.not_allowed
AUTH_UNAVAILABLE = ProblemType("auth-unavailable", 503, "Caller authentication is unavailable")

# Our dependencies
CACHE_UNAVAILABLE = ProblemType("cache-unavailable", 503, "The cache is unavailable")
CUSTOMER_NOT_FOUND = CUSTOMER_PROBLEMS.not_found
CUSTOMER_FORBIDDEN = CUSTOMER_PROBLEMS.forbidden
UPSTREAM_AUTH_FAILED = ProblemType("upstream-auth-failed", 502, "Passport refused our credentials")
UPSTREAM_ERROR = ProblemType("upstream-error", 502, "Passport answered with an error")
UPSTREAM_BAD_RESPONSE = ProblemType("upstream-bad-response", 502, "Passport sent an invalid answer")
UPSTREAM_UNREACHABLE = ProblemType("upstream-unreachable", 502, "Passport could not be reached")
UPSTREAM_TIMEOUT = ProblemType("upstream-timeout", 504, "Passport did not answer in time")
UPSTREAM_RATE_LIMITED = ProblemType("upstream-rate-limited", 503, "Passport is rate limiting us")
UPSTREAM_BUSY = ProblemType("upstream-busy", 503, "Too many calls to Passport in flight")
UPSTREAM_CIRCUIT_OPEN = ProblemType("upstream-circuit-open", 503, "Passport is failing; not calling it for now")
INTERNAL_ERROR = ProblemType("internal-error", 500, "Internal error", "The server failed to complete the request.")

# What gunicorn refuses before the app runs (app.web.server_errors): fixed wordings
INVALID_REQUEST = ProblemType("invalid-request", 400, "Invalid request", "The request is not valid HTTP/1.1.")
INVALID_REQUEST_LINE = ProblemType(
    "invalid-request-line", 400, "Invalid request line", "The request line is not 'METHOD target HTTP/1.1'.")
INVALID_HEADER = ProblemType(
    "invalid-header", 400, "Invalid header",
    "A header field is malformed, or contradicts another one or the message framing.")
INVALID_BODY_FRAMING = ProblemType(
    "invalid-body-framing", 400, "Invalid request body framing",
    "The request body does not match its framing: a malformed chunk, or fewer bytes than announced.")
INVALID_PROXY_PROTOCOL = ProblemType(
    "invalid-proxy-protocol", 400, "Invalid PROXY protocol header", "The PROXY protocol header is malformed.")
INVALID_HTTP2_PREFACE = ProblemType(
    "invalid-http2-preface", 400, "Invalid HTTP/2 preface", "This port expects the HTTP/2 connection preface.")
PROXY_FORBIDDEN = ProblemType(
    "proxy-forbidden", 403, "Proxy not allowed", "This peer may not send PROXY protocol or forwarded headers.")
TLS_FAILED = ProblemType("tls-failed", 403, "TLS failed", "The TLS connection failed.")
REQUEST_LINE_TOO_LONG = ProblemType(
    "request-line-too-long", 414, "Request line too long", "The request line is longer than this server accepts.")
EXPECTATION_FAILED = ProblemType(
    "expectation-failed", 417, "Expectation failed", "The only expectation supported is 'Expect: 100-continue'.")
HEADERS_TOO_LARGE = ProblemType(
    "request-header-fields-too-large", 431, "Request header fields too large",
    "The request has more header fields, or a larger one, than this server accepts.")
UNSUPPORTED_TRANSFER_CODING = ProblemType(
    "unsupported-transfer-coding", 501, "Unsupported transfer coding",
    "The request's Transfer-Encoding names a coding this server does not implement.")

CATALOGUE: tuple[ProblemType, ...] = tuple(dict.fromkeys([
    *(value for value in dict(globals()).values() if isinstance(value, ProblemType)),
    *(kind for problems in RECORD_PROBLEMS.values() for kind in problems.types),
]))

# Werkzeug's own refusals by status (``app.web.errors`` renders them with these types).
HTTP_PROBLEMS = {kind.status: kind for kind in (BAD_REQUEST, NOT_FOUND, METHOD_NOT_ALLOWED, REQUEST_TOO_LARGE,
                                                 TOO_MANY_REQUESTS)}

PASSPORT_PROBLEMS: dict[type[passport_errors.PassportError], tuple[ProblemType, str]] = {
    passport_errors.PassportError: (UPSTREAM_ERROR, "Passport could not answer."),
    # PassportNotFound and PassportForbidden: the record's own (problem_from_passport).
    passport_errors.PassportUnauthorized: (UPSTREAM_AUTH_FAILED, "Passport refused our access token."),
    passport_errors.PassportCredentialsRejected: (UPSTREAM_AUTH_FAILED, "Passport refused our credentials."),
    passport_errors.PassportRejectedRequest: (UPSTREAM_ERROR, "Passport rejected the request."),
    passport_errors.PassportRateLimited: (UPSTREAM_RATE_LIMITED, "Passport asked us to slow down; retry later."),
    passport_errors.PassportServerError: (UPSTREAM_ERROR, "Passport failed to answer."),
    passport_errors.PassportTimeout: (UPSTREAM_TIMEOUT, "Passport did not answer within the time limit."),
    passport_errors.PassportBusy: (UPSTREAM_TIMEOUT, "No connection to Passport came free within the time limit."),
    passport_errors.PassportPaused: (UPSTREAM_RATE_LIMITED, "Passport asked for a pause; not calling it until then."),
    passport_errors.PassportOverloaded: (UPSTREAM_BUSY, "Too many calls to Passport in flight; retry shortly."),
    passport_errors.PassportUnreachable: (UPSTREAM_UNREACHABLE, "The connection to Passport failed."),
    passport_errors.PassportBadResponse: (UPSTREAM_BAD_RESPONSE, "Passport's answer failed validation."),
    passport_errors.PassportCircuitOpen: (UPSTREAM_CIRCUIT_OPEN, "Passport failed repeatedly; retry later."),
}


class Problem(Exception):
    """An error of the request, to answer as a problem document; raise it anywhere in ``app.web``."""

    def __init__(self, kind: ProblemType, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.code = kind.status
        self.detail = detail
        self.extra_headers = headers or {}


def problem_from_passport(error: passport_errors.PassportError,
                          record: RecordProblems = CUSTOMER_PROBLEMS) -> Problem:
    """Translate a Passport failure about a ``record`` (by default a customer) into what the frontend is told."""
    if isinstance(error, passport_errors.PassportNotFound):
        return Problem(record.not_found, f"Passport has no {record.name} with this id.")
    if isinstance(error, passport_errors.PassportForbidden):
        return Problem(record.forbidden, f"Passport does not allow access to this {record.name}.")
    kind, detail = next(PASSPORT_PROBLEMS[c] for c in type(error).__mro__ if c in PASSPORT_PROBLEMS)
    headers = {}
    if isinstance(error, (passport_errors.PassportRateLimited, passport_errors.PassportCircuitOpen)):
        headers["Retry-After"] = str(error.retry_after)
    elif isinstance(error, passport_errors.PassportOverloaded):
        headers["Retry-After"] = "1"
    return Problem(kind, detail, headers)


def problem_json(kind: ProblemType, detail: str, request_id: str | None) -> bytes:
    """The problem document, as sent."""
    return json.dumps({
        "type": TYPE_PREFIX + kind.slug,
        "title": kind.title,
        "status": kind.status,
        "detail": detail,
        "request_id": request_id,
    }).encode()
