"""The cache-hit fast path (app.fast_path): fresh hits answered ahead of Flask, exactly as Flask
would answer them; everything else declined to the Flask route. Real Redis, the emulator."""
from __future__ import annotations

import hashlib
import json
import logging

import pytest
from flask import Flask, request

from app import services
from config.security import parse_api_keys
from tests.support.emulator import DOCS_CUSTOMER_ID
from tests.support.time_travel import make_stale

READ_KEY, PURGE_ONLY_KEY = "fast-read-key-1", "fast-purge-key-2"
KEYS = parse_api_keys(
    f"web:{hashlib.sha256(READ_KEY.encode()).hexdigest()},"
    f"ops:{hashlib.sha256(PURGE_ONLY_KEY.encode()).hexdigest()}:customers.purge"
)
CALLER = {"X-API-Key": READ_KEY}
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
URL = f"/v1/customers/{DOCS_CUSTOMER_ID}"
# Headers whose values differ between any two answers, whoever gives them.
PER_ANSWER = {"X-Request-ID", "Age", "Cache-Control", "Cache-Status"}


def watched(app: Flask) -> list[str]:
    """Record every request that reaches Flask's hooks (the fast path's answers never do)."""
    seen: list[str] = []
    app.before_request(lambda: seen.append(f"{request.method} {request.path}"))
    return seen


@pytest.fixture
def app(make_app) -> Flask:
    return make_app(AUTH_MODE="enforced", AUTH_API_KEYS=KEYS)


@pytest.fixture
def flask_saw(app) -> list[str]:
    return watched(app)


def comparable(response) -> tuple[int, bytes, dict[str, str]]:
    headers = {k: v for k, v in response.headers.items() if k not in PER_ANSWER}
    return response.status_code, response.data, headers


class TestFreshHitsSkipFlask:
    def test_the_miss_goes_through_flask_and_the_hits_do_not(self, app, flask_saw, emulator):
        client = app.test_client()
        assert client.get(URL, headers=CALLER).headers["X-Cache"] == "MISS"
        hits = [client.get(URL, headers=CALLER) for _ in range(3)]
        assert [h.headers["X-Cache"] for h in hits] == ["HIT"] * 3
        assert flask_saw == [f"GET {URL}"]
        assert emulator.customer_calls(DOCS_CUSTOMER_ID) == 1

    def test_an_upper_case_id_is_served_under_the_canonical_id(self, app, flask_saw, emulator):
        client = app.test_client()
        client.get(URL, headers=CALLER)
        hit = client.get(URL.upper().replace("/V1/CUSTOMERS/", "/v1/customers/"), headers=CALLER)
        assert hit.headers["X-Cache"] == "HIT"
        assert json.loads(hit.data)["id"] == DOCS_CUSTOMER_ID
        assert len(flask_saw) == 1

    @pytest.mark.parametrize("condition", [None, '"nope"', "{etag}", "W/{etag}", "*"],
                             ids=["plain", "other-etag", "etag", "weak-etag", "star"])
    def test_answers_equal_the_flask_routes(self, make_app, emulator, condition):
        fast = make_app(AUTH_MODE="enforced", AUTH_API_KEYS=KEYS).test_client()
        slow = make_app(AUTH_MODE="enforced", AUTH_API_KEYS=KEYS, HIT_FAST_PATH=False).test_client()
        etag = fast.get(URL, headers=CALLER).headers["ETag"]
        headers = {**CALLER, **({"If-None-Match": condition.format(etag=etag)} if condition else {})}
        fast_answer, slow_answer = fast.get(URL, headers=headers), slow.get(URL, headers=headers)
        assert fast_answer.headers["X-Cache"] == slow_answer.headers["X-Cache"] == "HIT"
        assert comparable(fast_answer) == comparable(slow_answer)
        assert fast_answer.headers["Cache-Status"].startswith("passport-bff; hit; ttl=")

    def test_a_304_is_answered_on_the_fast_path(self, app, flask_saw, emulator):
        client = app.test_client()
        etag = client.get(URL, headers=CALLER).headers["ETag"]
        answer = client.get(URL, headers={**CALLER, "If-None-Match": etag})
        assert answer.status_code == 304 and answer.data == b""
        assert answer.headers["ETag"] == etag
        assert len(flask_saw) == 1

    def test_the_gateways_request_id_is_echoed_and_a_hostile_one_replaced(self, app, emulator):
        client = app.test_client()
        client.get(URL, headers=CALLER)
        assert client.get(URL, headers={**CALLER, "X-Request-ID": "gw-123"}).headers["X-Request-ID"] == "gw-123"
        replaced = client.get(URL, headers={**CALLER, "X-Request-ID": "bad id\u00e9"}).headers["X-Request-ID"]
        assert replaced != "bad id\u00e9" and len(replaced) == 36

    def test_with_cors_configured_flask_answers_every_request(self, make_app, emulator):
        app = make_app(AUTH_MODE="enforced", AUTH_API_KEYS=KEYS, CORS_ALLOWED_ORIGINS=("https://app.example",))
        seen = watched(app)
        client = app.test_client()
        hits = [client.get(URL, headers=CALLER) for _ in range(2)]
        assert hits[1].headers["Access-Control-Allow-Origin"] == "https://app.example"
        assert len(seen) == 2

    def test_each_hit_writes_one_access_line_with_its_request_id(self, app, emulator, caplog):
        client = app.test_client()
        client.get(URL, headers=CALLER)
        with caplog.at_level(logging.INFO, logger="passport_bff.access"):
            client.get(URL, headers={**CALLER, "X-Request-ID": "trace-42"})
        [line] = [r for r in caplog.records if getattr(r, "request_id", None) == "trace-42"]
        assert (line.request_id, line.caller, line.route, line.status, line.cache) == (
            "trace-42", "web", "/v1/customers/<path:customer_id>", 200, "HIT")
        assert READ_KEY not in line.getMessage()


