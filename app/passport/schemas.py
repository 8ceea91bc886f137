"""The two shapes of a customer: Passport's (validated strictly) and the frontends' (camelCase).

``PassportCustomerSchema`` loads Passport's body into the ``Customer`` domain object, rejecting
anything malformed; ``CustomerSchema`` dumps that object into what frontends receive. The
frontend body is rendered once, on a miss, and the bytes are cached: nothing here runs on a hit.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from app.passport.errors import InvalidPassportRecord


class FullMatch(validate.Validator):
    """A string the whole of which matches ``pattern``.

    Why not ``validate.Regexp``: it uses ``re.match``, where ``$`` also matches before a final
    newline: ``"NIT\n"`` would pass ``^[A-Z]+$``.
    """

    error = "String does not match expected pattern."

    def __init__(self, pattern: str) -> None:
        self.regex = re.compile(pattern)

    def _repr_args(self) -> str:
        return f"regex={self.regex!r}"

    def __call__(self, value: object) -> str:
        if not isinstance(value, str) or self.regex.fullmatch(value) is None:
            raise ma.ValidationError(self.error)
        return value


# Formats documented in UPSTREAM.md. Codes are kept open (uppercase words) because Passport
# documents only some of their values ("BUSINESS", "NIT", "ACTIVE") and mentions others.
CODE = FullMatch(r"^[A-Za-z_]{1,32}$")
E164_DIGITS = FullMatch(r"^\+?[1-9][0-9]{1,14}$")
IDENTIFICATION_NUMBER = FullMatch(r"^[0-9A-Za-z]{1,20}$")
MERCHANT_CATEGORY_CODE = FullMatch(r"^[0-9]{4}$")
COUNTRY_CODE = FullMatch(r"^[A-Z]{2}$")
SHORT_TEXT = validate.Length(min=1, max=140)
EMAIL_MAX_LENGTH = 35


class InvalidPassportCustomer(InvalidPassportRecord):
    """Passport answered 200 with a body that is not a valid customer (or not the one asked)."""


@dataclass(frozen=True)
class Identification:
    type: str
    number: str


@dataclass(frozen=True)
class Address:
    lines: list[str]
    city: str
    state: str
    post_code: str
    country: str


@dataclass(frozen=True)
class Customer:
    """A customer as passport-bff understands it, independent of both wire formats."""

    id: str
    type: str
    status: str
    name: str
    identification: Identification
    email: str
    mobile_phone: str
    merchant_category_code: str
    address: Address
    created_at: datetime
    updated_at: datetime


class PassportAddressSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    line_1 = fields.String(required=True, validate=SHORT_TEXT)
    line_2 = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=140))
    line_3 = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=140))
    city = fields.String(required=True, validate=SHORT_TEXT)
    state = fields.String(required=True, validate=SHORT_TEXT)
    post_code = fields.String(required=True, validate=validate.Length(min=1, max=20))
    country = fields.String(required=True, validate=COUNTRY_CODE)

    @ma.post_load
    def to_address(self, data: dict[str, Any], **_: Any) -> Address:
        """Keep only the address lines that say something, in order."""
        lines = [data[key] for key in ("line_1", "line_2", "line_3") if data[key] and data[key].strip()]
        return Address(lines, data["city"], data["state"], data["post_code"], data["country"])


class PassportCustomerSchema(ma.Schema):
    """Passport's ``GET /v1/customers/:id`` body; unknown fields are dropped, not fatal."""

    class Meta:
        unknown = ma.EXCLUDE

    id = fields.UUID(required=True)
    type = fields.String(required=True, validate=CODE)
    status = fields.String(required=True, validate=CODE)
    business_name = fields.String(required=True, validate=SHORT_TEXT)
    email = fields.Email(required=True, validate=validate.Length(min=1, max=EMAIL_MAX_LENGTH))
    mobile_phone_number = fields.String(required=True, validate=E164_DIGITS)
    identification_type = fields.String(required=True, validate=CODE)
    identification_number = fields.String(required=True, validate=IDENTIFICATION_NUMBER)
    merchant_category_code = fields.String(required=True, validate=MERCHANT_CATEGORY_CODE)
    address = fields.Nested(PassportAddressSchema, required=True)
    # Passport's times are UTC; a timestamp without an offset is read as UTC.
    created_at = fields.AwareDateTime(required=True, default_timezone=UTC)
    updated_at = fields.AwareDateTime(required=True, default_timezone=UTC)

    @ma.post_load
    def to_customer(self, data: dict[str, Any], **_: Any) -> Customer:
        """Reshape Passport's flat record into the domain object."""
        check_renderable(data)
        return Customer(
            id=str(data["id"]),
            type=data["type"],
            status=data["status"],
            name=data["business_name"],
            identification=Identification(data["identification_type"], data["identification_number"]),
            email=data["email"],
            mobile_phone="+" + data["mobile_phone_number"].removeprefix("+"),
            merchant_category_code=data["merchant_category_code"],
            address=data["address"],
            created_at=data["created_at"],
            updated_at=data["updated_at"],
        )


