"""Encryption at rest: nothing readable in Redis, key rotation, unreadable entries are misses."""
from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from app.breaker import CircuitBreaker
from app.store.cache import MemoryStore, RedisStore
from app.store.encryption import EncryptedStore
from tests.support.emulator import DOCS_CUSTOMER_ID

OLD_KEY, NEW_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()
URL = f"/v1/customers/{DOCS_CUSTOMER_ID}"
PII = (b"eAqpUh6u@example.com", b"573956158117", b"903978023")


@pytest.fixture(params=["memory", "redis"])
def store(request):
    inner = MemoryStore() if request.param == "memory" else RedisStore(
        request.getfixturevalue("redis_client"), CircuitBreaker("redis", 2, 2.0))
    return EncryptedStore(inner, (NEW_KEY,))


class TestEncryptedStoreContract:
    def test_round_trip(self, store):
        store.set("k", b"secret value", 60)
        assert store.get("k") == b"secret value"

    def test_inner_store_holds_only_ciphertext(self, store):
        store.set("k", b"secret value", 60)
        assert b"secret" not in store.inner.get("k")

    def test_add_and_compare_and_delete_work_on_plaintexts(self, store):
        assert store.add("lock", b"me", 60) is True
        assert store.add("lock", b"you", 60) is False
        assert store.delete_if_equal("lock", b"you") is False
        assert store.delete_if_equal("lock", b"me") is True
        assert store.get("lock") is None

    def test_expire_if_equal_compares_plaintexts(self, store):
        store.add("lock", b"me", 60)
        assert store.expire_if_equal("lock", b"you", 60) is False
        assert store.expire_if_equal("lock", b"me", 60) is True
        assert store.get("lock") == b"me"

    def test_set_if_held_seals_and_compares_plaintexts(self, store):
        store.add("lock", b"me", 60)
        assert store.set_if_held("k", b"secret value", 60, "lock", b"you") is False
        assert store.set_if_held("k", b"secret value", 60, "lock", b"me") is True
        assert store.get("k") == b"secret value" and b"secret" not in store.inner.get("k")
        assert store.get("lock") is None

    def test_set_and_delete_seals_what_it_sets(self, store):
        store.set("gone", b"x", 60)
        store.set_and_delete([("k", b"secret value", 60)], ["gone"])
        assert store.get("k") == b"secret value" and b"secret" not in store.inner.get("k")
        assert store.get("gone") is None


def test_tampered_value_is_a_miss(redis_client):
    store = EncryptedStore(RedisStore(redis_client, CircuitBreaker("redis", 2, 2.0)), (NEW_KEY,))
    store.set("k", b"value", 60)
    redis_client.set("k", redis_client.get("k")[:-3] + b"AAA")
    assert store.get("k") is None


def test_rotation_reads_old_entries_and_writes_with_the_new_key():
    inner = MemoryStore()
    EncryptedStore(inner, (OLD_KEY,)).set("k", b"value", 60)
    rotated = EncryptedStore(inner, (NEW_KEY, OLD_KEY))
    assert rotated.get("k") == b"value"
    rotated.set("k2", b"value2", 60)
    assert EncryptedStore(inner, (NEW_KEY,)).get("k2") == b"value2"


def test_entry_sealed_by_a_retired_key_is_a_miss():
    inner = MemoryStore()
    EncryptedStore(inner, (OLD_KEY,)).set("k", b"value", 60)
    assert EncryptedStore(inner, (NEW_KEY,)).get("k") is None


def test_service_with_encryption_keeps_no_pii_or_token_in_redis(make_app, emulator, redis_client):
    client = make_app(CACHE_ENCRYPTION_KEYS=(NEW_KEY,)).test_client()
    assert client.get(URL).headers["X-Cache"] == "MISS"
    assert client.get(URL).headers["X-Cache"] == "HIT"
    dump = b"".join(redis_client.get(key) or b"" for key in redis_client.scan_iter("*"))
    for value in PII:
        assert value not in dump
    assert b"Bearer" not in dump and b"pbff1" not in dump


def test_service_treats_undecryptable_entries_as_misses(make_app, emulator, redis_client):
    make_app(CACHE_ENCRYPTION_KEYS=(OLD_KEY,)).test_client().get(URL)
    response = make_app(CACHE_ENCRYPTION_KEYS=(NEW_KEY,)).test_client().get(URL)
    assert response.status_code == 200
    assert response.headers["X-Cache"] == "MISS"
