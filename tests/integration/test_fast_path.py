"""The lookup fast path (app.web.fast_path): every plain lookup served ahead of Flask by the one
lookup (app.web.lookup), problems included, with the answers the Flask view gives (the other
adapter over the same function); everything else left to Flask. Real Redis, the emulator."""
from __future__ import annotations

import hashlib
import json
import logging

import pytest
from flask import Flask, request

from app.web import services
from tests.support.emulator import DOCS_CUSTOMER_ID
from tests.support.keys import STORE_KEYS
from tests.support.request_lines import request_lines
from tests.support.time_travel import make_stale

READ_KEY, PURGE_ONLY_KEY = "fast-read-key-1", "fast-purge-key-2"
KEYS = (
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


@pytest.fixture
def warm(app, flask_saw, emulator):
    """A client of an app that has the customer cached; Flask saw nothing of it."""
    app.test_client().get(URL, headers=CALLER)
    assert flask_saw == []
    return app.test_client()


def comparable(response) -> tuple[int, bytes, dict[str, str]]:
    headers = {k: v for k, v in response.headers.items() if k not in PER_ANSWER}
    return response.status_code, response.data, headers


def comparable_problem(response) -> tuple[int, dict[str, object], dict[str, str]]:
    """A problem answer without what differs between any two answers (its request id)."""
    body = {k: v for k, v in response.json.items() if k != "request_id"}
    return response.status_code, body, {k: v for k, v in response.headers.items() if k not in PER_ANSWER}


class TestRecordAnswersSkipFlask:
    def test_the_miss_and_the_hits_skip_flask(self, app, flask_saw, emulator):
        client = app.test_client()
        assert client.get(URL, headers=CALLER).headers["X-Cache"] == "MISS"
        hits = [client.get(URL, headers=CALLER) for _ in range(3)]
        assert [h.headers["X-Cache"] for h in hits] == ["HIT"] * 3
        assert flask_saw == []
        assert emulator.customer_calls(DOCS_CUSTOMER_ID) == 1

    def test_a_stale_copy_is_served_stale(self, app, flask_saw, emulator, redis_client):
        client = app.test_client()
        client.get(URL, headers=CALLER)
        make_stale(redis_client, DOCS_CUSTOMER_ID, 1)
        assert client.get(URL, headers=CALLER).headers["X-Cache"] == "STALE"
        assert flask_saw == []

    def test_with_redis_down_the_answer_is_bypass(self, app, flask_saw, emulator, redis_server):
        client = app.test_client()
        client.get(URL, headers=CALLER)
        redis_server.stop()
        try:
            assert client.get(URL, headers=CALLER).headers["X-Cache"] == "BYPASS"
        finally:
            redis_server.start()
        assert flask_saw == []

    @pytest.mark.parametrize("state", ["miss", "hit"])
    def test_miss_and_hit_answers_equal_the_flask_routes(self, make_app, emulator, redis_client, state):
        fast = make_app(AUTH_MODE="enforced", AUTH_API_KEYS=KEYS).test_client()
        slow = make_app(AUTH_MODE="enforced", AUTH_API_KEYS=KEYS, HIT_FAST_PATH=False).test_client()
        answers = []
        for client in (fast, slow):
            redis_client.flushall()
            if state == "hit":
                client.get(URL, headers=CALLER)
            answers.append(client.get(URL, headers=CALLER))
        assert answers[0].headers["X-Cache"] == answers[1].headers["X-Cache"] == state.upper()
        assert comparable(answers[0]) == comparable(answers[1])

    def test_the_request_line_of_a_miss_counts_the_time_spent_on_passport(self, make_app, emulator, capsys):
        app = make_app(AUTH_MODE="enforced", AUTH_API_KEYS=KEYS, LOG_FORMAT="json")
        app.test_client().get(URL, headers={**CALLER, "X-Request-ID": "miss-7"})
        [line] = [line for line in request_lines(capsys.readouterr().out) if line["request_id"] == "miss-7"]
        assert (line["status"], line["cache"]) == (200, "MISS")
        assert 0 < line["upstream_ms"] <= line["duration_ms"]

    def test_log_lines_written_during_a_miss_carry_its_request_id(self, app, emulator, caplog):
        emulator.fault(customer_id=DOCS_CUSTOMER_ID, status=500)
        with caplog.at_level(logging.WARNING):
            answer = app.test_client().get(URL, headers={**CALLER, "X-Request-ID": "failing-9"})
        assert answer.status_code == 502 and answer.json["request_id"] == "failing-9"
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "app.policy.records"]
        assert warnings and {r.request_id for r in warnings} == {"failing-9"}

    def test_an_upper_case_id_is_served_under_the_canonical_id(self, app, flask_saw, emulator):
        client = app.test_client()
        client.get(URL, headers=CALLER)
        hit = client.get(URL.upper().replace("/V1/CUSTOMERS/", "/v1/customers/"), headers=CALLER)
        assert hit.headers["X-Cache"] == "HIT"
        assert json.loads(hit.data)["id"] == DOCS_CUSTOMER_ID
        assert flask_saw == []

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
        assert flask_saw == []

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

    def test_each_hit_writes_one_request_line_with_its_request_id(self, make_app, emulator, capsys):
        client = make_app(AUTH_MODE="enforced", AUTH_API_KEYS=KEYS, LOG_FORMAT="json").test_client()
        client.get(URL, headers=CALLER)
        client.get(URL, headers={**CALLER, "X-Request-ID": "trace-42"})
        out = capsys.readouterr().out
        [line] = [line for line in request_lines(out) if line["request_id"] == "trace-42"]
        assert (line["caller"], line["route"], line["status"], line["cache"]) == (
            "web", "/v1/customers/<path:customer_id>", 200, "HIT")
        assert READ_KEY not in out


