"""Formats shared by the emulator: Passport timestamps, UUID checks and PATCH field rules."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

MICROS_PER_MILLI = 1000
MAX_BUSINESS_NAME_LENGTH = 140
MAX_EMAIL_LENGTH = 35

UUID_PATTERN = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
PHONE_PATTERN = re.compile(r"^\+?[0-9]{1,15}$")
IDENTIFICATION_PATTERN = re.compile(r"^[0-9]{9}$")
MCC_PATTERN = re.compile(r"^[0-9]{4}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+$")

PATCHABLE_FIELDS: tuple[str, ...] = (
    "business_name",
    "email",
    "mobile_phone_number",
    "identification_number",
    "merchant_category_code",
)


def iso_utc_ms(timestamp: float) -> str:
    """Render a POSIX timestamp the way Passport does: `2025-10-09T17:19:27.951Z`."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    millis = moment.microsecond // MICROS_PER_MILLI
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}.{millis:03d}Z"


def is_uuid(value: str) -> bool:
    """True when `value` is a canonical 8-4-4-4-12 hex UUID (any letter case)."""
    return bool(UUID_PATTERN.match(value))


def _valid_business_name(value: str) -> bool:
    return 0 < len(value.strip()) and len(value) <= MAX_BUSINESS_NAME_LENGTH


def _valid_email(value: str) -> bool:
    return len(value) <= MAX_EMAIL_LENGTH and bool(EMAIL_PATTERN.match(value))


FIELD_CHECKS = {
    "business_name": _valid_business_name,
    "email": _valid_email,
    "mobile_phone_number": lambda value: bool(PHONE_PATTERN.match(value)),
    "identification_number": lambda value: bool(IDENTIFICATION_PATTERN.match(value)),
    "merchant_category_code": lambda value: bool(MCC_PATTERN.match(value)),
}


def patch_problem(body: Any) -> str | None:
    """Explain why `body` is not an acceptable PATCH body, or None when it is."""
    if not isinstance(body, dict) or not body:
        return "body must be a non-empty JSON object"
    unknown = sorted(set(body) - set(PATCHABLE_FIELDS))
    if unknown:
        return f"fields cannot be updated: {', '.join(unknown)}"
    for name, value in body.items():
        if not isinstance(value, str) or not FIELD_CHECKS[name](value):
            return f"invalid value for {name}"
    return None
