"""Properties of Passport's customer body: what is accepted, how it is reshaped, what is refused.

Pure functions (``parse_passport_customer``, ``render_customer``), many examples each, then the
same kinds of bodies served by the emulator (a fault with only ``body``: 200 with that raw body)
through the whole service. Examples per run in the ``ci`` profile (``deep`` in brackets; see
tests/fuzz/conftest.py and the budgets in strategies.py):

- ``test_valid_body_is_reshaped_losslessly``                         300 (5000)
  any valid body is accepted; every Passport field can be read back from the frontend JSON,
  which has exactly the documented keys and is strict UTF-8 JSON.
- ``test_invalid_body_is_refused_with_invalid_passport_customer``    300 (5000)
  a valid body with one rule broken (field missing, wrong JSON type, length, format, other id)
  raises InvalidPassportCustomer, never another exception.
- ``test_arbitrary_json_is_refused_or_reshaped_losslessly``          300 (5000)
  any JSON value (and objects with the customer's field names holding any JSON) is refused
  with InvalidPassportCustomer or, if accepted, reshaped losslessly.
- ``test_a_final_newline_fails_the_format_checks``                   100 (1666)
  regression: ``"573956158117\\n"`` passed ``^...$`` (re.match), fixed in 39edebf.
- ``test_hostile_upstream_body_is_a_502_and_never_cached`` (HTTP)    6 per body kind x 9 = 54
  (93 x 9 = 837): the answer is the oracle's (200 with the rendered body for a valid customer
  with the right id, within the size limit; else 502 upstream-bad-response problem+json), an
  invalid body is never stored in Redis and a second request asks Passport again.
- former bugs found by these properties, now regressions (30 each; 10 for the HTTP one): a lone
  surrogate escape in text and an instant outside datetime's range once in UTC used to pass
  validation and crash rendering (a 500); they are now refused (502):
  ``test_lone_surrogate_in_text_is_refused_not_a_crash``,
  ``test_extreme_timestamp_is_refused_not_a_crash``,
  ``test_unrenderable_upstream_body_is_a_502_not_a_500`` (HTTP).
"""
from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, note, settings
from hypothesis import strategies as st

from app.passport.schemas import InvalidPassportCustomer, parse_passport_customer, render_customer
from app.store.entry import decode_entry
from config import load_config
from tests.fuzz import strategies as fs
from tests.support.examples import DOCS_EXAMPLE
from tests.support.keys import STORE_KEYS

pytestmark = pytest.mark.timeout(fs.TEST_TIMEOUT_SECONDS)
DOCS_ID = DOCS_EXAMPLE["id"]
UTC_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.([0-9]{3}|[0-9]{6})Z")
# The response size limit of the apps these tests build (the testing defaults).
MAX_RESPONSE_BYTES = load_config({"APP_ENV": "testing"}).passport.max_response_bytes


def strict_json(raw: bytes) -> Any:
    """Decode ``raw`` as I-JSON (RFC 7493): UTF-8, no NaN/Infinity, no repeated member name."""
    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({name for name, _ in pairs}) != len(pairs):
            raise ValueError("repeated member name")
        return dict(pairs)

    return json.loads(raw.decode("utf-8"), parse_constant=refuse, object_pairs_hook=unique)


def assert_lossless(body: dict[str, Any], expected_id: str) -> None:
    """``body`` is accepted and every one of its fields can be read back from the frontend JSON."""
    customer = parse_passport_customer(copy.deepcopy(body), expected_id)
    raw = render_customer(customer)
    assert isinstance(raw, bytes)
    frontend = strict_json(raw)
    assert set(frontend) == fs.FRONTEND_KEYS
    assert set(frontend["identification"]) == fs.FRONTEND_IDENTIFICATION_KEYS
    assert set(frontend["address"]) == fs.FRONTEND_ADDRESS_KEYS
    for name in ("createdAt", "updatedAt"):  # ISO 8601 in UTC, milli- or microseconds, "Z"
        assert UTC_TIMESTAMP.fullmatch(frontend[name]), frontend[name]
    assert fs.frontend_view(frontend) == fs.expected_frontend_view(body, expected_id)


# --- pure properties ---------------------------------------------------------------------------
@settings(max_examples=fs.PURE_EXAMPLES)
@given(customer_id=st.uuids().map(str), data=st.data())
@example(customer_id=DOCS_ID, data=None)
def test_valid_body_is_reshaped_losslessly(customer_id: str, data: st.DataObject | None) -> None:
    body = DOCS_EXAMPLE if data is None else data.draw(fs.passport_customers(customer_id), label="body")
    assert_lossless(body, customer_id)


