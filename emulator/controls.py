"""Test-only controls under `/_emulator/` (no auth): health, stats, reset, faults, raw records."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, jsonify, request

from emulator.faults import FaultError
from emulator.formats import iso_utc_ms
from emulator.store import current_store

HTTP_CREATED = 201
HTTP_BAD_REQUEST = 400
HTTP_NOT_FOUND = 404
HTTP_CONFLICT = 409

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


@blueprint.put("/customers/<customer_id>")
def put_customer(customer_id: str) -> Response:
    try:
        record = json.loads(request.get_data(as_text=True))
    except ValueError:
        return control_error(HTTP_BAD_REQUEST, "body must be JSON (any JSON value)")
    current_store().put_customer(customer_id, record)
    return jsonify(record)


@blueprint.delete("/customers/<customer_id>")
def delete_customer(customer_id: str) -> Response:
    if not current_store().delete_customer(customer_id):
        return control_error(HTTP_NOT_FOUND, "no such customer")
    return jsonify({"deleted": customer_id.lower()})


@blueprint.post("/customers/<customer_id>/touch")
def touch_customer(customer_id: str) -> Response:
    store = current_store()
    body = optional_json_object()
    updated_at = (body or {}).get("updated_at", iso_utc_ms(store.now()))
    if body is None or not isinstance(updated_at, str):
        return control_error(HTTP_BAD_REQUEST, "body must be empty or {\"updated_at\": str}")
    if store.get_customer(customer_id) is None:
        return control_error(HTTP_NOT_FOUND, "no such customer")
    record = store.update_customer(customer_id, {"updated_at": updated_at})
    if record is None:
        return control_error(HTTP_CONFLICT, "stored record is not a JSON object")
    return jsonify(record)


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