class TestDeclinedToFlask:
    """Whatever is not a plain fresh hit gets the Flask route's answer (problems included)."""

    @pytest.fixture
    def warm(self, app, flask_saw, emulator):
        app.test_client().get(URL, headers=CALLER)
        return app.test_client()

    def test_a_wrong_key_gets_flasks_401_problem(self, warm):
        answer = warm.get(URL, headers={"X-API-Key": "wrong"})
        assert answer.status_code == 401 and answer.content_type == "application/problem+json"
        assert answer.json["request_id"] == answer.headers["X-Request-ID"]

    def test_no_credentials_get_flasks_401_problem(self, warm):
        answer = warm.get(URL)
        assert answer.status_code == 401 and "WWW-Authenticate" in answer.headers

    def test_a_caller_without_the_read_scope_gets_403(self, warm, flask_saw):
        assert warm.get(URL, headers={"X-API-Key": PURGE_ONLY_KEY}).status_code == 403
        assert len(flask_saw) == 2

    def test_a_jwt_bound_to_other_customers_is_refused_on_a_hit(self, make_app, emulator):
        import jwt
        from tests.support.jwks import standard_claims

        secret = "k" * 40
        client = make_app(AUTH_MODE="enforced", AUTH_JWT_SECRET=secret).test_client()
        everyone = jwt.encode(standard_claims(aud=None, iss=None), secret, algorithm="HS256")
        bound = jwt.encode(standard_claims(aud=None, iss=None, customer_ids=[UNKNOWN_ID]), secret, algorithm="HS256")
        assert client.get(URL, headers={"Authorization": f"Bearer {everyone}"}).status_code == 200
        refused = client.get(URL, headers={"Authorization": f"Bearer {bound}"})
        assert refused.status_code == 403
        assert refused.json["type"].endswith("customer-not-allowed")

    def test_a_stale_copy_goes_to_flask_which_serves_it_stale(self, warm, flask_saw, redis_client):
        make_stale(redis_client, DOCS_CUSTOMER_ID, 1)
        answer = warm.get(URL, headers=CALLER)
        assert answer.headers["X-Cache"] == "STALE"
        assert len(flask_saw) == 2

    def test_a_remembered_404_goes_to_flask(self, app, flask_saw, emulator):
        client = app.test_client()
        url = f"/v1/customers/{UNKNOWN_ID}"
        assert client.get(url, headers=CALLER).status_code == 404
        second = client.get(url, headers=CALLER)
        assert second.status_code == 404 and second.headers["X-Cache"] == "HIT"
        assert len(flask_saw) == 2

    @pytest.mark.parametrize("method", ["HEAD", "DELETE", "POST"])
    def test_other_methods_go_to_flask(self, warm, flask_saw, method):
        warm.open(URL, method=method, headers=CALLER)
        assert flask_saw == [f"GET {URL}", f"{method} {URL}"]

    def test_a_request_with_a_body_goes_to_flask(self, warm, flask_saw):
        warm.get(URL, headers=CALLER, data=b"x" * 10)
        assert len(flask_saw) == 2

    def test_a_cors_request_goes_to_flask(self, warm, flask_saw):
        warm.get(URL, headers={**CALLER, "Origin": "https://elsewhere.example"})
        assert len(flask_saw) == 2

    @pytest.mark.parametrize("path", [f"/v1/customers/{DOCS_CUSTOMER_ID}x", f"/v1/customers/{DOCS_CUSTOMER_ID}/",
                                      f"/v1/customers/{DOCS_CUSTOMER_ID[:-1]}g", "/v1/customers/" + "-" * 36])
    def test_ids_that_are_not_uuids_get_flasks_answer(self, warm, flask_saw, path):
        assert warm.get(path, headers=CALLER).status_code in (400, 404)
        assert len(flask_saw) == 2

    def test_with_redis_down_flask_answers_bypass(self, app, emulator, redis_server):
        client = app.test_client()
        client.get(URL, headers=CALLER)
        redis_server.stop()
        try:
            assert client.get(URL, headers=CALLER).headers["X-Cache"] == "BYPASS"
        finally:
            redis_server.start()


