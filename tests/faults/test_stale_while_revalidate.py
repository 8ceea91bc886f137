"""Stale-while-revalidate: past freshness, the stale copy is served at once and one refresh runs.

The customer is cached with 1 s of freshness (updated 10 s ago, factor 0.1). Passport then changes
it (``updated_at`` 5000 s ago: a new body, 500 s fresh) and the emulator holds that customer's calls
for 1.5 s, so the background refresh stays in flight while we look. Two instances × 2 workers:
the single refresh is cluster-wide, not per process.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.support.cluster import Answer, Cluster, Tally, burst, fetch, iso_utc, poll

UPSTREAM_LATENCY_MS = 1500
BURST_REQUESTS = 40
SETTINGS = {
    "CACHE_TTL_MIN_SECONDS": 1,
    "CACHE_TTL_MAX_SECONDS": 3600,
    "CACHE_STALE_WHILE_REVALIDATE_SECONDS": 60,
}


@dataclass
class Revalidation:
    customer_id: str
    old: Answer
    first_stale: Answer
    stale_burst: list[Answer] = field(repr=False)
    calls_after_refresh_began: int
    refreshed: Answer
    old_updated_at: str
    new_updated_at: str
    calls_in_the_end: int


@pytest.fixture(scope="module")
def run() -> Iterator[Revalidation]:
    with Cluster(**SETTINGS) as cluster:
        instances = [cluster.start_instance(workers=2) for _ in range(2)]
        emulator = cluster.emulator
        customer_id = emulator.customer_ids(10)[4]
        old_updated_at = emulator.touch_customer(customer_id, iso_utc(10))["updated_at"]
        old = fetch(instances[0].customer_url(customer_id))
        assert (old.status, old.x_cache) == (200, "MISS"), old
        new_updated_at = emulator.touch_customer(customer_id, iso_utc(5000))["updated_at"]
        emulator.fault(customer_id=customer_id, latency_ms=UPSTREAM_LATENCY_MS)

        first_stale = poll(lambda: fetch(instances[0].customer_url(customer_id)), lambda a: a.x_cache != "HIT",
                           "the copy going stale", timeout=5)
        urls = [instances[n % 2].customer_url(customer_id) for n in range(BURST_REQUESTS)]
        stale_burst = burst(urls, concurrency=BURST_REQUESTS)
        calls_after_refresh_began = poll(lambda: emulator.customer_calls(customer_id), lambda n: n >= 2,
                                         "the background refresh reaching Passport", timeout=5)
        refreshed = poll(lambda: fetch(instances[1].customer_url(customer_id)),
                         lambda a: not a.ok or a.json()["updatedAt"] != old.json()["updatedAt"],
                         "the refreshed copy being served", timeout=UPSTREAM_LATENCY_MS / 1000 + 5)
        yield Revalidation(customer_id, old, first_stale, stale_burst, calls_after_refresh_began, refreshed,
                           old_updated_at, new_updated_at, emulator.customer_calls(customer_id))


def test_first_answer_past_freshness_is_the_stale_copy(run):
    assert (run.first_stale.status, run.first_stale.x_cache) == (200, "STALE"), run.first_stale
    assert run.first_stale.body == run.old.body


def test_stale_copy_is_served_without_waiting_for_the_refresh(run):
    assert run.first_stale.elapsed < UPSTREAM_LATENCY_MS / 1000 / 2, run.first_stale


def test_stale_answer_names_stale_while_revalidate_in_cache_status(run):
    status = run.first_stale.headers.get("Cache-Status", "")
    assert "hit" in status and "detail=stale-while-revalidate" in status, status
    ttl = [part.strip() for part in status.split(";") if part.strip().startswith("ttl=")]
    assert ttl and int(ttl[0][4:]) <= 0, status


def test_concurrent_lookups_meanwhile_get_the_stale_copy_or_the_new_one(run):
    new_body = run.refreshed.body
    assert all(answer.ok for answer in run.stale_burst), Tally.of(run.stale_burst)
    unexpected = [a for a in run.stale_burst
                  if not ((a.x_cache == "STALE" and a.body == run.old.body)
                          or (a.x_cache == "HIT" and a.body == new_body))]
    assert unexpected == [], Tally.of(unexpected)


def test_exactly_one_refresh_runs_cluster_wide(run):
    assert run.calls_after_refresh_began == 2
    assert run.calls_in_the_end == 2


def test_next_answer_is_a_hit_with_the_refreshed_customer(run):
    assert (run.refreshed.status, run.refreshed.x_cache) == (200, "HIT"), run.refreshed
    assert run.refreshed.json()["updatedAt"] == run.new_updated_at
    assert run.old.json()["updatedAt"] == run.old_updated_at


def test_a_copy_still_within_its_freshness_is_a_hit_not_stale(make_cluster):
    """Freshness of 1 s: a lookup a few milliseconds after the miss must be a HIT.

    (Served STALE instead, it would also start a refresh: every copy would be refreshed during
    the last second of its freshness, and a 1 s freshness would never produce a hit.)
    """
    cluster = make_cluster(CACHE_TTL_MIN_SECONDS=1, CACHE_TTL_MAX_SECONDS=1)
    instance = cluster.start_instance(workers=1)
    customer_id = cluster.emulator.customer_ids(10)[5]
    miss = fetch(instance.customer_url(customer_id))
    again = fetch(instance.customer_url(customer_id))
    assert miss.headers["Cache-Status"].endswith("stored"), miss.headers
    assert again.started - (miss.started + miss.elapsed) < 0.5  # well within the 1 s of freshness
    assert again.x_cache == "HIT", again.headers.get("Cache-Status")
