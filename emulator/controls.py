"""Test-only controls under `/_emulator/` (no auth): health, stats, reset, faults, raw records.

Raw records (PUT any JSON, DELETE, touch) work alike for customers and for the resources
(`/_emulator/accounts|keys|recipients/<id>`): one implementation over the store's get and update.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request

from emulator.faults import FaultError
from emulator.formats import iso_utc_ms
from emulator.resources_api import resources_of
from emulator.resources_seed import RESOURCE_KINDS
from emulator.store import current_store

HTTP_CREATED = 201
HTTP_BAD_REQUEST = 400
HTTP_NOT_FOUND = 404
HTTP_CONFLICT = 409

# `<kind>` in a resource control's path: accounts, keys or recipients.
RESOURCE_SEGMENT = f"<any({', '.join(RESOURCE_KINDS)}):kind>"

blueprint = Blueprint("emulator_controls", __name__, url_prefix="/_emulator")


def control_error(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


def optional_json_object() -> dict[str, Any] | None:
    """The request body as a JSON object, {} when empty, None when it is anything else."""
    raw = request.get_data(as_text=True)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


@blueprint.get("/health")
def health() -> Response:
    return jsonify({"status": "ok"})


@blueprint.get("/stats")
def stats() -> Response:
    return jsonify(current_store().stats())


@blueprint.post("/reset")
def reset() -> Response:
    body = optional_json_object()
    if body is None:
        return control_error(HTTP_BAD_REQUEST, "body must be empty or a JSON object")
    clear_tokens = bool(body.get("clear_tokens", False))
    current_store().reset(clear_tokens=clear_tokens)
    return jsonify({"status": "reset", "tokens_cleared": clear_tokens})


@blueprint.post("/faults")
def add_fault() -> Response:
    try:
        fault = current_store().add_fault(request.get_json(force=True, silent=True))
    except FaultError as error:
        return control_error(HTTP_BAD_REQUEST, str(error))
    response = jsonify({"fault": fault.to_json(), "active": len(current_store().active_faults())})
    response.status_code = HTTP_CREATED
    return response


@blueprint.get("/faults")
def list_faults() -> Response:
    return jsonify({"faults": current_store().active_faults()})


@blueprint.delete("/faults")
def clear_faults() -> Response:
    return jsonify({"cleared": current_store().clear_faults()})


def put_raw(store_record: Callable[[Any], None]) -> Response:
    """Store the body, any JSON value, as it is (tests plant hostile records this way)."""
    try:
        record = json.loads(request.get_data(as_text=True))
    except ValueError:
        return control_error(HTTP_BAD_REQUEST, "body must be JSON (any JSON value)")
    store_record(record)
    return jsonify(record)


def deleted(removed: bool, record_id: str, missing: str) -> Response:
    if not removed:
        return control_error(HTTP_NOT_FOUND, missing)
    return jsonify({"deleted": record_id.lower()})


def touch(read: Callable[[], Any | None], update: Callable[[dict[str, Any]], Any | None], missing: str) -> Response:
    """Set a record's updated_at to now, or to the body's `updated_at`; answer the record."""
    body = optional_json_object()
    updated_at = (body or {}).get("updated_at", iso_utc_ms(current_store().now()))
    if body is None or not isinstance(updated_at, str):
        return control_error(HTTP_BAD_REQUEST, "body must be empty or {\"updated_at\": str}")
    if read() is None:
        return control_error(HTTP_NOT_FOUND, missing)
    record = update({"updated_at": updated_at})
    if record is None:
        return control_error(HTTP_CONFLICT, "stored record is not a JSON object")
    return jsonify(record)


@blueprint.put("/customers/<customer_id>")
def put_customer(customer_id: str) -> Response:
    return put_raw(lambda record: current_store().put_customer(customer_id, record))


@blueprint.delete("/customers/<customer_id>")
def delete_customer(customer_id: str) -> Response:
    return deleted(current_store().delete_customer(customer_id), customer_id, "no such customer")


@blueprint.post("/customers/<customer_id>/touch")
def touch_customer(customer_id: str) -> Response:
    store = current_store()
    return touch(lambda: store.get_customer(customer_id),
                 lambda changes: store.update_customer(customer_id, changes), "no such customer")


@blueprint.put(f"/{RESOURCE_SEGMENT}/<resource_id>")
def put_resource(kind: str, resource_id: str) -> Response:
    return put_raw(lambda record: current_store().put_resource(kind, resource_id, record))


@blueprint.delete(f"/{RESOURCE_SEGMENT}/<resource_id>")
def delete_resource(kind: str, resource_id: str) -> Response:
    return deleted(current_store().delete_resource(kind, resource_id), resource_id, f"no such record in {kind}")


@blueprint.post(f"/{RESOURCE_SEGMENT}/<resource_id>/touch")
def touch_resource(kind: str, resource_id: str) -> Response:
    store = current_store()
    return touch(lambda: store.get_resource(kind, resource_id),
                 lambda changes: store.update_resource(kind, resource_id, changes), f"no such record in {kind}")


@blueprint.get("/customers/<customer_id>/resources")
def customer_resources(customer_id: str) -> Response:
    return jsonify(resources_of(current_store(), customer_id))


@blueprint.post("/tokens/revoke")
def revoke_tokens() -> Response:
    return jsonify({"revoked": current_store().revoke_all_tokens()})


@blueprint.get("/customers")
def customer_ids() -> Response:
    raw_limit = request.args.get("limit")
    if raw_limit is not None and not (raw_limit.isascii() and raw_limit.isdigit()):
        return control_error(HTTP_BAD_REQUEST, "limit must be a non-negative integer")
    limit = int(raw_limit) if raw_limit is not None else None
    return jsonify(current_store().customer_ids(limit))
