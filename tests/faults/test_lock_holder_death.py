"""The instance holding a customer's fetch lock dies mid-fetch: the others are not wedged by it.

Instance A (1 worker) takes the lock for a cold id and asks Passport, which the emulator holds
for 5 s. As soon as the emulator has counted that call, A is SIGKILLed — master first (so nothing
respawns), then its worker (pids found under the master in ``/proc``; see
``tests.support.cluster.Instance.kill``) — so the lock is never released. Then instance B, on the
same Redis, is asked for that id with the fault cleared. A's lock lives one lease
(``CACHE_LOCK_LEASE_SECONDS``) after A's last renewal of it (``app.store.lock``), so B must answer
200 once the lock wait or that lease runs out, whichever comes first:

- "lock-wait-first": lease 8 s, ``CACHE_LOCK_WAIT_SECONDS=3``: B gives up waiting after 3 s and
  fetches itself.
- "lease-first": lease 1 s, ``CACHE_LOCK_WAIT_SECONDS=30``: the dead holder's lock expires and B
  takes over long before its wait is over.

A's read timeout and deadline are longer than the moment it is killed, so its fetch is in flight.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis

from tests.support.cluster import Answer, Cluster, clear_faults, fetch, pid_alive, poll
from tests.support.keys import STORE_KEYS

UPSTREAM_LATENCY_MS = 5000
MARGIN_SECONDS = 3.0


SCENARIOS = {
    "lock-wait-first": {
        "PASSPORT_CONNECT_TIMEOUT_SECONDS": 0.5, "PASSPORT_TIMEOUT_SECONDS": 8,
        "PASSPORT_DEADLINE_SECONDS": 8, "CACHE_LOCK_WAIT_SECONDS": 3, "CACHE_LOCK_LEASE_SECONDS": 8,
    },
    "lease-first": {
        "PASSPORT_CONNECT_TIMEOUT_SECONDS": 0.5, "PASSPORT_TIMEOUT_SECONDS": 8,
        "PASSPORT_DEADLINE_SECONDS": 8, "CACHE_LOCK_WAIT_SECONDS": 30, "CACHE_LOCK_LEASE_SECONDS": 1,
    },
}


def lock_ttl(settings: dict) -> float:
    return settings["CACHE_LOCK_LEASE_SECONDS"]


@dataclass
class Takeover:
    scenario: str
    settings: dict
    customer_id: str
    a_answer: Answer
    a_workers: list[int]
    lock_ttl_left: float
    b_answer: Answer
    next_answer: Answer
    b_misses: int
    calls: int


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def run(request) -> Iterator[Takeover]:
    scenario, settings = request.param, SCENARIOS[request.param]
    with Cluster(**settings) as cluster:
        a = cluster.start_instance(workers=1)
        b = cluster.start_instance(workers=1)
        customer_id = cluster.emulator.customer_ids(10)[6]
        # Warm the shared token through B, so that A's only Passport call is the customer fetch.
        assert fetch(b.customer_url(cluster.emulator.customer_ids(1)[0])).ok
        cluster.emulator.fault(customer_id=customer_id, latency_ms=UPSTREAM_LATENCY_MS)
        a_answers: list[Answer] = []
        asking_a = threading.Thread(target=lambda: a_answers.append(fetch(a.customer_url(customer_id), timeout=15)))
        asking_a.start()
        try:
            poll(lambda: cluster.emulator.customer_calls(customer_id), lambda n: n >= 1,
                 "A's fetch reaching Passport", timeout=5)
            client = redis.Redis.from_url(cluster.redis_url, socket_timeout=2)
            lock_ttl_left = client.pttl(STORE_KEYS.of("customer").lock(customer_id)) / 1000
            client.close()
            a_workers = a.kill()
        finally:
            asking_a.join(20)
        clear_faults(cluster.emulator)
        b_answers = [fetch(b.customer_url(customer_id), timeout=40)]

        def ask_b_again() -> Answer:
            b_answers.append(fetch(b.customer_url(customer_id), timeout=40))
            return b_answers[-1]

        # Until the dead holder's lock expires, a waiter that gives up fetches without caching.
        next_answer = poll(ask_b_again, lambda x: x.x_cache == "HIT",
                           "a HIT after the takeover", timeout=lock_ttl(settings) + MARGIN_SECONDS)
        b_misses = sum(1 for answer in b_answers if answer.x_cache != "HIT")
        yield Takeover(scenario, settings, customer_id, a_answers[0], a_workers, lock_ttl_left, b_answers[0],
                       next_answer, b_misses, cluster.emulator.customer_calls(customer_id))


def test_the_lock_holder_died_without_answering(run):
    assert run.a_workers, "A had no worker to kill"
    assert not any(pid_alive(pid) for pid in run.a_workers)
    assert run.a_answer.status is None, run.a_answer  # the connection was cut, no answer came


def test_the_holder_held_a_lock_living_one_lease(run):
    lease = lock_ttl(run.settings)
    assert 0 < run.lock_ttl_left <= lease, (run.lock_ttl_left, lease)


def test_another_instance_answers_the_id_with_200(run):
    assert run.b_answer.status == 200, run.b_answer
    assert run.b_answer.json()["id"] == run.customer_id


def test_it_answers_once_the_lock_wait_or_the_lock_ttl_runs_out(run):
    bound = min(run.settings["CACHE_LOCK_WAIT_SECONDS"], lock_ttl(run.settings)) + MARGIN_SECONDS
    assert run.b_answer.elapsed < bound, run.b_answer


def test_the_id_is_cached_again_afterwards(run):
    assert run.next_answer.x_cache == "HIT"
    assert run.next_answer.body == run.b_answer.body


def test_passport_was_asked_once_by_a_and_once_per_answer_of_b_that_was_not_a_hit(run):
    assert run.calls == 1 + run.b_misses, (run.calls, run.b_misses)


def test_b_fetches_without_caching_only_while_the_dead_holders_lock_lives(run):
    # Lock TTL first: B takes the expired lock over and caches at once (one miss). Lock wait
    # first: each of B's lookups gives up after the wait until the lock expires (a few misses).
    wait, ttl = run.settings["CACHE_LOCK_WAIT_SECONDS"], lock_ttl(run.settings)
    most = 1 if ttl <= wait else int(ttl // wait) + 1
    assert 1 <= run.b_misses <= most, (run.b_misses, most)
