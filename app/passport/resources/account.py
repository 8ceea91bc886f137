"""The account (``GET /v1/accounts/:account_id``): a customer's bank account, its balances moving with every payment.

Freshness: a fixed maximum age (``ACCOUNT_MAX_AGE_SECONDS``, 5 s by default), not the ``updated_at``
heuristic — a balance changes with every payment in or out (Bre-B settles in about 20 s), so a
burst of page views is one Passport call without an old balance shown for long.
"""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from app.passport import masking
from app.passport.resource import FreshnessRule
from app.passport.resources.common import (
    MoneySchema,
    PassportMoneySchema,
    UuidText,
    schema_resource,
    timestamp,
)
from app.passport.schemas import CODE, IDENTIFICATION_NUMBER, UtcTimestamp
from config.security import ACCOUNTS_READ_SCOPE


class PassportAccountSchema(ma.Schema):
    """Passport's account body; unknown fields are dropped, not fatal."""

    class Meta:
        unknown = ma.EXCLUDE

    id = UuidText(required=True)
    customer_id = UuidText(required=True)
    account_number = fields.String(required=True, validate=IDENTIFICATION_NUMBER)
    account_type = fields.String(required=True, validate=CODE)
    status = fields.String(required=True, validate=CODE)
    available_balance = fields.Nested(PassportMoneySchema, required=True)
    pending_balance = fields.Nested(PassportMoneySchema, required=True)
    created_at = timestamp()
    updated_at = timestamp()


class AccountSchema(ma.Schema):
    """The account as frontends receive it."""

    id = fields.String()
    customerId = fields.String(attribute="customer_id")  # noqa: N815
    number = fields.String(attribute="account_number")
    type = fields.String(attribute="account_type")
    status = fields.String()
    availableBalance = fields.Nested(MoneySchema, attribute="available_balance")  # noqa: N815
    pendingBalance = fields.Nested(MoneySchema, attribute="pending_balance")  # noqa: N815
    createdAt = UtcTimestamp(attribute="created_at")  # noqa: N815
    updatedAt = UtcTimestamp(attribute="updated_at")  # noqa: N815


ACCOUNT = schema_resource(
    name="account",
    plural="accounts",
    list_path="/v1/accounts",  # filtered by customer_id: the overview's part
    passport_path="/v1/accounts/{id}",
    owner=lambda account: account["customer_id"],
    scope=ACCOUNTS_READ_SCOPE,
    freshness=FreshnessRule(factor=0.0, min_seconds=5, max_seconds=5),  # ACCOUNT_MAX_AGE_SECONDS
    passport_schema=PassportAccountSchema,
    frontend_schema=AccountSchema,
    example_id="6c23f053-0e1a-46b4-b902-97ba47e351bc",
    masked_fields={"number": masking.ACCOUNT_NUMBER},
)
