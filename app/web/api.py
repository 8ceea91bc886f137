"""The HTTP surface for frontends, one record at a time: a lookup and its cache entry's routes, for every kind.

For each declared kind of record (``app.passport.resources``: customers, accounts, keys,
recipients) a blueprint named after it holds three thin routes: ``GET /v1/<plural>/<id>`` (the
lookup, ``app.web.lookup``), ``DELETE /v1/<plural>/<id>/cache`` (purge) and ``GET
/v1/<plural>/<id>/cache`` (look inside the entry), all over that kind's ``RecordService``.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from werkzeug.routing import PathConverter

from app.passport.errors import PassportError
from app.passport.resource import Resource
from app.passport.resources import RESOURCES
from app.policy.records import EntryReport, RecordService
from app.store.cache import StoreUnavailable
from app.web.api_docs import (
    ALWAYS,
    JSON,
    RECORD_HEADERS,
    UPSTREAM_HEADERS,
    caller_problems,
    headers,
    json_response,
    problem,
    purpose_parameter,
    record_id_parameter,
    request_id_parameter,
    schema_ref,
    security,
    upstream_problems,
)
from app.web.auth import require_scope
from app.web.lookup import RecordLookup, canonical_id
from app.web.problems import (
    AUTH_UNAVAILABLE,
    CACHE_UNAVAILABLE,
    INSUFFICIENT_SCOPE,
    INVALID_PARAMETER,
    INVALID_PURPOSE,
    NOT_FOUND,
    RECORD_PROBLEMS,
    Problem,
    problem_from_passport,
)
from app.web.services import services
from config.security import PURGE_SCOPE

PURGE_MODES = ("hard", "soft")
LOOKUP_EXTENSION = "passport_bff_lookups"


def register(app: Flask, lookups: list[RecordLookup]) -> None:
    app.url_map.converters["path"] = RecordPathConverter
    app.extensions[LOOKUP_EXTENSION] = {lookup.resource.name: lookup for lookup in lookups}
    for lookup in lookups:
        app.register_blueprint(blueprint_for(lookup.resource))


def lookup_of(app: Flask, kind: str) -> RecordLookup:
    """The app's one lookup of records of ``kind`` (``app.web.lookup``)."""
    lookup: RecordLookup = app.extensions[LOOKUP_EXTENSION][kind]
    return lookup


class RecordPathConverter(PathConverter):
    """Werkzeug's ``path``, newlines included, so every id, however odd, reaches the 400 check —
    but never ``<id>/cache`` (the cache entry's routes: inspect, purge) nor ``<id>/overview`` (the
    customer's page, ``app.web.overview``)."""

    regex = "(?!(?s:.*)/(?:cache|overview)\\Z)[^/](?s:.*?)"


def endpoint_of(resource: Resource[Any]) -> str:
    """The lookup route's endpoint, ``customers.get_customer``: Flask-Limiter's scope for it too."""
    return f"{resource.plural}.get_{resource.name}"


def blueprint_for(resource: Resource[Any]) -> Blueprint:
    """The routes of one kind of record; endpoints ``<plural>.get_<name>``, ``.purge_<name>``,
    ``.inspect_<name>_entry`` (the OpenAPI document and the rate limit's scope name them so)."""
    bp = Blueprint(resource.plural, __name__)
    name, plural = resource.name, resource.plural
    bp.add_url_rule(f"/v1/{plural}/<path:{name}_id>", f"get_{name}", lookup_view(resource), methods=["GET"])
    bp.add_url_rule(f"/v1/{plural}/<{name}_id>/cache", f"purge_{name}",
                    require_scope(PURGE_SCOPE)(purge_view(resource)), methods=["DELETE"])
    bp.add_url_rule(f"/v1/{plural}/<{name}_id>/cache", f"inspect_{name}_entry",
                    require_scope(PURGE_SCOPE)(inspect_view(resource)), methods=["GET"])
    return bp


