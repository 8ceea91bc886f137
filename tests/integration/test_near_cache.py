"""The near cache stays coherent with Redis: writes anywhere drop copies everywhere, a lost
invalidation stream flushes it, and a purge is never followed by the purged body."""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from app.store.near_cache import NearCache
from tests.support.emulator import DOCS_CUSTOMER_ID
from tests.support.keys import STORE_KEYS
from tests.support.processes import start_gunicorn, stop

PREFIX = STORE_KEYS.of("customer").prefix
KEY = PREFIX + "{x}"
DEADLINE_SECONDS = 5


def eventually(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.005)
    raise AssertionError(f"never happened: {what}")


@pytest.fixture
def near(redis_client):
    cache = NearCache(redis_client, [PREFIX], max_entries=100).start()
    eventually(lambda: cache.coherent, "tracking established")
    yield cache
    cache.stop()


def test_a_kept_value_is_served_from_memory(near):
    near.put(KEY, b"v1", near.sequence())
    assert near.get(KEY) == b"v1"


def test_a_write_by_anyone_drops_the_copy(near, redis_client):
    near.put(KEY, b"v1", near.sequence())
    redis_client.set(KEY, b"v2")
    eventually(lambda: near.get(KEY) is None, "invalidated after SET")


@pytest.mark.parametrize("change", [lambda r: r.delete(KEY), lambda r: r.flushall(), lambda r: r.pexpire(KEY, 1)])
def test_delete_flush_and_expiry_drop_the_copy(near, redis_client, change):
    redis_client.set(KEY, b"v1")
    near.put(KEY, b"v1", near.sequence())
    change(redis_client)
    eventually(lambda: near.get(KEY) is None and redis_client.get(KEY) is None, "invalidated")


def test_a_value_read_while_an_invalidation_arrived_is_not_kept(near, redis_client):
    before = near.sequence()
    redis_client.set(PREFIX + "{other}", b"changed")  # any invalidation moves the sequence on
    eventually(lambda: near.sequence() != before, "invalidation seen")
    near.put(KEY, b"maybe-old", before)
    assert near.get(KEY) is None


def test_keys_outside_the_prefix_are_never_kept(near):
    near.put(STORE_KEYS.token("a"), b"secret", near.sequence())
    assert near.get(STORE_KEYS.token("a")) is None


def test_losing_redis_flushes_and_coherence_returns_with_redis(redis_server, redis_client):
    cache = NearCache(redis_client, [PREFIX], max_entries=100).start()
    try:
        eventually(lambda: cache.coherent, "tracking established")
        cache.put(KEY, b"v1", cache.sequence())
        redis_server.kill()
        eventually(lambda: not cache.coherent, "coherence lost with Redis")
        assert cache.get(KEY) is None
        redis_server.start()
        eventually(lambda: cache.coherent, "tracking re-established")
        assert cache.get(KEY) is None  # nothing from before the outage survives
    finally:
        cache.stop()


def test_size_is_bounded(near):
    for n in range(150):
        near.put(f"{PREFIX}{{{n}}}", b"v", near.sequence())
    assert sum(near.get(f"{PREFIX}{{{n}}}") is not None for n in range(150)) == 100


def test_purge_then_read_never_serves_the_purged_body_from_any_worker(redis_server, redis_client, emulator):
    env = {"APP_ENV": "testing", "PASSPORT_BASE_URL": emulator.base_url, "REDIS_URL": redis_server.url,
           "CACHE_NEAR_MAX_ENTRIES": "1000"}
    process, base_url = start_gunicorn(env, workers=3)
    url = f"{base_url}/v1/customers/{DOCS_CUSTOMER_ID}"
    try:
        with requests.Session() as session:
            for _ in range(60):  # every worker reads it, so every worker keeps a near copy
                session.get(url, timeout=5)
            metrics = session.get(f"{base_url}/metrics", timeout=5).text
            assert "passport_bff_near_cache_hits_total" in metrics and _near_hits(metrics) > 0
            old = session.get(url, timeout=5).json()["updatedAt"]
            new_time = (datetime.now(UTC) - timedelta(seconds=5)).isoformat(timespec="milliseconds")
            emulator.touch_customer(DOCS_CUSTOMER_ID, new_time.replace("+00:00", "Z"))
            assert session.delete(url + "/cache?refresh=true", timeout=5).status_code == 204
            bodies = [session.get(url, timeout=5).json()["updatedAt"] for _ in range(60)]
        assert old not in bodies
        assert set(bodies) == {new_time.replace("+00:00", "Z")}
    finally:
        stop(process)


def _near_hits(metrics_text: str) -> float:
    for line in metrics_text.splitlines():
        if line.startswith("passport_bff_near_cache_hits_total "):
            return float(line.split()[1])
    return 0.0
