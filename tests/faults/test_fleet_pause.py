"""Passport's back-pressure honoured by the whole fleet: one 429 with ``Retry-After: 3`` on one
worker, and no worker of either instance calls Passport until then — stale copies are served,
other lookups get a 503 with the time left — then one probe, and calls resume.

Two gunicorn instances × 2 gevent workers on one Redis; the emulator answers one 429. Bounded:
about 5 s of lookups.
"""
from __future__ import annotations

import time

from tests.support.cluster import Cluster, fetch, poll

PAUSE_SECONDS = 3


def test_one_429_pauses_every_worker_of_every_instance_until_its_retry_after():
    with Cluster(CACHE_TTL_MIN_SECONDS=1, CACHE_TTL_MAX_SECONDS=1, CACHE_REFRESH_AHEAD=0) as cluster:
        instances = [cluster.start_instance(workers=2) for _ in range(2)]
        ids = cluster.emulator.customer_ids(40)
        warm = ids[0]
        assert fetch(instances[0].customer_url(warm)).ok
        time.sleep(1.1)  # the warm copy is now stale: it may answer during the pause
        calls_before = cluster.emulator.customer_calls()

        cluster.emulator.fault(status=429, retry_after=str(PAUSE_SECONDS), times=1)
        first = fetch(instances[0].customer_url(ids[1]))
        paused_at = time.monotonic()
        assert (first.status, first.headers.get("Retry-After")) == (503, str(PAUSE_SECONDS))

        during = []
        for index, customer_id in enumerate(ids[2:30]):
            if time.monotonic() > paused_at + PAUSE_SECONDS - 0.5:
                break
            during.append(fetch(instances[index % 2].customer_url(customer_id)))
        stale = fetch(instances[1].customer_url(warm))
        calls_while_paused = cluster.emulator.customer_calls() - calls_before

        time.sleep(max(0.0, paused_at + PAUSE_SECONDS + 0.1 - time.monotonic()))
        after = poll(lambda: fetch(instances[1].customer_url(ids[35])), lambda answer: answer.ok,
                     "calls resume after the pause", timeout=5)

    assert len(during) >= 5
    assert {answer.status for answer in during} == {503}
    assert all(answer.json()["type"].endswith(":upstream-rate-limited") for answer in during)
    assert all(1 <= int(answer.headers["Retry-After"]) <= PAUSE_SECONDS for answer in during)
    assert (stale.status, stale.x_cache) == (200, "STALE")
    assert calls_while_paused == 1  # the 429 itself: nothing else reached Passport while paused
    assert after.x_cache == "MISS"
