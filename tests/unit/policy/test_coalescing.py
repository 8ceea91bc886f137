"""In-process coalescing: concurrent callers of one key share one call and its outcome."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.policy.coalescing import SingleFlight

CALLERS = 8


def run_concurrently(flight: SingleFlight, key: str, fn, release: threading.Event):
    with ThreadPoolExecutor(CALLERS) as pool:
        futures = [pool.submit(flight.run, key, fn) for _ in range(CALLERS)]
        release.set()
        return [future.exception() or future.result() for future in futures]


def test_concurrent_callers_share_one_call():
    calls = []
    release = threading.Event()

    def slow():
        calls.append(1)
        release.wait(5)
        return "value"

    results = run_concurrently(SingleFlight(10), "k", slow, release)
    assert [value for value, _ in results] == ["value"] * CALLERS
    assert sum(ran for _, ran in results) == len(calls)
    assert len(calls) < CALLERS


def test_followers_get_the_leaders_error():
    release = threading.Event()

    def failing():
        release.wait(5)
        raise LookupError("upstream down")

    results = run_concurrently(SingleFlight(10), "k", failing, release)
    assert all(isinstance(result, LookupError) for result in results)


def test_different_keys_do_not_wait_for_each_other():
    flight = SingleFlight(10)
    assert flight.run("a", lambda: 1) == (1, True)
    assert flight.run("b", lambda: 2) == (2, True)


def test_a_key_runs_again_after_its_call_finished():
    flight = SingleFlight(10)
    flight.run("k", lambda: 1)
    assert flight.run("k", lambda: 2) == (2, True)


def test_follower_runs_itself_when_the_leader_takes_too_long():
    flight = SingleFlight(max_wait_seconds=0.05)
    leader_started, leader_release = threading.Event(), threading.Event()

    def leader():
        leader_started.set()
        leader_release.wait(5)
        return "leader"

    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(flight.run, "k", leader)
        leader_started.wait(5)
        assert flight.run("k", lambda: "follower") == ("follower", True)
        leader_release.set()
        assert future.result() == ("leader", True)


def test_error_is_raised_to_the_leader_too():
    with pytest.raises(LookupError):
        SingleFlight(10).run("k", lambda: (_ for _ in ()).throw(LookupError()))
