"""The Bre-B key (``GET /v1/keys/:key_id``, a "llave"): an alias (phone, e-mail, document, code) for an account.

A key names only its account (``account_id``): its owner is that account's customer, found
through the (cached) account when the key is fetched (``owner_via``), never taken from a caller.
Keys change only when activated, suspended or deleted: the ``updated_at`` heuristic, at most
5 minutes (``KEY_TTL_MAX_SECONDS``), so a suspended key stops being shown soon.
"""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields

from app.passport import masking
from app.passport.resource import FreshnessRule
from app.passport.resources.common import (
    NAME_TEXT,
    BreBKeySchema,
    PassportBreBKeySchema,
    UuidText,
    schema_resource,
    timestamp,
)
from app.passport.schemas import CODE, UtcTimestamp
from config.security import KEYS_READ_SCOPE


class PassportKeySchema(ma.Schema):
    """Passport's key body; ``display_name`` (a payee name) may come or not."""

    class Meta:
        unknown = ma.EXCLUDE

    id = UuidText(required=True)
    account_id = UuidText(required=True)
    key = fields.Nested(PassportBreBKeySchema, required=True)
    status = fields.String(required=True, validate=CODE)
    display_name = fields.String(load_default=None, allow_none=True, validate=NAME_TEXT)
    created_at = timestamp()
    updated_at = timestamp()


class KeySchema(ma.Schema):
    """The key as frontends receive it; ``displayName`` only when Passport sent one."""

    id = fields.String()
    accountId = fields.String(attribute="account_id")  # noqa: N815
    key = fields.Nested(BreBKeySchema)
    status = fields.String()
    displayName = fields.String(attribute="display_name")  # noqa: N815
    createdAt = UtcTimestamp(attribute="created_at")  # noqa: N815
    updatedAt = UtcTimestamp(attribute="updated_at")  # noqa: N815

    @ma.post_dump
    def without_absent_name(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if data.get("displayName") is None:
            data.pop("displayName", None)
        return data


KEY = schema_resource(
    name="key",
    plural="keys",
    list_path="/v1/keys",  # filtered by customer_id: the overview's part
    passport_path="/v1/keys/{id}",
    owner=lambda key: None,  # named by its account: owner_via
    owner_via=("account", lambda key: key["account_id"]),
    # No status is documented for an unknown key id; the sibling "Activate Key" answers 404, and a
    # 400 for an id that is a well-formed UUID can only mean Passport does not know it.
    not_found_statuses=(404, 400),
    scope=KEYS_READ_SCOPE,
    freshness=FreshnessRule(factor=0.1, min_seconds=30, max_seconds=300),  # KEY_TTL_MAX_SECONDS
    passport_schema=PassportKeySchema,
    frontend_schema=KeySchema,
    example_id="3184cbfd-73bd-4910-bd03-f8461e724247",
    masked_fields={"key.value": masking.KEY_VALUE},
)
