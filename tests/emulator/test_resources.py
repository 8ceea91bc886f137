"""The emulator's accounts, Bre-B keys and recipients, over a real socket (emulator/resources_api.py)."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from emulator import (
    EXAMPLE_ACCOUNT_ID,
    EXAMPLE_CUSTOMER_ID,
    EXAMPLE_KEY_ID,
    EXAMPLE_RECIPIENT_ID,
    EmulatorSettings,
    serve_in_thread,
    stop_server,
)
from emulator.example import load_example_resources
from emulator.resources_seed import SeedResources
from emulator.seed import generate_customers
from tests.support.clock import FakeClock

START = 1_765_000_000.0  # 2025-12-06T05:46:40Z, after the docs' examples were created
CUSTOMERS = 40
SEED = 11
TIMEOUT = 5
SHARED = Path(__file__).resolve().parents[3] / "shared" / "passport"
CREDENTIALS = {"client_id": "dev-client-id", "client_secret": "dev-client-secret", "grant_type": "client_credentials"}
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
DECIMAL = re.compile(r"^\d+(\.\d+)?$")
ERROR_KEYS = {"message", "http_code", "type", "trace_id", "code"}
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
KEY_VALUE_PATTERNS = {
    "ID": r"\d{6,10}", "PHONE": r"3\d{9}", "EMAIL": r"[a-z0-9]{8}@[a-z0-9.]+", "ALPHA": r"@[a-z0-9]{1,10}\d{6}",
    "BCODE": r"00\d{8}",
}
# kind -> (retrieve path prefix, list path, example id)
KINDS: dict[str, tuple[str, str, str]] = {
    "accounts": ("/v1/accounts/", "/v1/accounts", EXAMPLE_ACCOUNT_ID),
    "keys": ("/v1/keys/", "/v1/keys", EXAMPLE_KEY_ID),
    "recipients": ("/v1/recipients/breb/", "/v1/recipients", EXAMPLE_RECIPIENT_ID),
}
PAGE_SIZE = "page_params.page_size"
PAGE_NUMBER = "page_params.page_number"
SECONDS = "page_params.first_request_timestamp.seconds"
NANOS = "page_params.first_request_timestamp.nanos"


class Emulator:
    """One emulator served on 127.0.0.1, and an HTTP session with a valid token."""

    def __init__(self, base_url: str, clock: FakeClock) -> None:
        self.base_url, self.clock = base_url, clock
        self.http = requests.Session()
        token = self.http.post(f"{base_url}/v1/iam/oauth/tokens", json=CREDENTIALS, timeout=TIMEOUT).json()
        self.auth = {"Authorization": f"Bearer {token['access_token']}"}

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.http.request(method, self.base_url + path, timeout=TIMEOUT, **kwargs)

    def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> requests.Response:
        return self.call("GET", path, params=params, headers=self.auth if headers is None else headers)

    def retrieve(self, kind: str, resource_id: str) -> requests.Response:
        return self.get(KINDS[kind][0] + resource_id)

    def listed(self, kind: str, **params: Any) -> dict[str, Any]:
        response = self.get(KINDS[kind][1], **params)
        assert response.status_code == 200, response.text
        return response.json()

    def all_of(self, kind: str, **params: Any) -> list[dict[str, Any]]:
        """Every record a list query selects, page after page."""
        found, page = [], 1
        while True:
            body = self.listed(kind, **{PAGE_SIZE: 100, PAGE_NUMBER: page, **params})
            found += body[kind]
            if page >= body["pagination_info"]["total_pages"]:
                return found
            page += 1

    def owned(self, customer_id: str) -> dict[str, list[str]]:
        return self.call("GET", f"/_emulator/customers/{customer_id}/resources").json()

    def stats(self) -> dict[str, Any]:
        return self.call("GET", "/_emulator/stats").json()

    def fault(self, **fault: Any) -> None:
        assert self.call("POST", "/_emulator/faults", json=fault).status_code == 201

    def customer_ids(self) -> list[str]:
        return self.call("GET", "/_emulator/customers").json()


def serve(customers: int = CUSTOMERS, seed: int = SEED) -> tuple[Any, Emulator]:
    clock = FakeClock(START)
    server, base_url = serve_in_thread(EmulatorSettings(port=0, customers=customers, seed=seed, clock=clock))
    return server, Emulator(base_url, clock)


@pytest.fixture(scope="module")
def running() -> Iterator[Emulator]:
    server, emulator = serve()
    try:
        yield emulator
    finally:
        stop_server(server)


@pytest.fixture
def passport(running: Emulator) -> Emulator:
    """The module's emulator, back to its seed, counters and start time."""
    running.clock.now = START
    assert running.call("POST", "/_emulator/reset").status_code == 200
    return running