@settings(max_examples=fs.PURE_EXAMPLES)
@given(case=fs.invalid_passport_customers())
def test_invalid_body_is_refused_with_invalid_passport_customer(case: tuple[str, str, dict[str, Any]]) -> None:
    expected_id, broken, body = case
    note(f"broken: {broken}")
    with pytest.raises(InvalidPassportCustomer):
        parse_passport_customer(body, expected_id)


def known_keys_with_any_values() -> st.SearchStrategy[dict[str, Any]]:
    """Objects that look like a customer (its field names) with arbitrary JSON values."""
    address = st.fixed_dictionaries({}, optional={k: fs.json_values() for k in fs.KNOWN_ADDRESS})
    return st.fixed_dictionaries(
        {}, optional={**{k: fs.json_values() for k in fs.KNOWN_TOP}, "address": address | fs.json_values()})


@settings(max_examples=fs.PURE_EXAMPLES)
@given(payload=fs.json_values() | known_keys_with_any_values(), customer_id=st.uuids().map(str))
def test_arbitrary_json_is_refused_or_reshaped_losslessly(payload: Any, customer_id: str) -> None:
    try:
        parse_passport_customer(payload, customer_id)
    except InvalidPassportCustomer:
        return
    assert_lossless(payload, customer_id)  # accepted: then it must have been a valid customer


# --- regression -------------------------------------------------------------------------------
FORMATTED_FIELDS = [(None, name) for name in fs.FORMATS] + [("address", "country")]


