"""app.passport.back_pressure: Passport's pauses shared by the fleet, calls in flight capped, retries budgeted.

Two ``FleetPause`` objects on one store stand for two workers; one fake clock for all.
"""
from __future__ import annotations

import pytest

from app.passport.back_pressure import (
    DEFAULT_RETRY_AFTER_SECONDS,
    MIN_RETRIES,
    PROBE_WINDOW_SECONDS,
    RETRY_WINDOW_SECONDS,
    FleetPause,
    InFlightLimit,
    RetryBudget,
    retry_after_seconds,
)
from app.passport.errors import PassportOverloaded, PassportPaused
from app.store.cache import CacheKeys, MemoryStore, StoreUnavailable
from tests.support.clock import FakeClock

NOW = 1_800_000_000.0


@pytest.mark.parametrize(("header", "seconds"), [
    ("30", 30), ("0", 1), ("99999999", 600), ("-3", DEFAULT_RETRY_AFTER_SECONDS), ("soon", DEFAULT_RETRY_AFTER_SECONDS),
    (None, DEFAULT_RETRY_AFTER_SECONDS), ("Thu, 15 Jan 2027 08:00:20 GMT", 20), ("Mon, 01 Jan 2001 00:00:00 GMT", 1),
])
def test_retry_after_is_read_as_seconds_or_a_date_and_clamped(header, seconds):
    now = 1_800_000_000.0  # Thu, 15 Jan 2027 08:00:00 GMT
    assert retry_after_seconds(header, 600, now) == seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def store(clock) -> MemoryStore:
    return MemoryStore(clock)


def worker(store, clock) -> FleetPause:
    return FleetPause(store, CacheKeys("test"), max_seconds=600, clock=clock)


def test_a_pause_one_worker_hears_stops_every_worker_until_then(store, clock):
    first, second = worker(store, clock), worker(store, clock)
    assert first.admit() is False and second.admit() is False
    assert first.pause("10") == 10
    clock.advance(4)
    for paused in (first, second):
        with pytest.raises(PassportPaused) as refused:
            paused.admit()
        assert refused.value.retry_after == 6


def test_when_the_pause_ends_one_call_probes_for_the_fleet_and_its_answer_lifts_the_pause(store, clock):
    first, second = worker(store, clock), worker(store, clock)
    first.pause("10")
    clock.advance(10)
    assert first.admit() is True  # the probe
    with pytest.raises(PassportPaused):
        second.admit()
    first.resume()
    assert second.admit() is False and first.admit() is False


def test_a_probe_that_is_refused_again_starts_a_new_pause(store, clock):
    first, second = worker(store, clock), worker(store, clock)
    first.pause("10")
    clock.advance(10)
    assert second.admit() is True
    second.pause("20")
    clock.advance(1)
    with pytest.raises(PassportPaused) as refused:
        first.admit()
    assert refused.value.retry_after == 19


def test_a_probe_that_never_answers_frees_the_fleet_after_its_window(store, clock):
    first, second = worker(store, clock), worker(store, clock)
    first.pause("10")
    clock.advance(10)
    assert first.admit() is True  # ... and this worker dies
    clock.advance(PROBE_WINDOW_SECONDS)
    assert second.admit() is False


class DeadStore(MemoryStore):
    def get(self, key):
        raise StoreUnavailable("down")

    def set(self, key, value, ttl_seconds):
        raise StoreUnavailable("down")

    def delete(self, key):
        raise StoreUnavailable("down")


def test_with_redis_down_the_pause_is_this_workers_alone(clock):
    alone = worker(DeadStore(clock), clock)
    assert alone.admit() is False
    alone.pause("5")
    with pytest.raises(PassportPaused):
        alone.admit()
    clock.advance(5)
    assert alone.admit() is False


def test_calls_in_flight_past_the_limit_fail_at_once():
    limit = InFlightLimit(2)
    with limit, limit:
        with pytest.raises(PassportOverloaded):
            limit.__enter__()
    with limit:
        pass  # the slots came back


def test_retries_stay_within_their_share_of_the_calls():
    clock = FakeClock(0.0)
    budget = RetryBudget(0.1, clock=clock)
    for _ in range(100):
        budget.called()
    allowed = sum(budget.may_retry() for _ in range(50))
    assert allowed == 10
    clock.advance(RETRY_WINDOW_SECONDS + 1)  # the window moved on: only the floor is left
    assert sum(budget.may_retry() for _ in range(10)) == MIN_RETRIES


def test_a_probe_that_got_no_answer_lets_the_next_call_probe_at_once(store, clock):
    first, second = worker(store, clock), worker(store, clock)
    first.pause("10")
    clock.advance(10)
    assert first.admit() is True
    first.probe_failed()  # a timeout, a reset: nothing learnt
    assert second.admit() is True
