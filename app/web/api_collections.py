"""The HTTP surface for many customers at once: batch lookup and listing (thin routes)."""
from __future__ import annotations

import json
from typing import Any

import marshmallow as ma
from flask import Blueprint, Flask, Response, current_app, g, request

from app.passport.errors import PassportError
from app.passport.resources import CUSTOMER
from app.passport.schemas import BATCH_GET, LIST_QUERY, ListQuerySchema
from app.web.answers import JSON
from app.web.api_docs import (
    ALWAYS,
    caller_problems,
    json_response,
    problem,
    purpose_parameter,
    request_id_parameter,
    schema_ref,
    security,
    upstream_problems,
)
from app.web.audit import PURPOSE_HEADER, AuditTrail, purpose_of
from app.web.auth import require_scope
from app.web.lookup import UUID_PATTERN, seen_by
from app.web.problems import (
    AUTH_UNAVAILABLE,
    CUSTOMER_FORBIDDEN,
    CUSTOMER_NOT_ALLOWED,
    INSUFFICIENT_SCOPE,
    INVALID_BODY,
    INVALID_CUSTOMER_ID,
    INVALID_PARAMETER,
    INVALID_PURPOSE,
    Problem,
    problem_from_passport,
)
from app.web.services import services
from config.security import PII_SCOPE, READ_SCOPE

bp = Blueprint("customer_collections", __name__)
CACHE_CONTROL_EXTENSION = "passport_bff_customer_cache_control"
AUDIT_EXTENSION = "passport_bff_audit"
BATCH_ROUTE = "/v1/customers:batchGet"
LIST_ROUTE = "/v1/customers"


def init_app(app: Flask, cache_control: str, audit: AuditTrail) -> None:
    """Serve batch and listing; ``cache_control`` is what browsers may keep (``CUSTOMER_CACHE_CONTROL``),
    ``audit`` hears of every customer either answer discloses."""
    app.extensions[CACHE_CONTROL_EXTENSION] = cache_control
    app.extensions[AUDIT_EXTENSION] = audit
    app.register_blueprint(bp)


def customer_cache_control() -> str:
    value: str = current_app.extensions[CACHE_CONTROL_EXTENSION]
    return value


def audit_disclosures(records: list[tuple[str, str]], route: str, purpose: str | None) -> None:
    """One audit event per customer of the answer (``app.web.audit``)."""
    audit: AuditTrail = current_app.extensions[AUDIT_EXTENSION]
    if audit.enabled and records:
        audit.disclosed(CUSTOMER.name, [(customer_id, None, result) for customer_id, result in records],
                        caller=g.caller.name, route=route, request_id=g.request_id, purpose=purpose)

FORBIDDEN_TITLE = CUSTOMER_NOT_ALLOWED.title


@bp.post(BATCH_ROUTE)
@require_scope(READ_SCOPE)
def batch_get() -> Response:
    """Look up 1 to 100 customers; each id fails or succeeds on its own."""
    ids = distinct_customer_ids(request.get_json(silent=True))
    purpose = purpose_of(request.headers.get(PURPOSE_HEADER))
    allowed = [customer_id for customer_id in ids if g.caller.may_read(customer_id)]
    results = services().customers.lookup_many(allowed, g.request_id)
    found: list[bytes] = []
    not_found: list[str] = []
    failed: list[dict[str, Any]] = []
    disclosed: list[tuple[str, str]] = []
    for customer_id in ids:
        result = results.get(customer_id)
        if result is None:
            failed.append({"id": customer_id, "status": 403, "title": FORBIDDEN_TITLE})
        elif isinstance(result, PassportError):
            problem = problem_from_passport(result)
            failed.append({"id": customer_id, "status": problem.code, "title": problem.kind.title})
        elif result.entry.found:
            found.append(seen_by(result.entry, g.caller)[0])
            disclosed.append((customer_id, result.cache.value))
        else:
            not_found.append(customer_id)
    body = (b'{"customers":[' + b",".join(found) + b'],"notFound":' + json.dumps(not_found).encode()
            + b',"failed":' + json.dumps(failed, separators=(",", ":")).encode() + b"}")
    audit_disclosures(disclosed, BATCH_ROUTE, purpose)
    return Response(body, status=200, content_type=JSON, headers={"Cache-Control": customer_cache_control()})


