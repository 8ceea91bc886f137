"""Passport's body is validated strictly and reshaped into the frontend shape."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from app.passport.schemas import InvalidPassportCustomer, parse_passport_customer, render_customer
from tests.support.examples import CUSTOMER_ID, DOCS_EXAMPLE, FRONTEND_EXAMPLE

EXAMPLE_PATH = Path(__file__).resolve().parents[4] / "shared" / "passport" / "customer-example.json"


def example(**changes):
    body = copy.deepcopy(DOCS_EXAMPLE)
    body.update(changes)
    return body


def frontend(body, customer_id=CUSTOMER_ID):
    return json.loads(render_customer(parse_passport_customer(body, customer_id)))


def test_embedded_example_is_the_docs_example():
    if EXAMPLE_PATH.exists():
        assert json.loads(EXAMPLE_PATH.read_text()) == DOCS_EXAMPLE


def test_docs_example_becomes_the_frontend_shape():
    assert frontend(DOCS_EXAMPLE) == FRONTEND_EXAMPLE


def test_frontend_body_is_compact_json_in_declared_order():
    body = render_customer(parse_passport_customer(DOCS_EXAMPLE, CUSTOMER_ID))
    assert body.startswith(b'{"id":"db7e89e7-59d8-4ab1-b675-a2ae52c3339e","type":"BUSINESS"')
    assert b": " not in body


def test_unknown_fields_are_dropped_not_fatal():
    shaped = frontend(example(internal_score=99, address={**DOCS_EXAMPLE["address"], "geo": [1, 2]}))
    assert shaped == FRONTEND_EXAMPLE


def test_phone_with_a_plus_keeps_a_single_plus():
    assert frontend(example(mobile_phone_number="+573956158117"))["mobilePhone"] == "+573956158117"


def test_empty_and_missing_address_lines_are_left_out():
    address = {**DOCS_EXAMPLE["address"], "line_2": "", "line_3": None}
    assert frontend(example(address=address))["address"]["lines"] == ["Diagonal 46 1104"]
    address = {k: v for k, v in DOCS_EXAMPLE["address"].items() if k not in ("line_2",)}
    assert frontend(example(address=address))["address"]["lines"] == ["Diagonal 46 1104", "Calle 20 675"]


def test_upper_case_id_in_the_body_matches_the_canonical_request():
    assert frontend(example(id=CUSTOMER_ID.upper()))["id"] == CUSTOMER_ID


def test_timestamps_are_normalised_to_utc_with_z():
    shaped = frontend(example(updated_at="2025-10-09T12:19:27.951-05:00", created_at="2025-10-09T10:40:27.446123Z"))
    assert shaped["updatedAt"] == "2025-10-09T17:19:27.951Z"
    assert shaped["createdAt"] == "2025-10-09T10:40:27.446123Z"


def test_frontend_shape_leaves_out_passport_field_names():
    body = render_customer(parse_passport_customer(DOCS_EXAMPLE, CUSTOMER_ID)).decode()
    for passport_name in ("business_name", "mobile_phone_number", "identification_number", "line_1", "post_code"):
        assert passport_name not in body


@pytest.mark.parametrize("field", [k for k in DOCS_EXAMPLE if k != "address"] + ["address"])
def test_missing_required_field_is_rejected(field):
    body = example()
    del body[field]
    with pytest.raises(InvalidPassportCustomer, match=field):
        parse_passport_customer(body, CUSTOMER_ID)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "not-a-uuid"),
        ("business_name", 42),
        ("business_name", ""),
        ("business_name", "x" * 141),
        ("email", "not-an-email"),
        ("email", "a" * 30 + "@example.com"),
        ("mobile_phone_number", "57-395-615"),
        ("mobile_phone_number", "5" * 16),
        ("mobile_phone_number", 573956158117),
        ("merchant_category_code", "412"),
        ("merchant_category_code", "0412\n"),
        ("mobile_phone_number", "573956158117\n"),
        ("identification_type", "NIT\n"),
        ("merchant_category_code", 412),
        ("identification_number", "903 978 023"),
        ("created_at", "yesterday"),
        ("updated_at", 1728494367),
        ("status", None),
        ("type", ["BUSINESS"]),
        ("address", "Calle 20"),
        ("address", {"line_1": "x", "city": "y", "state": "z", "post_code": "1", "country": "Colombia"}),
    ],
)
def test_wrong_type_or_format_is_rejected(field, value):
    with pytest.raises(InvalidPassportCustomer, match=field):
        parse_passport_customer(example(**{field: value}), CUSTOMER_ID)


def test_a_different_customer_than_requested_is_rejected():
    with pytest.raises(InvalidPassportCustomer, match="different customer"):
        parse_passport_customer(DOCS_EXAMPLE, "00000000-0000-4000-8000-000000000000")


@pytest.mark.parametrize("payload", [None, [], "<html>oops</html>", 42, [DOCS_EXAMPLE]])
def test_a_body_that_is_not_an_object_is_rejected(payload):
    with pytest.raises(InvalidPassportCustomer):
        parse_passport_customer(payload, CUSTOMER_ID)


def test_rejection_message_names_fields_but_not_values():
    with pytest.raises(InvalidPassportCustomer) as excinfo:
        parse_passport_customer(example(email="leak-me-not"), CUSTOMER_ID)
    assert "email" in str(excinfo.value)
    assert "leak-me-not" not in str(excinfo.value)
