"""The cache policy under failure: negative caching, stale-while-revalidate, stale-if-error,
the breaker, retries, coalescing and bypass — on real Redis and the emulator."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.store.entry import decode_entry
from app.web import services
from tests.support.emulator import DOCS_CUSTOMER_ID
from tests.support.examples import DOCS_EXAMPLE
from tests.support.keys import STORE_KEYS
from tests.support.processes import free_port
from tests.support.time_travel import customer_key, make_stale

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
POLL_DEADLINE_SECONDS = 10


def url(customer_id: str = DOCS_CUSTOMER_ID) -> str:
    return f"/v1/customers/{customer_id}"


def eventually(condition, what: str) -> None:
    """Poll ``condition`` (background work finishing) until true, within a deadline."""
    deadline = time.monotonic() + POLL_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


class TestNegativeCaching:
    def test_a_404_is_remembered(self, client, emulator, redis_client):
        first, second = client.get(url(UNKNOWN_ID)), client.get(url(UNKNOWN_ID))
        assert first.status_code == second.status_code == 404
        assert second.headers["X-Cache"] == "HIT"
        assert second.headers["Cache-Status"].startswith("passport-bff; hit; ttl=")
        assert second.content_type == "application/problem+json"
        assert emulator.customer_calls(UNKNOWN_ID) == 1

    def test_the_404_is_kept_for_cache_not_found_seconds(self, make_app, emulator, redis_client):
        make_app(CACHE_NOT_FOUND_SECONDS=12).test_client().get(url(UNKNOWN_ID))
        assert 10 <= redis_client.ttl(customer_key(UNKNOWN_ID)) <= 12

    def test_zero_seconds_disables_negative_caching(self, make_app, emulator, redis_client):
        client = make_app(CACHE_NOT_FOUND_SECONDS=0).test_client()
        client.get(url(UNKNOWN_ID))
        client.get(url(UNKNOWN_ID))
        assert emulator.customer_calls(UNKNOWN_ID) == 2
        assert redis_client.exists(customer_key(UNKNOWN_ID)) == 0

    @pytest.mark.parametrize("status", [401, 403, 500])
    def test_other_errors_are_never_remembered(self, client, emulator, redis_client, status):
        emulator.fault(status=status)
        client.get(url())
        assert redis_client.exists(customer_key(DOCS_CUSTOMER_ID)) == 0


class TestStaleWhileRevalidate:
    def test_stale_copy_is_served_at_once_and_refreshed_once_in_the_background(self, client, emulator, redis_client):
        original = client.get(url()).data
        make_stale(redis_client, DOCS_CUSTOMER_ID, 5)
        emulator.put_customer(DOCS_CUSTOMER_ID, {**DOCS_EXAMPLE, "business_name": "renamed"})
        stale = client.get(url())
        assert stale.status_code == 200
        assert stale.headers["X-Cache"] == "STALE"
        assert "stale-while-revalidate" in stale.headers["Cache-Status"]
        assert stale.headers["Cache-Control"] == "private, no-cache"
        assert stale.data == original
        eventually(lambda: emulator.customer_calls(DOCS_CUSTOMER_ID) == 2, "one background refresh")
        eventually(lambda: client.get(url()).headers["X-Cache"] == "HIT", "the refreshed copy is fresh")
        assert client.get(url()).get_json()["name"] == "renamed"
        assert emulator.customer_calls(DOCS_CUSTOMER_ID) == 2

    def test_many_stale_hits_start_a_single_refresh(self, client, emulator, redis_client):
        client.get(url())
        make_stale(redis_client, DOCS_CUSTOMER_ID, 5)
        emulator.fault(latency_ms=300, customer_id=DOCS_CUSTOMER_ID)
        answers = [client.get(url()) for _ in range(10)]
        assert {a.headers["X-Cache"] for a in answers} == {"STALE"}
        eventually(lambda: client.get(url()).headers["X-Cache"] == "HIT", "refreshed")
        assert emulator.customer_calls(DOCS_CUSTOMER_ID) == 2

    def test_past_the_window_the_lookup_waits_for_passport(self, make_app, emulator, redis_client):
        client = make_app(CACHE_STALE_WHILE_REVALIDATE_SECONDS=10).test_client()
        client.get(url())
        make_stale(redis_client, DOCS_CUSTOMER_ID, 11)
        response = client.get(url())
        assert response.headers["X-Cache"] == "MISS"
        assert emulator.customer_calls(DOCS_CUSTOMER_ID) == 2


@pytest.fixture
def sie_client(make_app):
    """An app where stale-while-revalidate is off, so a stale entry needs Passport."""
    return make_app(CACHE_STALE_WHILE_REVALIDATE_SECONDS=0, CACHE_STALE_IF_ERROR_SECONDS=600,
                    PASSPORT_TIMEOUT_SECONDS=0.3, PASSPORT_RETRIES=0).test_client()


class TestStaleIfError:
    @pytest.mark.parametrize(
        "fault",
        [{"status": 500}, {"status": 503}, {"status": 429}, {"latency_ms": 1000}, {"body": "<html>oops</html>"}],
        ids=["500", "503", "429", "timeout", "invalid-body"],
    )
    def test_last_good_copy_is_served_when_passport_fails(self, sie_client, emulator, redis_client, fault):
        original = sie_client.get(url()).data
        make_stale(redis_client, DOCS_CUSTOMER_ID, 30)
        emulator.fault(**fault)
        response = sie_client.get(url())
        assert response.status_code == 200
        assert response.data == original
        assert response.headers["X-Cache"] == "STALE"
        assert response.headers["Cache-Status"].startswith("passport-bff; fwd=stale")
        assert "detail=upstream-error" in response.headers["Cache-Status"]
        assert int(response.headers["Age"]) >= 30

    def test_last_good_copy_is_served_when_passport_is_unreachable(self, make_app, emulator, redis_client):
        settings = {"CACHE_STALE_WHILE_REVALIDATE_SECONDS": 0, "PASSPORT_RETRIES": 0}
        original = make_app(**settings).test_client().get(url()).data
        make_stale(redis_client, DOCS_CUSTOMER_ID, 30)
        dead = make_app(PASSPORT_BASE_URL=f"http://127.0.0.1:{free_port()}", **settings).test_client()
        response = dead.get(url())
        assert response.status_code == 200 and response.data == original
        assert response.headers["X-Cache"] == "STALE"

    def test_past_the_window_the_error_is_answered(self, sie_client, emulator, redis_client):
        sie_client.get(url())
        make_stale(redis_client, DOCS_CUSTOMER_ID, 601)
        emulator.fault(status=500)
        assert sie_client.get(url()).status_code == 502

    def test_a_404_is_not_hidden_by_a_stale_copy_and_replaces_it(self, sie_client, emulator, redis_client):
        sie_client.get(url())
        make_stale(redis_client, DOCS_CUSTOMER_ID, 30)
        emulator.fault(status=404)
        assert sie_client.get(url()).status_code == 404
        assert decode_entry(redis_client.get(customer_key(DOCS_CUSTOMER_ID))).status == 404

    def test_a_403_drops_the_stale_copy(self, sie_client, emulator, redis_client):
        sie_client.get(url())
        make_stale(redis_client, DOCS_CUSTOMER_ID, 30)
        emulator.fault(status=403)
        assert sie_client.get(url()).status_code == 403
        assert redis_client.exists(customer_key(DOCS_CUSTOMER_ID)) == 0

    def test_errors_carry_cache_status_too(self, sie_client, emulator):
        emulator.fault(status=500)
        response = sie_client.get(url())
        assert response.headers["X-Cache"] == "MISS"
        assert response.headers["Cache-Status"].startswith("passport-bff; fwd=miss")


class TestBreaker:
    @pytest.fixture
    def client(self, make_app):
        return make_app(PASSPORT_BREAKER_FAILURES=2, PASSPORT_BREAKER_RESET_SECONDS=30, PASSPORT_RETRIES=0,
                        CACHE_STALE_WHILE_REVALIDATE_SECONDS=0).test_client()

    def test_open_breaker_fails_fast_with_503_and_retry_after(self, client, emulator):
        ids = emulator.customer_ids(5)
        client.get(url(ids[0]))  # a token, so the breaker sees customer calls only
        emulator.fault(status=500)
        assert client.get(url(ids[1])).status_code == 502
        assert client.get(url(ids[2])).status_code == 502
        calls = emulator.customer_calls()
        response = client.get(url(ids[3]))
        assert response.status_code == 503
        assert response.get_json()["type"].endswith("upstream-circuit-open")
        assert 1 <= int(response.headers["Retry-After"]) <= 30
        assert emulator.customer_calls() == calls

    def test_open_breaker_still_serves_stale_copies(self, client, emulator, redis_client):
        ids = emulator.customer_ids(3)
        original = client.get(url(ids[0])).data
        make_stale(redis_client, ids[0], 10)
        emulator.fault(status=500)
        client.get(url(ids[1]))
        client.get(url(ids[2]))
        response = client.get(url(ids[0]))
        assert response.status_code == 200 and response.data == original
        assert response.headers["X-Cache"] == "STALE"

    def test_not_found_and_forbidden_do_not_open_the_breaker(self, client, emulator):
        ids = emulator.customer_ids(2)
        for n in range(4):
            assert client.get(url(f"00000000-0000-4000-8000-00000000000{n}")).status_code == 404
        emulator.fault(status=403, customer_id=ids[0])
        for _ in range(3):
            assert client.get(url(ids[0])).status_code == 403
        assert client.get(url(ids[1])).status_code == 200

    def test_invalid_bodies_do_not_open_the_breaker(self, client, emulator):
        ids = emulator.customer_ids(2)
        emulator.fault(body="not json", customer_id=ids[0])
        for _ in range(3):
            assert client.get(url(ids[0])).status_code == 502
        assert client.get(url(ids[1])).status_code == 200


class TestRetries:
    def test_a_503_is_retried_and_the_lookup_succeeds(self, client, emulator):
        emulator.fault(status=503, times=1)
        assert client.get(url()).status_code == 200
        assert emulator.customer_calls(DOCS_CUSTOMER_ID) == 2

    def test_a_500_is_not_retried(self, client, emulator):
        emulator.fault(status=500, times=1)
        assert client.get(url()).status_code == 502
        assert emulator.customer_calls(DOCS_CUSTOMER_ID) == 1

    def test_a_timeout_is_not_retried(self, make_app, emulator):
        emulator.fault(latency_ms=1000, times=1)
        assert make_app(PASSPORT_TIMEOUT_SECONDS=0.3).test_client().get(url()).status_code == 504
        assert emulator.customer_calls(DOCS_CUSTOMER_ID) == 1

    def test_retries_stop_at_the_configured_count(self, make_app, emulator):
        emulator.fault(status=502)
        assert make_app(PASSPORT_RETRIES=2).test_client().get(url()).status_code == 502
        assert emulator.customer_calls(DOCS_CUSTOMER_ID) == 3

    def test_retries_stop_at_the_deadline(self, make_app, emulator):
        emulator.fault(status=503, latency_ms=200)
        client = make_app(PASSPORT_RETRIES=10, PASSPORT_DEADLINE_SECONDS=0.5,
                          PASSPORT_RETRY_BACKOFF_SECONDS=0.01).test_client()
        assert client.get(url()).status_code in (502, 504)
        assert emulator.customer_calls(DOCS_CUSTOMER_ID) <= 3


class TestCoalescing:
    def test_concurrent_misses_in_one_process_make_one_passport_call(self, make_app, emulator):
        app = make_app()
        emulator.fault(latency_ms=300, customer_id=DOCS_CUSTOMER_ID)
        start = threading.Barrier(20)

        def lookup(_):
            client = app.test_client()
            start.wait(5)
            return client.get(url())

        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(lookup, range(20)))
        assert {a.status_code for a in answers} == {200}
        assert len({a.data for a in answers}) == 1
        assert emulator.customer_calls(DOCS_CUSTOMER_ID) == 1
        statuses = [a.headers["Cache-Status"] for a in answers]
        assert statuses.count("passport-bff; fwd=miss; stored") == 1
        assert all(s == "passport-bff; fwd=miss; collapsed" for s in statuses if "stored" not in s)

    def test_a_stored_fetch_releases_its_lock_in_the_same_store_call(self, make_app, emulator, redis_client,
                                                                      monkeypatch):
        app = make_app()
        app.test_client().get(url(UNKNOWN_ID))  # the Passport token is now in this process
        store = services.of(app).store
        calls: list[str] = []
        for name in ("set", "delete_if_equal", "set_if_held"):
            real = getattr(store, name)
            monkeypatch.setattr(store, name, lambda *args, _name=name, _real=real: calls.append(_name) or _real(*args))
        assert app.test_client().get(url()).headers["Cache-Status"] == "passport-bff; fwd=miss; stored"
        assert calls == ["set_if_held"]
        assert not redis_client.exists(STORE_KEYS.of("customer").lock(DOCS_CUSTOMER_ID))

    def test_a_fetch_that_stores_nothing_still_releases_its_lock(self, make_app, emulator, redis_client):
        client = make_app(CACHE_NOT_FOUND_SECONDS=0).test_client()
        assert client.get(url(UNKNOWN_ID)).status_code == 404
        assert not redis_client.exists(STORE_KEYS.of("customer").lock(UNKNOWN_ID))
        assert not redis_client.exists(customer_key(UNKNOWN_ID))

    def test_waiter_takes_the_entry_another_process_stored(self, make_app, emulator, redis_client):
        """A lock held elsewhere: we wait, and the holder's entry is our answer."""
        holder, waiter = make_app().test_client(), make_app().test_client()
        emulator.fault(latency_ms=300, customer_id=DOCS_CUSTOMER_ID)
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(holder.get, url())
            eventually(lambda: redis_client.exists(STORE_KEYS.of("customer").lock(DOCS_CUSTOMER_ID)), "lock")
            second = waiter.get(url())
        assert first.result().headers["Cache-Status"] == "passport-bff; fwd=miss; stored"
        assert second.headers["Cache-Status"] == "passport-bff; fwd=miss; collapsed"
        assert emulator.customer_calls(DOCS_CUSTOMER_ID) == 1

    def test_a_miss_costs_two_store_calls_the_read_that_locks_and_the_store_that_releases(
            self, make_app, emulator, redis_client, monkeypatch):
        """The read finds nothing and takes the fetch lock in the same script (READ_OR_LOCK), so no
        other fetch can store between the read and the lock, and nothing need be read again; the
        fetched entry is stored and the lock released in one more (SET_IF_HELD). Passport's
        fleet-wide pause is read along with the entry, so asking Passport costs no call either."""
        app = make_app()
        app.test_client().get(url(UNKNOWN_ID))  # the Passport token is now in this process
        store = services.of(app).store
        calls: list[str] = []
        for name in ("get", "get_many", "add", "set", "delete", "delete_if_equal", "read_or_lock", "set_if_held",
                     "set_and_delete"):
            real = getattr(store, name)
            monkeypatch.setattr(store, name, lambda *args, _name=name, _real=real: calls.append(_name) or _real(*args))
        assert app.test_client().get(url()).headers["Cache-Status"] == "passport-bff; fwd=miss; stored"
        assert calls == ["read_or_lock", "set_if_held"]
        assert emulator.customer_calls(DOCS_CUSTOMER_ID) == 1
        assert not redis_client.exists(STORE_KEYS.of("customer").lock(DOCS_CUSTOMER_ID))

    def test_a_read_that_took_the_lock_for_nothing_gives_it_back(self, make_app, emulator, redis_client):
        """A request whose read took the lock but whose answer came another way (a fetch of this
        process already in flight) releases it: no lock outlives the request."""
        app = make_app()
        customers = services.of(app).customers
        read = customers.read(DOCS_CUSTOMER_ID)
        assert read.lock is not None and redis_client.exists(STORE_KEYS.of("customer").lock(DOCS_CUSTOMER_ID))
        customers.release(read)
        assert not redis_client.exists(STORE_KEYS.of("customer").lock(DOCS_CUSTOMER_ID))

    def test_waiters_share_the_failure_of_the_fetch_they_waited_for(self, make_app, emulator, redis_client):
        """One failing call for everyone waiting, not one per waiter in turn."""
        settings = {"PASSPORT_RETRIES": 0, "PASSPORT_BREAKER_FAILURES": 50}
        holder, waiter = make_app(**settings).test_client(), make_app(**settings).test_client()
        holder.get(url(emulator.customer_ids(2)[1]))  # a token, so only customer calls are counted below
        emulator.fault(status=500, latency_ms=300, customer_id=DOCS_CUSTOMER_ID)
        with ThreadPoolExecutor(3) as pool:
            first = pool.submit(holder.get, url())
            eventually(lambda: redis_client.exists(STORE_KEYS.of("customer").lock(DOCS_CUSTOMER_ID)), "lock")
            others = [pool.submit(waiter.get, url()) for _ in range(2)]
            answers = [first.result()] + [f.result() for f in others]
        assert [a.status_code for a in answers] == [502, 502, 502]
        assert emulator.customer_calls(DOCS_CUSTOMER_ID) == 1

    def test_waiters_with_a_stale_copy_get_it_when_the_fetch_fails(self, make_app, emulator, redis_client):
        settings = {"PASSPORT_RETRIES": 0, "CACHE_STALE_WHILE_REVALIDATE_SECONDS": 0, "PASSPORT_BREAKER_FAILURES": 50}
        holder, waiter = make_app(**settings).test_client(), make_app(**settings).test_client()
        original = holder.get(url()).data
        make_stale(redis_client, DOCS_CUSTOMER_ID, 10)
        emulator.fault(status=503, latency_ms=300, customer_id=DOCS_CUSTOMER_ID)
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(holder.get, url())
            eventually(lambda: redis_client.exists(STORE_KEYS.of("customer").lock(DOCS_CUSTOMER_ID)), "lock")
            second = waiter.get(url())
        assert first.result().data == second.data == original
        assert second.headers["X-Cache"] == "STALE"
        assert emulator.customer_calls(DOCS_CUSTOMER_ID) == 2  # the original fetch, then one failing call

    def test_a_later_request_does_not_inherit_an_old_failure(self, make_app, emulator, redis_client):
        client = make_app(PASSPORT_RETRIES=0).test_client()
        emulator.fault(status=500, times=1)
        assert client.get(url()).status_code == 502
        assert client.get(url()).status_code == 200

    def test_lock_of_a_dead_holder_expires_and_the_next_request_takes_over(self, make_app, emulator, redis_client):
        redis_client.set(STORE_KEYS.of("customer").lock(DOCS_CUSTOMER_ID), b"dead-worker", px=300)
        response = make_app(CACHE_LOCK_WAIT_SECONDS=5).test_client().get(url())
        assert response.status_code == 200
        assert response.headers["Cache-Status"] == "passport-bff; fwd=miss; stored"

    def test_after_the_lock_wait_the_lookup_fetches_without_storing(self, make_app, emulator, redis_client):
        redis_client.set(STORE_KEYS.of("customer").lock(DOCS_CUSTOMER_ID), b"stuck-worker", px=60_000)
        response = make_app(CACHE_LOCK_WAIT_SECONDS=0.2).test_client().get(url())
        assert response.status_code == 200
        assert "lock-timeout" in response.headers["Cache-Status"]
        assert redis_client.exists(customer_key(DOCS_CUSTOMER_ID)) == 0


class TestBypass:
    @pytest.fixture
    def client(self, make_app):
        return make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0").test_client()

    def test_without_redis_lookups_go_straight_to_passport(self, client, emulator):
        for _ in range(3):
            response = client.get(url())
            assert response.status_code == 200
            assert response.headers["X-Cache"] == "BYPASS"
            assert response.headers["Cache-Status"] == "passport-bff; fwd=bypass; detail=store-unavailable"
        assert emulator.customer_calls(DOCS_CUSTOMER_ID) == 3

    def test_without_redis_the_token_is_kept_in_process(self, client, emulator):
        for customer_id in emulator.customer_ids(3):
            client.get(url(customer_id))
        assert emulator.token_calls() == 1

    def test_without_redis_a_404_is_still_a_clean_404(self, client, emulator):
        response = client.get(url(UNKNOWN_ID))
        assert response.status_code == 404
        assert response.headers["X-Cache"] == "BYPASS"