def distinct_customer_ids(payload: Any) -> list[str]:
    """Validate the batch body and every id in it; fold duplicates, keeping the first position."""
    if not isinstance(payload, dict):
        raise Problem(INVALID_BODY, 'The body must be a JSON object such as {"ids": ["<uuid>", ...]}.')
    try:
        raw_ids = BATCH_GET.load(payload)["ids"]
    except ma.ValidationError as exc:
        raise Problem(INVALID_BODY, f"Invalid body: {json.dumps(exc.messages_dict, sort_keys=True)}") from None
    for index, raw in enumerate(raw_ids):
        if not UUID_PATTERN.fullmatch(raw):
            raise Problem(INVALID_CUSTOMER_ID, f"ids[{index}] is not a UUID: {json.dumps(raw)}")
    return list(dict.fromkeys(raw.lower() for raw in raw_ids))


@bp.get(LIST_ROUTE)
@require_scope(READ_SCOPE)
def list_customers() -> Response:
    """Page through customers: ``page``, ``pageSize``, ``orderBy``, ``direction``, filters."""
    if g.caller.customers is not None:
        raise Problem(CUSTOMER_NOT_ALLOWED, "Callers bound to specific customers cannot list customers.")
    query = list_query()
    purpose = purpose_of(request.headers.get(PURPOSE_HEADER))
    listing = services().listing
    listed = listing.page(query, g.request_id)
    audit_disclosures([(customer_id, listed.cache.value) for customer_id in listed.customer_ids()], LIST_ROUTE,
                      purpose)
    headers = {"Cache-Control": customer_cache_control(), "X-Cache": listed.cache.value}
    body = listing.masked_page(listed.body) if listing.masked and PII_SCOPE not in g.caller.scopes else listed.body
    return Response(body, status=200, content_type=JSON, headers=headers)


def list_query() -> dict[str, Any]:
    """Validate the query string: known parameters, each at most once."""
    arguments = request.args.to_dict(flat=False)
    repeated = sorted(name for name, values in arguments.items() if len(values) > 1)
    if repeated:
        raise Problem(INVALID_PARAMETER, f"Give each parameter once: {', '.join(repeated)}.")
    try:
        query: dict[str, Any] = LIST_QUERY.load({name: values[0] for name, values in arguments.items()})
        return query
    except ma.ValidationError as exc:
        detail = f"Invalid parameters: {json.dumps(exc.messages_dict, sort_keys=True)}"
        raise Problem(INVALID_PARAMETER, detail) from None


# --- OpenAPI: what the document says of these views (app.web.openapi) ------------------------------

def batch_get_operation() -> dict[str, Any]:
    return {
        "operationId": "batchGetCustomers",
        "tags": ["customers"],
        "summary": "Get up to 100 customers at once (cached)",
        "description": "Each id is looked up as by `GET /v1/customers/{customer_id}` and succeeds or fails on "
                       "its own: found, `notFound`, or `failed` with the status a single lookup would have had "
                       "(also 403 for ids outside a JWT's `customer_ids`). Duplicates are folded. "
                       "Needs the `customers.read` scope.",
        "security": security(READ_SCOPE),
        "parameters": [request_id_parameter(), purpose_parameter()],
        "requestBody": {"required": True, "content": {JSON: {"schema": schema_ref("BatchGetRequest")}}},
        "responses": {
            "200": json_response("One entry per distinct id.", schema_ref("BatchGetResult"), ALWAYS),
            "400": problem(INVALID_BODY, INVALID_CUSTOMER_ID, INVALID_PURPOSE),
            **caller_problems(),
            "403": problem(INSUFFICIENT_SCOPE),
            "503": problem(AUTH_UNAVAILABLE),
        },
    }


def list_customers_operation() -> dict[str, Any]:
    return {
        "operationId": "listCustomers",
        "tags": ["customers"],
        "summary": "List customers a page at a time (cached briefly)",
        "description": "Passport's pages, reshaped like single lookups. Unknown or repeated parameters are "
                       "refused. Needs the `customers.read` scope; callers bound to `customer_ids` cannot list.",
        "security": security(READ_SCOPE),
        "parameters": [{"in": "query", "schema": ListQuerySchema}, request_id_parameter(), purpose_parameter()],
        "responses": {
            "200": json_response("A page of customers.", schema_ref("CustomerPage"), ALWAYS + ("X-Cache",)),
            "400": problem(INVALID_PARAMETER, INVALID_PURPOSE),
            **caller_problems(),
            "403": problem(INSUFFICIENT_SCOPE, CUSTOMER_NOT_ALLOWED, CUSTOMER_FORBIDDEN),
            **upstream_problems(),
        },
    }


def operations() -> dict[str, dict[str, dict[str, Any]]]:
    return {
        "customer_collections.batch_get": {"post": batch_get_operation()},
        "customer_collections.list_customers": {"get": list_customers_operation()},
    }
