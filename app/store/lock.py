"""Fetch locks in the shared store that never outlive their owner by more than a short lease.

Why: a fetch lock (``SET key owner NX PX``) is how one worker of the fleet fetches a customer
while the others wait for its entry. Its TTL used to cover the longest fetch possible (the
Passport deadline, ~11 s), and two things left such locks behind with no owner, after which every
request for that customer waited the whole lock wait and then fetched without caching:

- a Redis hang: ``SET NX PX`` commands that timed out on our side are still in Redis's socket
  buffer, and Redis runs them when it wakes up — creating locks whose owner already gave up;
- a store-and-release (or a release) that failed while Redis was away, retried once at once
  through the open breaker, so never done.

So a lock lives for a short lease (``lease_seconds``) and its owner keeps it alive while its fetch
runs: one ``LockKeeper`` per process extends every lock it holds each ``lease / 4``
(compare-and-expire, so only a lock still ours). A lock whose owner died or gave up is not
extended and expires within the lease. An owner that gave up — its take or its release failed
because the store was unavailable — also hands the lock to the keeper, which deletes it
(compare-and-delete) as soon as the store answers again, instead of retrying through an open
breaker. The keeper's calls go through the store's breaker like any other: while Redis is away
they fail at once, and one of them is the probe that finds it back.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from app.store.cache import CacheStore, StoreUnavailable

log = logging.getLogger(__name__)

TICKS_PER_LEASE = 4
T = TypeVar("T")


@dataclass(frozen=True)
class StoreLock:
    """One lock in the store: its key and the random value that says it is ours."""

    key: str
    owner: bytes

    @classmethod
    def new(cls, key: str) -> StoreLock:
        return cls(key, secrets.token_hex(8).encode())


class LockKeeper:
    """Take, keep alive and release this process's store locks; clean up the ones it gave up."""

    def __init__(self, store: CacheStore, lease_seconds: float,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._store = store
        self.lease_seconds = lease_seconds
        self._sleep = sleep
        self._held: set[StoreLock] = set()
        self._abandoned: set[StoreLock] = set()
        self._mutex = threading.Lock()
        self._thread: threading.Thread | None = None

    def take(self, lock: StoreLock) -> bool:
        """Take ``lock`` if nobody holds it; a store failure raises, and the lock is cleaned up later."""
        try:
            taken = self._store.add(lock.key, lock.owner, self.lease_seconds)
        except StoreUnavailable:
            self._abandon(lock)  # Redis may still run the SET when it comes back
            raise
        if taken:
            with self._mutex:
                self._held.add(lock)
            self._ensure_running()
        return taken

    def adopt(self, lock: StoreLock) -> None:
        """``lock`` was taken by another store call (``read_or_lock``): renew it from now on."""
        with self._mutex:
            self._held.add(lock)
        self._ensure_running()

    def released_with(self, lock: StoreLock) -> None:
        """``lock`` was released by another store call (the one that stored the fetched entry)."""
        with self._mutex:
            self._held.discard(lock)

    def release(self, lock: StoreLock) -> None:
        """Release ``lock`` now, or as soon as the store answers again."""
        with self._mutex:
            self._held.discard(lock)
        try:
            self._store.delete_if_equal(lock.key, lock.owner)
        except StoreUnavailable:
            self._abandon(lock)

    def holds(self, lock: StoreLock) -> bool:
        with self._mutex:
            return lock in self._held

    def held(self) -> int:
        with self._mutex:
            return len(self._held)

    def abandoned(self) -> int:
        with self._mutex:
            return len(self._abandoned)

    def tick(self) -> None:
        """One round: delete the locks given up, then extend the ones held (stop at the first failure)."""
        with self._mutex:
            abandoned, held = list(self._abandoned), list(self._held)
        try:
            for lock in abandoned:
                self._store.delete_if_equal(lock.key, lock.owner)
                with self._mutex:
                    self._abandoned.discard(lock)
            for lock in held:
                self._store.expire_if_equal(lock.key, lock.owner, self.lease_seconds)
        except StoreUnavailable:
            return  # the store is away: the next round tries again

    def _abandon(self, lock: StoreLock) -> None:
        with self._mutex:
            self._held.discard(lock)
            self._abandoned.add(lock)
        self._ensure_running()

    def _ensure_running(self) -> None:
        """Start the keeper's thread (a greenlet under gevent) if it stopped; it stops when idle."""
        with self._mutex:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="store-lock-keeper", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            self._sleep(self.lease_seconds / TICKS_PER_LEASE)
            try:
                self.tick()
            except Exception:  # noqa: BLE001 — the keeper must outlive any one bad round
                log.exception("store lock keeper round failed")
            with self._mutex:
                if not self._held and not self._abandoned:
                    self._thread = None
                    return


@dataclass(frozen=True)
class Polling:
    """How a request that found the lock taken waits for its holder's result: bounded, with backoff."""

    wait_seconds: float
    first_poll_seconds: float
    max_poll_seconds: float


def hold_or_wait(locks: LockKeeper, lock: StoreLock, polling: Polling, *,
                 work: Callable[[], T], done_meanwhile: Callable[[], T | None], release: Callable[[StoreLock], None],
                 clock: Callable[[], float], sleep: Callable[[float], None]) -> T | None:
    """Do ``work`` holding ``lock``, or wait for whoever holds it: the one protocol of the fleet's fetches.

    While the lock is taken by another, poll (``first_poll_seconds``, doubling up to
    ``max_poll_seconds``) for what its holder produced (``done_meanwhile``), and try to take the
    lock again in between (a holder that died frees it within a lease). None: nothing came within
    ``wait_seconds``; the caller decides what to do alone. A store failure (``StoreUnavailable``)
    goes up to the caller too: there is nobody to coordinate with.
    """
    deadline = clock() + polling.wait_seconds
    delay = polling.first_poll_seconds
    while True:
        if locks.take(lock):
            try:
                return work()
            finally:
                release(lock)
        if clock() >= deadline:
            return None
        sleep(delay)
        delay = min(delay * 2, polling.max_poll_seconds)
        found = done_meanwhile()
        if found is not None:
            return found
