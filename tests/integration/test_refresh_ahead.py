"""Refresh-ahead and TTL jitter on real Redis and the emulator: a hot customer is refreshed before it
goes stale, once, however many lookups read it near the end of its freshness (counted in /metrics);
customers written together get their freshness spread so they do not expire together."""
from __future__ import annotations

import time

from tests.support.cluster import poll

FRESH_SECONDS = 2


def test_a_hot_customer_is_refreshed_ahead_and_never_served_stale(make_app, emulator):
    client = make_app(CACHE_TTL_MIN_SECONDS=FRESH_SECONDS, CACHE_TTL_MAX_SECONDS=FRESH_SECONDS,
                      CACHE_REFRESH_AHEAD=0.5).test_client()
    customer_id = emulator.customer_ids(1)[0]
    url = f"/v1/customers/{customer_id}"
    assert client.get(url).headers["X-Cache"] == "MISS"
    seen = []
    deadline = time.monotonic() + FRESH_SECONDS * 2.5
    while time.monotonic() < deadline:  # a hot customer: read all along, past two freshness periods
        seen.append(client.get(url).headers["X-Cache"])
        time.sleep(0.02)
    assert set(seen) == {"HIT"}, sorted(set(seen))
    calls = emulator.customer_calls(customer_id)
    # About one refresh each time a copy enters the second half of its freshness (every ~1 s here),
    # never one per lookup: a worker tries once per copy, and one worker fleet-wide (the lock) fetches.
    assert 2 <= calls <= 2 + 2.5 * FRESH_SECONDS / (FRESH_SECONDS * 0.5) and len(seen) > 10 * calls
    metrics = client.get("/metrics").get_data(as_text=True)
    started = next(float(line.split()[-1]) for line in metrics.splitlines()
                   if line.startswith("passport_bff_refresh_ahead_total "))
    assert started >= calls - 1


def test_a_copy_read_early_in_its_freshness_is_left_alone(make_app, emulator):
    client = make_app(CACHE_TTL_MIN_SECONDS=60, CACHE_TTL_MAX_SECONDS=60).test_client()
    customer_id = emulator.customer_ids(1)[0]
    for _ in range(20):
        client.get(f"/v1/customers/{customer_id}")
    poll(lambda: emulator.customer_calls(customer_id), lambda calls: calls == 1, "one fetch", timeout=1)


def test_customers_written_together_do_not_expire_together(make_app, emulator):
    """A listing's warm-up (and a batch) spreads freshness by ±CACHE_TTL_JITTER."""
    from datetime import datetime

    def at(value: str) -> float:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()

    client = make_app(CACHE_TTL_MIN_SECONDS=100, CACHE_TTL_MAX_SECONDS=100, CACHE_TTL_JITTER=0.1).test_client()
    listed = [c["id"] for c in client.get("/v1/customers?pageSize=30").get_json()["customers"]]
    reports = [client.get(f"/v1/customers/{customer_id}/cache").get_json() for customer_id in listed]
    fresh = [round(at(r["freshUntil"]) - at(r["fetchedAt"])) for r in reports]
    assert all(90 <= seconds <= 110 for seconds in fresh), fresh
    assert len(set(fresh)) > 5, fresh
