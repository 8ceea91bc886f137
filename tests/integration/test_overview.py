"""GET /v1/customers/<id>/overview end to end: the customer's page in one call, real Redis and the emulator.

The emulator's seed: the docs' example customer owns the docs' example account, one key and one
recipient; generated customers own 1-3 accounts, 0-3 keys per account and 0-4 recipients.
"""
from __future__ import annotations

import json

import pytest

from tests.support.emulator import DOCS_ACCOUNT_ID, DOCS_CUSTOMER_ID, DOCS_KEY_ID, DOCS_RECIPIENT_ID
from tests.support.jwks import hs256_bearer
from tests.support.keys import STORE_KEYS

ACCOUNT_ID, KEY_ID, RECIPIENT_ID = DOCS_ACCOUNT_ID, DOCS_KEY_ID, DOCS_RECIPIENT_ID
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
OTHER_CUSTOMER = "00000000-0000-4000-8000-000000000001"
SECRET = "s" * 40
ALL_SCOPES = "customers.read accounts.read keys.read recipients.read pii.read"


def url(customer_id: str = DOCS_CUSTOMER_ID) -> str:
    return f"/v1/customers/{customer_id}/overview"


def bearer(**claims) -> dict[str, str]:
    return hs256_bearer(SECRET, **claims)


def list_calls(emulator) -> int:
    stats = emulator.stats()
    return sum(stats[f"{kind}_list_calls"] for kind in ("account", "key", "recipient"))


@pytest.fixture
def enforced(make_app):
    return make_app(AUTH_MODE="enforced", AUTH_JWT_SECRET=SECRET, AUTH_JWT_ISSUER=None, AUTH_JWT_AUDIENCE=None)


def test_the_page_holds_the_customer_and_its_accounts_keys_and_recipients(client, emulator):
    response = client.get(url())
    assert response.status_code == 200 and response.content_type == "application/json"
    page = response.get_json()
    assert page["customer"] == client.get(f"/v1/customers/{DOCS_CUSTOMER_ID}").get_json()
    assert [a["id"] for a in page["accounts"]] == [ACCOUNT_ID] and page["accounts"][0]["number"] == "88827643001"
    assert [k["id"] for k in page["keys"]] == [KEY_ID] and [r["id"] for r in page["recipients"]] == [RECIPIENT_ID]
    assert (page["failed"], page["truncated"]) == ([], [])
    assert response.headers["Cache-Control"] == "private, no-cache"


def test_a_warm_page_asks_passport_nothing(client, emulator):
    assert client.get(url()).headers["X-Cache"] == "MISS"
    before = emulator.stats()
    warm = client.get(url())
    assert warm.headers["X-Cache"] == "HIT"
    assert emulator.stats()["customer_calls_total"] == before["customer_calls_total"]
    assert list_calls(emulator) == 3  # one list per part, the first time only


def test_every_listed_record_warms_its_own_lookup(client, emulator):
    client.get(url())
    for plural, record_id in (("accounts", ACCOUNT_ID), ("keys", KEY_ID), ("recipients", RECIPIENT_ID)):
        assert client.get(f"/v1/{plural}/{record_id}").headers["X-Cache"] == "HIT"
    assert emulator.record_calls("key", KEY_ID) == emulator.record_calls("recipient", RECIPIENT_ID) == 0


def test_a_failing_part_is_named_and_the_others_are_shown(client, emulator, redis_client):
    emulator.fault(target="key_list", status=503)
    page = client.get(url()).get_json()
    assert page["failed"] == [{"part": "keys", "status": 502, "title": "Passport answered with an error"}]
    assert page["keys"] == [] and [a["id"] for a in page["accounts"]] == [ACCOUNT_ID] and page["customer"]
    assert not redis_client.exists(STORE_KEYS.of("customer-keys").entry(DOCS_CUSTOMER_ID))


def test_a_listed_record_of_another_customer_fails_its_part_and_is_never_cached(client, emulator, redis_client):
    foreign = {"id": UNKNOWN_ID, "customer_id": OTHER_CUSTOMER, "account_number": "123456789",
               "account_type": "ORDINARY", "status": "ACTIVE", "available_balance": {"value": "1", "currency": "COP"},
               "pending_balance": {"value": "0", "currency": "COP"}, "created_at": "2025-10-09T10:40:29.966Z",
               "updated_at": "2025-10-09T17:41:23.179Z"}
    body = {"accounts": [foreign], "pagination_info": {"current_page": 1, "total_pages": 1, "total_elements": 1}}
    emulator.fault(target="account_list", customer_id=DOCS_CUSTOMER_ID, status=200, body=json.dumps(body))
    page = client.get(url()).get_json()
    assert page["failed"] == [{"part": "accounts", "status": 502, "title": "Passport sent an invalid answer"}]
    assert page["accounts"] == []
    assert not redis_client.exists(STORE_KEYS.of("customer-accounts").entry(DOCS_CUSTOMER_ID))
    assert not redis_client.exists(STORE_KEYS.of("account").entry(UNKNOWN_ID))


