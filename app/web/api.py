"""The HTTP surface for frontends: one customer, and its purge; thin routes over the lookup and the service."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from werkzeug.routing import PathConverter

from app.passport.errors import PassportError
from app.passport.schemas import CustomerSchema
from app.policy.records import EntryReport
from app.store.cache import StoreUnavailable
from app.web.api_docs import (
    ALWAYS,
    CUSTOMER_HEADERS,
    JSON,
    UPSTREAM_HEADERS,
    caller_problems,
    customer_id_parameter,
    headers,
    json_response,
    problem,
    purpose_parameter,
    request_id_parameter,
    schema_ref,
    security,
    upstream_problems,
)
from app.web.auth import require_scope
from app.web.lookup import CustomerLookup, canonical_customer_id
from app.web.problems import (
    AUTH_UNAVAILABLE,
    CACHE_UNAVAILABLE,
    CUSTOMER_FORBIDDEN,
    CUSTOMER_NOT_ALLOWED,
    CUSTOMER_NOT_FOUND,
    INSUFFICIENT_SCOPE,
    INVALID_CUSTOMER_ID,
    INVALID_PARAMETER,
    INVALID_PURPOSE,
    NOT_FOUND,
    Problem,
    problem_from_passport,
)
from app.web.services import services
from config.security import PURGE_SCOPE, READ_SCOPE

bp = Blueprint("customers", __name__)
PURGE_MODES = ("hard", "soft")
LOOKUP_EXTENSION = "passport_bff_lookup"


def register(app: Flask, lookup: CustomerLookup) -> None:
    app.url_map.converters["path"] = CustomerPathConverter
    app.extensions[LOOKUP_EXTENSION] = lookup
    app.register_blueprint(bp)


def lookup_of(app: Flask) -> CustomerLookup:
    """The app's one customer lookup (``app.web.lookup``)."""
    lookup: CustomerLookup = app.extensions[LOOKUP_EXTENSION]
    return lookup


class CustomerPathConverter(PathConverter):
    """Werkzeug's ``path``, newlines included, so every id, however odd, reaches the 400 check —
    but never ``<id>/cache``, which belongs to the cache entry's routes (inspect, purge)."""

    regex = "(?!(?s:.*)/cache\\Z)[^/](?s:.*?)"


@bp.get("/v1/customers/<path:customer_id>")
def get_customer(customer_id: str) -> Response:
    """The lookup, when Flask serves it (the fast path is off, or the request is a browser's)."""
    found = lookup_of(current_app).answer(customer_id, request.headers, request.remote_addr, g.request_id)
    g.caller = found.caller
    return Response(found.http.body, found.http.status, found.http.headers)


get_customer.answers_itself = True  # type: ignore[attr-defined]  # authenticates and limits itself


@bp.delete("/v1/customers/<customer_id>/cache")
@require_scope(PURGE_SCOPE)
def purge_customer(customer_id: str) -> Response:
    """Forget the cached copy (``mode=hard``, the default) or make it stale now (``mode=soft``); with
    ``?refresh=true`` fetch it again now. Either way a fetch already in flight cannot store over it."""
    canonical = canonical_customer_id(customer_id)
    refresh = request.args.get("refresh", "false").lower()
    if refresh not in ("true", "false"):
        raise Problem(INVALID_PARAMETER, "refresh must be true or false.")
    mode = request.args.get("mode", "hard")
    if mode not in PURGE_MODES:
        raise Problem(INVALID_PARAMETER, f"mode must be one of: {', '.join(PURGE_MODES)}.")
    try:
        services().customers.purge(canonical, soft=mode == "soft")
    except StoreUnavailable:
        raise Problem(CACHE_UNAVAILABLE, "The cache cannot be reached; nothing was purged.") from None
    if refresh == "true":
        try:
            services().customers.refresh(canonical, g.request_id)
        except PassportError as exc:
            raise problem_from_passport(exc) from None
    return Response(status=204)


@bp.get("/v1/customers/<customer_id>/cache")
@require_scope(PURGE_SCOPE)
def inspect_customer_entry(customer_id: str) -> Response:
    """What the cache holds for a customer, without the customer: for operators deciding to purge."""
    canonical = canonical_customer_id(customer_id)
    try:
        report = services().customers.describe(canonical)
    except StoreUnavailable:
        raise Problem(CACHE_UNAVAILABLE, "The cache cannot be reached.") from None
    response = jsonify(entry_report(canonical, report))
    response.headers["Cache-Control"] = "no-store"
    return response


def entry_report(customer_id: str, report: EntryReport) -> dict[str, Any]:
    """The report as JSON: times in ISO 8601 UTC, ``null`` where there is nothing to say."""
    entry = report.entry
    return {
        "id": customer_id,
        "present": entry is not None,
        "kind": None if entry is None else ("customer" if entry.found else "not-found"),
        "fetchedAt": iso_time(entry.fetched_at if entry else None),
        "updatedAt": iso_time(entry.updated_at if entry and entry.found else None),
        "freshUntil": iso_time(report.fresh_until),
        "fresh": bool(entry and entry.is_fresh(report.now)),
        "staleWhileRevalidateUntil": iso_time(report.stale_until(report.windows.while_revalidate_seconds)),
        "staleIfErrorUntil": iso_time(report.stale_until(report.windows.if_error_seconds)),
        "etag": entry.etag if entry and entry.found else None,
        "storedBytes": report.stored.stored_bytes,
        "expiresInSeconds": None if report.stored.ttl_seconds is None else round(report.stored.ttl_seconds, 3),
        "fetchLockHeld": report.lock_held,
        "purgedAt": iso_time(report.purged_at),
    }


