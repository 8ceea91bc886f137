"""GET /v1/accounts|keys|recipients/<id> end to end: the customer's lookup, for every declared kind.

Real Redis, the emulator over a real socket (its seed: the docs' example customer owns the docs'
example account, key and recipient). What the customer's own tests pin for its route — headers,
coalescing, stale rules, purge — is the same code here; these pin what differs by kind: the
frontend shapes, the kinds' problems and scopes, the freshness rules, the owner checks.
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.emulator import DOCS_ACCOUNT_ID, DOCS_CUSTOMER_ID, DOCS_KEY_ID, DOCS_RECIPIENT_ID
from tests.support.jwks import hs256_bearer
from tests.support.keys import STORE_KEYS

ACCOUNT_ID, KEY_ID, RECIPIENT_ID = DOCS_ACCOUNT_ID, DOCS_KEY_ID, DOCS_RECIPIENT_ID
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
OTHER_CUSTOMER = "00000000-0000-4000-8000-000000000001"
SECRET = "s" * 40
KINDS = [("accounts", "account", ACCOUNT_ID), ("keys", "key", KEY_ID), ("recipients", "recipient", RECIPIENT_ID)]


def assert_problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status
    assert response.content_type == "application/problem+json"
    body = response.get_json(force=True)
    assert body["type"].endswith(":" + slug) and body["request_id"] == response.headers["X-Request-ID"]
    return body


def bearer(**claims) -> dict[str, str]:
    return hs256_bearer(SECRET, **claims)


@pytest.fixture
def enforced(make_app):
    """An app that checks callers: HS256 JWTs whose scopes and customer_ids claim the tests choose."""
    return make_app(AUTH_MODE="enforced", AUTH_JWT_SECRET=SECRET, AUTH_JWT_ISSUER=None, AUTH_JWT_AUDIENCE=None)


class TestShapes:
    def test_the_docs_account_renders_as_frontends_receive_it(self, client, emulator):
        response = client.get(f"/v1/accounts/{ACCOUNT_ID}")
        assert response.status_code == 200 and response.headers["X-Cache"] == "MISS"
        assert json.loads(response.data) == {
            "id": ACCOUNT_ID, "customerId": DOCS_CUSTOMER_ID, "number": "88827643001", "type": "ORDINARY",
            "status": "ACTIVE", "availableBalance": {"value": "90000000000000000", "currency": "COP"},
            "pendingBalance": {"value": "0", "currency": "COP"}, "createdAt": "2025-10-09T10:40:29.966Z",
            "updatedAt": "2025-10-09T17:41:23.179Z",
        }

    def test_the_docs_key_renders_as_frontends_receive_it(self, client, emulator):
        body = client.get(f"/v1/keys/{KEY_ID}").get_json()
        assert body == {"id": KEY_ID, "accountId": ACCOUNT_ID, "key": {"type": "BCODE", "value": "0016027228"},
                        "status": "ACTIVE", "createdAt": "2025-10-09T10:42:39.710Z",
                        "updatedAt": "2025-10-09T10:42:39.710Z"}

    def test_a_key_with_a_display_name_shows_it(self, client, emulator):
        emulator.put_record("keys", UNKNOWN_ID, {
            "id": UNKNOWN_ID, "account_id": ACCOUNT_ID, "key": {"key_type": "PHONE", "key_value": "3001234567"},
            "status": "ACTIVE", "display_name": "Tienda Pepe", "created_at": "2025-10-09T10:42:39.710Z",
            "updated_at": "2025-10-09T10:42:39.710Z"})
        assert client.get(f"/v1/keys/{UNKNOWN_ID}").get_json()["displayName"] == "Tienda Pepe"

    def test_the_docs_recipient_renders_with_its_owner(self, client, emulator):
        body = client.get(f"/v1/recipients/{RECIPIENT_ID}").get_json()
        assert body["customerId"] == DOCS_CUSTOMER_ID and body["type"] == "BREB"
        assert body["key"] == {"type": "PHONE", "value": "3975999158"} and body["alias"] == "Pepito SAS5"
        assert emulator.record_calls("recipient", RECIPIENT_ID) == 1  # asked at /v1/recipients/breb/<id>


@pytest.mark.parametrize(("plural", "kind", "record_id"), KINDS)
class TestTheLookupOfEveryKind:
    def test_a_second_lookup_is_a_hit_with_the_same_validators(self, client, emulator, plural, kind, record_id):
        miss, hit = client.get(f"/v1/{plural}/{record_id}"), client.get(f"/v1/{plural}/{record_id}")
        assert (miss.headers["X-Cache"], hit.headers["X-Cache"]) == ("MISS", "HIT")
        assert hit.data == miss.data and hit.headers["ETag"] == miss.headers["ETag"]
        assert hit.headers["Cache-Control"] == "private, no-cache" and "Age" in hit.headers
        assert client.get(f"/v1/{plural}/{record_id}",
                          headers={"If-None-Match": miss.headers["ETag"]}).status_code == 304
        assert emulator.record_calls(kind, record_id) == 1

    def test_a_malformed_id_is_a_400_before_any_cache_or_passport_call(self, client, emulator, plural, kind,
                                                                       record_id, redis_client):
        assert_problem(client.get(f"/v1/{plural}/not-a-uuid"), 400, f"invalid-{kind}-id")
        assert emulator.stats()[f"{kind}_calls_total"] == 0 and not list(redis_client.scan_iter(f"*{kind}*"))

    def test_an_unknown_id_is_a_remembered_404_of_its_kind(self, client, emulator, plural, kind, record_id):
        assert_problem(client.get(f"/v1/{plural}/{UNKNOWN_ID}"), 404, f"{kind}-not-found")
        second = client.get(f"/v1/{plural}/{UNKNOWN_ID}")
        assert_problem(second, 404, f"{kind}-not-found")
        assert second.headers["X-Cache"] == "HIT" and emulator.record_calls(kind, UNKNOWN_ID) == 1

    def test_a_passport_400_for_a_key_means_no_such_key(self, client, emulator, plural, kind, record_id):
        emulator.fault(target=plural, customer_id=UNKNOWN_ID, status=400)
        answer = client.get(f"/v1/{plural}/{UNKNOWN_ID}")
        if kind == "key":  # the docs give no status for an unknown key id (UPSTREAM.md)
            assert_problem(answer, 404, "key-not-found")
        else:
            assert_problem(answer, 502, "upstream-error")

    def test_a_burst_is_one_passport_call(self, make_app, emulator, plural, kind, record_id):
        emulator.fault(target=plural, customer_id=record_id, latency_ms=300)
        app = make_app()

        def lookup(_: int) -> int:
            return app.test_client().get(f"/v1/{plural}/{record_id}").status_code

        with ThreadPoolExecutor(max_workers=16) as pool:
            assert set(pool.map(lookup, range(32))) == {200}
        assert emulator.record_calls(kind, record_id) == 1

    def test_a_purge_forgets_it_and_the_next_lookup_fetches_again(self, client, emulator, plural, kind, record_id,
                                                                  redis_client):
        client.get(f"/v1/{plural}/{record_id}")
        assert client.delete(f"/v1/{plural}/{record_id}/cache").status_code == 204
        assert not redis_client.exists(STORE_KEYS.of(kind).entry(record_id))
        assert client.get(f"/v1/{plural}/{record_id}").headers["X-Cache"] == "MISS"
        assert client.get(f"/v1/{plural}/{record_id}/cache").get_json()["kind"] == kind

    def test_a_body_that_fails_the_schema_is_a_502_and_never_cached(self, client, emulator, plural, kind, record_id,
                                                                    redis_client):
        emulator.put_record(plural, record_id, {"id": record_id, "created_at": "yesterday"})
        assert_problem(client.get(f"/v1/{plural}/{record_id}"), 502, "upstream-bad-response")
        assert not redis_client.exists(STORE_KEYS.of(kind).entry(record_id))

    def test_a_passport_outage_without_a_copy_is_answered_as_for_a_customer(self, client, emulator, plural, kind,
                                                                            record_id):
        emulator.fault(target=plural, status=503)
        response = client.get(f"/v1/{plural}/{record_id}")
        assert response.status_code in (502, 503) and response.headers["X-Cache"] == "MISS"

    def test_the_kind_needs_its_own_scope(self, enforced, emulator, plural, kind, record_id):
        client = enforced.test_client()
        refused = client.get(f"/v1/{plural}/{record_id}", headers=bearer(scope="customers.read"))
        assert_problem(refused, 403, "insufficient-scope")
        assert emulator.record_calls(kind, record_id) == 0
        allowed = client.get(f"/v1/{plural}/{record_id}", headers=bearer(scope=f"{plural}.read"))
        assert allowed.status_code == 200


class TestOwners:
    """A caller bound to customers (the JWT's customer_ids) sees only their records, on a hit as on a miss."""

    @pytest.mark.parametrize(("plural", "kind", "record_id"), KINDS)
    def test_a_record_of_the_callers_customer_is_shown(self, enforced, emulator, plural, kind, record_id):
        headers = bearer(scope=f"{plural}.read", customer_ids=[DOCS_CUSTOMER_ID])
        assert enforced.test_client().get(f"/v1/{plural}/{record_id}", headers=headers).status_code == 200

    @pytest.mark.parametrize(("plural", "kind", "record_id"), KINDS)
    def test_a_record_of_another_customer_is_a_403_cached_or_not(self, enforced, client, emulator, plural, kind,
                                                                 record_id):
        headers = bearer(scope=f"{plural}.read", customer_ids=[OTHER_CUSTOMER])
        miss = enforced.test_client().get(f"/v1/{plural}/{record_id}", headers=headers)
        assert_problem(miss, 403, f"{kind}-not-allowed")
        assert "customerId" not in miss.get_data(as_text=True)
        hit = enforced.test_client().get(f"/v1/{plural}/{record_id}", headers=headers)
        assert_problem(hit, 403, f"{kind}-not-allowed")

    def test_a_keys_owner_is_its_accounts_customer_found_through_the_cached_account(self, enforced, emulator):
        client = enforced.test_client()
        mine = bearer(scope="keys.read", customer_ids=[DOCS_CUSTOMER_ID])
        assert client.get(f"/v1/keys/{KEY_ID}", headers=mine).status_code == 200
        assert emulator.record_calls("account", ACCOUNT_ID) == 1  # the key's account, asked once
        client.get(f"/v1/keys/{KEY_ID}", headers=mine)
        assert emulator.record_calls("account", ACCOUNT_ID) == 1

    def test_a_key_whose_account_is_unknown_is_shown_to_no_bound_caller(self, enforced, emulator):
        emulator.put_record("keys", UNKNOWN_ID, {
            "id": UNKNOWN_ID, "account_id": OTHER_CUSTOMER, "key": {"key_type": "ALPHA", "key_value": "PEPE"},
            "status": "ACTIVE", "created_at": "2025-10-09T10:42:39.710Z", "updated_at": "2025-10-09T10:42:39.710Z"})
        client = enforced.test_client()
        bound = client.get(f"/v1/keys/{UNKNOWN_ID}", headers=bearer(scope="keys.read", customer_ids=[DOCS_CUSTOMER_ID]))
        assert_problem(bound, 403, "key-not-allowed")
        assert client.get(f"/v1/keys/{UNKNOWN_ID}", headers=bearer(scope="keys.read")).status_code == 200


class TestFreshness:
    def test_an_account_is_fresh_for_five_seconds_whatever_its_updated_at(self, client, emulator):
        client.get(f"/v1/accounts/{ACCOUNT_ID}")
        hit = client.get(f"/v1/accounts/{ACCOUNT_ID}")
        assert hit.headers["Cache-Status"].endswith(("ttl=4", "ttl=5"))

    def test_an_accounts_maximum_age_is_configurable(self, make_app, emulator):
        client = make_app(ACCOUNT_MAX_AGE_SECONDS=60).test_client()
        client.get(f"/v1/accounts/{ACCOUNT_ID}")
        assert client.get(f"/v1/accounts/{ACCOUNT_ID}").headers["Cache-Status"].endswith(("ttl=59", "ttl=60"))

    def test_a_key_long_unchanged_is_fresh_for_at_most_five_minutes(self, client, emulator):
        client.get(f"/v1/keys/{KEY_ID}")
        assert client.get(f"/v1/keys/{KEY_ID}").headers["Cache-Status"].endswith(("ttl=299", "ttl=300"))

    def test_a_recipient_long_unchanged_is_fresh_for_up_to_a_day(self, client, emulator):
        client.get(f"/v1/recipients/{RECIPIENT_ID}")
        ttl = client.get(f"/v1/recipients/{RECIPIENT_ID}").headers["Cache-Status"].rpartition("ttl=")[2]
        assert 86_399 <= int(ttl) <= 86_400

    def test_a_bad_setting_is_refused_at_start_up_naming_it(self, make_app):
        with pytest.raises(Exception, match="KEY_TTL_MAX_SECONDS"):
            make_app(KEY_TTL_MAX_SECONDS=0)


class TestMasking:
    """Callers without pii.read get masked values, from the same cached entry as callers with it."""

    def test_an_account_number_is_masked_without_pii_read_and_whole_with_it(self, enforced, emulator):
        client = enforced.test_client()
        masked = client.get(f"/v1/accounts/{ACCOUNT_ID}", headers=bearer(scope="accounts.read"))
        whole = client.get(f"/v1/accounts/{ACCOUNT_ID}", headers=bearer(scope="accounts.read pii.read"))
        assert masked.get_json()["number"] == "*******3001" and whole.get_json()["number"] == "88827643001"
        assert (masked.headers["X-Cache"], whole.headers["X-Cache"]) == ("MISS", "HIT")  # one entry, both bodies
        assert masked.headers["ETag"] != whole.headers["ETag"]
        assert {k: v for k, v in masked.get_json().items() if k != "number"} == {
            k: v for k, v in whole.get_json().items() if k != "number"}
        assert emulator.record_calls("account", ACCOUNT_ID) == 1

    @pytest.mark.parametrize(("plural", "record_id", "whole"), [("keys", KEY_ID, "0016027228"),
                                                                 ("recipients", RECIPIENT_ID, "3975999158")])
    def test_a_key_value_keeps_its_last_four_characters(self, enforced, emulator, plural, record_id, whole):
        client = enforced.test_client()
        masked = client.get(f"/v1/{plural}/{record_id}", headers=bearer(scope=f"{plural}.read"))
        assert masked.get_json()["key"]["value"] == "******" + whole[-4:]
        assert whole not in masked.get_data(as_text=True)

    def test_the_masked_etag_revalidates_the_masked_body(self, enforced, emulator):
        client = enforced.test_client()
        headers = bearer(scope="accounts.read")
        etag = client.get(f"/v1/accounts/{ACCOUNT_ID}", headers=headers).headers["ETag"]
        assert client.get(f"/v1/accounts/{ACCOUNT_ID}", headers={**headers, "If-None-Match": etag}).status_code == 304
        with_pii = bearer(scope="accounts.read pii.read")
        assert client.get(f"/v1/accounts/{ACCOUNT_ID}", headers={**with_pii, "If-None-Match": etag}).status_code == 200

    def test_customers_are_whole_unless_masking_is_turned_on(self, make_app, emulator):
        settings = {"AUTH_MODE": "enforced", "AUTH_JWT_SECRET": SECRET}
        reader = bearer(scope="customers.read")
        plain = make_app(**settings).test_client().get(f"/v1/customers/{DOCS_CUSTOMER_ID}", headers=reader)
        assert "@" in plain.get_json()["email"] and "*" not in plain.get_json()["email"]
        client = make_app(**settings, PII_MASKING="on").test_client()
        client.delete(f"/v1/customers/{DOCS_CUSTOMER_ID}/cache", headers=bearer(scope="customers.purge"))
        masked = client.get(f"/v1/customers/{DOCS_CUSTOMER_ID}", headers=reader).get_json()
        assert masked["email"].startswith(plain.get_json()["email"][0] + "***@")
        assert masked["mobilePhone"].endswith(plain.get_json()["mobilePhone"][-4:]) and "*" in masked["mobilePhone"]
        assert masked["identification"]["number"].endswith(plain.get_json()["identification"]["number"][-3:])
        batch = client.post("/v1/customers:batchGet", json={"ids": [DOCS_CUSTOMER_ID]}, headers=reader).get_json()
        assert batch["customers"] == [masked]
        page = client.get("/v1/customers?pageSize=5", headers=reader).get_json()
        assert all("***@" in customer["email"] for customer in page["customers"])
        whole = client.get(f"/v1/customers/{DOCS_CUSTOMER_ID}", headers=bearer(scope="customers.read pii.read"))
        assert whole.get_json() == plain.get_json()


def test_a_record_shown_is_an_audit_event_naming_its_customer(make_app, emulator, tmp_path):
    sink = tmp_path / "audit.log"
    client = make_app(AUDIT_LOG=f"file:{sink}").test_client()
    client.get(f"/v1/keys/{KEY_ID}")
    client.get(f"/v1/customers/{DOCS_CUSTOMER_ID}/overview", headers={"X-Purpose": "ticket:SUP-1"})
    events = [json.loads(line) for line in sink.read_text().splitlines()]
    key_event = events[0]
    assert (key_event["event"], key_event["key_id"], key_event["customer_id"]) == ("key.disclosed", KEY_ID,
                                                                                  DOCS_CUSTOMER_ID)
    assert key_event["route"] == "/v1/keys/<path:key_id>" and key_event["result"] == "MISS"
    page = {(event["event"], event.get(event["event"].split(".")[0] + "_id")) for event in events[1:]}
    assert page == {("customer.disclosed", DOCS_CUSTOMER_ID), ("account.disclosed", ACCOUNT_ID),
                    ("key.disclosed", KEY_ID), ("recipient.disclosed", RECIPIENT_ID)}
    assert {event["purpose"] for event in events[1:]} == {"ticket:SUP-1"}
