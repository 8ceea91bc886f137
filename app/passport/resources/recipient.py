"""The Bre-B recipient (``GET /v1/recipients/breb/:recipient_id``): a payee a customer saved.

Recipients have no documented update call: the ``updated_at`` heuristic with a long maximum
(1 day, ``RECIPIENT_TTL_MAX_SECONDS``). Note the ``breb`` segment in Passport's path.
"""
from __future__ import annotations

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
from config.security import RECIPIENTS_READ_SCOPE


class PassportRecipientSchema(ma.Schema):
    """Passport's recipient body (the docs' example has a 37-character customer_id: refused here)."""

    class Meta:
        unknown = ma.EXCLUDE

    id = UuidText(required=True)
    customer_id = UuidText(required=True)
    type = fields.String(required=True, validate=CODE)
    key = fields.Nested(PassportBreBKeySchema, required=True)
    alias = fields.String(required=True, validate=NAME_TEXT)
    created_at = timestamp()
    updated_at = timestamp()


class RecipientSchema(ma.Schema):
    """The recipient as frontends receive it."""

    id = fields.String()
    customerId = fields.String(attribute="customer_id")  # noqa: N815
    type = fields.String()
    key = fields.Nested(BreBKeySchema)
    alias = fields.String()
    createdAt = UtcTimestamp(attribute="created_at")  # noqa: N815
    updatedAt = UtcTimestamp(attribute="updated_at")  # noqa: N815


RECIPIENT = schema_resource(
    name="recipient",
    plural="recipients",
    list_path="/v1/recipients",  # filtered by customer_id: the overview's part
    passport_path="/v1/recipients/breb/{id}",
    owner=lambda recipient: recipient["customer_id"],
    scope=RECIPIENTS_READ_SCOPE,
    freshness=FreshnessRule(factor=0.1, min_seconds=30, max_seconds=86_400),  # RECIPIENT_TTL_MAX_SECONDS
    passport_schema=PassportRecipientSchema,
    frontend_schema=RecipientSchema,
    example_id="daa209f9-fbdf-4f2b-aadc-db42fe16358c",
    masked_fields={"key.value": masking.KEY_VALUE},
)
