"""A caller may ask for a customer fresh from Passport (``Cache-Control: no-cache``), if allowed to.

Scope ``customers.refresh`` makes the request revalidate now, through the same lock as a miss (one
fetch fleet-wide); a copy fetched within ``CACHE_REFRESH_SATISFIED_SECONDS`` satisfies it as it is.
Without the scope the header is ignored and the answer says so. ``RATELIMIT_REFRESH`` counts them.
"""
from __future__ import annotations

import hashlib

import pytest

REFRESHER, READER = "refresher-key-0123456789", "reader-only-key-0123456789"
API_KEYS = (f"refresher:{hashlib.sha256(REFRESHER.encode()).hexdigest()}:customers.read+customers.refresh,"
            f"reader:{hashlib.sha256(READER.encode()).hexdigest()}")


def ask(client, customer_id: str, key: str, cache_control: str | None = None):
    headers = {"X-API-Key": key, **({"Cache-Control": cache_control} if cache_control else {})}
    return client.get(f"/v1/customers/{customer_id}", headers=headers)


@pytest.fixture(params=[True, False], ids=["fast-path", "flask-view"])
def client(request, make_app):
    return make_app(AUTH_MODE="enforced", AUTH_API_KEYS=API_KEYS, CACHE_REFRESH_SATISFIED_SECONDS=0,
                    HIT_FAST_PATH=request.param).test_client()


@pytest.mark.parametrize("cache_control", ["no-cache", "max-age=0", "max-age=0, private", 'No-Cache'])
def test_an_allowed_caller_gets_the_customer_fetched_now(client, emulator, cache_control):
    customer_id = emulator.customer_ids(1)[0]
    assert ask(client, customer_id, REFRESHER).headers["X-Cache"] == "MISS"
    assert ask(client, customer_id, REFRESHER).headers["X-Cache"] == "HIT"
    changed = emulator.touch_customer(customer_id)
    refreshed = ask(client, customer_id, REFRESHER, cache_control)
    assert (refreshed.headers["X-Cache"], refreshed.headers["Cache-Status"]) == (
        "MISS", "passport-bff; fwd=request; stored")
    assert refreshed.get_json()["updatedAt"].startswith(changed["updated_at"][:19])
    assert emulator.customer_calls(customer_id) == 2
    after = ask(client, customer_id, READER)
    assert after.headers["X-Cache"] == "HIT" and after.get_data() == refreshed.get_data()


def test_other_directives_are_not_acted_on(client, emulator):
    customer_id = emulator.customer_ids(1)[0]
    ask(client, customer_id, REFRESHER)
    for cache_control in ("max-age=60", "no-store", "only-if-cached", "max-stale=10"):
        assert ask(client, customer_id, REFRESHER, cache_control).headers["X-Cache"] == "HIT"
    assert emulator.customer_calls(customer_id) == 1


def test_a_caller_without_the_scope_is_answered_from_the_cache_and_told(client, emulator):
    customer_id = emulator.customer_ids(1)[0]
    ask(client, customer_id, READER)
    answer = ask(client, customer_id, READER, "no-cache")
    assert answer.headers["X-Cache"] == "HIT"
    assert answer.headers["Cache-Status"].endswith("; detail=refresh-not-allowed")
    assert emulator.customer_calls(customer_id) == 1


def test_a_copy_fetched_a_moment_ago_satisfies_a_refresh(make_app, emulator):
    client = make_app(AUTH_MODE="enforced", AUTH_API_KEYS=API_KEYS, CACHE_REFRESH_SATISFIED_SECONDS=30).test_client()
    customer_id = emulator.customer_ids(1)[0]
    ask(client, customer_id, REFRESHER)
    clicks = [ask(client, customer_id, REFRESHER, "no-cache") for _ in range(5)]
    assert {click.headers["X-Cache"] for click in clicks} == {"HIT"}
    assert all("detail=refreshed-recently" in click.headers["Cache-Status"] for click in clicks)
    assert emulator.customer_calls(customer_id) == 1


def test_refreshes_have_a_rate_limit_of_their_own(make_app, emulator):
    client = make_app(AUTH_MODE="enforced", AUTH_API_KEYS=API_KEYS, CACHE_REFRESH_SATISFIED_SECONDS=0,
                      RATELIMIT_REFRESH="2 per minute").test_client()
    customer_id = emulator.customer_ids(1)[0]
    answers = [ask(client, customer_id, REFRESHER, "no-cache") for _ in range(3)]
    assert [answer.headers["X-Cache"] for answer in answers] == ["MISS", "MISS", "HIT"]
    # Over the limit the hint is not acted on: answered from the cache, and said so — never a 429,
    # since some HTTP clients send no-cache on every request.
    assert (answers[2].status_code, answers[2].headers["Cache-Status"].rsplit("; ", 1)[1]) == (
        200, "detail=refresh-rate-limited")
    assert emulator.customer_calls(customer_id) == 2
    assert ask(client, customer_id, REFRESHER).status_code == 200  # plain lookups are not counted there


def test_a_refresh_while_passport_fails_serves_the_last_good_copy(client, emulator):
    customer_id = emulator.customer_ids(1)[0]
    good = ask(client, customer_id, REFRESHER)
    emulator.fault(customer_id=customer_id, status=503)
    answer = ask(client, customer_id, REFRESHER, "no-cache")
    assert (answer.status_code, answer.headers["X-Cache"]) == (200, "STALE")
    assert answer.get_data() == good.get_data()
