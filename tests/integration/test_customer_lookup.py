"""GET /v1/customers/<id> end to end: real Redis, the emulator over a real socket."""
from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.emulator import DOCS_CUSTOMER_ID
from tests.support.examples import DOCS_EXAMPLE, FRONTEND_EXAMPLE
from tests.support.keys import STORE_KEYS

CUSTOMER_KEY = STORE_KEYS.of("customer").entry(DOCS_CUSTOMER_ID)
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def url(customer_id: str = DOCS_CUSTOMER_ID) -> str:
    return f"/v1/customers/{customer_id}"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def assert_problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status
    assert response.content_type == "application/problem+json"
    body = response.get_json(force=True)
    assert body["status"] == status
    assert body["type"].endswith(":" + slug)
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


class TestHitAndMiss:
    def test_first_lookup_is_a_miss_with_the_frontend_shape(self, client, emulator):
        response = client.get(url())
        assert response.status_code == 200
        assert response.headers["X-Cache"] == "MISS"
        assert response.content_type == "application/json"
        assert json.loads(response.data) == FRONTEND_EXAMPLE
        assert emulator.customer_calls(DOCS_CUSTOMER_ID) == 1

    def test_second_lookup_is_a_hit_served_from_redis_without_calling_passport(self, client, emulator):
        miss = client.get(url())
        hit = client.get(url())
        assert hit.headers["X-Cache"] == "HIT"
        assert hit.data == miss.data
        assert hit.headers["ETag"] == miss.headers["ETag"]
        assert "Age" in hit.headers
        assert emulator.customer_calls(DOCS_CUSTOMER_ID) == 1

    def test_hit_is_served_from_redis_by_another_app_instance(self, make_app, emulator):
        make_app().test_client().get(url())
        assert make_app().test_client().get(url()).headers["X-Cache"] == "HIT"
        assert emulator.customer_calls(DOCS_CUSTOMER_ID) == 1

    def test_upper_case_id_is_answered_with_the_canonical_id_and_shares_the_cache(self, client, emulator):
        client.get(url())
        response = client.get(url(DOCS_CUSTOMER_ID.upper()))
        assert response.headers["X-Cache"] == "HIT"
        assert response.get_json()["id"] == DOCS_CUSTOMER_ID

    def test_a_browser_may_keep_a_customer_only_revalidating_it(self, client, emulator):
        response, hit = client.get(url()), client.get(url())
        assert response.headers["Cache-Control"] == hit.headers["Cache-Control"] == "private, no-cache"
        assert hit.headers["Cache-Status"].endswith(("ttl=3599", "ttl=3600"))  # ours: updated a year+ ago

    @pytest.mark.parametrize("setting", ["private, no-store", "no-store", "private, max-age=60, must-revalidate"])
    def test_customer_cache_control_is_one_setting_for_every_customer_answer(self, make_app, emulator, setting):
        client = make_app(CUSTOMER_CACHE_CONTROL=setting).test_client()
        lookup = client.get(url())
        revalidated = client.get(url(), headers={"If-None-Match": lookup.headers["ETag"]})
        batch = client.post("/v1/customers:batchGet", json={"ids": [DOCS_CUSTOMER_ID]})
        listing = client.get("/v1/customers")
        assert [a.headers["Cache-Control"] for a in (lookup, revalidated, batch, listing)] == [setting] * 4
        assert revalidated.status_code == 304

    def test_etag_is_strong(self, client, emulator):
        etag = client.get(url()).headers["ETag"]
        assert etag.startswith('"') and not etag.startswith("W/")


NO_STALE_WINDOWS = {"CACHE_STALE_WHILE_REVALIDATE_SECONDS": 0, "CACHE_STALE_IF_ERROR_SECONDS": 0}


class TestFreshness:
    def test_redis_holds_a_record_updated_1000s_ago_for_about_100s(self, make_app, emulator, redis_client):
        emulator.touch_customer(DOCS_CUSTOMER_ID, iso(datetime.now(UTC) - timedelta(seconds=1000)))
        client = make_app(**NO_STALE_WINDOWS).test_client()
        client.get(url())
        assert 98 <= redis_client.ttl(CUSTOMER_KEY) <= 100
        assert client.get(url()).headers["Cache-Status"].endswith(("ttl=98", "ttl=99", "ttl=100"))

    def test_redis_keeps_the_entry_for_the_stale_windows_too(self, make_app, emulator, redis_client):
        emulator.touch_customer(DOCS_CUSTOMER_ID, iso(datetime.now(UTC) - timedelta(seconds=1000)))
        client = make_app(CACHE_STALE_WHILE_REVALIDATE_SECONDS=60, CACHE_STALE_IF_ERROR_SECONDS=500).test_client()
        client.get(url())
        assert 598 <= redis_client.ttl(CUSTOMER_KEY) <= 600
        assert client.get(url()).headers["Cache-Status"].endswith(("ttl=98", "ttl=99", "ttl=100"))

    def test_record_updated_just_now_is_kept_for_the_minimum(self, make_app, emulator, redis_client):
        emulator.touch_customer(DOCS_CUSTOMER_ID)
        make_app(**NO_STALE_WINDOWS).test_client().get(url())
        assert 28 <= redis_client.ttl(CUSTOMER_KEY) <= 30

    def test_ttl_settings_come_from_config(self, make_app, emulator, redis_client):
        emulator.touch_customer(DOCS_CUSTOMER_ID, iso(datetime.now(UTC) - timedelta(seconds=1000)))
        make_app(CACHE_TTL_FACTOR=0.5, CACHE_TTL_MAX_SECONDS=200, **NO_STALE_WINDOWS).test_client().get(url())
        assert 198 <= redis_client.ttl(CUSTOMER_KEY) <= 200


