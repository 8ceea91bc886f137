"""Encryption at rest of everything passport-bff stores (customer PII, the Passport token).

With ``CACHE_ENCRYPTION_KEYS`` set, ``EncryptedStore`` wraps the store: values are sealed with
Fernet (AES-128-CBC + HMAC-SHA256, authenticated) by the first key and opened by any of them
(``MultiFernet``: rotate by putting the new key first, then dropping the old one once entries
have expired). A value that does not open — tampered, or sealed by a retired key — is a miss,
never an error. Keys are never logged.
"""
from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from app.store.cache import CacheStore, KeyInfo, ReadOrLock


class EncryptedStore:
    """A ``CacheStore`` that seals values before they reach the inner store."""

    def __init__(self, inner: CacheStore, keys: tuple[str, ...]) -> None:
        self.inner = inner
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def get(self, key: str) -> bytes | None:
        return self._open(self.inner.get(key))

    def get_many(self, keys: list[str]) -> list[bytes | None]:
        return [self._open(sealed) for sealed in self.inner.get_many(keys)]

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        self.inner.set(key, self._fernet.encrypt(value), ttl_seconds)

    def set_many(self, items: list[tuple[str, bytes, float]]) -> None:
        self.inner.set_many([(key, self._fernet.encrypt(value), ttl) for key, value, ttl in items])

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def add(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        return self.inner.add(key, self._fernet.encrypt(value), ttl_seconds)

    def delete_if_equal(self, key: str, value: bytes) -> bool:
        """Compare plaintexts, then delete by the exact sealed bytes (sealing is randomised)."""
        sealed = self.inner.get(key)
        if sealed is None or self._open(sealed) != value:
            return False
        return self.inner.delete_if_equal(key, sealed)

    def expire_if_equal(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        """Compare plaintexts, then extend by the exact sealed bytes."""
        sealed = self.inner.get(key)
        if sealed is None or self._open(sealed) != value:
            return False
        return self.inner.expire_if_equal(key, sealed, ttl_seconds)

    def set_if_held(self, key: str, value: bytes, ttl_seconds: float, lock_key: str, owner: bytes) -> bool:
        """Compare the lock's plaintext, then store by its exact sealed bytes (sealing is randomised)."""
        sealed = self.inner.get(lock_key)
        if sealed is None or self._open(sealed) != owner:
            return False
        return self.inner.set_if_held(key, self._fernet.encrypt(value), ttl_seconds, lock_key, sealed)

    def cached(self, key: str) -> bytes | None:
        return self._open(self.inner.cached(key))

    def read_or_lock(self, key: str, lock_key: str, owner: bytes, ttl_seconds: float,
                     extra_key: str | None = None) -> ReadOrLock:
        """The lock's owner sealed like every value; what comes back opened."""
        found = self.inner.read_or_lock(key, lock_key, self._fernet.encrypt(owner), ttl_seconds, extra_key)
        return ReadOrLock(self._open(found.value), found.locked, self._open(found.extra), found.extra_read)

    def set_and_delete(self, sets: list[tuple[str, bytes, float]], deletes: list[str]) -> None:
        self.inner.set_and_delete([(key, self._fernet.encrypt(value), ttl) for key, value, ttl in sets], deletes)

    def describe(self, keys: list[str]) -> list[KeyInfo]:
        return self.inner.describe(keys)

    def add_member(self, set_keys: list[str], member: bytes, ttl_seconds: float) -> None:
        """Set members are key names (no customer data): stored as they are."""
        self.inner.add_member(set_keys, member, ttl_seconds)

    def members(self, set_key: str) -> list[bytes]:
        return self.inner.members(set_key)

    def delete_many(self, keys: list[str]) -> None:
        self.inner.delete_many(keys)

    def ping(self) -> None:
        self.inner.ping()

    def _open(self, sealed: bytes | None) -> bytes | None:
        if sealed is None:
            return None
        try:
            return self._fernet.decrypt(sealed)
        except InvalidToken:
            return None