@settings(max_examples=max(10, fs.PURE_EXAMPLES // 3))
@given(customer_id=st.uuids().map(str), where=st.sampled_from(FORMATTED_FIELDS), data=st.data())
@example(customer_id=DOCS_ID, where=(None, "mobile_phone_number"), data=None)
def test_a_final_newline_fails_the_format_checks(customer_id: str, where: tuple[str | None, str],
                                                 data: st.DataObject | None) -> None:
    """Regression: marshmallow's ``validate.Regexp`` uses ``re.match``, whose ``$`` also matches
    before a final newline, so ``"573956158117\\n"`` used to pass (fixed in 39edebf with
    ``FullMatch``). The general invalid-body property covers it too, less often."""
    body = copy.deepcopy(DOCS_EXAMPLE if data is None else data.draw(fs.passport_customers(customer_id)))
    parent, name = where
    target = body if parent is None else body[parent]
    target[name] = target[name] + "\n"
    with pytest.raises(InvalidPassportCustomer):
        parse_passport_customer(body, customer_id)


# --- former bugs, now regression properties: refused, never a crash -------------------------
FREE_TEXT_FIELDS = [(None, "business_name")] + [("address", n)
                                                for n in ("line_1", "line_2", "city", "state", "post_code")]


@settings(max_examples=fs.KNOWN_BUG_EXAMPLES)
@given(customer_id=st.uuids().map(str), where=st.sampled_from(FREE_TEXT_FIELDS),
       surrogate=st.characters(categories=("Cs",)), data=st.data())
@example(customer_id=DOCS_ID, where=(None, "business_name"), surrogate="\ud800", data=None)
def test_lone_surrogate_in_text_is_refused_not_a_crash(customer_id: str, where: tuple[str | None, str],
                                                         surrogate: str, data: st.DataObject | None) -> None:
    body = copy.deepcopy(DOCS_EXAMPLE if data is None else data.draw(fs.passport_customers(customer_id)))
    parent, name = where
    target = body if parent is None else body[parent]
    target[name] = (target.get(name) or "x")[:10] + surrogate
    try:
        customer = parse_passport_customer(body, customer_id)
    except InvalidPassportCustomer:
        return
    render_customer(customer).decode("utf-8")  # accepted: it must render as UTF-8


EXTREME_INSTANTS = st.one_of(
    st.datetimes(max_value=datetime(1, 1, 3), timezones=fs.OFFSETS),
    st.datetimes(min_value=datetime(9999, 12, 29), timezones=fs.OFFSETS),
)


@settings(max_examples=fs.KNOWN_BUG_EXAMPLES)
@given(customer_id=st.uuids().map(str), name=st.sampled_from(fs.TIMESTAMPS),
       stamp=fs.iso_timestamps(EXTREME_INSTANTS), data=st.data())
@example(customer_id=DOCS_ID, name="created_at",
         stamp=("0001-01-01T00:00:00+01:00", datetime(1, 1, 1, tzinfo=UTC)), data=None)
def test_extreme_timestamp_is_refused_not_a_crash(customer_id: str, name: str, stamp: tuple[str, datetime],
                                                    data: st.DataObject | None) -> None:
    body = copy.deepcopy(DOCS_EXAMPLE if data is None else data.draw(fs.passport_customers(customer_id)))
    body[name] = stamp[0]
    try:
        customer = parse_passport_customer(body, customer_id)
    except InvalidPassportCustomer:
        return
    strict_json(render_customer(customer))


# --- the same bodies through the whole service -------------------------------------------------
def customer_key(customer_id: str) -> str:
    return STORE_KEYS.of("customer").entry(customer_id)


BODY_KINDS = ("valid", "broken", "arbitrary", "garbage", "truncated", "nested", "oversized", "bom", "trailing")


@st.composite
def upstream_bodies(draw: st.DrawFn, customer_id: str, max_bytes: int, kind: str) -> tuple[str, str]:
    """(label, raw body text) of one ``kind`` that Passport could answer with 200 for ``customer_id``."""
    valid = fs.draw_passport_customer(draw, customer_id)
    ascii_only = draw(st.booleans())
    if kind == "valid":
        return kind, json.dumps(valid, ensure_ascii=ascii_only)
    if kind == "broken":
        mutation = draw(fs.MUTATIONS)
        broken = fs.apply_mutation(mutation, valid, customer_id)
        return f"broken: {mutation.label}", json.dumps(broken, ensure_ascii=ascii_only)
    if kind == "arbitrary":
        return kind, json.dumps(draw(fs.json_values()), ensure_ascii=ascii_only)
    if kind == "garbage":
        return kind, draw(st.text(fs.ANY_CHAR, max_size=200))
    text = json.dumps(valid, ensure_ascii=ascii_only)
    if kind == "truncated":
        return kind, text[: draw(st.integers(0, len(text) - 1))]
    if kind == "nested":
        depth = draw(st.integers(100, 50_000))
        return kind, "[" * depth + "]" * depth
    if kind == "oversized":  # valid JSON, valid customer, but over the response size limit
        return kind, json.dumps({**valid, "padding": "x" * (max_bytes + 1)})
    if kind == "bom":
        return kind, "\ufeff" + text
    return kind, text + draw(st.sampled_from(["x", "}", " {}", "\x00", "\n[]"]))


def acceptable(raw: bytes, customer_id: str, max_bytes: int) -> bytes | None:
    """The oracle: the frontend body a 200 must carry, or None when the answer must be a 502."""
    if len(raw) > max_bytes:
        return None
    try:
        payload = strict_json(raw)
    except (ValueError, RecursionError):
        return None
    try:
        customer = parse_passport_customer(payload, customer_id)
    except InvalidPassportCustomer:
        return None
    return render_customer(customer)


@pytest.fixture
def service(make_app, emulator, redis_client):
    """One app for all the examples of a test (Hypothesis runs them inside one test call)."""
    app = make_app()
    return app, app.test_client()


UPSTREAM_SETTINGS = settings(
    max_examples=-(-fs.UPSTREAM_EXAMPLES // len(BODY_KINDS)), deadline=None,  # per kind: 6 x 9 kinds in ci
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large, HealthCheck.large_base_example],
    report_multiple_bugs=False,
)


def check_upstream_body(service, emulator, redis_client, customer_id: str, text: str) -> None:
    app, client = service
    max_bytes = MAX_RESPONSE_BYTES
    emulator.reset()  # drops earlier faults and counters
    redis_client.delete(customer_key(customer_id))
    emulator.fault(body=text, customer_id=customer_id)
    expected = acceptable(text.encode("utf-8"), customer_id, max_bytes)
    event(f"expected {'200' if expected is not None else '502'}")
    url = f"/v1/customers/{customer_id}"

    first = client.get(url)
    second = client.get(url)
    if expected is not None:
        assert first.status_code == 200, first.data
        assert first.content_type == "application/json"
        assert first.data == expected
        assert first.headers["X-Cache"] == "MISS"
        assert second.status_code == 200 and second.headers["X-Cache"] == "HIT"
        assert second.data == expected
        assert emulator.customer_calls(customer_id) == 1
        return
    for response in (first, second):
        assert response.status_code == 502, (response.status_code, response.data[:300])
        assert response.content_type == "application/problem+json"
        problem = response.get_json()
        assert problem["type"].endswith(":upstream-bad-response")
        assert problem["request_id"] == response.headers["X-Request-ID"]
        assert response.headers.get("X-Cache") != "HIT"
    raw = redis_client.get(customer_key(customer_id))
    entry = decode_entry(raw) if raw is not None else None
    assert entry is None or entry.status != 200, "an invalid body was cached"
    assert emulator.customer_calls(customer_id) == 2  # the second request asked Passport again


@pytest.mark.parametrize("kind", BODY_KINDS)
@UPSTREAM_SETTINGS
@given(data=st.data())
def test_hostile_upstream_body_is_a_502_and_never_cached(service, emulator, redis_client, kind, data) -> None:
    customer_id = str(data.draw(st.uuids(), label="customer_id"))
    max_bytes = MAX_RESPONSE_BYTES
    label, text = data.draw(upstream_bodies(customer_id, max_bytes, kind), label="body")
    note(label)
    check_upstream_body(service, emulator, redis_client, customer_id, text)


@settings(UPSTREAM_SETTINGS, max_examples=max(5, fs.KNOWN_BUG_EXAMPLES // 3))
@given(customer_id=st.uuids().map(str),
       change=st.sampled_from([{"business_name": "\ud800"}, {"created_at": "0001-01-01T00:00:00+01:00"},
                               {"updated_at": "9999-12-31T23:59:59-01:00"}]))
@example(customer_id="11111111-2222-4333-8444-555555555555", change={"business_name": "bad \ud800"})
def test_unrenderable_upstream_body_is_a_502_not_a_500(service, emulator, redis_client, customer_id: str,
                                                       change: dict[str, str]) -> None:
    # json.dumps escapes the surrogate (ensure_ascii), so the body on the wire is plain ASCII JSON.
    text = json.dumps({**DOCS_EXAMPLE, **change, "id": customer_id})
    app, client = service
    emulator.reset()
    redis_client.delete(customer_key(customer_id))
    emulator.fault(body=text, customer_id=customer_id)
    response = client.get(f"/v1/customers/{customer_id}")
    assert response.status_code == 502, (response.status_code, response.data[:200])


def with_member(body: dict[str, Any], member: str) -> str:
    """``body`` as JSON text with one raw ``"name": value`` member spliced in after the first."""
    text = json.dumps(body)
    return text[:-1] + ", " + member + "}"


OTHER_ID = "00000000-0000-4000-8000-000000000001"
NOT_I_JSON = {
    "nan": lambda cid: with_member({**DOCS_EXAMPLE, "id": cid}, '"score": NaN'),
    "infinity": lambda cid: with_member({**DOCS_EXAMPLE, "id": cid}, '"score": Infinity'),
    "minus-infinity": lambda cid: with_member({**DOCS_EXAMPLE, "id": cid}, '"score": [-Infinity]'),
    "asked-id-last": lambda cid: json.dumps({"id": OTHER_ID, **{k: v for k, v in DOCS_EXAMPLE.items() if k != "id"}})
    [:-1] + f', "id": "{cid}"}}',
    "asked-id-first": lambda cid: with_member({**DOCS_EXAMPLE, "id": cid}, f'"id": "{OTHER_ID}"'),
    "nested-repeat": lambda cid: with_member({**DOCS_EXAMPLE, "id": cid}, '"extra": {"a": 1, "a": 2}'),
}


@pytest.mark.parametrize("kind", sorted(NOT_I_JSON))
def test_a_body_that_is_not_i_json_is_a_502_and_never_cached(service, emulator, redis_client, kind) -> None:
    customer_id = "7d3c1e2a-5b6f-4a8e-9c0d-1e2f3a4b5c6d"
    text = NOT_I_JSON[kind](customer_id)
    assert acceptable(text.encode(), customer_id, 1 << 20) is None, "the oracle refuses it too"
    app, client = service
    emulator.reset()
    redis_client.delete(customer_key(customer_id))
    emulator.fault(body=text, customer_id=customer_id)
    for response in (client.get(f"/v1/customers/{customer_id}"), client.get(f"/v1/customers/{customer_id}")):
        assert response.status_code == 502, (response.status_code, response.data[:300])
        assert response.get_json()["type"].endswith(":upstream-bad-response")
    assert redis_client.get(customer_key(customer_id)) is None or decode_entry(
        redis_client.get(customer_key(customer_id))).status != 200, "nothing usable was cached"
    assert emulator.customer_calls(customer_id) == 2
