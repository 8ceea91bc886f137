"""The near cache stays coherent with Redis: a write anywhere drops the copies of the workers that
read the key, and only theirs; a lost invalidation stream or a lost reader flushes it; a purge is
never followed by the purged body."""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import redis
import requests

from app.store.near_cache import NearCache
from tests.support.emulator import DOCS_CUSTOMER_ID
from tests.support.keys import STORE_KEYS
from tests.support.processes import start_gunicorn, stop

PREFIX = STORE_KEYS.of("customer").prefix
KEY = PREFIX + "{x}"
DEADLINE_SECONDS = 5
CHECK_EVERY_SECONDS = 0.2


def eventually(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.005)
    raise AssertionError(f"never happened: {what}")


def kept(near: NearCache, key: str) -> bytes | None:
    """Read ``key`` as the store does (through the near cache's tracked readers) and keep its value."""
    value, sequence = near.read("GET", key)
    if value is not None:
        near.put(key, value, sequence)
    return value


def tracking_readers(redis_client) -> list[int]:
    """The ids of the connections that track keys (``t`` among CLIENT LIST's flags)."""
    return [int(client["id"]) for client in redis_client.client_list() if "t" in client["flags"]]


@contextmanager
def coherent(redis_client, check_every_seconds: float = CHECK_EVERY_SECONDS) -> Iterator[NearCache]:
    """A worker's near cache, once its invalidation stream is up; stopped at the end."""
    cache = NearCache(redis_client, [PREFIX], max_entries=100, check_every_seconds=check_every_seconds).start()
    try:
        eventually(lambda: cache.coherent, "tracking established")
        yield cache
    finally:
        cache.stop()


@pytest.fixture
def near(redis_client):
    with coherent(redis_client) as cache:
        yield cache


def test_a_value_read_and_kept_is_served_from_memory(near, redis_client):
    redis_client.set(KEY, b"v1")
    assert kept(near, KEY) == b"v1"
    redis_client.set(KEY + "-elsewhere", b"unrelated")  # an untracked key: our copy stays
    assert near.get(KEY) == b"v1"


def test_a_write_by_anyone_drops_the_copy(near, redis_client):
    redis_client.set(KEY, b"v1")
    kept(near, KEY)
    redis_client.set(KEY, b"v2")
    eventually(lambda: near.get(KEY) is None, "invalidated after SET")
    assert kept(near, KEY) == b"v2"  # read again, tracked again
    redis_client.set(KEY, b"v3")
    eventually(lambda: near.get(KEY) is None, "invalidated after the second SET")


@pytest.mark.parametrize("change", [lambda r: r.delete(KEY), lambda r: r.flushall(), lambda r: r.pexpire(KEY, 1)])
def test_delete_flush_and_expiry_drop_the_copy(near, redis_client, change):
    redis_client.set(KEY, b"v1")
    kept(near, KEY)
    change(redis_client)
    eventually(lambda: near.get(KEY) is None and redis_client.get(KEY) is None, "invalidated")


def test_a_value_read_while_an_invalidation_arrived_is_not_kept(near, redis_client):
    redis_client.set(KEY, b"old")
    value, sequence = near.read("GET", KEY)
    redis_client.set(KEY, b"new")  # the write the read raced
    eventually(lambda: near.sequence() != sequence, "invalidation seen")
    near.put(KEY, value, sequence)
    assert near.get(KEY) is None


def test_only_keys_this_worker_read_reach_it(near, redis_client):
    """The point of opt-in tracking: a miss stored elsewhere wakes no worker that never read it."""
    redis_client.set(KEY, b"v1")
    kept(near, KEY)
    before = near.sequence()
    redis_client.set(PREFIX + "{never-read-here}", b"stored by another worker")
    redis_client.set(KEY, b"v2")
    eventually(lambda: near.get(KEY) is None, "invalidated after SET")
    assert near.sequence() == before + 1  # one invalidation: the first write sent none here


