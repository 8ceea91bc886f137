"""Conditional requests (If-None-Match → 304) and cache purges (DELETE .../cache)."""
from __future__ import annotations

import hashlib

import pytest

from tests.support.emulator import DOCS_CUSTOMER_ID
from tests.support.processes import free_port
from tests.support.time_travel import customer_key

URL = f"/v1/customers/{DOCS_CUSTOMER_ID}"
PURGE_URL = f"{URL}/cache"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


class TestConditionalRequests:
    def test_matching_etag_on_a_hit_is_304_without_body(self, client, emulator):
        etag = client.get(URL).headers["ETag"]
        response = client.get(URL, headers={"If-None-Match": etag})
        assert response.status_code == 304
        assert response.data == b""
        assert response.headers["ETag"] == etag
        assert response.headers["X-Cache"] == "HIT"

    def test_matching_etag_on_a_miss_is_304_too(self, make_app, emulator):
        etag = make_app(REDIS_URL=None).test_client().get(URL).headers["ETag"]
        response = make_app().test_client().get(URL, headers={"If-None-Match": etag})
        assert response.status_code == 304
        assert response.headers["X-Cache"] == "MISS"

    @pytest.mark.parametrize("header", ['"other"', "W/\"other\"", '"a", "b"'])
    def test_other_etags_get_the_body(self, client, emulator, header):
        assert client.get(URL, headers={"If-None-Match": header}).status_code == 200

    def test_weak_form_and_lists_and_star_match(self, client, emulator):
        etag = client.get(URL).headers["ETag"]
        for header in (f"W/{etag}", f'"x", {etag}', "*"):
            assert client.get(URL, headers={"If-None-Match": header}).status_code == 304


class TestPurge:
    def test_purge_removes_the_cached_copy(self, client, emulator, redis_client):
        client.get(URL)
        response = client.delete(PURGE_URL)
        assert response.status_code == 204
        assert redis_client.exists(customer_key(DOCS_CUSTOMER_ID)) == 0
        assert client.get(URL).headers["X-Cache"] == "MISS"

    def test_purge_is_idempotent(self, client, emulator):
        assert client.delete(PURGE_URL).status_code == 204
        assert client.delete(PURGE_URL).status_code == 204

    def test_purge_removes_a_remembered_404(self, client, emulator):
        client.get(f"/v1/customers/{UNKNOWN_ID}")
        client.delete(f"/v1/customers/{UNKNOWN_ID}/cache")
        client.get(f"/v1/customers/{UNKNOWN_ID}")
        assert emulator.customer_calls(UNKNOWN_ID) == 2

    def test_purge_with_refresh_fetches_at_once(self, client, emulator, redis_client):
        client.get(URL)
        assert client.delete(PURGE_URL + "?refresh=true").status_code == 204
        assert emulator.customer_calls(DOCS_CUSTOMER_ID) == 2
        assert client.get(URL).headers["X-Cache"] == "HIT"

    def test_refresh_failure_is_reported(self, client, emulator):
        emulator.fault(status=500)
        response = client.delete(PURGE_URL + "?refresh=true")
        assert response.status_code == 502

    @pytest.mark.parametrize("path", ["/v1/customers/nope/cache", PURGE_URL + "?refresh=maybe"])
    def test_bad_input_is_400(self, client, emulator, path):
        assert client.delete(path).status_code == 400

    def test_purge_needs_the_purge_scope(self, make_app, emulator):
        keys = (f"reader:{hashlib.sha256(b'r').hexdigest()},"
                f"admin:{hashlib.sha256(b'a').hexdigest()}:customers.read+customers.purge")
        client = make_app(AUTH_MODE="enforced", AUTH_API_KEYS=keys).test_client()
        assert client.delete(PURGE_URL, headers={"X-API-Key": "r"}).status_code == 403
        assert client.delete(PURGE_URL).status_code == 401
        assert client.delete(PURGE_URL, headers={"X-API-Key": "a"}).status_code == 204

    def test_purge_without_redis_is_503(self, make_app, emulator):
        client = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0").test_client()
        assert client.delete(PURGE_URL).status_code == 503
