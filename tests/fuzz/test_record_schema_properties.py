"""Properties of Passport's account, key and recipient bodies: what is accepted, how it is reshaped, what is refused.

Generated from UPSTREAM.md's facts (field formats, money as decimal strings in COP, Bre-B keys),
not from the schemas under test. For each kind (``ci`` profile examples; ``deep`` in brackets):

- ``test_valid_body_is_reshaped_losslessly``              300 (5000) per kind
  every documented field can be read back from the frontend JSON, which is strict UTF-8 JSON
  with exactly the documented keys; money values come back as the very strings sent.
- ``test_one_rule_broken_is_refused``                     300 (5000) per kind
  a valid body with one field missing, of another JSON type, or off its format (money as a
  number, an unknown currency, a malformed UUID, another id) raises InvalidPassportRecord.
- ``test_arbitrary_json_is_refused_or_reshaped``          300 (5000) per kind
  any JSON, and objects with the kind's field names holding any JSON: InvalidPassportRecord or,
  if accepted, rendered as strict JSON — never another exception.
- ``test_hostile_upstream_body_is_a_502_and_never_cached`` (HTTP) 50 (833) per kind
  served by the emulator (a fault with a raw 200 body): a 502 problem unless the body is valid
  for the id asked, and nothing stored.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.passport.errors import InvalidPassportRecord
from app.passport.resources import ACCOUNT, KEY, RECIPIENT
from tests.fuzz import strategies as fs
from tests.support.keys import STORE_KEYS

pytestmark = pytest.mark.timeout(fs.TEST_TIMEOUT_SECONDS)

uuids = st.uuids().map(str)
decimal_strings = st.from_regex(r"-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,6})?", fullmatch=True)
money = st.fixed_dictionaries({"value": decimal_strings, "currency": st.just("COP")})
codes = fs.regex_text(fs.CODE)
texts = fs.printable_text(1, 140)
key_values = fs.printable_text(1, 100)
timestamps = fs.iso_timestamps()
breb_keys = st.fixed_dictionaries({"key_type": st.sampled_from(["ID", "PHONE", "EMAIL", "ALPHA", "BCODE"]),
                                   "key_value": key_values})


def iso(pair: tuple[str, Any]) -> str:
    return pair[0]


def account_bodies(record_id: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({
        "id": st.just(record_id), "customer_id": uuids, "account_number": fs.regex_text(fs.IDENTIFICATION_NUMBER),
        "account_type": codes, "status": codes, "available_balance": money, "pending_balance": money,
        "created_at": timestamps.map(iso), "updated_at": timestamps.map(iso),
    })


def key_bodies(record_id: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({
        "id": st.just(record_id), "account_id": uuids, "key": breb_keys, "status": codes,
        "created_at": timestamps.map(iso), "updated_at": timestamps.map(iso),
    }, optional={"display_name": texts})


def recipient_bodies(record_id: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({
        "id": st.just(record_id), "customer_id": uuids, "type": codes, "key": breb_keys, "alias": texts,
        "created_at": timestamps.map(iso), "updated_at": timestamps.map(iso),
    })


def account_view(body: dict[str, Any]) -> dict[str, Any]:
    return {"id": body["id"], "customerId": body["customer_id"], "number": body["account_number"],
            "type": body["account_type"], "status": body["status"], "availableBalance": body["available_balance"],
            "pendingBalance": body["pending_balance"]}


def key_view(body: dict[str, Any]) -> dict[str, Any]:
    view = {"id": body["id"], "accountId": body["account_id"], "status": body["status"],
            "key": {"type": body["key"]["key_type"], "value": body["key"]["key_value"]}}
    return view | ({"displayName": body["display_name"]} if "display_name" in body else {})


def recipient_view(body: dict[str, Any]) -> dict[str, Any]:
    return {"id": body["id"], "customerId": body["customer_id"], "type": body["type"], "alias": body["alias"],
            "key": {"type": body["key"]["key_type"], "value": body["key"]["key_value"]}}


KINDS: dict[str, tuple[Any, Callable[[str], st.SearchStrategy[dict[str, Any]]], Callable[..., dict[str, Any]]]] = {
    "account": (ACCOUNT, account_bodies, account_view),
    "key": (KEY, key_bodies, key_view),
    "recipient": (RECIPIENT, recipient_bodies, recipient_view),
}
# One broken rule each: (field path, bad value). Money as numbers is the rule the docs insist on.
BREAKAGES = {
    "account": [("id", "not-a-uuid"), ("customer_id", "3daa209f9-fbdf-4f2b-aadc-db42fe16358c"),
                ("available_balance.value", 90000000000000000), ("available_balance.value", 1.5),
                ("available_balance.value", "1e5"), ("available_balance.value", "NaN"),
                ("pending_balance.value", " 1"), ("pending_balance.value", "1,000.00"),
                ("pending_balance.currency", "USD"), ("account_number", None), ("created_at", "yesterday"),
                ("status", ""), ("available_balance", "0")],
    "key": [("account_id", 42), ("key.key_type", ""), ("key.key_value", ""), ("key", None),
            ("display_name", ""), ("updated_at", 1700000000), ("key.key_value", "x" * 101)],
    "recipient": [("customer_id", "3daa209f9-fbdf-4f2b-aadc-db42fe16358c"), ("alias", None), ("alias", ""),
                  ("type", "BREB\n"), ("key.key_type", "PHONE "), ("created_at", "2025-13-40T00:00:00Z")],
}


def broken(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(body))
    *parents, leaf = path.split(".")
    target = copy
    for parent in parents:
        target = target[parent]
    target[leaf] = value
    return copy


def strict_json(raw: bytes) -> Any:
    return json.loads(raw.decode("utf-8"), parse_constant=lambda constant: pytest.fail(f"{constant} in JSON"))


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_valid_body_is_reshaped_losslessly(kind: str, data: st.DataObject) -> None:
    resource, bodies, view = KINDS[kind]
    record_id = str(uuid.uuid4())
    body = data.draw(bodies(record_id))
    rendered = resource.rendered(resource.parse(json.loads(json.dumps(body)), record_id))
    frontend = strict_json(rendered.body)
    assert {name: frontend[name] for name in view(body)} == view(body)
    assert set(frontend) == set(view(body)) | {"createdAt", "updatedAt"}
    owner = body.get("customer_id")
    assert rendered.owner == (owner.lower() if owner else None)


@pytest.mark.parametrize(("kind", "path", "value"), [(k, p, v) for k, cases in BREAKAGES.items() for p, v in cases])
@settings(max_examples=max(10, fs.PURE_EXAMPLES // 10), suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_one_rule_broken_is_refused(kind: str, path: str, value: Any, data: st.DataObject) -> None:
    resource, bodies, _ = KINDS[kind]
    record_id = str(uuid.uuid4())
    body = broken(data.draw(bodies(record_id)), path, value)
    with pytest.raises(InvalidPassportRecord) as refused:
        resource.parse(body, record_id)
    assert str(refused.value) == f"invalid fields: {path.split('.')[0]}"  # the field named, never its value


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_a_body_for_another_id_is_refused(kind: str, data: st.DataObject) -> None:
    resource, bodies, _ = KINDS[kind]
    body = data.draw(bodies(str(uuid.uuid4())))
    with pytest.raises(InvalidPassportRecord, match="different"):
        resource.parse(body, str(uuid.uuid4()))


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_arbitrary_json_is_refused_or_reshaped(kind: str, data: st.DataObject) -> None:
    resource, bodies, _ = KINDS[kind]
    record_id = str(uuid.uuid4())
    valid = data.draw(bodies(record_id))
    payload = data.draw(st.one_of(
        fs.json_values(),
        st.fixed_dictionaries({name: fs.json_values(4) for name in valid}),
        st.just(valid).flatmap(lambda body: st.fixed_dictionaries(
            {**{name: st.just(value) for name, value in body.items()}, "key": fs.json_values(4)})),
    ))
    try:
        rendered = resource.rendered(resource.parse(payload, record_id))
    except InvalidPassportRecord:
        return
    strict_json(rendered.body)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=fs.UPSTREAM_EXAMPLES, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_upstream_body_is_a_502_and_never_cached(kind: str, data: st.DataObject, client, emulator,
                                                        redis_client) -> None:
    resource, bodies, _ = KINDS[kind]
    record_id = str(uuid.uuid4())
    valid = data.draw(bodies(record_id))
    payload = data.draw(st.one_of(
        st.sampled_from(BREAKAGES[kind]).map(lambda case: broken(valid, *case)),
        fs.json_values(),
    ))
    emulator.reset()
    emulator.fault(target=resource.plural, customer_id=record_id, status=200, body=json.dumps(payload))
    response = client.get(f"/v1/{resource.plural}/{record_id}")
    assert response.status_code == 502, response.get_data(as_text=True)
    assert response.get_json()["type"].endswith(":upstream-bad-response")
    assert not redis_client.exists(STORE_KEYS.of(kind).entry(record_id))
