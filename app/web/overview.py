"""``GET /v1/customers/{id}/overview``: the frontend's whole customer page in one call (a thin route).

The customer, its accounts, Bre-B keys and recipients (``app.policy.overview``), each in its
frontend shape, masked for a caller without ``pii.read`` as the single lookups are. One part failing
does not fail the page: it is named in ``failed`` with the status and title a lookup of it would have
had; a part the caller's scopes do not cover is ``failed`` with a 403; a part cut at
``OVERVIEW_MAX_ITEMS`` is named in ``truncated``. A customer Passport does not know is a 404; a
caller bound to other customers gets a 403 before anything is read. Every record shown is one audit
event.
"""
from __future__ import annotations

import json
from typing import Any

import marshmallow as ma
from flask import Blueprint, Flask, Response, current_app, g, request
from marshmallow import fields

from app.passport.errors import PassportError
from app.passport.resource import Resource
from app.passport.resources import BY_NAME, CUSTOMER, RESOURCES
from app.policy.overview import Overview, part_items
from app.policy.records import CacheResult, RecordAnswer
from app.web.answers import JSON
from app.web.api_docs import (
    ALWAYS,
    caller_problems,
    json_response,
    problem,
    purpose_parameter,
    record_id_parameter,
    request_id_parameter,
    schema_ref,
    security,
)
from app.web.audit import PURPOSE_HEADER, AuditTrail, purpose_of
from app.web.auth import Caller, require_scope
from app.web.lookup import canonical_id, seen_by
from app.web.problems import (
    AUTH_UNAVAILABLE,
    CUSTOMER_NOT_ALLOWED,
    CUSTOMER_NOT_FOUND,
    CUSTOMER_PROBLEMS,
    INSUFFICIENT_SCOPE,
    INVALID_CUSTOMER_ID,
    INVALID_PURPOSE,
    RECORD_PROBLEMS,
    Problem,
    problem_from_passport,
)
from app.web.services import services
from config.security import READ_SCOPE

bp = Blueprint("overview", __name__)
ROUTE = "/v1/customers/<customer_id>/overview"
CACHE_CONTROL_EXTENSION = "passport_bff_overview_cache_control"
AUDIT_EXTENSION = "passport_bff_overview_audit"
# Each part and the kind of record it lists: every declared kind Passport lists by customer, in the
# order of their registration (app.passport.resources).
PARTS = {resource.plural: resource.name for resource in RESOURCES if resource.list_path is not None}


def init_app(app: Flask, cache_control: str, audit: AuditTrail) -> None:
    app.extensions[CACHE_CONTROL_EXTENSION] = cache_control
    app.extensions[AUDIT_EXTENSION] = audit
    app.register_blueprint(bp)


@bp.get(ROUTE)
@require_scope(READ_SCOPE)
def customer_overview(customer_id: str) -> Response:
    """The customer and its accounts, keys and recipients; each part from its own cache."""
    canonical = canonical_id(customer_id, CUSTOMER_PROBLEMS)
    purpose = purpose_of(request.headers.get(PURPOSE_HEADER))
    caller: Caller = g.caller
    if not caller.may_read(canonical):
        raise Problem(CUSTOMER_NOT_ALLOWED, f"Customer {canonical} is not allowed for this caller.")
    allowed = [part for part, kind in PARTS.items() if BY_NAME[kind].scope in caller.scopes]
    found = services().overview.overview(canonical, g.request_id, allowed)
    if isinstance(found.customer, RecordAnswer) and not found.customer.entry.found:
        raise Problem(CUSTOMER_NOT_FOUND, "Passport has no customer with this id.")
    body, shown = page(found, caller, [part for part in PARTS if part not in allowed])
    audit(canonical, found, shown, purpose)
    headers = {"Cache-Control": current_app.extensions[CACHE_CONTROL_EXTENSION], "X-Cache": cache_result(found)}
    return Response(body, status=200, content_type=JSON, headers=headers)


def page(found: Overview, caller: Caller, refused: list[str]) -> tuple[bytes, dict[str, bytes]]:
    """The page's body, assembled from the stored bodies without parsing them; and the parts shown."""
    failed: list[dict[str, Any]] = [{"part": part, "status": 403, "title": INSUFFICIENT_SCOPE.title}
                                    for part in refused]
    truncated: list[str] = []
    shown: dict[str, bytes] = {}
    customer = b"null"
    if isinstance(found.customer, PassportError):
        failed.append(failure("customer", found.customer, CUSTOMER))
    else:
        customer = seen_by(found.customer.entry, caller)[0]
    for part, answer in found.parts.items():
        if isinstance(answer, PassportError):
            failed.append(failure(part, answer, BY_NAME[PARTS[part]]))
            continue
        shown[part], cut = part_items(seen_by(answer.entry, caller)[0])
        if cut:
            truncated.append(part)
    pieces = [b'{"customer":' + customer]
    pieces += [b'"' + part.encode() + b'":' + shown.get(part, b"[]") for part in PARTS]
    pieces.append(b'"failed":' + json.dumps(failed, separators=(",", ":")).encode())
    pieces.append(b'"truncated":' + json.dumps(truncated).encode() + b"}")
    return b",".join(pieces), shown


