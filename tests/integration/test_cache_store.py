"""One contract, both stores: the in-process store and the Redis store behave the same."""
from __future__ import annotations

import threading
import time

import pytest

from app.breaker import CircuitBreaker
from app.store.cache import CacheKeys, MemoryStore, RedisStore, StoreUnavailable
from app.store.near_cache import NearCache
from app.store.redis_topology import connect_redis
from config import load_config
from tests.support.clock import FakeClock
from tests.support.processes import free_port


@pytest.fixture(params=["memory", "redis", "redis+near"])
def store(request):
    """The in-process store; the Redis store; the Redis store reading every key through a near cache."""
    if request.param == "memory":
        yield MemoryStore()
        return
    client = request.getfixturevalue("redis_client")
    if request.param == "redis":
        yield RedisStore(client, CircuitBreaker("redis", 2, 2.0))
        return
    near = NearCache(client, [""], max_entries=100).start()
    deadline = time.monotonic() + 5
    while not near.coherent and time.monotonic() < deadline:
        time.sleep(0.005)
    assert near.coherent
    yield RedisStore(client, CircuitBreaker("redis", 2, 2.0), near)
    near.stop()


class TestStoreContract:
    def test_get_of_an_absent_key_is_none(self, store):
        assert store.get("absent") is None

    def test_set_then_get_returns_the_same_bytes(self, store):
        store.set("k", b"\x00binary\xffvalue", 60)
        assert store.get("k") == b"\x00binary\xffvalue"

    def test_get_many_returns_values_in_order_with_none_for_absent(self, store):
        store.set("a", b"1", 60)
        store.set("c", b"3", 60)
        assert store.get_many(["a", "b", "c"]) == [b"1", None, b"3"]
        assert store.get_many([]) == []

    def test_delete_removes_and_is_idempotent(self, store):
        store.set("k", b"v", 60)
        store.delete("k")
        store.delete("k")
        assert store.get("k") is None

    def test_add_only_stores_when_absent(self, store):
        assert store.add("lock", b"me", 60) is True
        assert store.add("lock", b"you", 60) is False
        assert store.get("lock") == b"me"

    def test_delete_if_equal_only_deletes_our_value(self, store):
        store.set("lock", b"me", 60)
        assert store.delete_if_equal("lock", b"you") is False
        assert store.get("lock") == b"me"
        assert store.delete_if_equal("lock", b"me") is True
        assert store.get("lock") is None

    def test_expire_if_equal_extends_only_our_value(self, store):
        store.set("lock", b"me", 1)
        assert store.expire_if_equal("lock", b"you", 60) is False
        assert store.expire_if_equal("lock", b"me", 60) is True
        assert store.get("lock") == b"me"
        assert store.expire_if_equal("absent", b"me", 60) is False
        assert store.get("absent") is None

    def test_set_if_held_stores_and_releases_only_while_the_lock_is_ours(self, store):
        store.set("lock", b"me", 60)
        assert store.set_if_held("entry", b"v1", 60, "lock", b"you") is False
        assert (store.get("entry"), store.get("lock")) == (None, b"me")
        assert store.set_if_held("entry", b"v2", 60, "lock", b"me") is True
        assert (store.get("entry"), store.get("lock")) == (b"v2", None)
        assert store.set_if_held("entry", b"v3", 60, "lock", b"me") is False  # released: a purge took it
        assert store.get("entry") == b"v2"

    def test_read_or_lock_reads_the_value_or_takes_the_lock_in_one_call(self, store):
        first = store.read_or_lock("entry", "lock", b"me", 60)
        assert (first.value, first.locked) == (None, True)
        second = store.read_or_lock("entry", "lock", b"you", 60)
        assert (second.value, second.locked) == (None, False)  # ours: the other waits
        assert store.set_if_held("entry", b"v1", 60, "lock", b"me") is True
        third = store.read_or_lock("entry", "lock", b"you", 60)
        assert (third.value, third.locked) == (b"v1", False)
        store.set("entry", b"v2", 60)  # a write after a read is what the next read sees
        assert store.read_or_lock("entry", "lock", b"you", 60).value == b"v2"
        assert store.get("entry") == b"v2"

    def test_set_many_stores_each_value_with_its_own_time_to_live(self, store):
        store.set_many([("a:{1}", b"one", 60), ("b:{2}", b"two", 0.05)])
        store.set_many([])
        assert store.get_many(["a:{1}", "b:{2}"]) == [b"one", b"two"]
        assert store.describe(["b:{2}"])[0].ttl_seconds <= 0.05

    def test_sets_collect_members_and_go_with_the_keys_they_name(self, store):
        store.add_member(["tag:a", "tag:b"], b"page:1", 60)
        store.add_member(["tag:a"], b"page:2", 60)
        assert (store.members("tag:a"), store.members("tag:b"), store.members("absent")) == (
            [b"page:1", b"page:2"], [b"page:1"], [])
        store.set("page:1", b"body", 60)
        store.delete_many(["page:1", "tag:a"])
        assert (store.get("page:1"), store.members("tag:a"), store.members("tag:b")) == (None, [], [b"page:1"])

    def test_describe_says_size_and_time_left_without_the_value(self, store):
        store.set("k", b"12345", 60)
        present, absent = store.describe(["k", "absent"])
        assert present.stored_bytes == 5 and 0 < present.ttl_seconds <= 60
        assert (absent.stored_bytes, absent.ttl_seconds) == (None, None)

    def test_set_and_delete_does_both_at_once(self, store):
        store.set("old", b"x", 60)
        store.set_and_delete([("a", b"1", 60), ("b", b"2", 60)], ["old", "absent"])
        assert (store.get("a"), store.get("b"), store.get("old")) == (b"1", b"2", None)


