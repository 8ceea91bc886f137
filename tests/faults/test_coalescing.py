"""Request coalescing: a burst of misses for one cold id costs Passport one call, cluster-wide.

Two gunicorn instances × 4 workers share one Redis; 200 requests for one cold customer leave
together (64 threads released by a barrier) while the emulator takes 300 ms over that customer,
so nearly all of them arrive while the first fetch is still in flight.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.cluster import Answer, Cluster, Tally, burst

REQUESTS = 200
CONCURRENCY = 64
INSTANCES = 2
WORKERS = 4
UPSTREAM_LATENCY_MS = 300


@dataclass
class BurstRun:
    customer_id: str
    answers: list[Answer]
    customer_calls: int
    token_calls: int


@pytest.fixture(scope="module")
def run() -> Iterator[BurstRun]:
    with Cluster() as cluster:
        instances = [cluster.start_instance(workers=WORKERS) for _ in range(INSTANCES)]
        customer_id = cluster.emulator.customer_ids(10)[7]
        cluster.emulator.fault(customer_id=customer_id, latency_ms=UPSTREAM_LATENCY_MS)
        urls = [instances[n % INSTANCES].customer_url(customer_id) for n in range(REQUESTS)]
        answers = burst(urls, CONCURRENCY)
        yield BurstRun(customer_id, answers, cluster.emulator.customer_calls(customer_id),
                       cluster.emulator.token_calls())


def test_every_request_of_the_burst_is_answered_200(run):
    assert len(run.answers) == REQUESTS
    lost = [answer for answer in run.answers if not answer.ok]
    assert lost == [], Tally.of(run.answers)


def test_every_answer_carries_the_same_customer(run):
    assert len({answer.body for answer in run.answers}) == 1
    assert run.answers[0].json()["id"] == run.customer_id


def test_passport_is_asked_once_for_the_whole_burst(run):
    assert run.customer_calls == 1


def test_at_most_one_token_is_fetched_for_the_whole_burst(run):
    assert run.token_calls <= 1


def test_one_answer_stored_the_fetch_and_the_others_waited_for_it_or_hit(run):
    statuses = [answer.headers.get("Cache-Status", "") for answer in run.answers]
    stored = [status for status in statuses if "fwd=miss" in status and "stored" in status]
    assert len(stored) == 1, statuses[:5]
    others = [status for status in statuses if status not in stored]
    assert all("collapsed" in status or "; hit" in status for status in others), sorted(set(others))
    assert any("collapsed" in status for status in others), "no request waited for the fetch in flight"