def failure(part: str, error: PassportError, resource: Resource[Any]) -> dict[str, Any]:
    """A part that has no answer: the status and title its own lookup would have answered."""
    answered = problem_from_passport(error, RECORD_PROBLEMS[resource.name])
    return {"part": part, "status": answered.code, "title": answered.kind.title}


def cache_result(found: Overview) -> str:
    """``HIT`` when every part came fresh from the cache, ``STALE`` when some were stale and none fetched,
    else ``MISS``."""
    results = {answer.cache for answer in (found.customer, *found.parts.values()) if isinstance(answer, RecordAnswer)}
    if results <= {CacheResult.HIT}:
        return CacheResult.HIT.value
    if results <= {CacheResult.HIT, CacheResult.STALE}:
        return CacheResult.STALE.value
    return CacheResult.MISS.value


def audit(customer_id: str, found: Overview, shown: dict[str, bytes], purpose: str | None) -> None:
    """One event for the customer and one per record shown, each with its part's cache result."""
    trail: AuditTrail = current_app.extensions[AUDIT_EXTENSION]
    if not trail.enabled:
        return
    route = "/v1/customers/<customer_id>/overview"
    if isinstance(found.customer, RecordAnswer):
        trail.disclosed(CUSTOMER.name, [(customer_id, None, found.customer.cache.value)], caller=g.caller.name,
                        route=route, request_id=g.request_id, purpose=purpose)
    for part, items in shown.items():
        answer = found.parts[part]
        result = answer.cache.value if isinstance(answer, RecordAnswer) else CacheResult.MISS.value
        records = [(item["id"], customer_id, result) for item in json.loads(items)]
        if records:
            trail.disclosed(PARTS[part], records, caller=g.caller.name, route=route, request_id=g.request_id,
                            purpose=purpose)


# --- OpenAPI: what the document says of this view (app.web.openapi) --------------------------------

class PartFailureSchema(ma.Schema):
    part = fields.String(required=True, metadata={"description": "`customer`, `accounts`, `keys` or `recipients`."})
    status = fields.Integer(required=True, metadata={"description": "What a lookup of it would have answered."})
    title = fields.String(required=True)


# ``GET /v1/customers/{customer_id}/overview``'s body: the customer, one list per part, failed, truncated.
OverviewSchema = ma.Schema.from_dict({
    "customer": fields.Nested(CUSTOMER.frontend_schema, required=True, allow_none=True,
                              metadata={"description": "null when its part failed (see `failed`)."}),
    **{part: fields.List(fields.Nested(BY_NAME[kind].frontend_schema), required=True) for part, kind in PARTS.items()},
    "failed": fields.List(fields.Nested(PartFailureSchema), required=True,
                          metadata={"description": "The parts without an answer; the others are shown all the same."}),
    "truncated": fields.List(fields.String(), required=True,
                             metadata={"description": "The parts cut at `OVERVIEW_MAX_ITEMS` records."}),
}, name="OverviewSchema")


def overview_operation() -> dict[str, Any]:
    return {
        "operationId": "getCustomerOverview",
        "tags": ["customers"],
        "summary": "Get a customer with its accounts, keys and recipients (cached)",
        "description": "The frontend's customer page in one call: the customer and the accounts, Bre-B keys and "
                       "recipients Passport lists for it, each in its frontend shape and each part through its own "
                       "cache (every listed record also warms its single lookup). A part that fails, or that the "
                       "caller's scopes (`accounts.read`, `keys.read`, `recipients.read`) do not cover, is named "
                       "in `failed`; the others are shown. Personal fields are masked without `pii.read`. Needs "
                       "the `customers.read` scope; a JWT's `customer_ids` claim limits the ids.",
        "security": security(READ_SCOPE),
        "parameters": [record_id_parameter(CUSTOMER), request_id_parameter(), purpose_parameter()],
        "responses": {
            "200": json_response("The customer's page.", schema_ref("CustomerOverview"), ALWAYS + ("X-Cache",)),
            "400": problem(INVALID_CUSTOMER_ID, INVALID_PURPOSE),
            **caller_problems(),
            "403": problem(INSUFFICIENT_SCOPE, CUSTOMER_NOT_ALLOWED),
            "404": problem(CUSTOMER_NOT_FOUND),
            "503": problem(AUTH_UNAVAILABLE),
        },
    }


def operations() -> dict[str, dict[str, dict[str, Any]]]:
    return {"overview.customer_overview": {"get": overview_operation()}}
