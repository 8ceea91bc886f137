"""Batch lookup and listing through the same cache, on real Redis and the emulator."""
from __future__ import annotations

import time

import pytest

from tests.support.emulator import DOCS_CUSTOMER_ID
from tests.support.examples import FRONTEND_EXAMPLE
from tests.support.keys import STORE_KEYS
from tests.support.time_travel import customer_key

BATCH = "/v1/customers:batchGet"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def batch(client, ids, **kwargs):
    return client.post(BATCH, json={"ids": ids}, **kwargs)


class TestBatch:
    def test_customers_come_back_in_request_order(self, client, emulator):
        ids = emulator.customer_ids(6)[1:]
        response = batch(client, list(reversed(ids)))
        assert response.status_code == 200
        body = response.get_json()
        assert [c["id"] for c in body["customers"]] == list(reversed(ids))
        assert body["notFound"] == [] and body["failed"] == []

    def test_each_customer_has_the_frontend_shape(self, client, emulator):
        assert batch(client, [DOCS_CUSTOMER_ID]).get_json()["customers"] == [FRONTEND_EXAMPLE]

    def test_duplicates_are_folded_case_insensitively(self, client, emulator):
        body = batch(client, [DOCS_CUSTOMER_ID, DOCS_CUSTOMER_ID.upper(), DOCS_CUSTOMER_ID]).get_json()
        assert [c["id"] for c in body["customers"]] == [DOCS_CUSTOMER_ID]
        assert emulator.customer_calls(DOCS_CUSTOMER_ID) == 1

    def test_fifty_cold_ids_cost_fifty_calls_once_and_nothing_the_second_time(self, client, emulator):
        ids = emulator.customer_ids(51)[1:]
        assert len(batch(client, ids).get_json()["customers"]) == 50
        assert emulator.customer_calls() == 50
        assert len(batch(client, ids).get_json()["customers"]) == 50
        assert emulator.customer_calls() == 50

    def test_mixed_hits_misses_not_found_and_failures(self, client, emulator):
        ids = emulator.customer_ids(4)
        client.get(f"/v1/customers/{ids[0]}")                       # a hit
        emulator.fault(status=500, customer_id=ids[2])                # a failure
        response = batch(client, [ids[0], ids[1], UNKNOWN_ID, ids[2], ids[3]])
        body = response.get_json()
        assert [c["id"] for c in body["customers"]] == [ids[0], ids[1], ids[3]]
        assert body["notFound"] == [UNKNOWN_ID]
        assert body["failed"] == [{"id": ids[2], "status": 502, "title": "Passport answered with an error"}]

    def test_one_slow_id_does_not_fail_the_others(self, make_app, emulator):
        client = make_app(PASSPORT_TIMEOUT_SECONDS=0.3, PASSPORT_RETRIES=0).test_client()
        ids = emulator.customer_ids(3)
        emulator.fault(latency_ms=1500, customer_id=ids[1])
        body = batch(client, ids).get_json()
        assert [c["id"] for c in body["customers"]] == [ids[0], ids[2]]
        assert body["failed"] == [{"id": ids[1], "status": 504, "title": "Passport did not answer in time"}]

    def test_misses_are_fetched_concurrently(self, make_app, emulator):
        client = make_app(PASSPORT_MAX_CONCURRENCY=8).test_client()
        ids = emulator.customer_ids(9)[1:]
        for customer_id in ids:
            emulator.fault(latency_ms=300, customer_id=customer_id)
        started = time.monotonic()
        assert len(batch(client, ids).get_json()["customers"]) == 8
        # Eight 300 ms fetches one after another would take 2.4 s; generous bound against a slow box.
        assert time.monotonic() - started < 2.0

    def test_remembered_404s_are_reported_without_calls(self, client, emulator):
        client.get(f"/v1/customers/{UNKNOWN_ID}")
        assert batch(client, [UNKNOWN_ID]).get_json()["notFound"] == [UNKNOWN_ID]
        assert emulator.customer_calls(UNKNOWN_ID) == 1

    @pytest.mark.parametrize(
        ("payload", "expected"),
        [
            ({"ids": []}, "invalid-body"),
            ({"ids": [DOCS_CUSTOMER_ID] * 101}, "invalid-body"),
            ({"ids": "db7e89e7"}, "invalid-body"),
            ({"ids": [42]}, "invalid-body"),
            ({"id": [DOCS_CUSTOMER_ID]}, "invalid-body"),
            ({"ids": [DOCS_CUSTOMER_ID], "extra": 1}, "invalid-body"),
            ([DOCS_CUSTOMER_ID], "invalid-body"),
            ({"ids": [DOCS_CUSTOMER_ID, "not-a-uuid"]}, "invalid-customer-id"),
        ],
    )
    def test_bad_bodies_are_400_and_nothing_is_fetched(self, client, emulator, payload, expected):
        response = client.post(BATCH, json=payload)
        assert response.status_code == 400
        assert response.get_json()["type"].endswith(expected)
        assert emulator.customer_calls() == 0

    def test_the_malformed_id_is_named(self, client, emulator):
        detail = batch(client, [DOCS_CUSTOMER_ID, "not-a-uuid"]).get_json()["detail"]
        assert "ids[1]" in detail and "not-a-uuid" in detail

    def test_non_json_body_is_400(self, client, emulator):
        response = client.post(BATCH, data=b"<xml/>", content_type="application/xml")
        assert response.status_code == 400

    def test_caller_binding_applies_per_id(self, make_app, emulator):
        import jwt as pyjwt

        from tests.support.jwks import standard_claims
        secret = "s" * 40
        client = make_app(AUTH_MODE="enforced", AUTH_JWT_SECRET=secret, AUTH_API_KEYS=()).test_client()
        ids = emulator.customer_ids(3)
        token = pyjwt.encode(standard_claims(aud=None, iss=None, customer_ids=ids[:2]), secret, algorithm="HS256")
        body = batch(client, ids, headers={"Authorization": f"Bearer {token}"}).get_json()
        assert [c["id"] for c in body["customers"]] == ids[:2]
        assert body["failed"] == [
            {"id": ids[2], "status": 403, "title": "This customer is not allowed for this caller"}]
        assert emulator.customer_calls(ids[2]) == 0


