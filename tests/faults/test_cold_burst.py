"""A cold burst: 1,000 requests at once for one cold customer cost Passport one call, cluster-wide.

Two gunicorn instances × 4 gevent workers, just booted, share one Redis; the emulator takes 300 ms
over that customer. Every connection is open before any request leaves (``socket_burst``), so a
worker holds hundreds of requests at once — more than redis-py's default pool of 100 connections,
whose refusals used to count as Redis failing: the breaker opened and the workers went to Passport
alone (5–8 calls, most answers ``fwd=bypass``). Bounded: one burst, each answer within 30 s.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from tests.support.cluster import Cluster
from tests.support.socket_burst import RawAnswer, socket_burst

REQUESTS = 1_000
INSTANCES = 2
WORKERS = 4
UPSTREAM_LATENCY_MS = 300
BURST_TIMEOUT_SECONDS = 30.0


@dataclass
class ColdBurst:
    customer_id: str
    answers: list[RawAnswer]
    customer_calls: int
    token_calls: int


@pytest.fixture(scope="module")
def cold_burst() -> Iterator[ColdBurst]:
    with Cluster() as cluster:
        instances = [urlsplit(cluster.start_instance(workers=WORKERS).base_url) for _ in range(INSTANCES)]
        customer_id = cluster.emulator.customer_ids(10)[7]
        cluster.emulator.fault(customer_id=customer_id, latency_ms=UPSTREAM_LATENCY_MS)
        targets = [(instances[n % INSTANCES].hostname or "", instances[n % INSTANCES].port or 0,
                    f"/v1/customers/{customer_id}") for n in range(REQUESTS)]
        answers = socket_burst(targets, timeout=BURST_TIMEOUT_SECONDS)
        yield ColdBurst(customer_id, answers, cluster.emulator.customer_calls(customer_id),
                        cluster.emulator.token_calls())


def test_every_request_is_answered_with_the_customer(cold_burst):
    assert Counter(answer.status for answer in cold_burst.answers) == {200: REQUESTS}, \
        Counter(answer.error for answer in cold_burst.answers)
    assert {answer.body for answer in cold_burst.answers} == {cold_burst.answers[0].body}
    assert cold_burst.customer_id.encode() in cold_burst.answers[0].body


def test_passport_is_asked_once_for_the_customer_and_once_for_a_token(cold_burst):
    assert (cold_burst.customer_calls, cold_burst.token_calls) == (1, 1)


def test_no_answer_went_around_the_cache(cold_burst):
    outcomes = Counter(answer.headers.get("cache-status", "") for answer in cold_burst.answers)
    assert not [status for status in outcomes if "bypass" in status], outcomes
    assert outcomes["passport-bff; fwd=miss; stored"] == 1, outcomes
