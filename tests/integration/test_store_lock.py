"""Store locks on a real redis-server: kept alive by their owner, cleaned up by an owner that gave up."""
from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest

from app.breaker import CircuitBreaker
from app.store.cache import RedisStore, StoreUnavailable
from app.store.lock import LockKeeper, StoreLock
from app.store.redis_topology import connect_redis
from config import load_config
from tests.support.cluster import poll
from tests.support.processes import RedisServer, free_port

LEASE_SECONDS = 0.4


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, to freeze (SIGSTOP) without touching the others'."""
    server = RedisServer(free_port()).start()
    yield server
    server.process.send_signal(signal.SIGCONT)
    server.stop()


@pytest.fixture
def store(own_redis) -> RedisStore:
    config = load_config({"APP_ENV": "testing", "REDIS_URL": own_redis.url, "REDIS_SOCKET_TIMEOUT_SECONDS": "0.2"})
    return RedisStore(connect_redis(config.redis), CircuitBreaker("redis", 2, 0.2))


@pytest.fixture
def keeper(store) -> LockKeeper:
    return LockKeeper(store, LEASE_SECONDS)


def lock_value(store: RedisStore, lock: StoreLock) -> bytes | None:
    return store.client.get(lock.key)


def test_a_lock_lives_for_one_lease_unless_its_owner_keeps_it(store, keeper):
    lock = StoreLock.new("lock:a")
    assert keeper.take(lock)
    assert 0 < store.client.pttl(lock.key) <= LEASE_SECONDS * 1000
    assert not keeper.take(StoreLock.new("lock:a"))  # someone else's take fails while it is held
    keeper.release(lock)


def test_a_held_lock_outlives_its_lease_while_its_owner_holds_it(store, keeper):
    lock = StoreLock.new("lock:held")
    keeper.take(lock)
    time.sleep(LEASE_SECONDS * 3)  # three leases: only renewals keep it
    assert lock_value(store, lock) == lock.owner
    keeper.release(lock)
    assert lock_value(store, lock) is None
    assert keeper.held() == 0


def test_a_lock_released_by_another_store_call_is_no_longer_renewed(store, keeper):
    lock = StoreLock.new("lock:stored")
    keeper.take(lock)
    assert store.set_if_held("entry", b"fetched", 60, lock.key, lock.owner)
    keeper.released_with(lock)
    assert not keeper.holds(lock)
    assert lock_value(store, lock) is None


def test_a_take_that_timed_out_as_redis_froze_leaves_no_lock_once_redis_is_back(own_redis, store, keeper):
    lock = StoreLock.new("lock:ghost")
    own_redis.process.send_signal(signal.SIGSTOP)
    try:
        with pytest.raises(StoreUnavailable):
            keeper.take(lock)  # Redis runs this SET when it wakes up
    finally:
        own_redis.process.send_signal(signal.SIGCONT)
    assert keeper.abandoned() == 1
    poll(lambda: (keeper.abandoned(), lock_value(store, lock)), lambda state: state == (0, None),
         "the given-up lock deleted", timeout=5)


def test_a_release_that_failed_while_redis_was_frozen_is_done_once_it_is_back(own_redis, store, keeper):
    lock = StoreLock.new("lock:release")
    keeper.take(lock)
    own_redis.process.send_signal(signal.SIGSTOP)
    try:
        keeper.release(lock)  # fails: handed to the keeper, not retried through the breaker
    finally:
        own_redis.process.send_signal(signal.SIGCONT)
    assert (keeper.held(), keeper.abandoned()) == (0, 1)
    poll(lambda: (keeper.abandoned(), lock_value(store, lock)), lambda state: state == (0, None),
         "the failed release done", timeout=5)


def test_a_given_up_lock_that_someone_else_took_since_is_left_alone(store, keeper):
    mine, theirs = StoreLock.new("lock:taken-over"), StoreLock.new("lock:taken-over")
    store.breaker.record_failure()
    store.breaker.record_failure()  # the breaker is open: our take fails at once
    with pytest.raises(StoreUnavailable):
        keeper.take(mine)
    assert store.client.set(theirs.key, theirs.owner, px=30_000, nx=True)  # another process took it
    poll(keeper.abandoned, lambda n: n == 0, "the keeper's round", timeout=5)
    assert store.client.get(theirs.key) == theirs.owner