def check_renderable(data: dict[str, Any]) -> None:
    """Refuse what JSON can carry but we cannot send on: lone UTF-16 surrogates (``"\\ud800"``)
    in text, and instants whose UTC form falls outside the years 1 to 9999."""
    address = data["address"]
    texts = {"business_name": data["business_name"], "address": " ".join([*address.lines, address.city,
                                                                          address.state, address.post_code])}
    for name, text in texts.items():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ma.ValidationError("Not valid Unicode text.", field_name=name) from None
    for name in ("created_at", "updated_at"):
        try:
            data[name].astimezone(UTC)
        except OverflowError:
            raise ma.ValidationError("Out of range once in UTC.", field_name=name) from None


class UtcTimestamp(fields.DateTime):
    """ISO 8601 in UTC with a ``Z``: milliseconds, or microseconds when the record has them."""

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        utc = value.astimezone(UTC)
        timespec = "milliseconds" if utc.microsecond % 1000 == 0 else "microseconds"
        return utc.replace(tzinfo=None).isoformat(timespec=timespec) + "Z"


class IdentificationSchema(ma.Schema):
    type = fields.String()
    number = fields.String()


class AddressSchema(ma.Schema):
    lines = fields.List(fields.String())
    city = fields.String()
    state = fields.String()
    post_code = fields.String(data_key="postCode")
    country = fields.String()


class CustomerSchema(ma.Schema):
    """The customer as frontends receive it: camelCase, grouped, nothing they should not see."""

    id = fields.String()
    type = fields.String()
    status = fields.String()
    name = fields.String()
    identification = fields.Nested(IdentificationSchema)
    email = fields.String()
    mobile_phone = fields.String(data_key="mobilePhone")
    merchant_category_code = fields.String(data_key="merchantCategoryCode")
    address = fields.Nested(AddressSchema)
    created_at = UtcTimestamp(data_key="createdAt")
    updated_at = UtcTimestamp(data_key="updatedAt")


class PassportPaginationSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    current_page = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    total_pages = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    total_elements = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))


class PassportPageSchema(ma.Schema):
    """Passport's ``GET /v1/customers`` body: a page of customers and where it sits."""

    class Meta:
        unknown = ma.EXCLUDE

    customers = fields.List(fields.Nested(PassportCustomerSchema), required=True)
    pagination_info = fields.Nested(PassportPaginationSchema, required=True)


class ListQuerySchema(ma.Schema):
    """The frontends' listing parameters; anything else is refused."""

    class Meta:
        unknown = ma.RAISE

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    page_size = fields.Integer(data_key="pageSize", load_default=20, validate=validate.Range(min=1, max=100))
    order_by = fields.String(data_key="orderBy", load_default="createdAt",
                             validate=validate.OneOf(["createdAt", "updatedAt"]))
    direction = fields.String(load_default="asc", validate=validate.OneOf(["asc", "desc"]))
    identification_type = fields.String(data_key="identificationType", validate=CODE)
    identification_number = fields.String(data_key="identificationNumber", validate=IDENTIFICATION_NUMBER)


class BatchGetSchema(ma.Schema):
    """``POST /v1/customers:batchGet``: 1 to 100 ids (checked one by one afterwards)."""

    class Meta:
        unknown = ma.RAISE

    ids = fields.List(fields.String(validate=validate.Length(max=64)), required=True,
                      validate=validate.Length(min=1, max=100))


PASSPORT_CUSTOMER = PassportCustomerSchema()
PASSPORT_PAGE = PassportPageSchema()
LIST_QUERY = ListQuerySchema()
BATCH_GET = BatchGetSchema()
FRONTEND_CUSTOMER = CustomerSchema()


def parse_passport_customer(payload: Any, expected_id: str) -> Customer:
    """Validate a decoded Passport body and check it is the customer that was asked for."""
    if not isinstance(payload, dict):
        raise InvalidPassportCustomer("body is not a JSON object")
    try:
        customer: Customer = PASSPORT_CUSTOMER.load(payload)
    except ma.ValidationError as exc:
        # Field names only: the messages' inputs could carry customer data.
        fields_in_error = sorted(exc.messages_dict) if isinstance(exc.messages, dict) else []
        raise InvalidPassportCustomer(f"invalid fields: {', '.join(fields_in_error)}") from None
    if customer.id != expected_id:
        raise InvalidPassportCustomer("body is a different customer than the one requested")
    return customer


def parse_passport_page(payload: Any) -> tuple[list[Customer], dict[str, int]]:
    """Validate a decoded Passport page; every customer in it must be valid."""
    if not isinstance(payload, dict):
        raise InvalidPassportCustomer("page is not a JSON object")
    try:
        page = PASSPORT_PAGE.load(payload)
    except ma.ValidationError as exc:
        fields_in_error = sorted(exc.messages_dict) if isinstance(exc.messages, dict) else []
        raise InvalidPassportCustomer(f"invalid page fields: {', '.join(fields_in_error)}") from None
    return page["customers"], page["pagination_info"]


def render_customer(customer: Customer) -> bytes:
    """Return the frontend JSON body of ``customer``, compact and ready to send and store."""
    body = FRONTEND_CUSTOMER.dump(customer)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