def test_memory_store_expires_entries_by_its_clock():
    clock = FakeClock(100.0)
    store = MemoryStore(clock)
    store.set("k", b"v", 10)
    clock.now += 9.9
    assert store.get("k") == b"v"
    clock.now += 0.2
    assert store.get("k") is None
    assert store.add("k", b"again", 10) is True


def test_memory_store_is_bounded_and_drops_the_least_recently_used():
    store = MemoryStore(max_entries=2)
    store.set("a", b"1", 60)
    store.set("b", b"2", 60)
    store.get("a")
    store.set("c", b"3", 60)
    assert store.get("b") is None
    assert store.get("a") == b"1" and store.get("c") == b"3"


def test_memory_store_always_answers_a_ping():
    MemoryStore().ping()


def test_redis_store_expire_if_equal_sets_the_new_ttl_in_redis(redis_client):
    store = RedisStore(redis_client, CircuitBreaker("redis", 2, 2.0))
    store.set("lock", b"me", 1)
    store.expire_if_equal("lock", b"me", 60)
    assert 58_000 < redis_client.pttl("lock") <= 60_000


def test_a_redis_that_lost_its_scripts_loads_them_again_for_a_tracked_read(redis_client):
    near = NearCache(redis_client, [""], max_entries=100).start()
    try:
        store = RedisStore(redis_client, CircuitBreaker("redis", 2, 2.0), near)
        store.set("entry", b"v", 60)
        redis_client.script_flush()  # as after a Redis restart
        assert store.read_or_lock("entry", "lock", b"me", 60).value == b"v"
        assert store.breaker.state == "closed"
    finally:
        near.stop()


def test_redis_store_sets_the_ttl_in_redis(redis_client):
    RedisStore(redis_client, CircuitBreaker("redis", 2, 2.0)).set("k", b"v", 42)
    assert 41_000 <= redis_client.pttl("k") <= 42_000