@pytest.mark.parametrize("value", ["90000000000000000.5e3", 1.5, "NaN"])
def test_money_that_is_not_a_decimal_string_fails_the_part(client, emulator, value):
    bad = {"id": ACCOUNT_ID, "customer_id": DOCS_CUSTOMER_ID, "account_number": "88827643001",
           "account_type": "ORDINARY", "status": "ACTIVE", "available_balance": {"value": value, "currency": "COP"},
           "pending_balance": {"value": "0", "currency": "COP"}, "created_at": "2025-10-09T10:40:29.966Z",
           "updated_at": "2025-10-09T17:41:23.179Z"}
    body = {"accounts": [bad], "pagination_info": {"current_page": 1, "total_pages": 1, "total_elements": 1}}
    emulator.fault(target="account_list", status=200, body=json.dumps(body))
    assert client.get(url()).get_json()["failed"][0]["part"] == "accounts"


def test_a_customer_passport_does_not_know_is_a_404(client, emulator):
    response = client.get(url(UNKNOWN_ID))
    assert response.status_code == 404 and response.get_json()["type"].endswith(":customer-not-found")


def test_a_malformed_id_is_a_400(client, emulator):
    assert client.get(url("not-a-uuid")).get_json()["type"].endswith(":invalid-customer-id")
    assert emulator.customer_calls() == 0


def test_a_failing_customer_part_leaves_the_page_with_the_other_parts(client, emulator):
    emulator.fault(target="customers", status=503)
    page = client.get(url()).get_json()
    assert page["customer"] is None and page["failed"][0]["part"] == "customer"
    assert [a["id"] for a in page["accounts"]] == [ACCOUNT_ID]


def test_parts_past_the_bound_are_cut_and_say_so(make_app, emulator):
    customer = next(cid for cid in emulator.customer_ids(40)[1:] if len(emulator.resources_of(cid)["keys"]) >= 2)
    page = make_app(OVERVIEW_MAX_ITEMS=1).test_client().get(url(customer)).get_json()
    assert len(page["keys"]) == 1 and "keys" in page["truncated"]


def test_a_generated_customers_page_lists_what_it_owns(client, emulator):
    customer = emulator.customer_ids(5)[3]
    owned = emulator.resources_of(customer)
    page = client.get(url(customer)).get_json()
    for part in ("accounts", "keys", "recipients"):
        assert sorted(item["id"] for item in page[part]) == sorted(owned[part])
    assert all(account["customerId"] == customer for account in page["accounts"])


class TestCallers:
    def test_a_caller_bound_to_another_customer_is_refused_before_anything_is_read(self, enforced, emulator):
        response = enforced.test_client().get(url(), headers=bearer(scope=ALL_SCOPES, customer_ids=[OTHER_CUSTOMER]))
        assert response.status_code == 403 and response.get_json()["type"].endswith(":customer-not-allowed")
        assert emulator.customer_calls() == 0 and list_calls(emulator) == 0

    def test_a_caller_bound_to_the_customer_sees_the_page(self, enforced, emulator):
        headers = bearer(scope=ALL_SCOPES, customer_ids=[DOCS_CUSTOMER_ID])
        assert enforced.test_client().get(url(), headers=headers).get_json()["failed"] == []

    def test_a_part_the_callers_scopes_do_not_cover_is_a_403_part_never_fetched(self, enforced, emulator):
        page = enforced.test_client().get(url(), headers=bearer(scope="customers.read accounts.read")).get_json()
        assert {f["part"]: f["status"] for f in page["failed"]} == {"keys": 403, "recipients": 403}
        assert page["keys"] == page["recipients"] == [] and len(page["accounts"]) == 1
        assert emulator.stats()["key_list_calls"] == emulator.stats()["recipient_list_calls"] == 0

    def test_personal_fields_are_masked_without_pii_read(self, enforced, emulator):
        client = enforced.test_client()
        scopes = "customers.read accounts.read keys.read recipients.read"
        masked = client.get(url(), headers=bearer(scope=scopes)).get_json()
        whole = client.get(url(), headers=bearer(scope=scopes + " pii.read")).get_json()
        assert masked["accounts"][0]["number"] == "*******3001" and whole["accounts"][0]["number"] == "88827643001"
        assert masked["keys"][0]["key"]["value"] == "******7228"
        assert masked["customer"] == whole["customer"]  # customers are masked only with PII_MASKING=on


def test_polling_an_unknown_customer_asks_passport_for_no_list_again(client, emulator):
    client.get(url(UNKNOWN_ID))
    lists = list_calls(emulator)
    for _ in range(5):
        assert client.get(url(UNKNOWN_ID)).status_code == 404
    assert list_calls(emulator) == lists and emulator.customer_calls(UNKNOWN_ID) == 1


def test_a_purge_of_the_customer_purges_its_overview_parts(client, emulator, redis_client):
    client.get(url())
    assert client.delete(f"/v1/customers/{DOCS_CUSTOMER_ID}/cache").status_code == 204
    for part in ("accounts", "keys", "recipients"):
        assert not redis_client.exists(STORE_KEYS.of(f"customer-{part}").entry(DOCS_CUSTOMER_ID))
    lists = list_calls(emulator)
    assert client.get(url()).headers["X-Cache"] == "MISS" and list_calls(emulator) == lists + 3