class TestListing:
    def test_first_page_in_the_frontend_shape(self, client, emulator):
        response = client.get("/v1/customers?pageSize=5")
        assert response.status_code == 200
        body = response.get_json()
        assert len(body["customers"]) == 5
        assert body["page"] == {"number": 1, "size": 5, "totalPages": 61, "totalItems": 301}
        assert set(body["customers"][0]) == set(FRONTEND_EXAMPLE)

    def test_pages_do_not_overlap(self, client, emulator):
        first = [c["id"] for c in client.get("/v1/customers?pageSize=10&page=1").get_json()["customers"]]
        second = [c["id"] for c in client.get("/v1/customers?pageSize=10&page=2").get_json()["customers"]]
        assert len(set(first) | set(second)) == 20

    def test_ordering_by_updated_at_descending(self, client, emulator):
        customers = client.get("/v1/customers?orderBy=updatedAt&direction=desc&pageSize=20").get_json()["customers"]
        stamps = [c["updatedAt"] for c in customers]
        assert stamps == sorted(stamps, reverse=True)

    def test_filters_reach_passport(self, client, emulator):
        body = client.get("/v1/customers?identificationType=NIT&identificationNumber=903978023").get_json()
        assert [c["id"] for c in body["customers"]] == [DOCS_CUSTOMER_ID]

    def test_no_match_is_an_empty_page_not_a_404(self, client, emulator):
        response = client.get("/v1/customers?identificationNumber=000000001")
        assert response.status_code == 200
        assert response.get_json() == {"customers": [],
                                       "page": {"number": 1, "size": 20, "totalPages": 0, "totalItems": 0}}

    def test_pages_are_cached_briefly(self, client, emulator, redis_client):
        assert client.get("/v1/customers?pageSize=5").headers["X-Cache"] == "MISS"
        assert client.get("/v1/customers?pageSize=5&page=1&direction=asc").headers["X-Cache"] == "HIT"
        assert emulator.stats()["list_calls"] == 1
        page_keys = list(redis_client.scan_iter(STORE_KEYS.list_page("*")))
        assert len(page_keys) == 1 and 0 < redis_client.ttl(page_keys[0]) <= 15

    def test_listed_customers_warm_the_lookup_cache(self, client, emulator):
        customers = client.get("/v1/customers?pageSize=5").get_json()["customers"]
        for customer in customers:
            response = client.get(f"/v1/customers/{customer['id']}")
            assert response.headers["X-Cache"] == "HIT"
            assert response.get_json() == customer
        assert emulator.customer_calls() == 0

    def test_a_fresher_cached_copy_is_not_overwritten_by_an_older_listing(self, client, emulator, redis_client):
        client.get(f"/v1/customers/{DOCS_CUSTOMER_ID}")
        before = redis_client.get(customer_key(DOCS_CUSTOMER_ID))
        client.get("/v1/customers?identificationNumber=903978023")
        assert redis_client.get(customer_key(DOCS_CUSTOMER_ID)) == before

    def test_invalid_customer_in_a_page_is_502_and_nothing_cached(self, client, emulator, redis_client):
        emulator.put_customer(DOCS_CUSTOMER_ID, {"id": DOCS_CUSTOMER_ID, "type": "BUSINESS",
                                                 "created_at": "2020-01-01T00:00:00.000Z"})
        response = client.get("/v1/customers?pageSize=3")
        assert response.status_code == 502
        assert list(redis_client.scan_iter(STORE_KEYS.list_page("*"))) == []
        assert list(redis_client.scan_iter(STORE_KEYS.of("customer").prefix + "*")) == []

    @pytest.mark.parametrize(
        "query",
        ["pageSize=101", "pageSize=0", "page=0", "page=x", "orderBy=name", "direction=up", "sort=createdAt",
         "identificationType=N%20T", "page=1&page=2"],
    )
    def test_bad_parameters_are_400(self, client, emulator, query):
        response = client.get(f"/v1/customers?{query}")
        assert response.status_code == 400
        assert response.content_type == "application/problem+json"
        assert emulator.stats()["list_calls"] == 0

    def test_upstream_failure_is_a_problem(self, client, emulator):
        emulator.fault(status=500, target="list")
        assert client.get("/v1/customers").status_code == 502