class TestEveryLookupIsServedByTheOneLookup:
    """Problems are lookups' answers too: the fast path sends them, equal to the Flask view's."""

    def test_a_wrong_key_gets_a_401_problem(self, warm, flask_saw):
        answer = warm.get(URL, headers={"X-API-Key": "wrong"})
        assert answer.status_code == 401 and answer.content_type == "application/problem+json"
        assert answer.json["request_id"] == answer.headers["X-Request-ID"]
        assert flask_saw == []

    def test_no_credentials_get_a_401_problem_with_its_challenges(self, warm):
        answer = warm.get(URL)
        assert answer.status_code == 401 and "WWW-Authenticate" in answer.headers

    def test_a_caller_without_the_read_scope_gets_403(self, warm, flask_saw):
        assert warm.get(URL, headers={"X-API-Key": PURGE_ONLY_KEY}).status_code == 403
        assert flask_saw == []

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

    def test_a_404_and_a_remembered_404_are_looked_up_once(self, app, flask_saw, emulator):
        client = app.test_client()
        url = f"/v1/customers/{UNKNOWN_ID}"
        first, second = client.get(url, headers=CALLER), client.get(url, headers=CALLER)
        assert (first.status_code, first.headers["X-Cache"]) == (404, "MISS")
        assert (second.status_code, second.headers["X-Cache"]) == (404, "HIT")
        assert first.content_type == "application/problem+json"
        assert flask_saw == []
        assert emulator.customer_calls(UNKNOWN_ID) == 1

    def test_a_passport_failure_is_one_fetch_and_a_502_problem(self, app, flask_saw, emulator):
        emulator.fault(customer_id=DOCS_CUSTOMER_ID, status=500)  # not retried: one call per fetch
        answer = app.test_client().get(URL, headers=CALLER)
        assert answer.status_code == 502 and answer.json["type"].endswith("upstream-error")
        assert (answer.headers["X-Cache"], answer.headers["Cache-Status"]) == (
            "MISS", "passport-bff; fwd=miss; detail=upstream-error")
        assert flask_saw == []
        assert emulator.customer_calls(DOCS_CUSTOMER_ID) == 1

    @pytest.mark.parametrize("path", [f"/v1/customers/{DOCS_CUSTOMER_ID}x", f"/v1/customers/{DOCS_CUSTOMER_ID[:-1]}g",
                                      "/v1/customers/" + "-" * 36, "/v1/customers/123"])
    def test_ids_that_are_not_uuids_get_a_400_problem(self, warm, flask_saw, path):
        answer = warm.get(path, headers=CALLER)
        assert answer.status_code == 400 and answer.json["type"].endswith("invalid-customer-id")
        assert flask_saw == []

    @pytest.mark.parametrize("path, headers", [
        (URL, {"X-API-Key": "wrong"}), (URL, {}), (URL, {"X-API-Key": PURGE_ONLY_KEY}),
        (f"/v1/customers/{UNKNOWN_ID}", CALLER), ("/v1/customers/123", CALLER),
    ], ids=["wrong-key", "no-credentials", "no-scope", "not-found", "bad-id"])
    def test_problem_answers_equal_the_flask_views(self, make_app, emulator, redis_client, path, headers):
        fast = make_app(AUTH_MODE="enforced", AUTH_API_KEYS=KEYS).test_client()
        slow = make_app(AUTH_MODE="enforced", AUTH_API_KEYS=KEYS, HIT_FAST_PATH=False).test_client()
        fast_answer = fast.get(path, headers=headers)
        redis_client.flushall()
        slow_answer = slow.get(path, headers=headers)
        assert fast_answer.status_code >= 400
        assert comparable_problem(fast_answer) == comparable_problem(slow_answer)


