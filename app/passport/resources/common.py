"""What the accounts', keys' and recipients' schemas share: strict loading, money, Bre-B keys, rendering.

Their Passport schemas load a body into a plain dict of validated values (UUIDs, aware datetimes,
decimal strings), and their frontend schemas dump that dict in camelCase: no domain classes, the
schema is the declaration. ``load_record`` checks what a schema alone cannot (the id asked for,
text that UTF-8 can carry, instants within years 1 to 9999) and never quotes a field's value in an
error: values may be personal data.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from app.passport.errors import InvalidPassportRecord
from app.passport.masking import Mask
from app.passport.resource import FreshnessRule, Resource
from app.passport.schemas import CODE, FullMatch

# Money is a decimal string in Passport's bodies ("0", "90000000000000000", "1000.00"): never a
# float. Bre-B settles in Colombian pesos only, so any other currency is a body we do not understand.
DECIMAL_STRING = FullMatch(r"^-?(0|[1-9][0-9]{0,39})(\.[0-9]{1,10})?$")
KNOWN_CURRENCIES = ("COP",)
KEY_VALUE = validate.Length(min=1, max=100)
NAME_TEXT = validate.Length(min=1, max=140)


class UuidText(fields.UUID):
    """A UUID, validated as marshmallow's, kept as its canonical lower-case text (cache keys, owners)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:  # type: ignore[override]
        return str(super()._deserialize(value, attr, data, **kwargs))


class PassportMoneySchema(ma.Schema):
    value = fields.String(required=True, validate=DECIMAL_STRING)
    currency = fields.String(required=True, validate=validate.OneOf(KNOWN_CURRENCIES))

    class Meta:
        unknown = ma.EXCLUDE


class PassportBreBKeySchema(ma.Schema):
    """A Bre-B key: its type (``ID``, ``PHONE``, ``EMAIL``, ``ALPHA``, ``BCODE``; kept open) and value."""

    key_type = fields.String(required=True, validate=CODE)
    key_value = fields.String(required=True, validate=KEY_VALUE)

    class Meta:
        unknown = ma.EXCLUDE


class MoneySchema(ma.Schema):
    value = fields.String()
    currency = fields.String()


class BreBKeySchema(ma.Schema):
    type = fields.String(attribute="key_type")
    value = fields.String(attribute="key_value")


def timestamp() -> fields.AwareDateTime:
    """Passport's times are UTC; a timestamp without an offset is read as UTC."""
    return fields.AwareDateTime(required=True, default_timezone=UTC)


def load_record(schema: ma.Schema, payload: Any, expected_id: str, kind: str) -> dict[str, Any]:
    """Validate a decoded Passport body with ``schema`` and check it is the record asked for."""
    if not isinstance(payload, dict):
        raise InvalidPassportRecord("body is not a JSON object")
    try:
        record: dict[str, Any] = schema.load(payload)
    except ma.ValidationError as exc:
        fields_in_error = sorted(exc.messages_dict) if isinstance(exc.messages, dict) else []
        raise InvalidPassportRecord(f"invalid fields: {', '.join(fields_in_error)}") from None
    if record["id"] != expected_id:
        raise InvalidPassportRecord(f"body is a different {kind} than the one requested")
    check_renderable(record)
    return record


def check_renderable(record: dict[str, Any]) -> None:
    """Refuse what JSON can carry but we cannot send on: lone UTF-16 surrogates in text, and
    instants whose UTC form falls outside the years 1 to 9999."""
    for name, value in leaves(record):
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidPassportRecord(f"invalid fields: {name}") from None
        elif isinstance(value, datetime):
            try:
                value.astimezone(UTC)
            except OverflowError:
                raise InvalidPassportRecord(f"invalid fields: {name}") from None


def leaves(record: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, value in record.items():
        if isinstance(value, dict):
            yield from leaves(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value


def render_with(schema: ma.Schema, record: dict[str, Any]) -> bytes:
    """The frontend JSON body of ``record``, compact and ready to send and store."""
    return json.dumps(schema.dump(record), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def schema_resource(
    *, name: str, plural: str, passport_path: str, passport_schema: type[ma.Schema],
    frontend_schema: type[ma.Schema], owner: Callable[[dict[str, Any]], str | None], scope: str,
    freshness: FreshnessRule, example_id: str, masked_fields: Mapping[str, Mask],
    owner_via: tuple[str, Callable[[dict[str, Any]], str]] | None = None,
    not_found_statuses: tuple[int, ...] = (404,), list_path: str | None = None,
) -> Resource[dict[str, Any]]:
    """A kind declared by its two schemas: Passport's (loaded strictly into a dict) and the frontends'."""
    passport, frontend = passport_schema(), frontend_schema()
    return Resource(
        name=name, plural=plural, title=name.capitalize(), passport_path=passport_path,
        parse=lambda payload, expected_id: load_record(passport, payload, expected_id, name),
        render=lambda record: render_with(frontend, record),
        updated_at=lambda record: record["updated_at"],
        owner=owner, owner_via=owner_via, scope=scope, freshness=freshness, frontend_schema=frontend_schema,
        example_id=example_id, masked_fields=masked_fields, not_found_statuses=not_found_statuses,
        list_path=list_path,
    )
