"""Retries within a deadline: only what another attempt may fix is retried, and never past the budget.

``PASSPORT_RETRIES`` extra attempts for connection errors and Passport 502/503/504 only (not 500,
not timeouts, which would double the load on a slow Passport), all inside
``PASSPORT_DEADLINE_SECONDS``. The breaker threshold is set out of reach so it never interferes, and
the retry budget (``PASSPORT_RETRY_BUDGET``) allows every call all its retries, so that these tests
count attempts per call (the budget has its own test, ``tests/integration/test_passport_bulkhead.py``).
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.cluster import Cluster, Instance, fetch, problem

RETRIES = 2
READ_TIMEOUT_SECONDS = 0.5
SETTINGS = {
    "PASSPORT_RETRIES": RETRIES,
    "PASSPORT_RETRY_BACKOFF_SECONDS": 0.05,
    "PASSPORT_TIMEOUT_SECONDS": READ_TIMEOUT_SECONDS,
    "PASSPORT_BREAKER_FAILURES": 1000,
    "PASSPORT_RETRY_BUDGET": 10,
}
TIGHT_DEADLINE_SECONDS = 1.0
SLOW_ERROR_LATENCY_MS = 400


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with Cluster(**SETTINGS) as cluster:
        cluster.start_instance(workers=1)
        cluster.start_instance(workers=1, PASSPORT_RETRIES=10, PASSPORT_DEADLINE_SECONDS=TIGHT_DEADLINE_SECONDS)
        yield cluster


@pytest.fixture
def instance(cluster) -> Instance:
    return cluster.instances[0]


class Ids:
    """A distinct cold customer per test, from the emulator's seed."""

    def __init__(self, cluster: Cluster) -> None:
        self._ids = iter(cluster.emulator.customer_ids(60)[30:])

    def __call__(self) -> str:
        return next(self._ids)


@pytest.fixture(scope="module")
def cold_id(cluster) -> Ids:
    return Ids(cluster)


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_passing_502_503_or_504_is_retried_and_the_customer_served(cluster, instance, cold_id, status):
    customer_id = cold_id()
    cluster.emulator.fault(customer_id=customer_id, status=status, times=RETRIES)
    answer = fetch(instance.customer_url(customer_id))
    assert answer.status == 200, answer
    assert cluster.emulator.customer_calls(customer_id) == RETRIES + 1


def test_retries_stop_after_passport_retries_extra_attempts(cluster, instance, cold_id):
    customer_id = cold_id()
    cluster.emulator.fault(customer_id=customer_id, status=503)
    problem(fetch(instance.customer_url(customer_id)), 502)
    assert cluster.emulator.customer_calls(customer_id) == RETRIES + 1


def test_a_500_is_not_retried(cluster, instance, cold_id):
    customer_id = cold_id()
    cluster.emulator.fault(customer_id=customer_id, status=500)
    problem(fetch(instance.customer_url(customer_id)), 502)
    assert cluster.emulator.customer_calls(customer_id) == 1


def test_a_timeout_is_not_retried(cluster, instance, cold_id):
    customer_id = cold_id()
    cluster.emulator.fault(customer_id=customer_id, latency_ms=int(READ_TIMEOUT_SECONDS * 1000) + 1500)
    problem(fetch(instance.customer_url(customer_id)), 504)
    assert cluster.emulator.customer_calls(customer_id) == 1


def test_the_deadline_cuts_retries_short(cluster, cold_id):
    # 10 retries of a 503 that takes 0.4 s would need 4.4 s; the deadline is 1 s.
    instance = cluster.instances[1]
    customer_id = cold_id()
    cluster.emulator.fault(customer_id=customer_id, status=503, latency_ms=SLOW_ERROR_LATENCY_MS)
    answer = fetch(instance.customer_url(customer_id))
    assert answer.status in (502, 503, 504), answer
    problem(answer, answer.status)
    assert cluster.emulator.customer_calls(customer_id) <= TIGHT_DEADLINE_SECONDS * 1000 // SLOW_ERROR_LATENCY_MS + 1
    assert answer.elapsed < TIGHT_DEADLINE_SECONDS + 1.0, answer  # generous: 4.4 s without a deadline


def test_a_slow_answer_is_cut_at_the_deadline_even_within_the_read_timeout(make_cluster):
    # Read timeout 5 s, deadline 1 s, Passport takes 3 s: the deadline wins.
    cluster = make_cluster(PASSPORT_TIMEOUT_SECONDS=5, PASSPORT_DEADLINE_SECONDS=TIGHT_DEADLINE_SECONDS)
    instance = cluster.start_instance(workers=1)
    customer_id = cluster.emulator.customer_ids(3)[2]
    cluster.emulator.fault(customer_id=customer_id, latency_ms=3000)
    answer = fetch(instance.customer_url(customer_id))
    problem(answer, 504)
    assert answer.elapsed < TIGHT_DEADLINE_SECONDS + 1.0, answer