class TestOnlyWhatIsNotAPlainLookupGoesToFlask:
    @pytest.mark.parametrize("method", ["HEAD", "DELETE", "POST"])
    def test_other_methods_go_to_flask(self, warm, flask_saw, method):
        warm.open(URL, method=method, headers=CALLER)
        assert flask_saw == [f"{method} {URL}"]

    def test_a_head_request_gets_the_lookups_headers_from_the_flask_view(self, warm):
        head, get = warm.head(URL, headers=CALLER), warm.get(URL, headers=CALLER)
        assert (head.status_code, head.data, head.headers["ETag"]) == (200, b"", get.headers["ETag"])

    def test_a_request_with_a_body_goes_to_flask(self, warm, flask_saw):
        warm.get(URL, headers=CALLER, data=b"x" * 10)
        assert len(flask_saw) == 1

    def test_a_cors_request_goes_to_flask(self, warm, flask_saw):
        warm.get(URL, headers={**CALLER, "Origin": "https://elsewhere.example"})
        assert len(flask_saw) == 1

    def test_an_id_holding_a_slash_goes_to_the_flask_view_and_gets_the_same_400(self, warm, flask_saw):
        answer = warm.get(f"/v1/customers/{DOCS_CUSTOMER_ID}/x", headers=CALLER)
        assert answer.status_code == 400 and answer.json["type"].endswith("invalid-customer-id")
        assert len(flask_saw) == 1


class TestNothingIsDoneTwice:
    """What the fast path did for a lookup is not done again, whoever answers it."""

    def test_a_miss_reads_the_store_once_and_takes_its_fetch_lock_in_that_read(self, app, emulator, monkeypatch):
        # The fast path's read is not repeated by Flask, and it is the read that takes the fetch
        # lock (READ_OR_LOCK): nothing can be stored between them, so nothing is read again.
        store = services.of(app).store
        reads: list[str] = []
        real_get, real_add, real_read_or_lock = store.get, store.add, store.read_or_lock
        monkeypatch.setattr(store, "get", lambda key: reads.append(f"get {key}") or real_get(key))
        monkeypatch.setattr(store, "add", lambda key, *args: reads.append(f"add {key}") or real_add(key, *args))
        monkeypatch.setattr(store, "read_or_lock", lambda key, *args: reads.append(f"read_or_lock {key}")
                            or real_read_or_lock(key, *args))
        assert app.test_client().get(URL, headers=CALLER).headers["X-Cache"] == "MISS"
        keys = STORE_KEYS.of("customer")
        entry, lock = keys.entry(DOCS_CUSTOMER_ID), keys.lock(DOCS_CUSTOMER_ID)
        assert [call for call in reads if call.endswith((entry, lock))] == [f"read_or_lock {entry}"]

    def test_a_miss_counts_once_toward_the_callers_limit(self, make_app, emulator):
        client = make_app(AUTH_MODE="enforced", AUTH_API_KEYS=KEYS, RATELIMIT_DEFAULT="3 per minute").test_client()
        miss, hit, remembered_404 = (client.get(url, headers=CALLER)
                                     for url in (URL, URL, f"/v1/customers/{UNKNOWN_ID}"))
        # the 404 is counted by the fast path and rendered by Flask: once
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