def generated_customers(passport: Emulator) -> list[str]:
    return [customer_id for customer_id in passport.customer_ids() if customer_id != EXAMPLE_CUSTOMER_ID]


def docs_example(name: str) -> dict[str, Any]:
    """The docs' example body from shared/passport, else the emulator's embedded copy."""
    path = SHARED / f"{name}-example.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return load_example_resources()[f"{name}s"][0]


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


# --- retrieve -------------------------------------------------------------------------------
def test_docs_example_account_is_served_as_documented(passport: Emulator) -> None:
    assert passport.retrieve("accounts", EXAMPLE_ACCOUNT_ID).json() == docs_example("account")


def test_docs_example_key_is_served_as_documented_and_points_at_the_example_account(passport: Emulator) -> None:
    key = passport.retrieve("keys", EXAMPLE_KEY_ID).json()
    assert key == docs_example("key") and key["account_id"] == EXAMPLE_ACCOUNT_ID


def test_docs_example_recipient_belongs_to_the_example_customer_with_a_valid_id(passport: Emulator) -> None:
    recipient = passport.retrieve("recipients", EXAMPLE_RECIPIENT_ID).json()
    assert recipient == {**docs_example("recipient"), "customer_id": EXAMPLE_CUSTOMER_ID}


def test_embedded_examples_are_exact_copies_of_the_shared_files() -> None:
    if not SHARED.exists():
        pytest.skip("shared/passport is not beside the project")
    embedded = load_example_resources()
    assert embedded["accounts"] == [docs_example("account")]
    assert embedded["keys"] == [docs_example("key")]
    assert embedded["recipients"] == [{**docs_example("recipient"), "customer_id": EXAMPLE_CUSTOMER_ID}]


def test_recipient_retrieve_path_needs_the_breb_segment(passport: Emulator) -> None:
    assert passport.get(f"/v1/recipients/{EXAMPLE_RECIPIENT_ID}").status_code == 404
    assert passport.retrieve("recipients", EXAMPLE_RECIPIENT_ID).status_code == 200


@pytest.mark.parametrize("kind", KINDS)
def test_malformed_id_answers_400_with_a_passport_error(passport: Emulator, kind: str) -> None:
    response = passport.retrieve(kind, "not-a-uuid")
    assert response.status_code == 400 and set(response.json()) == ERROR_KEYS
    assert response.json()["http_code"] == 400


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_id_answers_404_with_a_passport_error(passport: Emulator, kind: str) -> None:
    response = passport.retrieve(kind, UNKNOWN_ID)
    assert response.status_code == 404 and set(response.json()) == ERROR_KEYS


def test_an_id_of_another_resource_is_unknown(passport: Emulator) -> None:
    assert passport.retrieve("keys", EXAMPLE_ACCOUNT_ID).status_code == 404
    assert passport.retrieve("accounts", EXAMPLE_RECIPIENT_ID).status_code == 404