def test_a_write_on_the_reader_that_read_the_key_wakes_nobody_here(near, redis_client):
    """A miss's store goes through the near cache (``write``): the key its read tracked, read
    missing, sends no invalidation back to this worker (``NOLOOP``)."""
    redis_client.set(KEY, b"v1")
    kept(near, KEY)
    assert near.read("GET", PREFIX + "{missing}")[0] is None  # a miss's read: tracked
    before = near.sequence()
    near.write("SET", PREFIX + "{missing}", b"stored by this worker")  # on the same, only reader
    redis_client.set(KEY, b"v2")
    eventually(lambda: near.get(KEY) is None, "invalidated after SET")
    assert near.sequence() == before + 1  # KEY's invalidation only: the store's came not back


def test_a_write_through_one_worker_drops_the_copies_of_the_others(near, redis_client):
    with coherent(redis_client) as other:
        redis_client.set(KEY, b"v1")
        kept(near, KEY)
        kept(other, KEY)
        other.write("SET", KEY, b"v2")
        eventually(lambda: near.get(KEY) is None, "the reading worker's copy dropped")
        assert kept(near, KEY) == b"v2"


def test_keys_outside_the_prefix_are_never_kept(near, redis_client):
    redis_client.set(STORE_KEYS.token("a"), b"secret")
    assert kept(near, STORE_KEYS.token("a")) == b"secret"
    assert near.get(STORE_KEYS.token("a")) is None


def test_a_reader_redis_dropped_flushes_every_copy_and_tracks_again(near, redis_client):
    redis_client.set(KEY, b"v1")
    kept(near, KEY)
    readers = tracking_readers(redis_client)
    assert readers
    for client_id in readers:
        redis_client.client_kill_filter(_id=client_id)
    eventually(lambda: near.get(KEY) is None, "flushed once the reader was gone")
    assert kept(near, KEY) == b"v1"  # the next read connects again and tracks again
    redis_client.set(KEY, b"v2")
    eventually(lambda: near.get(KEY) is None, "invalidated through the new reader")


def test_a_reader_that_reconnects_flushes_before_its_next_read(redis_client):
    with coherent(redis_client, check_every_seconds=3600) as near:  # no check: the read finds out
        redis_client.set(KEY, b"v1")
        kept(near, KEY)
        for client_id in tracking_readers(redis_client):
            redis_client.client_kill_filter(_id=client_id)
        assert kept(near, PREFIX + "{other}") is None  # the reader fails, reconnects, and says so
        assert near.get(KEY) is None


def test_a_redis_acl_without_client_list_keeps_the_near_cache_working(redis_server, redis_client, caplog):
    """A least-privilege user (no @admin) may not list clients: readers are then checked at use only."""
    redis_client.acl_setuser("no-admin", enabled=True, passwords=["+secret"], keys=["*"], channels=["*"],
                             commands=["+@all", "-client|list"])
    limited = redis.Redis(host="127.0.0.1", port=redis_server.port, username="no-admin", password="secret")
    try:
        with coherent(limited) as near:
            redis_client.set(KEY, b"v1")
            kept(near, KEY)
            eventually(lambda: "refused CLIENT LIST" in caplog.text, "the refusal heard")
            time.sleep(3 * CHECK_EVERY_SECONDS)  # several checks more: no flapping, no flush
            assert near.coherent and near.get(KEY) == b"v1"
            redis_client.set(KEY, b"v2")
            eventually(lambda: near.get(KEY) is None, "invalidated as ever")
        assert caplog.text.count("refused CLIENT LIST") == 1
    finally:
        limited.close()
        redis_client.acl_deluser("no-admin")


def test_losing_redis_flushes_and_coherence_returns_with_redis(redis_server, redis_client):
    with coherent(redis_client) as cache:
        redis_client.set(KEY, b"v1")
        kept(cache, KEY)
        redis_server.kill()
        eventually(lambda: not cache.coherent, "coherence lost with Redis")
        assert cache.get(KEY) is None
        redis_server.start()
        eventually(lambda: cache.coherent, "tracking re-established")
        assert cache.get(KEY) is None  # nothing from before the outage survives
        redis_client.set(KEY, b"v2")
        assert kept(cache, KEY) == b"v2"
        redis_client.set(KEY, b"v3")
        eventually(lambda: cache.get(KEY) is None, "invalidated toward the new subscriber")


def test_size_is_bounded(near, redis_client):
    for n in range(150):
        redis_client.set(f"{PREFIX}{{{n}}}", b"v")
        kept(near, f"{PREFIX}{{{n}}}")
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
