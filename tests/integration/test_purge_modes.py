"""Purges: hard (forget) or soft (stale now), neither undone by a fetch already in flight.

Real Redis and the emulator; the emulator is slowed to hold a fetch open across a purge.
"""
from __future__ import annotations

import threading
import uuid

import pytest

from tests.support.cluster import poll
from tests.support.keys import STORE_KEYS
from tests.support.processes import free_port

SLOW_MS = 1500


@pytest.fixture
def app(make_app):
    return make_app()


def url(customer_id: str) -> str:
    return f"/v1/customers/{customer_id}"


def lookup_in_thread(app, customer_id: str, answers: list) -> threading.Thread:
    thread = threading.Thread(target=lambda: answers.append(app.test_client().get(url(customer_id))))
    thread.start()
    return thread


@pytest.mark.parametrize("mode", ["hard", "soft"])
def test_a_fetch_in_flight_when_the_purge_comes_cannot_store_what_it_fetched(app, emulator, mode):
    client = app.test_client()
    customer_id = emulator.customer_ids(1)[0]
    if mode == "soft":  # a cached copy to mark stale
        assert client.get(url(customer_id)).headers["X-Cache"] == "MISS"
        client.delete(f"{url(customer_id)}/cache")
    emulator.fault(customer_id=customer_id, latency_ms=SLOW_MS, times=1)
    answers: list = []
    thread = lookup_in_thread(app, customer_id, answers)
    calls_before = 1 if mode == "soft" else 0
    poll(lambda: emulator.customer_calls(customer_id), lambda calls: calls == calls_before + 1,
         "the slow fetch reached Passport", timeout=5)
    assert client.delete(f"{url(customer_id)}/cache?mode={mode}").status_code == 204
    thread.join(10)
    (first,) = answers
    # Its asker gets what the fetch brought; nobody else does: it was not stored over the purge.
    assert first.status_code == 200 and first.headers["X-Cache"] == "MISS"
    assert first.headers["Cache-Status"] == "passport-bff; fwd=miss; detail=lock-lost"

    after = client.get(url(customer_id))
    assert after.headers["X-Cache"] == "MISS"  # fetched again, after the purge
    assert "stored" in after.headers["Cache-Status"]
    assert emulator.customer_calls(customer_id) == calls_before + 2
    assert client.get(url(customer_id)).headers["X-Cache"] == "HIT"


def test_a_soft_purge_serves_the_copy_stale_while_one_refresh_fetches_the_new_one(app, emulator):
    client = app.test_client()
    customer_id = emulator.customer_ids(1)[0]
    old = client.get(url(customer_id))
    assert client.get(url(customer_id)).headers["X-Cache"] == "HIT"
    emulator.touch_customer(customer_id)
    assert client.delete(f"{url(customer_id)}/cache?mode=soft").status_code == 204

    stale = client.get(url(customer_id))
    assert stale.headers["X-Cache"] == "STALE"
    assert "stale-while-revalidate" in stale.headers["Cache-Status"]
    assert stale.get_data() == old.get_data()
    fresh = poll(lambda: client.get(url(customer_id)), lambda answer: answer.headers["X-Cache"] == "HIT"
                 and answer.get_data() != old.get_data(), "the refreshed copy", timeout=10)
    assert fresh.get_json()["updatedAt"] != old.get_json()["updatedAt"]
    assert emulator.customer_calls(customer_id) == 2  # the first fetch, and one refresh


def test_a_soft_purged_copy_still_answers_while_passport_fails(app, emulator):
    client = app.test_client()
    customer_id = emulator.customer_ids(1)[0]
    old = client.get(url(customer_id))
    emulator.fault(customer_id=customer_id, status=503)
    assert client.delete(f"{url(customer_id)}/cache?mode=soft").status_code == 204
    answers = [client.get(url(customer_id)) for _ in range(3)]
    assert {answer.status_code for answer in answers} == {200}
    assert {answer.headers["X-Cache"] for answer in answers} == {"STALE"}
    assert all(answer.get_data() == old.get_data() for answer in answers)


