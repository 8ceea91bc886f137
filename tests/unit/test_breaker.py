"""The circuit breaker: opens on consecutive failures, fails fast, probes once, closes on success."""
from __future__ import annotations

import pytest

from app.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, CircuitOpen
from tests.support.clock import FakeClock


class Boom(Exception):
    pass


def counts(exc: BaseException) -> bool:
    return isinstance(exc, Boom)


def fail(breaker: CircuitBreaker, error: Exception | None = None) -> None:
    with pytest.raises(type(error or Boom())):
        with breaker.guard(counts):
            raise error or Boom()


def succeed(breaker: CircuitBreaker) -> None:
    with breaker.guard(counts):
        pass


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(0.0)


@pytest.fixture
def breaker(clock) -> CircuitBreaker:
    return CircuitBreaker("dep", failure_threshold=3, reset_seconds=10, clock=clock)


def test_stays_closed_below_the_threshold(breaker):
    fail(breaker)
    fail(breaker)
    assert breaker.state == CLOSED


def test_opens_after_consecutive_failures_and_fails_fast(breaker):
    for _ in range(3):
        fail(breaker)
    assert breaker.state == OPEN
    with pytest.raises(CircuitOpen) as excinfo:
        succeed(breaker)
    assert excinfo.value.retry_after == 10


def test_a_success_resets_the_count(breaker):
    fail(breaker)
    fail(breaker)
    succeed(breaker)
    fail(breaker)
    fail(breaker)
    assert breaker.state == CLOSED


def test_errors_that_do_not_count_leave_the_count_alone(breaker):
    for _ in range(5):
        fail(breaker, ValueError("a 404, say"))
    assert breaker.state == CLOSED


def test_half_open_after_the_reset_time_admits_one_trial(breaker, clock):
    for _ in range(3):
        fail(breaker)
    clock.now += 10
    assert breaker.state == HALF_OPEN
    breaker.before_call()  # the trial is in flight
    with pytest.raises(CircuitOpen):
        breaker.before_call()


def test_successful_trial_closes(breaker, clock):
    for _ in range(3):
        fail(breaker)
    clock.now += 10
    succeed(breaker)
    assert breaker.state == CLOSED


def test_failed_trial_opens_again_for_a_full_period(breaker, clock):
    for _ in range(3):
        fail(breaker)
    clock.now += 10
    fail(breaker)
    assert breaker.state == OPEN
    clock.now += 9
    assert breaker.state == OPEN


def test_neutral_trial_lets_the_next_call_probe(breaker, clock):
    for _ in range(3):
        fail(breaker)
    clock.now += 10
    fail(breaker, ValueError("not a health signal"))
    succeed(breaker)
    assert breaker.state == CLOSED


def test_retry_after_counts_down(breaker, clock):
    for _ in range(3):
        fail(breaker)
    clock.now += 4
    with pytest.raises(CircuitOpen) as excinfo:
        breaker.before_call()
    assert excinfo.value.retry_after == 6


def test_states_are_reported_on_transitions_only(clock):
    reported: list[tuple[str, str]] = []
    breaker = CircuitBreaker("passport", 2, 10, clock, on_state=lambda name, state: reported.append((name, state)))
    for _ in range(3):
        succeed(breaker)
    fail(breaker)
    fail(breaker)
    clock.now += 10
    succeed(breaker)  # the half-open trial
    succeed(breaker)
    assert reported == [("passport", CLOSED), ("passport", OPEN), ("passport", HALF_OPEN), ("passport", CLOSED)]
