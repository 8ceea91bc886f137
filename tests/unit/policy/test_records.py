"""app.policy.records: the record service (for customers) acting on the policy's decisions, in milliseconds.

The in-process store, one fake clock for the service, its store and its waits, and a fake Passport
at the policy's seam (``PassportCustomers.get``); the integration and fault tests run the same rules
on real Redis, the emulator and gunicorn.
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

import pytest

from app.passport.errors import PassportError, PassportForbidden, PassportServerError, PassportTimeout
from app.passport.resource import FreshnessRule, Rendered
from app.passport.resources import CUSTOMER
from app.passport.schemas import parse_passport_customer
from app.policy.records import CachePolicy, CacheResult, RecordService, encode_failure
from app.store.cache import CacheKeys, MemoryStore
from app.store.lock import LockKeeper, StoreLock
from emulator.example import load_example
from tests.support.clock import FakeClock

CUSTOMER_ID = "db7e89e7-59d8-4ab1-b675-a2ae52c3339e"
FRESH_SECONDS = 60  # the freshness policy's floor: the example's updated_at is long ago
POLICY = CachePolicy(
    freshness=FreshnessRule(0.1, FRESH_SECONDS, FRESH_SECONDS),
    stale_while_revalidate_seconds=30, stale_if_error_seconds=600, not_found_seconds=20,
    lock_wait_seconds=5, longest_fetch_seconds=10,
)


class FakePassport:
    """Passport's customers at the policy's seam: the docs example under any id, or a scripted failure."""

    kind = CUSTOMER.name

    def __init__(self) -> None:
        self.calls = 0
        self.failure: PassportError | None = None

    def get(self, customer_id: str, request_id: str | None) -> Rendered:
        self.calls += 1
        if self.failure is not None:
            raise self.failure
        return CUSTOMER.rendered(parse_passport_customer(dict(load_example(), id=customer_id), customer_id))


class RunAtOnce(Executor):
    """Background work (stale-while-revalidate's refresh) done before ``submit`` returns."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock) -> MemoryStore:
    return MemoryStore(clock)


@pytest.fixture
def passport() -> FakePassport:
    return FakePassport()


@pytest.fixture
def service(clock, store, passport) -> RecordService:
    locks = LockKeeper(store, lease_seconds=2.0)
    return RecordService(passport, store, CacheKeys("test"), POLICY, RunAtOnce(), RunAtOnce(), locks,
                           clock=clock, sleep=clock.sleep)


def test_a_miss_fetches_once_and_the_next_lookup_is_a_hit(service, passport):
    first, second = service.lookup(CUSTOMER_ID, "r1"), service.lookup(CUSTOMER_ID, "r2")
    assert (first.cache, second.cache) == (CacheResult.MISS, CacheResult.HIT)
    assert first.cache_status == "passport-bff; fwd=miss; stored"
    assert second.entry.body == first.entry.body
    assert passport.calls == 1


def test_a_stale_copy_within_swr_is_served_and_refreshed_once(service, passport, clock):
    service.lookup(CUSTOMER_ID, "r1")
    clock.advance(FRESH_SECONDS + 10)
    stale = service.lookup(CUSTOMER_ID, "r2")
    assert stale.cache is CacheResult.STALE
    assert stale.cache_status.endswith("detail=stale-while-revalidate")
    assert passport.calls == 2  # the refresh, run at once here
    assert service.lookup(CUSTOMER_ID, "r3").cache is CacheResult.HIT


def test_past_swr_a_failing_passport_is_answered_by_the_copy_within_stale_if_error(service, passport, clock):
    service.lookup(CUSTOMER_ID, "r1")
    clock.advance(FRESH_SECONDS + 100)
    passport.failure = PassportServerError(503)
    answer = service.lookup(CUSTOMER_ID, "r2")
    assert (answer.cache, answer.cache_status) == (
        CacheResult.STALE, "passport-bff; fwd=stale; ttl=-100; detail=upstream-error")


def test_past_stale_if_error_the_failure_is_raised(service, passport, clock):
    service.lookup(CUSTOMER_ID, "r1")
    clock.advance(FRESH_SECONDS + 601)
    passport.failure = PassportTimeout("slow")
    with pytest.raises(PassportTimeout):
        service.lookup(CUSTOMER_ID, "r2")


def test_a_403_drops_the_copy(service, passport, clock, store):
    service.lookup(CUSTOMER_ID, "r1")
    clock.advance(FRESH_SECONDS + 100)
    passport.failure = PassportForbidden("no longer yours")
    with pytest.raises(PassportForbidden):
        service.lookup(CUSTOMER_ID, "r2")
    assert store.get(CacheKeys("test").of("customer").entry(CUSTOMER_ID)) is None


def test_a_404_is_remembered_for_its_own_time(service, passport, clock):
    from app.passport.errors import PassportNotFound

    passport.failure = PassportNotFound("no such customer")
    first, second = service.lookup(CUSTOMER_ID, "r1"), service.lookup(CUSTOMER_ID, "r2")
    assert (first.entry.found, first.cache, second.cache) == (False, CacheResult.MISS, CacheResult.HIT)
    assert passport.calls == 1
    clock.advance(POLICY.not_found_seconds)
    service.lookup(CUSTOMER_ID, "r3")
    assert passport.calls == 2


def test_a_lock_nobody_releases_is_waited_out_then_the_fetch_is_not_stored(service, passport, store):
    held = StoreLock.new(CacheKeys("test").of("customer").lock(CUSTOMER_ID))
    store.add(held.key, held.owner, 3600)  # another process's fetch, never finishing
    answer = service.lookup(CUSTOMER_ID, "r1")
    assert answer.cache_status == "passport-bff; fwd=miss; detail=lock-timeout"
    assert passport.calls == 1
    assert store.get(CacheKeys("test").of("customer").entry(CUSTOMER_ID)) is None


def test_a_waiter_shares_the_failure_of_the_fetch_it_waited_for(service, passport, store, clock):
    keys = CacheKeys("test")
    held = StoreLock.new(keys.of("customer").lock(CUSTOMER_ID))
    store.add(held.key, held.owner, 3600)
    store.set(keys.of("customer").failure(CUSTOMER_ID), encode_failure(PassportServerError(503), clock() + 1), 60)
    with pytest.raises(PassportServerError):
        service.lookup(CUSTOMER_ID, "r1")
    assert passport.calls == 0


class AnotherWorkerRefreshesFirst(Executor):
    """Runs a background refresh only after another worker's refresh has stored a fresh copy."""

    def __init__(self, store: MemoryStore, clock: FakeClock) -> None:
        self.store, self.clock = store, clock

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        from app.store.entry import encode_entry, found_entry

        fresh = found_entry(b'{"id": "x"}', self.clock(), self.clock() - 3600, FRESH_SECONDS)
        self.store.set(CacheKeys("test").of("customer").entry(CUSTOMER_ID), encode_entry(fresh), 600)
        return RunAtOnce().submit(fn, *args, **kwargs)


def test_a_refresh_that_finds_a_fresh_copy_stored_meanwhile_asks_passport_nothing(store, passport, clock):
    locks = LockKeeper(store, lease_seconds=2.0)
    service = RecordService(passport, store, CacheKeys("test"), POLICY, AnotherWorkerRefreshesFirst(store, clock),
                              RunAtOnce(), locks, clock=clock, sleep=clock.sleep)
    service.lookup(CUSTOMER_ID, "r1")
    clock.advance(FRESH_SECONDS + 10)
    assert service.lookup(CUSTOMER_ID, "r2").cache is CacheResult.STALE
    assert passport.calls == 1  # the other worker's refresh was enough


# --- refresh-ahead and TTL jitter ---------------------------------------------------------------

def service_with(clock, store, passport, **policy: Any) -> RecordService:
    from dataclasses import replace

    locks = LockKeeper(store, lease_seconds=2.0)
    return RecordService(passport, store, CacheKeys("test"), replace(POLICY, **policy), RunAtOnce(), RunAtOnce(),
                           locks, clock=clock, sleep=clock.sleep, random=lambda: 1.0)


def test_a_hit_in_the_last_tenth_of_freshness_refreshes_ahead_once(clock, store, passport):
    service = service_with(clock, store, passport, refresh_ahead_fraction=0.1)
    first = service.lookup(CUSTOMER_ID, "r1")
    clock.advance(FRESH_SECONDS * 0.85)
    assert service.lookup(CUSTOMER_ID, "r2").cache is CacheResult.HIT
    assert passport.calls == 1  # not yet in the last tenth
    clock.advance(FRESH_SECONDS * 0.1)
    read = service.read(CUSTOMER_ID)
    hit = service.cached_hit(CUSTOMER_ID, read)
    assert hit is not None and hit.entry.fetched_at == first.entry.fetched_at  # answered from the copy read
    assert passport.calls == 2  # and refreshed behind it
    refreshed = service.read(CUSTOMER_ID).entry
    assert refreshed is not None and refreshed.fetched_at > first.entry.fetched_at
    for _ in range(3):
        service.cached_hit(CUSTOMER_ID, read)  # the same old copy read again: tried once per copy
    assert passport.calls == 2


def test_without_refresh_ahead_a_copy_just_goes_stale(clock, store, passport):
    service = service_with(clock, store, passport, refresh_ahead_fraction=0.0)
    service.lookup(CUSTOMER_ID, "r1")
    clock.advance(FRESH_SECONDS * 0.99)
    service.lookup(CUSTOMER_ID, "r2")
    assert passport.calls == 1


def test_copies_written_together_get_their_freshness_jittered(clock, store, passport):
    service = service_with(clock, store, passport, ttl_jitter=0.1)  # random() == 1.0: the top of the range
    customer = parse_passport_customer(dict(load_example(), id=CUSTOMER_ID), CUSTOMER_ID)
    service.warm({CUSTOMER_ID: CUSTOMER.rendered(customer)})
    assert service.read(CUSTOMER_ID).entry.fresh_seconds == round(FRESH_SECONDS * 1.1)
    other = "0b6f1c2e-2b9d-4c8e-9a51-1f4c1d7e2a33"
    assert service.lookup(other, "r1").entry.fresh_seconds == FRESH_SECONDS  # a single lookup: exact
    batch = service.lookup_many(["1c6f1c2e-2b9d-4c8e-9a51-1f4c1d7e2a33"], "r2")
    (answer,) = batch.values()
    assert answer.entry.fresh_seconds == round(FRESH_SECONDS * 1.1)