def test_a_hard_purge_is_the_default_and_forgets_the_copy(app, emulator):
    client = app.test_client()
    customer_id = emulator.customer_ids(1)[0]
    client.get(url(customer_id))
    for purge in (f"{url(customer_id)}/cache", f"{url(customer_id)}/cache?mode=hard", f"{url(customer_id)}/cache"):
        assert client.delete(purge).status_code == 204  # idempotent
    assert client.get(url(customer_id)).headers["X-Cache"] == "MISS"


@pytest.mark.parametrize("mode", ["soft", "hard"])
def test_purging_what_is_not_cached_is_a_204_and_changes_nothing(app, emulator, mode):
    client = app.test_client()
    unknown = str(uuid.uuid4())
    assert client.delete(f"{url(unknown)}/cache?mode={mode}").status_code == 204
    assert client.get(url(unknown)).status_code == 404
    assert client.delete(f"{url(unknown)}/cache?mode={mode}").status_code == 204  # a remembered 404 goes
    assert client.get(url(unknown)).status_code == 404
    assert emulator.customer_calls(unknown) == 2


@pytest.mark.parametrize("mode", ["SOFT", "medium", "", "soft,hard"])
def test_an_unknown_mode_is_a_400_naming_it(app, emulator, mode):
    answer = app.test_client().delete(f"{url(emulator.customer_ids(1)[0])}/cache?mode={mode}")
    assert answer.status_code == 400 and answer.content_type == "application/problem+json"
    assert "mode" in answer.get_json()["detail"]


@pytest.mark.parametrize("mode", ["soft", "hard"])
def test_with_redis_down_a_purge_says_it_did_not_happen(make_app, emulator, mode):
    client = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0").test_client()
    answer = client.delete(f"{url(emulator.customer_ids(1)[0])}/cache?mode={mode}")
    assert answer.status_code == 503
    assert answer.get_json()["type"].endswith(":cache-unavailable")


def test_a_listing_fetched_before_a_purge_does_not_put_the_purged_copy_back(app, emulator):
    client = app.test_client()
    listed = client.get("/v1/customers?pageSize=5").get_json()["customers"]
    customer_id = listed[0]["id"]
    assert client.get(url(customer_id)).headers["X-Cache"] == "HIT"  # warmed by the listing
    emulator.fault(target="list", latency_ms=SLOW_MS, times=1)
    answers: list = []
    lists_before = emulator.stats()["list_calls"]
    thread = threading.Thread(target=lambda: answers.append(app.test_client().get("/v1/customers?pageSize=6")))
    thread.start()
    poll(lambda: emulator.stats()["list_calls"], lambda calls: calls > lists_before, "the slow listing's fetch",
         timeout=5)
    emulator.touch_customer(customer_id)
    assert client.delete(f"{url(customer_id)}/cache").status_code == 204
    thread.join(10)
    assert answers[0].get_json()["customers"][0]["id"] == customer_id
    after = client.get(url(customer_id))
    assert after.headers["X-Cache"] == "MISS"
    # Nor is the page it fetched kept: it holds the purged customer.
    assert client.get("/v1/customers?pageSize=6").headers["X-Cache"] == "MISS"


@pytest.mark.parametrize("mode", ["hard", "soft"])
def test_a_purge_deletes_every_cached_listing_page_holding_the_customer(app, emulator, redis_client, mode):
    client = app.test_client()
    pages = ["/v1/customers?pageSize=5", "/v1/customers?pageSize=10", "/v1/customers?pageSize=5&direction=desc"]
    answers = [client.get(page) for page in pages]
    customer_id = answers[0].get_json()["customers"][0]["id"]
    holding = [page for page, answer in zip(pages, answers, strict=True)
               if customer_id in {c["id"] for c in answer.get_json()["customers"]}]
    assert len(holding) == 2
    assert {client.get(page).headers["X-Cache"] for page in pages} == {"HIT"}
    tag = STORE_KEYS.of("customer").pages(customer_id)
    assert 0 < redis_client.pttl(tag) and len(redis_client.smembers(tag)) == 2  # bookkeeping that expires

    assert client.delete(f"{url(customer_id)}/cache?mode={mode}").status_code == 204
    after = {page: client.get(page).headers["X-Cache"] for page in pages}
    assert after == {page: "MISS" if page in holding else "HIT" for page in pages}
    assert customer_id in {c["id"] for c in client.get(pages[0]).get_json()["customers"]}