@pytest.mark.parametrize("kind", KINDS)
def test_upper_case_id_is_found(passport: Emulator, kind: str) -> None:
    example_id = KINDS[kind][2]
    response = passport.retrieve(kind, example_id.upper())
    assert response.status_code == 200 and response.json()["id"] == example_id


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("header", [None, "Bearer not-a-token", "Basic abc"])
def test_every_call_needs_a_valid_token(passport: Emulator, kind: str, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    retrieve_path, list_path, example_id = KINDS[kind]
    for path in (retrieve_path + example_id, list_path):
        response = passport.get(path, headers=headers)
        assert response.status_code == 401 and set(response.json()) == ERROR_KEYS


# --- seed data ------------------------------------------------------------------------------
def test_every_generated_customer_owns_a_plausible_set(passport: Emulator) -> None:
    for customer_id in generated_customers(passport):
        owned = passport.owned(customer_id)
        assert 1 <= len(owned["accounts"]) <= 3 and len(owned["recipients"]) <= 4
        keys = [passport.retrieve("keys", key_id).json() for key_id in owned["keys"]]
        per_account = [sum(key["account_id"] == account for key in keys) for account in owned["accounts"]]
        assert sum(per_account) == len(keys) and max(per_account) <= 3


def test_the_example_customer_owns_exactly_the_docs_examples(passport: Emulator) -> None:
    assert passport.owned(EXAMPLE_CUSTOMER_ID) == {
        "accounts": [EXAMPLE_ACCOUNT_ID], "keys": [EXAMPLE_KEY_ID], "recipients": [EXAMPLE_RECIPIENT_ID],
    }


def check_timestamps(record: dict[str, Any]) -> None:
    assert ISO_MS.match(record["created_at"]) and ISO_MS.match(record["updated_at"])
    assert parse_iso(record["created_at"]) <= parse_iso(record["updated_at"]) <= datetime.fromtimestamp(START, UTC)


def test_generated_accounts_have_the_documented_fields_and_money_as_strings(passport: Emulator) -> None:
    accounts = passport.all_of("accounts")
    for account in accounts:
        assert str(uuid.UUID(account["id"])) == account["id"] and uuid.UUID(account["customer_id"])
        assert re.fullmatch(r"\d{11}", account["account_number"])
        assert account["account_type"] in {"ORDINARY", "LOW_VALUE"} and account["status"] in {"ACTIVE", "INACTIVE"}
        for money in (account["available_balance"], account["pending_balance"]):
            assert money["currency"] == "COP" and isinstance(money["value"], str) and DECIMAL.match(money["value"])
        check_timestamps(account)
    assert {account["account_type"] for account in accounts} == {"ORDINARY", "LOW_VALUE"}


def test_generated_keys_have_plausible_colombian_values_of_every_type(passport: Emulator) -> None:
    keys = passport.all_of("keys")
    for key in keys:
        assert re.fullmatch(KEY_VALUE_PATTERNS[key["key"]["key_type"]], key["key"]["key_value"]), key
        assert key["status"] in {"ACTIVE", "SUSPENDED"} and uuid.UUID(key["account_id"])
        check_timestamps(key)
    assert {key["key"]["key_type"] for key in keys} == set(KEY_VALUE_PATTERNS)


def test_key_values_are_unique_across_the_seed(passport: Emulator) -> None:
    values = [key["key"]["key_value"] for key in passport.all_of("keys")]
    assert len(values) == len(set(values))


def test_generated_recipients_are_breb_payees_created_once(passport: Emulator) -> None:
    recipients = passport.all_of("recipients")
    for recipient in recipients:
        assert recipient["type"] == "BREB" and recipient["alias"] and "status" not in recipient
        assert re.fullmatch(KEY_VALUE_PATTERNS[recipient["key"]["key_type"]], recipient["key"]["key_value"])
        assert recipient["created_at"] == recipient["updated_at"]
        check_timestamps(recipient)
    assert len(recipients) > CUSTOMERS // 2


def test_seed_resources_are_the_same_for_the_same_seed_and_differ_for_another() -> None:
    def everything(seed: int) -> list[list[dict[str, Any]]]:
        server, emulator = serve(customers=10, seed=seed)
        try:
            return [emulator.all_of(kind) for kind in KINDS]
        finally:
            stop_server(server)
    assert everything(3) == everything(3)
    assert everything(3) != everything(4)


def test_records_do_not_depend_on_what_was_read_first(passport: Emulator) -> None:
    customer_id = generated_customers(passport)[5]
    key_id = passport.owned(customer_id)["keys"][-1] if passport.owned(customer_id)["keys"] else None
    server, fresh = serve()
    try:
        if key_id is not None:  # a key read before anything else of its customer's
            assert fresh.retrieve("keys", key_id).json() == passport.retrieve("keys", key_id).json()
        assert fresh.all_of("accounts", customer_id=customer_id) == passport.all_of("accounts", customer_id=customer_id)
    finally:
        stop_server(server)


def test_ten_thousand_customers_get_their_resources_indexed_in_well_under_two_seconds() -> None:
    customers = generate_customers(10_000, SEED, START)
    started = time.perf_counter()
    SeedResources(SEED, START, customers, load_example_resources())
    assert time.perf_counter() - started < 2.0


# --- lists ----------------------------------------------------------------------------------
def test_accounts_listed_by_customer_are_exactly_theirs(passport: Emulator) -> None:
    customer_id = generated_customers(passport)[0]
    listed = passport.all_of("accounts", customer_id=customer_id.upper())
    assert sorted(account["id"] for account in listed) == sorted(passport.owned(customer_id)["accounts"])
    assert all(account["customer_id"] == customer_id for account in listed)


def test_keys_listed_by_customer_are_those_of_their_accounts(passport: Emulator) -> None:
    customer_id = next(c for c in generated_customers(passport) if passport.owned(c)["keys"])
    owned = passport.owned(customer_id)
    listed = passport.all_of("keys", customer_id=customer_id)
    assert sorted(key["id"] for key in listed) == sorted(owned["keys"])
    assert {key["account_id"] for key in listed} <= set(owned["accounts"])


def test_recipients_listed_by_customer_are_exactly_theirs(passport: Emulator) -> None:
    customer_id = next(c for c in generated_customers(passport) if passport.owned(c)["recipients"])
    listed = passport.all_of("recipients", customer_id=customer_id)
    assert sorted(recipient["id"] for recipient in listed) == sorted(passport.owned(customer_id)["recipients"])


@pytest.mark.parametrize("kind", KINDS)
def test_a_list_with_nothing_matching_answers_200_with_an_empty_array(passport: Emulator, kind: str) -> None:
    body = passport.listed(kind, customer_id=UNKNOWN_ID)
    assert body[kind] == []
    info = body["pagination_info"]
    assert (info["current_page"], info["total_pages"], info["total_elements"]) == (1, 0, 0)


def test_a_page_past_the_last_is_empty_not_404(passport: Emulator) -> None:
    body = passport.listed("accounts", **{PAGE_SIZE: 100, PAGE_NUMBER: 50})
    assert body["accounts"] == [] and body["pagination_info"]["current_page"] == 50


def test_list_defaults_to_ten_per_page_and_pages_cover_every_record_once(passport: Emulator) -> None:
    first = passport.listed("accounts")
    total = first["pagination_info"]["total_elements"]
    assert len(first["accounts"]) == 10 and first["pagination_info"]["total_pages"] == -(-total // 10)
    seen = []
    for page in range(1, -(-total // 15) + 1):
        listed = passport.listed("accounts", **{PAGE_SIZE: 15, PAGE_NUMBER: page})["accounts"]
        seen += [account["id"] for account in listed]
    assert len(seen) == len(set(seen)) == total > CUSTOMERS


@pytest.mark.parametrize("key", ["created_at", "updated_at"])
@pytest.mark.parametrize("direction", ["ASC", "DESC", "ORDER_DIRECTION_ENUM_UNSPECIFIED", "desc"])
def test_lists_order_by_key_and_direction(passport: Emulator, key: str, direction: str) -> None:
    params = {PAGE_SIZE: 100, "order_params.order_key": key, "order_params.order_direction": direction}
    values = [key_record[key] for key_record in passport.listed("keys", **params)["keys"]]
    assert values == sorted(values, reverse=direction.upper() == "DESC")


# kind -> filter parameter -> the record's value it compares
FILTERS: list[tuple[str, str, Any]] = [
    ("accounts", "account_id", lambda record: record["id"]),
    ("accounts", "status", lambda record: record["status"]),
    ("accounts", "account_type", lambda record: record["account_type"]),
    ("accounts", "account_number", lambda record: record["account_number"]),
    ("keys", "account_id", lambda record: record["account_id"]),
    ("keys", "key_type", lambda record: record["key"]["key_type"]),
    ("keys", "key_id", lambda record: record["id"]),
    ("keys", "status", lambda record: record["status"]),
    ("keys", "key_value", lambda record: record["key"]["key_value"]),
    ("recipients", "type", lambda record: record["type"]),
    ("recipients", "recipient_id", lambda record: record["id"]),
]


@pytest.mark.parametrize(("kind", "param", "value_of"), FILTERS, ids=[f"{k}-{p}" for k, p, _ in FILTERS])
def test_each_list_filter_selects_the_records_with_that_value(passport: Emulator, kind: str, param: str,
                                                               value_of: Any) -> None:
    everything = passport.all_of(kind)
    sample = everything[len(everything) // 2]
    selected = passport.all_of(kind, **{param: value_of(sample)})
    assert sample in selected
    assert selected == [record for record in everything if value_of(record) == value_of(sample)]


def test_filters_combine(passport: Emulator) -> None:
    customer_id = generated_customers(passport)[1]
    active = passport.all_of("accounts", customer_id=customer_id, status="active")
    assert all(a["status"] == "ACTIVE" and a["customer_id"] == customer_id for a in active)


def test_recipient_filters_the_body_cannot_show_are_accepted_and_ignored(passport: Emulator) -> None:
    ignored = {"identification_number": "903978023", "account_number": "88827643001", "account_type": "ORDINARY"}
    listed = passport.all_of("recipients", customer_id=EXAMPLE_CUSTOMER_ID, **ignored)
    assert [recipient["id"] for recipient in listed] == [EXAMPLE_RECIPIENT_ID]


@pytest.mark.parametrize("params", [
    {PAGE_SIZE: "0"}, {PAGE_SIZE: "101"}, {PAGE_NUMBER: "zero"}, {"order_params.order_key": "id"},
    {"order_params.order_direction": "UP"}, {"customer_id": "nope"}, {"account_id": "nope"},
    {SECONDS: "-1"}, {SECONDS: "soon"}, {SECONDS: "1", NANOS: "1000000000"},
])
def test_bad_list_parameters_answer_400(passport: Emulator, params: dict[str, str]) -> None:
    response = passport.get("/v1/accounts", **params)
    assert response.status_code == 400 and set(response.json()) == ERROR_KEYS


@pytest.mark.parametrize("kind", KINDS)
def test_a_list_without_first_request_timestamp_carries_the_time_of_the_call(passport: Emulator, kind: str) -> None:
    passport.clock.now = START + 1.25
    assert passport.listed(kind)["pagination_info"]["first_request_timestamp"] == "2025-12-06T05:46:41.250Z"


def test_first_request_timestamp_is_echoed_and_hides_records_created_after_it(passport: Emulator) -> None:
    account = passport.retrieve("accounts", EXAMPLE_ACCOUNT_ID).json()
    planted = {**account, "id": UNKNOWN_ID, "created_at": "2025-12-06T05:46:41.000Z"}
    passport.call("PUT", f"/_emulator/accounts/{UNKNOWN_ID}", json=planted)
    snapshot = {SECONDS: str(int(START)), NANOS: "500000000", "customer_id": EXAMPLE_CUSTOMER_ID}
    body = passport.listed("accounts", **snapshot)
    assert body["pagination_info"]["first_request_timestamp"] == "2025-12-06T05:46:40.500Z"
    assert [a["id"] for a in body["accounts"]] == [EXAMPLE_ACCOUNT_ID]
    assert len(passport.listed("accounts", customer_id=EXAMPLE_CUSTOMER_ID)["accounts"]) == 2


def test_the_customer_list_keeps_its_own_rules(passport: Emulator) -> None:
    unspecified = {"order_params.order_direction": "ORDER_DIRECTION_ENUM_UNSPECIFIED"}
    assert passport.get("/v1/customers", **unspecified).status_code == 400
    assert passport.get("/v1/customers", identification_number="000000000").status_code == 404


# --- raw records, touch, reset --------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_put_plants_any_json_and_delete_removes_it(passport: Emulator, kind: str) -> None:
    hostile = {"id": "wrong", "available_balance": {"value": 12.5}, "key": None}
    assert passport.call("PUT", f"/_emulator/{kind}/{UNKNOWN_ID}", json=hostile).status_code == 200
    assert passport.retrieve(kind, UNKNOWN_ID).json() == hostile
    assert passport.call("DELETE", f"/_emulator/{kind}/{UNKNOWN_ID}").status_code == 200
    assert passport.retrieve(kind, UNKNOWN_ID).status_code == 404
    assert passport.call("DELETE", f"/_emulator/{kind}/{UNKNOWN_ID}").status_code == 404


@pytest.mark.parametrize("kind", KINDS)
def test_delete_removes_a_seed_record_from_retrieve_and_lists(passport: Emulator, kind: str) -> None:
    example_id = KINDS[kind][2]
    assert passport.call("DELETE", f"/_emulator/{kind}/{example_id}").status_code == 200
    assert passport.retrieve(kind, example_id).status_code == 404
    assert example_id not in [record["id"] for record in passport.all_of(kind, customer_id=EXAMPLE_CUSTOMER_ID)]


def test_put_of_invalid_json_answers_400(passport: Emulator) -> None:
    response = passport.call("PUT", f"/_emulator/keys/{UNKNOWN_ID}", data="{nope")
    assert response.status_code == 400


@pytest.mark.parametrize("kind", KINDS)
def test_touch_sets_updated_at_to_now_or_the_given_value(passport: Emulator, kind: str) -> None:
    path = f"/_emulator/{kind}/{KINDS[kind][2]}/touch"
    passport.clock.now = START + 2.5
    assert passport.call("POST", path).json()["updated_at"] == "2025-12-06T05:46:42.500Z"
    given = {"updated_at": "2030-01-01T00:00:00.000Z"}
    assert passport.call("POST", path, json=given).json()["updated_at"] == given["updated_at"]
    assert passport.retrieve(kind, KINDS[kind][2]).json()["updated_at"] == given["updated_at"]
    assert passport.call("POST", f"/_emulator/{kind}/{UNKNOWN_ID}/touch").status_code == 404


def test_a_planted_key_lists_under_the_customer_of_its_account(passport: Emulator) -> None:
    key = {**passport.retrieve("keys", EXAMPLE_KEY_ID).json(), "id": UNKNOWN_ID}
    passport.call("PUT", f"/_emulator/keys/{UNKNOWN_ID}", json=key)
    assert UNKNOWN_ID in [k["id"] for k in passport.all_of("keys", customer_id=EXAMPLE_CUSTOMER_ID)]
    assert passport.owned(EXAMPLE_CUSTOMER_ID)["keys"] == [EXAMPLE_KEY_ID, UNKNOWN_ID]


def test_reset_restores_the_seed_resources(passport: Emulator) -> None:
    before = passport.retrieve("accounts", EXAMPLE_ACCOUNT_ID).json()
    passport.call("POST", f"/_emulator/accounts/{EXAMPLE_ACCOUNT_ID}/touch")
    passport.call("DELETE", f"/_emulator/keys/{EXAMPLE_KEY_ID}")
    passport.call("PUT", f"/_emulator/recipients/{UNKNOWN_ID}", json={"id": UNKNOWN_ID})
    assert passport.call("POST", "/_emulator/reset").status_code == 200
    assert passport.retrieve("accounts", EXAMPLE_ACCOUNT_ID).json() == before
    assert passport.retrieve("keys", EXAMPLE_KEY_ID).status_code == 200
    assert passport.retrieve("recipients", UNKNOWN_ID).status_code == 404


def test_resource_controls_refuse_unknown_resource_names(passport: Emulator) -> None:
    assert passport.call("PUT", f"/_emulator/payments/{UNKNOWN_ID}", json={}).status_code == 404


# --- stats, faults, request ids and trace headers -------------------------------------------
def test_stats_count_retrieves_per_id_and_lists_per_resource(passport: Emulator) -> None:
    passport.retrieve("accounts", EXAMPLE_ACCOUNT_ID)
    passport.retrieve("accounts", EXAMPLE_ACCOUNT_ID.upper())
    passport.retrieve("keys", UNKNOWN_ID)
    passport.get(KINDS["recipients"][0] + EXAMPLE_RECIPIENT_ID, headers={})
    passport.listed("keys")
    passport.listed("recipients")
    passport.listed("recipients")
    counted = passport.stats()
    assert counted["account_calls"] == {EXAMPLE_ACCOUNT_ID: 2} and counted["account_calls_total"] == 2
    assert counted["key_calls"] == {UNKNOWN_ID: 1} and counted["recipient_calls_total"] == 1
    assert (counted["account_list_calls"], counted["key_list_calls"], counted["recipient_list_calls"]) == (0, 1, 2)
    assert counted["customer_calls_total"] == 0 and counted["list_calls"] == 0


def test_reset_zeroes_the_resource_counters(passport: Emulator) -> None:
    passport.retrieve("accounts", EXAMPLE_ACCOUNT_ID)
    passport.listed("accounts")
    passport.call("POST", "/_emulator/reset")
    counted = passport.stats()
    assert counted["account_calls"] == {} and counted["account_list_calls"] == 0


def test_a_fault_for_one_account_answers_only_its_retrieves(passport: Emulator) -> None:
    passport.fault(target="accounts", customer_id=EXAMPLE_ACCOUNT_ID.upper(), status=503)
    other = passport.owned(generated_customers(passport)[0])["accounts"][0]
    response = passport.retrieve("accounts", EXAMPLE_ACCOUNT_ID)
    assert response.status_code == 503 and response.json()["http_code"] == 503
    assert passport.retrieve("accounts", other).status_code == 200
    assert passport.listed("accounts")["accounts"]
    assert passport.stats()["account_calls_total"] == 2


@pytest.mark.parametrize(("target", "kind"), [("account_list", "accounts"), ("key_list", "keys"),
                                              ("recipient_list", "recipients")])
def test_a_list_fault_matches_the_lists_customer_filter(passport: Emulator, target: str, kind: str) -> None:
    passport.fault(target=target, customer_id=EXAMPLE_CUSTOMER_ID, body="<html>gateway</html>",
                   content_type="text/html", times=1)
    assert passport.get(KINDS[kind][1]).status_code == 200
    faulted = passport.get(KINDS[kind][1], customer_id=EXAMPLE_CUSTOMER_ID)
    assert faulted.status_code == 200 and faulted.text == "<html>gateway</html>"
    assert passport.get(KINDS[kind][1], customer_id=EXAMPLE_CUSTOMER_ID).json()[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_the_all_target_hits_resource_endpoints_too(passport: Emulator, kind: str) -> None:
    passport.fault(target="all", status=418)
    assert passport.retrieve(kind, KINDS[kind][2]).status_code == 418
    assert passport.get(KINDS[kind][1]).status_code == 418


@pytest.mark.parametrize("kind", KINDS)
def test_a_resource_fault_leaves_customers_alone(passport: Emulator, kind: str) -> None:
    passport.fault(target=kind, status=500)
    assert passport.get(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}").status_code == 200
    assert passport.retrieve(kind, KINDS[kind][2]).status_code == 500


def test_resource_calls_record_request_ids_and_trace_headers(passport: Emulator) -> None:
    traced = {**passport.auth, "X-Request-ID": "req-1", "traceparent": "tp", "tracestate": "ts"}
    passport.get(KINDS["keys"][0] + EXAMPLE_KEY_ID, headers=traced)
    passport.get("/v1/recipients", headers=traced, customer_id=EXAMPLE_CUSTOMER_ID.upper())
    counted = passport.stats()
    assert counted["request_ids"][-2:] == ["req-1", "req-1"]
    assert counted["trace_headers"][-2:] == [
        {"kind": "key", "customer_id": EXAMPLE_KEY_ID, "traceparent": "tp", "tracestate": "ts"},
        {"kind": "recipient_list", "customer_id": EXAMPLE_CUSTOMER_ID, "traceparent": "tp", "tracestate": "ts"},
    ]
