"""A revocation after Redis came back empty: every lookup still gets its customer, none a 502.

Two instances × 2 workers hold Passport token T1 in-process; redis-server is SIGKILLed and
restarted empty; a third instance, just started, fetches T2 into Redis; then Passport revokes every
token. A worker whose T1 is refused finds T2 in Redis — refused too, since it predates the same
revocation. That second refusal says nothing about the credentials: the worker must ask for a token
of its own, not answer ``upstream-auth-failed`` (it used to, for 1–2 of 15 lookups).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.cluster import Answer, Cluster, fetch, poll

INSTANCES = 2
WORKERS = 2
WARM_LOOKUPS = 24  # per instance, on distinct ids: every worker ends up holding T1
LOOKUPS_AFTER_REVOCATION = 16
SETTLED_ANSWERS = 6  # consecutive answers through Redis per instance after its restart


@dataclass
class Revocation:
    answers: list[Answer]
    token_calls_after_revocation: int


def answered_through_redis(url: str) -> bool:
    answer = fetch(url, timeout=5)
    return answer.ok and "bypass" not in answer.headers.get("Cache-Status", "")


@pytest.fixture(scope="module")
def revocation() -> Iterator[Revocation]:
    with Cluster(REDIS_BREAKER_RESET_SECONDS=0.2) as cluster:
        holders = [cluster.start_instance(workers=WORKERS) for _ in range(INSTANCES)]
        ids = iter(cluster.emulator.customer_ids(200))
        for holder in holders:
            for _ in range(WARM_LOOKUPS):
                assert fetch(holder.customer_url(next(ids))).ok
        assert cluster.emulator.token_calls() == 1  # T1, shared by every worker
        cluster.redis.kill()
        cluster.redis.start()  # same port, empty
        for holder in holders:
            poll(lambda h=holder: all(answered_through_redis(h.customer_url(next(ids)))
                                      for _ in range(SETTLED_ANSWERS)),
                 bool, "lookups through the restarted Redis")
        assert fetch(cluster.start_instance(workers=1).customer_url(next(ids))).ok  # T2, now in Redis
        assert cluster.emulator.token_calls() == 2
        cluster.emulator.revoke_tokens()
        answers = [fetch(holders[n % INSTANCES].customer_url(next(ids))) for n in range(LOOKUPS_AFTER_REVOCATION)]
        yield Revocation(answers, cluster.emulator.token_calls() - 2)


def test_every_lookup_after_the_revocation_gets_its_customer(revocation):
    assert [answer.status for answer in revocation.answers] == [200] * LOOKUPS_AFTER_REVOCATION, revocation.answers


def test_new_tokens_are_asked_for_at_most_once_per_worker(revocation):
    assert 1 <= revocation.token_calls_after_revocation <= INSTANCES * WORKERS
