"""app.passport.masking: what a caller without pii.read sees of each kind of personal value."""
from __future__ import annotations

import json

import pytest

from app.passport import masking


@pytest.mark.parametrize(("value", "masked"), [
    ("88827643001", "*******3001"),
    ("0016027228", "******7228"),
    ("1234", "****"),  # too short to keep anything: masked whole
    ("", ""),
])
def test_an_account_number_or_key_value_keeps_its_last_four_characters(value, masked):
    assert masking.ACCOUNT_NUMBER(value) == masking.KEY_VALUE(value) == masked


@pytest.mark.parametrize(("value", "masked"), [
    ("financiero@kqjpwqdbfdngsa.com", "f***@kqjpwqdbfdngsa.com"),
    ("a@b.co", "a***@b.co"),
    ("no-at-sign", "******sign"),  # not an e-mail: its last four only
])
def test_an_email_keeps_its_first_character_and_its_domain(value, masked):
    assert masking.EMAIL(value) == masked


@pytest.mark.parametrize(("value", "masked"), [
    ("+573956158117", "*********8117"),
    ("3001234567", "******4567"),
    ("123", "***"),
])
def test_a_phone_keeps_its_last_four_digits(value, masked):
    assert masking.PHONE(value) == masked


def test_an_identification_number_keeps_its_last_three():
    assert masking.IDENTIFICATION_NUMBER("9003318227") == "*******227"


def test_masked_body_masks_nested_fields_and_leaves_the_rest_byte_for_byte():
    body = b'{"id":"x","key":{"type":"PHONE","value":"3975999158"},"alias":"Pepito SAS5"}'
    masked = masking.masked_body(body, {"key.value": masking.KEY_VALUE, "absent.field": masking.KEY_VALUE})
    assert masked == b'{"id":"x","key":{"type":"PHONE","value":"******9158"},"alias":"Pepito SAS5"}'
    assert json.loads(body)["key"]["value"] == "3975999158"  # the whole body is untouched
