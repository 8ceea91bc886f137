"""Passport access tokens: `POST /v1/iam/oauth/tokens` and `DELETE /v1/iam/oauth/tokens/<id>`."""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Response, jsonify, request

from emulator.errors import passport_error
from emulator.formats import iso_utc_ms
from emulator.gate import open_call
from emulator.settings import EmulatorSettings
from emulator.store import TokenRecord, current_store

HTTP_NO_CONTENT = 204
HTTP_BAD_REQUEST = 400
HTTP_UNAUTHORIZED = 401
HTTP_NOT_FOUND = 404
GRANT_TYPE = "client_credentials"
CREDENTIAL_FIELDS: tuple[str, ...] = ("client_id", "client_secret", "grant_type")
SCOPES: tuple[str, ...] = (
    "paas.core.entity_customers.get",
    "paas.core.entity_customers.list.get",
    "paas.core.entity_customers.patch",
)
ROLES: tuple[str, ...] = ("entity.client_credentials",)

blueprint = Blueprint("passport_tokens", __name__)


def request_problem(body: Any) -> str | None:
    """Why a token request body is malformed (400), or None."""
    if not isinstance(body, dict):
        return "body must be a JSON object with client_id, client_secret and grant_type"
    missing = [name for name in CREDENTIAL_FIELDS if not isinstance(body.get(name), str)]
    if missing:
        return f"missing or invalid fields: {', '.join(missing)}"
    if body["grant_type"] != GRANT_TYPE:
        return f"unsupported grant_type; use {GRANT_TYPE}"
    return None


def credentials_match(body: dict[str, Any], settings: EmulatorSettings) -> bool:
    """Constant-time comparison of both client credentials."""
    id_ok = hmac.compare_digest(body["client_id"].encode(), settings.client_id.encode())
    secret_ok = hmac.compare_digest(body["client_secret"].encode(), settings.client_secret.encode())
    return id_ok and secret_ok


def token_body(record: TokenRecord, ttl: int, account_id: str) -> dict[str, Any]:
    """The token response as seen in third-party integrations."""
    return {
        "access_token": record.access_token,
        "token_type": "Bearer",
        "expires_in": ttl,
        "token_id": record.token_id,
        "scopes": list(SCOPES),
        "account_id": account_id,
        "created_at": iso_utc_ms(record.created_at),
        "roles": list(ROLES),
    }


@blueprint.post("/v1/iam/oauth/tokens")
def issue_token() -> Response:
    halt = open_call("token_calls", "tokens", needs_auth=False)
    if halt is not None:
        return halt
    store = current_store()
    body = request.get_json(silent=True)
    problem = request_problem(body)
    if problem is not None:
        return passport_error(HTTP_BAD_REQUEST, problem)
    if not credentials_match(body, store.settings):
        return passport_error(HTTP_UNAUTHORIZED, "invalid client credentials")
    record = store.issue_token()
    return jsonify(token_body(record, store.settings.token_ttl, store.account_id))


@blueprint.delete("/v1/iam/oauth/tokens/<token_id>")
def revoke_token(token_id: str) -> Response:
    halt = open_call("token_revoke_calls", "tokens")
    if halt is not None:
        return halt
    if not current_store().revoke_token_id(token_id):
        return passport_error(HTTP_NOT_FOUND, "no token with that id")
    return Response(status=HTTP_NO_CONTENT)