def lookup_view(resource: Resource[Any]) -> Callable[..., Response]:
    def get_record(**path: str) -> Response:
        """The lookup, when Flask serves it (the fast path is off, or the request is a browser's)."""
        record_id = path[f"{resource.name}_id"]
        found = lookup_of(current_app, resource.name).answer(record_id, request.headers, request.remote_addr,
                                                             g.request_id)
        g.caller = found.caller
        return Response(found.http.body, found.http.status, found.http.headers)

    get_record.answers_itself = True  # type: ignore[attr-defined]  # authenticates and limits itself
    return get_record


def records_of(resource: Resource[Any]) -> RecordService:
    return services().records[resource.name]


def purge_view(resource: Resource[Any]) -> Callable[..., Response]:
    def purge_record(**path: str) -> Response:
        """Forget the cached copy (``mode=hard``, the default) or make it stale now (``mode=soft``); with
        ``?refresh=true`` fetch it again now. Either way a fetch already in flight cannot store over it."""
        problems = RECORD_PROBLEMS[resource.name]
        canonical = canonical_id(path[f"{resource.name}_id"], problems)
        refresh = request.args.get("refresh", "false").lower()
        if refresh not in ("true", "false"):
            raise Problem(INVALID_PARAMETER, "refresh must be true or false.")
        mode = request.args.get("mode", "hard")
        if mode not in PURGE_MODES:
            raise Problem(INVALID_PARAMETER, f"mode must be one of: {', '.join(PURGE_MODES)}.")
        try:
            records_of(resource).purge(canonical, soft=mode == "soft")
        except StoreUnavailable:
            raise Problem(CACHE_UNAVAILABLE, "The cache cannot be reached; nothing was purged.") from None
        if refresh == "true":
            try:
                records_of(resource).refresh(canonical, g.request_id)
            except PassportError as exc:
                raise problem_from_passport(exc, problems) from None
        return Response(status=204)

    return purge_record


def inspect_view(resource: Resource[Any]) -> Callable[..., Response]:
    def inspect_entry(**path: str) -> Response:
        """What the cache holds for a record, without the record: for operators deciding to purge."""
        canonical = canonical_id(path[f"{resource.name}_id"], RECORD_PROBLEMS[resource.name])
        try:
            report = records_of(resource).describe(canonical)
        except StoreUnavailable:
            raise Problem(CACHE_UNAVAILABLE, "The cache cannot be reached.") from None
        response = jsonify(entry_report(resource, canonical, report))
        response.headers["Cache-Control"] = "no-store"
        return response

    return inspect_entry


