"""Passport customers: retrieve, list and update (`/v1/customers`)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from emulator.errors import passport_error
from emulator.formats import is_uuid, iso_utc_ms, patch_problem
from emulator.gate import open_call
from emulator.listing import ListQueryError, Page, parse_list_query, select_page
from emulator.store import current_store

HTTP_BAD_REQUEST = 400
HTTP_NOT_FOUND = 404
HTTP_CONFLICT = 409
NOT_FOUND_MESSAGE = "customer not found"

blueprint = Blueprint("passport_customers", __name__)


def _list_body(page: Page, first_request_timestamp: str) -> dict[str, object]:
    return {
        "customers": page.customers,
        "pagination_info": {
            "current_page": page.current_page,
            "total_pages": page.total_pages,
            "total_elements": page.total_elements,
            "first_request_timestamp": first_request_timestamp,
        },
    }


@blueprint.get("/v1/customers/<customer_id>")
def retrieve_customer(customer_id: str) -> Response:
    key = customer_id.lower()
    halt = open_call("customer_calls", "customers", key)
    if halt is not None:
        return halt
    if not is_uuid(customer_id):
        return passport_error(HTTP_BAD_REQUEST, "customer_id must be a UUID")
    record = current_store().get_customer(key)
    if record is None:
        return passport_error(HTTP_NOT_FOUND, NOT_FOUND_MESSAGE)
    return jsonify(record)


@blueprint.get("/v1/customers")
def list_customers() -> Response:
    wanted_id = request.args.get("customer_id")
    halt = open_call("list_calls", "list", wanted_id.lower() if wanted_id else None)
    if halt is not None:
        return halt
    try:
        query = parse_list_query(request.args)
    except ListQueryError as error:
        return passport_error(HTTP_BAD_REQUEST, str(error))
    store = current_store()
    page = select_page(store.all_customers(), query)
    if page is None:
        return passport_error(HTTP_NOT_FOUND, "no customers found")
    return jsonify(_list_body(page, iso_utc_ms(store.now())))


@blueprint.patch("/v1/customers/<customer_id>")
def update_customer(customer_id: str) -> Response:
    key = customer_id.lower()
    halt = open_call("patch_calls", "patch", key)
    if halt is not None:
        return halt
    if not is_uuid(customer_id):
        return passport_error(HTTP_BAD_REQUEST, "customer_id must be a UUID")
    store = current_store()
    if store.get_customer(key) is None:
        return passport_error(HTTP_NOT_FOUND, NOT_FOUND_MESSAGE)
    body = request.get_json(silent=True)
    problem = patch_problem(body)
    if problem is not None:
        return passport_error(HTTP_BAD_REQUEST, problem)
    changes = {**body, "updated_at": iso_utc_ms(store.now())}
    record = store.update_customer(key, changes)
    if record is None:
        return passport_error(HTTP_CONFLICT, "stored record is not an object")
    return jsonify(record)