class TestUnreachableRedis:
    @pytest.fixture
    def dead_store(self):
        config = load_config({"APP_ENV": "testing", "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
                              "REDIS_SOCKET_TIMEOUT_SECONDS": "0.2"})
        dead = connect_redis(config.redis)
        return RedisStore(dead, CircuitBreaker("redis", 2, 60.0))

    @pytest.mark.parametrize(
        "operation",
        [
            lambda store: store.get("k"),
            lambda store: store.set("k", b"v", 10),
            lambda store: store.delete("k"),
            lambda store: store.add("lock", b"me", 10),
            lambda store: store.delete_if_equal("lock", b"me"),
            lambda store: store.set_if_held("k", b"v", 10, "lock", b"me"),
            lambda store: store.set_and_delete([("k", b"v", 10)], ["lock"]),
            lambda store: store.ping(),
        ],
    )
    def test_every_operation_raises_store_unavailable(self, dead_store, operation):
        with pytest.raises(StoreUnavailable):
            operation(dead_store)

    def test_breaker_opens_after_repeated_failures_and_stops_touching_the_socket(self, dead_store):
        for _ in range(2):
            with pytest.raises(StoreUnavailable):
                dead_store.get("k")
        assert dead_store.breaker.state == "open"
        with pytest.raises(StoreUnavailable, match="circuit open"):
            dead_store.get("k")

    def test_failures_are_logged_with_operation_and_key(self, dead_store, caplog):
        with pytest.raises(StoreUnavailable):
            dead_store.get("the-key")
        assert "redis get failed for the-key" in caplog.text


class TestAWorkersConnectionPool:
    """Each worker reaches Redis through a bounded pool; when it is all in use, commands wait."""

    @pytest.fixture
    def small_pool_store(self, redis_server):
        config = load_config({"APP_ENV": "testing", "REDIS_URL": redis_server.url, "REDIS_MAX_CONNECTIONS": "2",
                              "REDIS_SOCKET_TIMEOUT_SECONDS": "0.2"})
        return RedisStore(connect_redis(config.redis), CircuitBreaker("redis", 2, 60.0))

    def test_more_concurrent_commands_than_connections_wait_and_all_succeed(self, small_pool_store):
        small_pool_store.set("k", b"v", 60)
        results: list[bytes | None] = []
        threads = [threading.Thread(target=lambda: results.extend(small_pool_store.get("k") for _ in range(20)))
                   for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert results == [b"v"] * 160
        assert len(small_pool_store.client.connection_pool._connections) <= 2

    def test_a_pool_busy_past_the_wait_is_unavailable_but_never_opens_the_breaker(self, small_pool_store, caplog):
        pool = small_pool_store.client.connection_pool
        held = [pool.get_connection(), pool.get_connection()]  # every connection in use elsewhere
        try:
            for _ in range(4):
                with pytest.raises(StoreUnavailable, match="connection pool busy"):
                    small_pool_store.get("busy")
            assert small_pool_store.breaker.state == "closed"
        finally:
            for connection in held:
                pool.release(connection)
        small_pool_store.set("busy", b"free again", 60)
        assert small_pool_store.get("busy") == b"free again"
        assert "connections all stayed busy" in caplog.text

    def test_a_connection_the_server_closed_is_replaced_without_an_error(self, small_pool_store, redis_client):
        small_pool_store.set("k", b"v", 60)
        redis_client.client_kill_filter(_type="normal", skipme=True)  # every connection but this client's
        for _ in range(4):
            assert small_pool_store.get("k") == b"v"
        assert small_pool_store.breaker.state == "closed"


def test_keys_are_namespaced_versioned_and_hash_tagged():
    keys = CacheKeys("passport-bff")
    customer_id = "db7e89e7-59d8-4ab1-b675-a2ae52c3339e"
    assert keys.of("customer").entry(customer_id) == f"passport-bff:v1:customer:{{{customer_id}}}"
    assert keys.of("customer").lock(customer_id).endswith(f"{{{customer_id}}}")