def iso_time(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- OpenAPI: what the document says of these views (app.web.openapi) ------------------------------

REFRESH_PATTERN = "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$"  # true/false, any case, as purge_customer reads it


def get_customer_operation() -> dict[str, Any]:
    cached = headers(CUSTOMER_HEADERS, ("Age",))
    return {
        "operationId": "getCustomer",
        "tags": ["customers"],
        "summary": "Get a customer (cached)",
        "description": "The customer as frontends receive it, from the cache when it is fresh. "
                       "Needs the `customers.read` scope; a JWT's `customer_ids` claim limits the ids.",
        "security": security(READ_SCOPE),
        "parameters": [
            customer_id_parameter(),
            request_id_parameter(),
            purpose_parameter(),
            {"name": "If-None-Match", "in": "header", "required": False,
             "description": "ETags the caller holds; 304 when one matches (weak comparison).",
             "schema": {"type": "string"}},
            {"name": "Cache-Control", "in": "header", "required": False,
             "description": "`no-cache` (or `max-age=0`) asks for the customer fresh from Passport: with the "
                            "`customers.refresh` scope it is fetched now (`Cache-Status: ...; fwd=request`), one "
                            "fetch fleet-wide however many ask, unless a copy fetched within "
                            "`CACHE_REFRESH_SATISFIED_SECONDS` already answers it; such requests count against "
                            "`RATELIMIT_REFRESH` (over it, answered from the cache with "
                            "`detail=refresh-rate-limited`). Without the scope it is ignored and `Cache-Status` says "
                            "`detail=refresh-not-allowed`. Other directives are not acted on.",
             "schema": {"type": "string"}},
        ],
        "responses": {
            "200": {"description": "The customer.", "headers": cached, "content": {JSON: {"schema": CustomerSchema}}},
            "304": {"description": "The caller's copy (`If-None-Match`) is current.", "headers": cached},
            "400": problem(INVALID_CUSTOMER_ID, INVALID_PURPOSE),
            **caller_problems(),
            "403": problem(INSUFFICIENT_SCOPE, CUSTOMER_NOT_ALLOWED, CUSTOMER_FORBIDDEN),
            "404": problem(CUSTOMER_NOT_FOUND, NOT_FOUND, optional=UPSTREAM_HEADERS + ("Age",)),
            **upstream_problems(optional=UPSTREAM_HEADERS),
        },
    }


def purge_customer_operation() -> dict[str, Any]:
    return {
        "operationId": "purgeCustomerCache",
        "tags": ["customers"],
        "summary": "Forget a cached customer",
        "description": "Drops the cached copy (and a remembered 404), or with `mode=soft` makes it stale now; "
                       "with `refresh=true` fetches it again "
                       "now (an id Passport does not know is then remembered as such: still 204). "
                       "Needs the `customers.purge` scope.",
        "security": security(PURGE_SCOPE),
        "parameters": [
            customer_id_parameter(),
            {"name": "refresh", "in": "query", "required": False,
             "description": "`true` to fetch the customer again at once (any case).",
             "schema": {"type": "string", "pattern": REFRESH_PATTERN, "default": "false"}},
            {"name": "mode", "in": "query", "required": False,
             "description": "`hard` forgets the copy; `soft` keeps it but stale from now: the next lookup "
                            "revalidates it (one fetch fleet-wide) while the copy is served stale, and still "
                            "on Passport's errors (stale-if-error). Either way a fetch already in flight "
                            "cannot store what it fetched before the purge.",
             "schema": {"type": "string", "enum": list(PURGE_MODES), "default": "hard"}},
            request_id_parameter(),
        ],
        "responses": {
            "204": {"description": "Purged (and refreshed, if asked).", "headers": headers(ALWAYS)},
            "400": problem(INVALID_CUSTOMER_ID, INVALID_PARAMETER),
            **caller_problems(),
            "403": problem(INSUFFICIENT_SCOPE, CUSTOMER_FORBIDDEN),
            "404": problem(NOT_FOUND),
            **upstream_problems(CACHE_UNAVAILABLE),
        },
    }


def inspect_entry_operation() -> dict[str, Any]:
    return {
        "operationId": "inspectCustomerCache",
        "tags": ["customers"],
        "summary": "Look inside the cache entry of a customer (no customer data)",
        "description": "What the cache holds for the id — a copy or a remembered 404, when fetched, how long "
                       "fresh, the stale windows left, ETag, stored size, whether a fetch runs and whether a "
                       "recent purge is still guarding against one begun before it. Never the customer. "
                       "Needs the `customers.purge` scope.",
        "security": security(PURGE_SCOPE),
        "parameters": [customer_id_parameter(), request_id_parameter()],
        "responses": {
            "200": json_response("The entry's metadata.", schema_ref("CacheEntry")),
            "400": problem(INVALID_CUSTOMER_ID),
            **caller_problems(),
            "403": problem(INSUFFICIENT_SCOPE),
            "404": problem(NOT_FOUND),
            "503": problem(CACHE_UNAVAILABLE, AUTH_UNAVAILABLE),
        },
    }


def operations() -> dict[str, dict[str, dict[str, Any]]]:
    return {
        "customers.get_customer": {"get": get_customer_operation()},
        "customers.purge_customer": {"delete": purge_customer_operation()},
        "customers.inspect_customer_entry": {"get": inspect_entry_operation()},
    }