class TestInvalidIds:
    @pytest.mark.parametrize(
        "bad_id",
        ["123", "not-a-uuid", "db7e89e7-59d8-4ab1-b675-a2ae52c3339", "db7e89e759d84ab1b675a2ae52c3339e",
         "{db7e89e7-59d8-4ab1-b675-a2ae52c3339e}", "db7e89e7-59d8-4ab1-b675-a2ae52c3339e/x",
         "db7e89e7-59d8-4ab1-b675-a2ae52c3339g", "%00", "%20" + DOCS_CUSTOMER_ID,
         DOCS_CUSTOMER_ID + "%0A", DOCS_CUSTOMER_ID + "/x%0A"],
    )
    def test_malformed_id_is_400_without_a_passport_call_or_cache_entry(self, client, emulator, redis_client, bad_id):
        assert_problem(client.get(f"/v1/customers/{bad_id}"), 400, "invalid-customer-id")
        assert emulator.customer_calls() == 0
        assert emulator.token_calls() == 0
        assert redis_client.dbsize() == 0

    @pytest.mark.parametrize("spelling", ["..%2F..%2Fiam%2Foauth%2Ftokens", "%64" + DOCS_CUSTOMER_ID[1:]])
    def test_a_non_canonical_spelling_is_404_without_a_passport_call_or_cache_entry(self, client, emulator,
                                                                                   redis_client, spelling):
        assert_problem(client.get(f"/v1/customers/{spelling}"), 404, "non-canonical-path")
        assert emulator.customer_calls() == 0
        assert emulator.token_calls() == 0
        assert redis_client.dbsize() == 0


def test_the_cache_path_is_the_entry_not_a_customer_id(client, emulator):
    """``<id>/cache`` never reaches the lookup as an id: GET describes the entry, POST is a 405."""
    assert client.get(url() + "/cache").get_json()["present"] is False
    response = client.post(url() + "/cache")
    assert response.status_code == 405
    assert {"DELETE", "GET"} <= set(response.headers["Allow"].split(", "))
    assert emulator.customer_calls() == 0


def test_wrong_method_on_a_public_path_is_405_even_with_callers_enforced(make_app, emulator):
    client = make_app(AUTH_MODE="enforced", AUTH_API_KEYS=("web:" + "a" * 64)).test_client()
    assert client.post("/healthz").status_code == 405


class TestPassportErrors:
    def test_unknown_customer_is_404(self, client, emulator):
        assert_problem(client.get(url(UNKNOWN_ID)), 404, "customer-not-found")

    def test_passport_403_is_403(self, client, emulator):
        emulator.fault(status=403, customer_id=DOCS_CUSTOMER_ID)
        assert_problem(client.get(url()), 403, "customer-forbidden")

    def test_passport_429_is_503_with_retry_after(self, client, emulator):
        emulator.fault(status=429)
        response = client.get(url())
        assert_problem(response, 503, "upstream-rate-limited")
        assert int(response.headers["Retry-After"]) >= 1

    @pytest.mark.parametrize("status", [400, 409, 500, 502, 503])
    def test_other_passport_errors_are_502_and_not_cached(self, client, emulator, redis_client, status):
        emulator.fault(status=status, body="<html>upstream trace: secret</html>", content_type="text/html")
        response = client.get(url())
        assert_problem(response, 502, "upstream-error")
        assert b"secret" not in response.data
        assert redis_client.keys("*customer:*") == []

    def test_timeout_is_504(self, make_app, emulator):
        emulator.fault(latency_ms=1500)
        client = make_app(PASSPORT_TIMEOUT_SECONDS=0.3).test_client()
        assert_problem(client.get(url()), 504, "upstream-timeout")

    def test_connection_failure_is_502(self, make_app, emulator):
        from tests.support.processes import free_port
        client = make_app(PASSPORT_BASE_URL=f"http://127.0.0.1:{free_port()}").test_client()
        assert_problem(client.get(url()), 502, "upstream-unreachable")

    def test_errors_are_not_cached_so_the_next_request_asks_again(self, client, emulator):
        emulator.fault(status=500, times=1)
        assert client.get(url()).status_code == 502
        assert client.get(url()).headers["X-Cache"] == "MISS"
        assert emulator.customer_calls(DOCS_CUSTOMER_ID) == 2


