"""The building blocks of the OpenAPI document: headers, problem responses, parameters, security.

Each view module writes its operations with these, next to its views (``app.web.api``,
``app.web.api_collections``, ``app.web.health``); ``app.web.openapi`` puts them together at the
paths of the app's URL map. Problem responses come from the one catalogue (``app.web.problems``)
and the Passport-error table, ``X-Cache`` values from ``CacheResult``, scopes from
``config.security``.
"""
from __future__ import annotations

from typing import Any

from app.observability import REQUEST_ID_HEADER, SANE_REQUEST_ID
from app.passport.resource import Resource
from app.policy.records import CacheResult
from app.web.audit import PURPOSE_HEADER, SANE_PURPOSE
from app.web.lookup import UUID_PATTERN
from app.web.problems import (
    AUTH_UNAVAILABLE,
    PASSPORT_PROBLEMS,
    PROBLEM_CONTENT_TYPE,
    REQUEST_TOO_LARGE,
    TOO_MANY_REQUESTS,
    UNAUTHENTICATED,
    ProblemType,
)

JSON = "application/json"
TEXT = "text/plain"
HTML = "text/html"
API_KEY_SCHEME = "apiKey"
BEARER_SCHEME = "bearerAuth"
X_CACHE_VALUES = [result.value for result in CacheResult]
CACHE_STATUS_PATTERN = "^passport-bff; "
UUID_JSON_PATTERN = f"^{UUID_PATTERN.pattern}$"

HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {"description": "Strong validator of the body.", "schema": {"type": "string", "pattern": '^"[^"]+"$'}},
    "Cache-Control": {"description": "`CUSTOMER_CACHE_CONTROL` (by default `private, no-cache`) on customer data; "
                                     "`private, max-age=<seconds left>` on a remembered 404; `no-store` on errors.",
                      "schema": {"type": "string"}},
    "Age": {"description": "Seconds since the cached copy was fetched (cached answers only).",
            "schema": {"type": "integer", "minimum": 0}},
    "X-Cache": {"description": "Where the answer came from.", "schema": {"type": "string", "enum": X_CACHE_VALUES}},
    "Cache-Status": {"description": "RFC 9211 cache status, e.g. `passport-bff; hit; ttl=42`.",
                     "schema": {"type": "string", "pattern": CACHE_STATUS_PATTERN}},
    REQUEST_ID_HEADER: {"description": "The caller's request id if it was sane, otherwise a new UUID.",
                        "schema": {"type": "string", "pattern": f"^{SANE_REQUEST_ID.pattern}$"}},
    "Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer", "minimum": 0}},
    "WWW-Authenticate": {"description": "The Bearer and ApiKey challenges.", "schema": {"type": "string"}},
}
ALWAYS = ("Cache-Control", REQUEST_ID_HEADER)
RECORD_HEADERS = ("ETag", "Cache-Control", "X-Cache", "Cache-Status", REQUEST_ID_HEADER)
UPSTREAM_HEADERS = ("X-Cache", "Cache-Status")


def schema_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def with_const(name: str, field: str, value: Any) -> dict[str, Any]:
    """The component ``name``, with ``field`` pinned to ``value`` (e.g. a problem's status)."""
    return {"allOf": [schema_ref(name), {"properties": {field: {"const": value}}}]}


def headers(required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """Header objects from ``HEADERS``; ``required`` ones are always sent."""
    return {
        **{name: {**HEADERS[name], "required": True} for name in required},
        **{name: {**HEADERS[name], "required": False} for name in optional if name not in required},
    }


def problem(*kinds: ProblemType, required: tuple[str, ...] = (), optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """A problem+json response carrying one of ``kinds`` (all of one status)."""
    (status,) = {kind.status for kind in kinds}
    return {
        "description": "Problem types: " + ", ".join(f"`{kind.slug}` ({kind.title})" for kind in kinds) + ".",
        "headers": headers(ALWAYS + required, optional),
        "content": {PROBLEM_CONTENT_TYPE: {"schema": with_const("Problem", "status", status)}},
    }


def json_response(description: str, schema: dict[str, Any], required: tuple[str, ...] = (REQUEST_ID_HEADER,)
                  ) -> dict[str, Any]:
    return {"description": description, "headers": headers(required), "content": {JSON: {"schema": schema}}}


def caller_problems() -> dict[str, dict[str, Any]]:
    """What any authenticated endpoint can answer before its own work starts."""
    return {
        "401": problem(UNAUTHENTICATED, required=("WWW-Authenticate",)),
        "413": problem(REQUEST_TOO_LARGE),
        "429": problem(TOO_MANY_REQUESTS, required=("Retry-After",)),
    }


def passport_problems(status: int) -> tuple[ProblemType, ...]:
    """The problems a Passport failure is answered with at ``status`` (``PASSPORT_PROBLEMS``), each once."""
    return tuple(dict.fromkeys(kind for kind, _ in PASSPORT_PROBLEMS.values() if kind.status == status))


def upstream_problems(*extra_503: ProblemType, optional: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """What a call to Passport can end in, when no cached copy can stand in."""
    return {
        "502": problem(*passport_problems(502), optional=optional),
        "503": problem(*extra_503, *passport_problems(503), AUTH_UNAVAILABLE, optional=("Retry-After",) + optional),
        "504": problem(*passport_problems(504), optional=optional),
    }



def record_id_parameter(resource: Resource[Any]) -> dict[str, Any]:
    return {
        "name": f"{resource.name}_id", "in": "path", "required": True,
        "description": f"The Passport {resource.name} id: a UUID in its 8-4-4-4-12 form, any case.",
        "schema": {"type": "string", "pattern": UUID_JSON_PATTERN},
        "example": resource.example_id,
    }



def request_id_parameter() -> dict[str, Any]:
    return {
        "name": REQUEST_ID_HEADER, "in": "header", "required": False,
        "description": "The gateway's request id: kept when it is up to 128 characters of "
                       "`A-Z a-z 0-9 . _ : + = / -`, otherwise replaced by a new UUID (never refused).",
        "schema": {"type": "string"},
    }


def purpose_parameter() -> dict[str, Any]:
    return {
        "name": PURPOSE_HEADER, "in": "header", "required": False,
        "description": "Why the caller asks, written with each customer disclosed into the audit trail "
                       "(README \"Audit trail\"); anything but 1 to 64 of `A-Z a-z 0-9 . _ : / # = + -` "
                       "is a 400 `invalid-purpose`.",
        "schema": {"type": "string", "pattern": f"^{SANE_PURPOSE.pattern}$"},
    }


def security(scope: str) -> list[dict[str, list[str]]]:
    """Either scheme will do; OpenAPI 3.1 lets non-OAuth schemes name the role (scope) needed."""
    return [{API_KEY_SCHEME: [scope]}, {BEARER_SCHEME: [scope]}]


def public_operation(operation_id: str, tag: str, summary: str, responses: dict[str, Any]) -> dict[str, Any]:
    return {"operationId": operation_id, "tags": [tag], "summary": summary, "responses": responses}

