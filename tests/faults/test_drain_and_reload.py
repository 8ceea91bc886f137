"""Stopping and reloading an instance under load loses no request (real gunicorn, real clients).

The contract (README "Readiness, draining and reload"):

- SIGTERM starts a drain: ``/readyz`` answers 503 ``draining`` at once, while every request is
  still served — new connections included — for ``DRAIN_SECONDS``; each answer then closes its
  connection so that clients reconnect (through the gateway, elsewhere). Then gunicorn's graceful
  stop: the listener closes, requests in flight finish, and the master exits 0. Requests that
  arrive after the listener closed are refused at connect, for the gateway to route elsewhere:
  those are the only ones that may fail.
- A second SIGTERM ends the drain at once and still exits 0; so does SIGTERM during a reload.
- SIGHUP replaces every worker with no failed request.
"""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import requests

from tests.support.cluster import Answer, Cluster, LoadRunner, fetch, poll

DRAIN_SECONDS = 3.0
GRACEFUL_SECONDS = 5
SLOW_FETCH_MS = 2000
LOAD_THREADS = 4

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def cluster():
    with Cluster() as running:
        yield running


@pytest.fixture
def instance(cluster):
    cluster.emulator.reset()
    cluster.flush_redis()
    started = cluster.start_instance(workers=2, DRAIN_SECONDS=DRAIN_SECONDS,
                                     GUNICORN_GRACEFUL_TIMEOUT=GRACEFUL_SECONDS)
    yield started
    started.stop()


def readiness(base_url: str) -> tuple[int, str]:
    """``/readyz``'s status code and body status, on a connection of its own."""
    answer = requests.get(f"{base_url}/readyz", timeout=2, headers={"Connection": "close"})
    return answer.status_code, answer.json()["status"]


def turned_away(answer: Answer) -> bool:
    """The connection was refused or reset before any answer: the listener was closing or closed."""
    return answer.status is None and ("Connection refused" in (answer.error or "")
                                      or "Connection reset" in (answer.error or ""))


def warmed_urls(cluster: Cluster, instance, count: int = 5) -> list[str]:
    urls = [instance.customer_url(customer_id) for customer_id in cluster.emulator.customer_ids(count)]
    for url in urls:
        assert fetch(url).ok
    return urls


def test_sigterm_drains_then_stops_cleanly_with_no_failed_request(cluster, instance):
    urls = warmed_urls(cluster, instance)
    slow_id = cluster.emulator.customer_ids(6)[-1]
    cluster.emulator.fault(customer_id=slow_id, latency_ms=SLOW_FETCH_MS, times=1)
    slow_answers: list[Answer] = []

    with LoadRunner(urls, threads=LOAD_THREADS, max_seconds=DRAIN_SECONDS + GRACEFUL_SECONDS + 10,
                    timeout=10) as load:
        poll(lambda: len(load.answers()), lambda n: n >= 20, "load under way", timeout=10)
        before = readiness(instance.base_url)
        told = time.monotonic()
        os.kill(instance.process.pid, signal.SIGTERM)
        poll(lambda: readiness(instance.base_url), lambda ready: ready == (503, "draining"),
             "/readyz says draining", timeout=2)
        # A request that starts shortly before the drain ends is still in flight when the listener
        # closes; the graceful stop lets it finish.
        time.sleep(max(0.0, told + DRAIN_SECONDS - 0.5 - time.monotonic()))
        slow = threading.Thread(target=lambda: slow_answers.append(fetch(instance.customer_url(slow_id), timeout=10)))
        slow.start()
        exit_code = instance.process.wait(DRAIN_SECONDS + GRACEFUL_SECONDS + 10)
        stopped = time.monotonic()
        slow.join(10)
        answers = load.stop()

    assert before == (200, "ready")
    assert exit_code == 0
    assert stopped - told >= DRAIN_SECONDS, "the listener stayed open for the whole drain"
    # Every request sent before the drain's end was answered (the drain's timer starts after ``told``).
    during_drain = [a for a in answers if told <= a.started < told + DRAIN_SECONDS]
    assert len(during_drain) >= 20, during_drain
    assert [a for a in answers if a.started < told + DRAIN_SECONDS and not a.ok] == []
    # Later ones were answered, or turned away at the socket for the gateway to send elsewhere:
    # never an error answer, never a connection cut after its request was taken.
    after = [a for a in answers if a.started >= told + DRAIN_SECONDS]
    assert [a for a in after if not a.ok and not turned_away(a)] == []
    # Each answer of the drain closed its connection: clients reconnected, and were served.
    settled = [a for a in during_drain if a.started > told + 0.5]
    assert settled and all(a.headers.get("Connection", "").lower() == "close" for a in settled)
    assert [(a.status, a.x_cache) for a in slow_answers] == [(200, "MISS")], slow_answers


def test_a_second_sigterm_ends_the_drain_at_once_and_exits_cleanly(cluster):
    instance = cluster.start_instance(workers=1, DRAIN_SECONDS=60, GUNICORN_GRACEFUL_TIMEOUT=GRACEFUL_SECONDS)
    try:
        os.kill(instance.process.pid, signal.SIGTERM)
        poll(lambda: readiness(instance.base_url), lambda ready: ready == (503, "draining"),
             "/readyz says draining", timeout=2)
        assert fetch(instance.customer_url(cluster.emulator.customer_ids(1)[0])).ok, "still serving"
        os.kill(instance.process.pid, signal.SIGTERM)
        assert instance.process.wait(GRACEFUL_SECONDS + 10) == 0  # long before the 60 s drain
    finally:
        instance.stop()


def test_sighup_reloads_every_worker_with_no_failed_request(cluster, instance):
    urls = warmed_urls(cluster, instance)
    master = instance.process.pid
    with LoadRunner(urls, threads=LOAD_THREADS, max_seconds=40, timeout=10) as load:
        for _reload in range(2):
            answers_after(load, 20, "load under way")
            old_workers = set(instance.worker_pids())
            os.kill(master, signal.SIGHUP)
            poll(lambda: set(instance.worker_pids()), lambda pids: len(pids) == 2 and not pids & old_workers,  # noqa: B023
                 "every worker replaced after SIGHUP", timeout=20)
        answers_after(load, 50, "load served by the new workers")
        answers = load.stop()
    assert readiness(instance.base_url) == (200, "ready")
    assert [a for a in answers if not a.ok] == []
    assert len(answers) >= 90


def answers_after(load: LoadRunner, more: int, what: str) -> None:
    """Wait until ``load`` has ``more`` answers than now."""
    floor = len(load.answers())
    poll(lambda: len(load.answers()), lambda count: count >= floor + more, what, timeout=10)


def test_sigterm_during_a_reload_still_ends_in_a_clean_exit(cluster, instance):
    os.kill(instance.process.pid, signal.SIGHUP)
    os.kill(instance.process.pid, signal.SIGTERM)
    assert instance.process.wait(DRAIN_SECONDS + 2 * GRACEFUL_SECONDS + 10) == 0