class TestMalformedUpstream:
    @pytest.mark.parametrize(
        "body",
        ["<html><body>Bad gateway</body></html>", '{"id": "db7e89e7', "[]", "null", "", "[" * 100_000 + "]" * 100_000],
    )
    def test_unparseable_body_is_502_and_not_cached(self, client, emulator, redis_client, body):
        emulator.fault(body=body)
        assert_problem(client.get(url()), 502, "upstream-bad-response")
        assert redis_client.keys("*customer:*") == []

    def test_huge_body_is_502(self, make_app, emulator, redis_client):
        emulator.fault(body=json.dumps({**DOCS_EXAMPLE, "padding": "x" * 300_000}))
        assert_problem(make_app().test_client().get(url()), 502, "upstream-bad-response")
        assert redis_client.keys("*customer:*") == []

    def test_record_failing_validation_is_502_and_not_cached(self, client, emulator, redis_client):
        emulator.put_customer(DOCS_CUSTOMER_ID, {**DOCS_EXAMPLE, "email": None})
        assert_problem(client.get(url()), 502, "upstream-bad-response")
        assert redis_client.keys("*customer:*") == []

    def test_body_of_another_customer_is_502(self, client, emulator):
        emulator.fault(body=json.dumps({**DOCS_EXAMPLE, "id": UNKNOWN_ID}))
        assert_problem(client.get(url()), 502, "upstream-bad-response")

    def test_extra_fields_are_dropped_and_the_answer_cached(self, client, emulator):
        emulator.put_customer(DOCS_CUSTOMER_ID, {**DOCS_EXAMPLE, "internal_risk_score": 0.7})
        response = client.get(url())
        assert json.loads(response.data) == FRONTEND_EXAMPLE
        assert client.get(url()).headers["X-Cache"] == "HIT"


class TestTokens:
    def test_token_is_fetched_once_for_many_lookups(self, client, emulator):
        for customer_id in emulator.customer_ids(5):
            assert client.get(url(customer_id)).status_code == 200
        assert emulator.token_calls() == 1

    def test_token_is_shared_by_app_instances_through_redis(self, make_app, emulator):
        ids = emulator.customer_ids(2)
        make_app().test_client().get(url(ids[0]))
        make_app().test_client().get(url(ids[1]))
        assert emulator.token_calls() == 1

    def test_revoked_token_is_replaced_once_and_the_lookup_succeeds(self, client, emulator):
        ids = emulator.customer_ids(2)
        client.get(url(ids[0]))
        emulator.revoke_tokens()
        response = client.get(url(ids[1]))
        assert response.status_code == 200
        assert emulator.token_calls() == 2

    def test_wrong_credentials_are_502_and_logged_as_an_error_without_the_secret(self, make_app, emulator, caplog):
        client = make_app(PASSPORT_CLIENT_SECRET="wrong-secret-value").test_client()
        with caplog.at_level(logging.INFO):
            assert_problem(client.get(url()), 502, "upstream-auth-failed")
        assert any(record.levelno == logging.ERROR for record in caplog.records)
        assert "wrong-secret-value" not in caplog.text

    def test_persistent_401_is_retried_once_then_502(self, client, emulator):
        emulator.fault(status=401)
        assert_problem(client.get(url()), 502, "upstream-auth-failed")
        assert emulator.customer_calls(DOCS_CUSTOMER_ID) == 2
        assert emulator.token_calls() == 2

    def test_token_never_reaches_the_frontend(self, client, emulator, redis_client):
        response = client.get(url())
        token = [v for k, v in ((k, redis_client.get(k)) for k in redis_client.keys("*token:*")) if v][0]
        access_token = token.split(b" ", 1)[1]
        assert access_token not in response.data
        assert access_token.decode() not in str(response.headers)


class TestRequestId:
    def test_sane_gateway_request_id_is_kept_and_sent_to_passport(self, client, emulator):
        response = client.get(url(), headers={"X-Request-ID": "gw-123.abc"})
        assert response.headers["X-Request-ID"] == "gw-123.abc"
        assert "gw-123.abc" in emulator.stats()["request_ids"]

    @pytest.mark.parametrize("hostile", ["", "x" * 500, "a b", "id\twith\ttabs", "<script>"])
    def test_missing_or_hostile_request_id_is_replaced(self, client, emulator, hostile):
        response = client.get(url(), headers={"X-Request-ID": hostile})
        assert response.status_code == 200
        assert response.headers["X-Request-ID"] not in ("", hostile)

    def test_problem_carries_the_request_id(self, client, emulator):
        response = client.get("/v1/customers/nope", headers={"X-Request-ID": "gw-42"})
        assert response.get_json(force=True)["request_id"] == "gw-42"


class TestInProcessStore:
    def test_without_redis_url_the_app_caches_in_process(self, make_app, emulator, redis_client):
        client = make_app(REDIS_URL=None).test_client()
        assert client.get(url()).headers["X-Cache"] == "MISS"
        assert client.get(url()).headers["X-Cache"] == "HIT"
        assert redis_client.dbsize() == 0