def entry_report(resource: Resource[Any], record_id: str, report: EntryReport) -> dict[str, Any]:
    """The report as JSON: times in ISO 8601 UTC, ``null`` where there is nothing to say."""
    entry = report.entry
    return {
        "id": record_id,
        "present": entry is not None,
        "kind": None if entry is None else (resource.name if entry.found else "not-found"),
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

REFRESH_PATTERN = "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$"  # true/false, any case, as purge_record reads it


def lookup_operation(resource: Resource[Any]) -> dict[str, Any]:
    cached = headers(RECORD_HEADERS, ("Age",))
    problems = RECORD_PROBLEMS[resource.name]
    binding = ("a JWT's `customer_ids` claim limits the ids" if resource.is_customer else
               f"a JWT's `customer_ids` claim limits it to the {resource.plural} of those customers (checked on "
               f"every answer, cached or not)")
    return {
        "operationId": f"get{resource.title}",
        "tags": [resource.plural],
        "summary": f"Get a {resource.name} (cached)",
        "description": f"The {resource.name} as frontends receive it, from the cache when it is fresh. "
                       f"Needs the `{resource.scope}` scope; {binding}.",
        "security": security(resource.scope),
        "parameters": [
            record_id_parameter(resource),
            request_id_parameter(),
            purpose_parameter(),
            {"name": "If-None-Match", "in": "header", "required": False,
             "description": "ETags the caller holds; 304 when one matches (weak comparison).",
             "schema": {"type": "string"}},
            {"name": "Cache-Control", "in": "header", "required": False,
             "description": f"`no-cache` (or `max-age=0`) asks for the {resource.name} fresh from Passport: with the "
                            "`customers.refresh` scope it is fetched now (`Cache-Status: ...; fwd=request`), one "
                            "fetch fleet-wide however many ask, unless a copy fetched within "
                            "`CACHE_REFRESH_SATISFIED_SECONDS` already answers it; such requests count against "
                            "`RATELIMIT_REFRESH` (over it, answered from the cache with "
                            "`detail=refresh-rate-limited`). Without the scope it is ignored and `Cache-Status` says "
                            "`detail=refresh-not-allowed`. Other directives are not acted on.",
             "schema": {"type": "string"}},
        ],
        "responses": {
            "200": {"description": f"The {resource.name}.", "headers": cached,
                    "content": {JSON: {"schema": resource.frontend_schema}}},
            "304": {"description": "The caller's copy (`If-None-Match`) is current.", "headers": cached},
            "400": problem(problems.invalid_id, INVALID_PURPOSE),
            **caller_problems(),
            "403": problem(INSUFFICIENT_SCOPE, problems.not_allowed, problems.forbidden),
            "404": problem(problems.not_found, NOT_FOUND, optional=UPSTREAM_HEADERS + ("Age",)),
            **upstream_problems(optional=UPSTREAM_HEADERS),
        },
    }


def purge_operation(resource: Resource[Any]) -> dict[str, Any]:
    problems = RECORD_PROBLEMS[resource.name]
    return {
        "operationId": f"purge{resource.title}Cache",
        "tags": [resource.plural],
        "summary": f"Forget a cached {resource.name}",
        "description": "Drops the cached copy (and a remembered 404), or with `mode=soft` makes it stale now; "
                       "with `refresh=true` fetches it again "
                       "now (an id Passport does not know is then remembered as such: still 204). "
                       "Needs the `customers.purge` scope.",
        "security": security(PURGE_SCOPE),
        "parameters": [
            record_id_parameter(resource),
            {"name": "refresh", "in": "query", "required": False,
             "description": f"`true` to fetch the {resource.name} again at once (any case).",
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
            "400": problem(problems.invalid_id, INVALID_PARAMETER),
            **caller_problems(),
            "403": problem(INSUFFICIENT_SCOPE, problems.forbidden),
            "404": problem(NOT_FOUND),
            **upstream_problems(CACHE_UNAVAILABLE),
        },
    }


def inspect_entry_operation(resource: Resource[Any]) -> dict[str, Any]:
    return {
        "operationId": f"inspect{resource.title}Cache",
        "tags": [resource.plural],
        "summary": f"Look inside the cache entry of a {resource.name} (no {resource.name} data)",
        "description": "What the cache holds for the id — a copy or a remembered 404, when fetched, how long "
                       "fresh, the stale windows left, ETag, stored size, whether a fetch runs and whether a "
                       f"recent purge is still guarding against one begun before it. Never the {resource.name}. "
                       "Needs the `customers.purge` scope.",
        "security": security(PURGE_SCOPE),
        "parameters": [record_id_parameter(resource), request_id_parameter()],
        "responses": {
            "200": json_response("The entry's metadata.", schema_ref("CacheEntry")),
            "400": problem(RECORD_PROBLEMS[resource.name].invalid_id),
            **caller_problems(),
            "403": problem(INSUFFICIENT_SCOPE),
            "404": problem(NOT_FOUND),
            "503": problem(CACHE_UNAVAILABLE, AUTH_UNAVAILABLE),
        },
    }


def operations() -> dict[str, dict[str, dict[str, Any]]]:
    documented: dict[str, dict[str, dict[str, Any]]] = {}
    for resource in RESOURCES:
        plural, name = resource.plural, resource.name
        documented[endpoint_of(resource)] = {"get": lookup_operation(resource)}
        documented[f"{plural}.purge_{name}"] = {"delete": purge_operation(resource)}
        documented[f"{plural}.inspect_{name}_entry"] = {"get": inspect_entry_operation(resource)}
    return documented