class TestDeclinedLookupsPayOnce:
    """A lookup the fast path declines carries on what it did: no second read, no second count."""

    def test_a_miss_reads_the_store_once(self, app, emulator, monkeypatch):
        store = services.of(app).store
        reads: list[str] = []
        real_get = store.get
        monkeypatch.setattr(store, "get", lambda key: reads.append(key) or real_get(key))
        assert app.test_client().get(URL, headers=CALLER).headers["X-Cache"] == "MISS"
        assert reads.count(f"passport-bff:v1:customer:{{{DOCS_CUSTOMER_ID}}}") == 1

    def test_a_miss_counts_once_toward_the_callers_limit(self, make_app, emulator):
        client = make_app(AUTH_MODE="enforced", AUTH_API_KEYS=KEYS, RATELIMIT_DEFAULT="3 per minute").test_client()
        miss, hit, remembered_404 = (client.get(url, headers=CALLER) for url in (URL, URL, f"/v1/customers/{UNKNOWN_ID}"))
        assert (miss.headers["X-Cache"], hit.headers["X-Cache"], remembered_404.status_code) == ("MISS", "HIT", 404)
        assert client.get(URL, headers=CALLER).status_code == 429


class TestRateLimitsCountBothPaths:
    def test_hits_on_the_fast_path_count_toward_the_callers_limit(self, make_app, emulator):
        client = make_app(AUTH_MODE="enforced", AUTH_API_KEYS=KEYS, RATELIMIT_DEFAULT="3 per minute").test_client()
        answers = [client.get(URL, headers=CALLER).status_code for _ in range(5)]
        assert answers == [200, 200, 200, 429, 429]

    def test_two_workers_share_one_window(self, make_app, emulator):
        settings = dict(AUTH_MODE="enforced", AUTH_API_KEYS=KEYS, RATELIMIT_DEFAULT="4 per minute")
        first, second = make_app(**settings).test_client(), make_app(**settings).test_client()
        statuses = [c.get(URL, headers=CALLER).status_code for c in (first, second, first, second, first, second)]
        assert statuses == [200, 200, 200, 200, 429, 429]
