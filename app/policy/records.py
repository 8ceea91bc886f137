"""The cache policy, for every kind of record: when a cached copy is served, and how a missing one is fetched.

This is the module to read first. One ``RecordService`` serves one declared kind of Passport
record (``app.passport.resources``: customers, accounts, keys, recipients); nothing here is
specific to one of them. A lookup reads the record's entry from the store, then does
what the pure decision of ``app.policy.decision`` says (its decision table is the summary):

1. **Fresh** (within the freshness its ``updated_at`` earned, ``app.policy.freshness``): serve the stored
   bytes as they are — ``HIT``. A remembered 404 is served the same way (negative caching).
2. **Stale, within stale-while-revalidate**: serve the stale copy at once — ``STALE`` — and let
   exactly one refresh run in the background (whoever wins the record's lock, cluster-wide).
3. **Otherwise fetch, coalesced**: the threads of this process share one fetch
   (``app.policy.coalescing``), and processes share one through the record's store lock (``SET NX
   PX`` with an owner value, compare-and-delete release, TTL above the fetch deadline). Waiters
   poll for the winner's entry for a bounded time (nginx's ``proxy_cache_lock_timeout``), then
   fetch without caching. A dead lock holder's lock expires and the next request takes over. If
   the winner's fetch fails, it says so (briefly, in the store) and its waiters share the outcome
   instead of each asking a failing Passport again.
4. **Passport fails**: within stale-if-error (RFC 5861 §4) the last good copy is served —
   ``STALE``; never for a 404 (the record is gone: remembered as such) or a 403 (the copy is
   dropped: we may no longer show it).
5. **The store fails**: Passport is asked directly, nothing is stored — ``BYPASS``.

Only a validated 200 or a 404 is ever stored.
"""
from __future__ import annotations

import logging
import math
import random as random_module
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Protocol

from app import metrics
from app.passport import errors as passport_errors
from app.passport.back_pressure import note_pause_reading
from app.passport.errors import (
    InvalidPassportRecord,
    PassportBadResponse,
    PassportCircuitOpen,
    PassportError,
    PassportForbidden,
    PassportNotFound,
    PassportRateLimited,
    PassportServerError,
)
from app.passport.resource import FreshnessRule, Rendered
from app.policy.cache_status import CacheStatus
from app.policy.coalescing import SingleFlight
from app.policy.decision import Action, StaleWindows, decide, serves_on_error
from app.policy.freshness import ttl_for
from app.store.cache import CacheKeys, CacheStore, KeyInfo, StoreUnavailable
from app.store.entry import CachedRecord, decode_entry, encode_entry, found_entry, not_found_entry
from app.store.lock import LockKeeper, Polling, StoreLock, hold_or_wait

log = logging.getLogger(__name__)

MAX_AHEAD_TRACKED = 10_000  # records a worker remembers having tried to refresh ahead

COLLAPSED = CacheStatus(fwd="miss", collapsed=True)
FIRST_POLL_SECONDS = 0.01
SHAREABLE_FAILURES = {
    cls.__name__: cls for cls in vars(passport_errors).values()
    if isinstance(cls, type) and issubclass(cls, PassportError) and cls is not PassportError
}
MAX_POLL_SECONDS = 0.1


class CacheResult(str, Enum):
    """How an answer was produced, as told in ``X-Cache``."""

    HIT = "HIT"
    MISS = "MISS"
    STALE = "STALE"
    BYPASS = "BYPASS"


@dataclass(frozen=True)
class CachePolicy:
    freshness: FreshnessRule
    stale_while_revalidate_seconds: int
    stale_if_error_seconds: int
    not_found_seconds: int
    lock_wait_seconds: float
    longest_fetch_seconds: float  # a fetch's whole time, retries included (bounds the in-process wait)
    refresh_satisfied_seconds: float = 1.0  # a copy fetched this recently satisfies a caller's refresh
    refresh_ahead_fraction: float = 0.0  # a copy read in this last part of its freshness is refreshed ahead
    ttl_jitter: float = 0.0  # ± this fraction of freshness for copies written together (listing, batch)

    @property
    def stale_windows(self) -> StaleWindows:
        return StaleWindows(self.stale_while_revalidate_seconds, self.stale_if_error_seconds)


# Built for every lookup: slots and no frozen __setattr__ cost a hit a microsecond less each.
@dataclass(slots=True)
class RecordAnswer:
    entry: CachedRecord
    cache: CacheResult
    answered_at: float
    cache_status: str  # the RFC 9211 field, rendered (``CacheStatus``)


class RecordSource(Protocol):
    """Where a ``RecordService`` fetches its records: Passport for one kind (``PassportRecords``), or an
    overview's part (``app.policy.overview``)."""

    @property
    def kind(self) -> str: ...

    def get(self, record_id: str, request_id: str | None) -> Rendered: ...


@dataclass(slots=True)
class StoreRead:
    """What one read of a record's entry found: the entry (None if absent), or a store failure."""

    entry: CachedRecord | None
    store_available: bool = True
    lock: StoreLock | None = None  # taken by the read itself, the entry being absent (read_or_lock)


def encode_failure(error: PassportError, at: float) -> bytes:
    """``<when> <error class> <number>``: the number is a Retry-After or an HTTP status."""
    retry_after = getattr(error, "retry_after", None)
    number = retry_after if retry_after else getattr(error, "status", 0)
    return b"%.3f %s %d" % (at, type(error).__name__.encode(), number)


def decode_failure(raw: bytes | None, since: float) -> PassportError | None:
    """The failure of a fetch that ended after ``since``, rebuilt; None if none (or unreadable)."""
    try:
        at, name, number = (raw or b"").split(b" ")
        error_class = SHAREABLE_FAILURES[name.decode()]
        if float(at) < since:
            return None
    except (ValueError, KeyError, UnicodeDecodeError):
        return None
    if error_class in (PassportRateLimited, PassportCircuitOpen, PassportServerError):
        return error_class(int(number))
    return error_class("the fetch this request waited for failed")


def answer(entry: CachedRecord, cache: CacheResult, now: float, status: CacheStatus) -> RecordAnswer:
    return RecordAnswer(entry, cache, now, str(status))


def fresh_answer(entry: CachedRecord, now: float) -> RecordAnswer:
    return RecordAnswer(entry, CacheResult.HIT, now, CacheStatus.fresh_hit(entry.fresh_left(now)))


@dataclass(frozen=True)
class EntryReport:
    """What the cache holds for one record, for operators (``GET /v1/<plural>/<id>/cache``)."""

    entry: CachedRecord | None
    stored: KeyInfo
    lock_held: bool
    purged_at: float | None  # a purge recent enough that a fetch begun before it may still run
    windows: StaleWindows
    now: float

    @property
    def fresh_until(self) -> float | None:
        return None if self.entry is None else self.entry.fetched_at + self.entry.fresh_seconds

    def stale_until(self, window_seconds: float) -> float | None:
        """Until when a stale copy may be served in a window (None: no copy to serve)."""
        fresh_until = self.fresh_until
        if fresh_until is None or self.entry is None or not self.entry.found:
            return None
        return fresh_until + window_seconds


class RecordService:
    """Look records of one kind up through the cache."""

    def __init__(
        self,
        passport: RecordSource,
        store: CacheStore,
        keys: CacheKeys,
        policy: CachePolicy,
        refresher: Executor,
        fetcher: Executor,
        locks: LockKeeper,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = random_module.random,
        owner_of: Callable[[str, str | None], str | None] | None = None,
    ) -> None:
        self._passport = passport
        self.kind = passport.kind
        self._store = store
        self._keys = keys.of(self.kind)
        self._pause_key = keys.passport_not_before
        self._policy = policy
        self._refresher = refresher
        self._fetcher = fetcher
        self._locks = locks
        self._clock = clock
        self._sleep = sleep
        self._in_flight = SingleFlight(policy.lock_wait_seconds + policy.longest_fetch_seconds)
        self._polling = Polling(policy.lock_wait_seconds, FIRST_POLL_SECONDS, MAX_POLL_SECONDS)
        self._results = {result: metrics.CACHE_REQUESTS.labels(result.value.lower(), self.kind)
                         for result in CacheResult}
        self._ahead: dict[str, float] = {}  # record -> fetched_at of the copy a refresh-ahead was tried for
        self._ahead_lock = threading.Lock()
        self._random = random  # for TTL jitter
        self._owner_of = owner_of  # a record naming no customer: its owner, from the record it names
        # Services whose entries under the same id are built from this record (a customer's overview
        # parts): purged with it. Wired once, at start-up (app.web.services).
        self.derived: list[RecordService] = []
        self._errors = metrics.CACHE_REQUESTS.labels("error", self.kind)

    def lookup(self, record_id: str, request_id: str | None, read: StoreRead | None = None) -> RecordAnswer:
        """Answer for one well-formed, canonical record id (counted by cache result, or as an error).

        ``read`` is what this request already read of this record's entry (``app.web.lookup``
        reads it first), so that a miss does not read the store twice.
        """
        try:
            return self._counted(self.refresh(record_id, request_id, read))
        except PassportError:
            self._errors.inc()
            raise
        finally:
            if read is not None:
                self.release(read)

    def refresh(self, record_id: str, request_id: str | None, read: StoreRead | None = None) -> RecordAnswer:
        """``lookup``, for an answer nobody is given (a purge's refetch): not counted as a lookup."""
        own_read = read is None
        if read is None:
            read = self.read(record_id)
        try:
            if not read.store_available:
                return self._coalesced(record_id, lambda: self._fetch_bypassing_store(record_id, request_id))
            return self._resolve(record_id, read.entry, request_id, held=read.lock)
        finally:
            if own_read:
                self.release(read)

    def read(self, record_id: str) -> StoreRead:
        """Read the record's entry (near cache first); a store failure is part of the answer.

        Why one script and not a ``GET``: when the entry is absent the record's fetch lock is taken
        in the same round trip (and, on a single Redis, Passport's fleet-wide pause read along), so
        that a miss costs two Redis round trips — this one and the store that releases the lock —
        instead of a read, a lock, a second read and a pause check. The caller must hand the read
        to ``lookup`` (or ``release``), which uses the lock or gives it back.
        """
        key = self._keys.entry(record_id)
        near = self._store.cached(key)
        if near is not None:  # the hot path: this worker's copy, no store call, no lock made
            return StoreRead(decode_entry(near))
        lock = self._new_lock(record_id)
        try:
            found = self._store.read_or_lock(key, lock.key, lock.owner, self._locks.lease_seconds,
                                             self._pause_key)
        except StoreUnavailable:
            return StoreRead(None, store_available=False)
        if found.extra_read:
            note_pause_reading(found.extra)
        if found.locked:
            self._locks.adopt(lock)
        return StoreRead(decode_entry(found.value), lock=lock if found.locked else None)

    def release(self, read: StoreRead) -> None:
        """Give back the lock a read took, unless its fetch used (and released) it."""
        if read.lock is not None:
            self._release(read.lock)

    def revalidate(self, record_id: str, request_id: str | None) -> RecordAnswer:
        """A caller asked for the record fresh from Passport (``Cache-Control: no-cache``).

        One fetch fleet-wide however many ask at once: a copy fetched less than
        ``refresh_satisfied_seconds`` ago satisfies the request as it is; otherwise the fetch goes
        through the record's lock like a miss's (``fwd=request``), and whoever waits on it — in
        this process or another — takes the copy it stores, as long as that copy is newer than the
        moment they asked. Counted by cache result like any lookup.
        """
        try:
            return self._counted(self._revalidated(record_id, request_id))
        except PassportError:
            self._errors.inc()
            raise

    def _revalidated(self, record_id: str, request_id: str | None) -> RecordAnswer:
        read = self.read(record_id)
        try:
            return self._revalidated_from(record_id, request_id, read)
        finally:
            self.release(read)

    def _revalidated_from(self, record_id: str, request_id: str | None, read: StoreRead) -> RecordAnswer:
        if not read.store_available:
            return self._coalesced(record_id, lambda: self._fetch_bypassing_store(record_id, request_id))
        now = self._clock()
        newer_than = now - self._policy.refresh_satisfied_seconds
        entry = read.entry
        if entry is not None and entry.fetched_at >= newer_than and entry.is_fresh(now):
            status = CacheStatus(hit=True, ttl=entry.fresh_left(now), detail="refreshed-recently")
            return answer(entry, CacheResult.HIT, now, status)
        return self._fetch_once(record_id, request_id, entry, read.lock, newer_than=newer_than, forward="request")

    def _fetch_once(self, record_id: str, request_id: str | None, stale: CachedRecord | None,
                    held: StoreLock | None, **intent: Any) -> RecordAnswer:
        """The fleet's one fetch of the record: ours when the read took its lock (``held``; this
        process's other requests then wait on that lock), else shared with this process's
        requests and, through the lock, with the fleet's (``intent``: ``_fetch_under_lock``'s)."""
        if held is not None:
            return self._fetch_under_lock(record_id, request_id, stale, held=held, **intent)
        return self._coalesced(record_id, lambda: self._fetch_under_lock(record_id, request_id, stale, **intent))

    def key_of(self, record_id: str) -> str:
        """The store key of a record's entry (for a caller reading many kinds' entries at once)."""
        return self._keys.entry(record_id)

    def cached_hit(self, record_id: str, read: StoreRead) -> RecordAnswer | None:
        """The ``HIT`` answer when ``read`` found a fresh copy of the record, else None.

        For ``app.web.lookup``: it decides nothing else, so on a None ``lookup`` (given the same
        read) decides everything else (stale, 404, fetch, store down).
        """
        entry = read.entry
        now = self._clock()
        if entry is None or not entry.found or not entry.is_fresh(now):
            return None
        return self._counted(self._served_fresh(record_id, entry, now))

    def _served_fresh(self, record_id: str, entry: CachedRecord, now: float) -> RecordAnswer:
        """A fresh copy's answer; one read in the last part of its freshness is refreshed ahead too."""
        if entry.seconds_left(now) < entry.fresh_seconds * self._policy.refresh_ahead_fraction:
            self._refresh_ahead(record_id, entry)
        return fresh_answer(entry, now)

    def _refresh_ahead(self, record_id: str, entry: CachedRecord) -> None:
        """Refresh a copy read in the last part of its freshness, before it expires (Caffeine's
        refresh-ahead): a hot record then never goes stale. One refresh fleet-wide (the record's
        lock); this worker tries at most once per copy, so the hits meanwhile cost Redis nothing."""
        with self._ahead_lock:
            if self._ahead.get(record_id) == entry.fetched_at:
                return
            if len(self._ahead) >= MAX_AHEAD_TRACKED:
                self._ahead.clear()
            self._ahead[record_id] = entry.fetched_at
        if self._revalidate_in_background(record_id, None, newer_than=entry.fetched_at):
            metrics.REFRESH_AHEAD.inc()

    def _counted(self, answer: RecordAnswer) -> RecordAnswer:
        """Count an answer by its cache result, once, here where it is decided."""
        self._results[answer.cache].inc()
        return answer

    def lookup_many(self, record_ids: list[str], request_id: str | None) -> dict[str, RecordAnswer | PassportError]:
        """Answer for distinct ids: cached ones from one multi-get, the rest fetched concurrently.

        Each id goes through the same policy as a single lookup (coalescing, stale rules, negative
        caching); at most ``PASSPORT_MAX_CONCURRENCY`` fetches per process run at once, and one
        failing id is reported as its error without failing the others.
        """
        try:
            keys = [self._keys.entry(record_id) for record_id in record_ids]
            entries = [decode_entry(raw) for raw in self._store.get_many(keys)]
        except StoreUnavailable:
            entries = [None] * len(record_ids)
        now = self._clock()
        results: dict[str, RecordAnswer | PassportError] = {}
        pending = {}
        for record_id, entry in zip(record_ids, entries, strict=True):
            if decide(entry, now, self._policy.stale_windows) is Action.FETCH:
                pending[record_id] = self._fetcher.submit(self._resolve_or_error, record_id, entry, request_id,
                                                            True)
            else:
                results[record_id] = self._resolve(record_id, entry, request_id)
        for record_id, future in pending.items():
            results[record_id] = future.result()
        for result in results.values():
            if isinstance(result, PassportError):
                self._errors.inc()
            else:
                self._counted(result)
        return results

    def warm(self, records: dict[str, Rendered]) -> set[str]:
        """Store records read elsewhere (a listing; id -> rendered), unless the cache already has them
        as new, or they were purged while the listing may have been in flight (it could hold the old
        copy).

        Returns the ids of those purged so recently (the listing must not keep its page either);
        raises ``StoreUnavailable`` when the store cannot be read.
        """
        if not records:
            return set()
        ids = list(records)
        keys = [self._keys.entry(record_id) for record_id in ids]
        markers = [self._keys.purged(record_id) for record_id in ids]
        found = self._store.get_many(keys + markers)
        existing, purged = [decode_entry(raw) for raw in found[:len(keys)]], found[len(keys):]
        now = self._clock()
        recently_purged = set()
        writes: list[tuple[str, bytes, float]] = []
        for record_id, cached, purge in zip(ids, existing, purged, strict=True):
            rendered = records[record_id]
            if purge is not None:
                recently_purged.add(record_id)
                continue
            if cached is not None and cached.found and cached.is_fresh(now) and (
                cached.updated_at >= rendered.updated_at.timestamp()
            ):
                continue
            entry = self._entry_for(rendered, spread=True)
            if (keep := self._keep_for(entry)) > 0:
                writes.append((self._keys.entry(record_id), encode_entry(entry), keep))
        self._best_effort(lambda: self._store.set_many(writes))  # one round trip for them all
        return recently_purged

    def purge(self, record_id: str, soft: bool = False) -> None:
        """Forget the cached copy or remembered 404 — or, ``soft``, keep a copy but stale from now.

        A soft purge makes the next lookup revalidate (one refresh fleet-wide, the stale copy served
        meanwhile) while stale-if-error still protects callers from a failing Passport: a purge that
        cannot cause a rush on Passport (Fastly's soft purge). Either way, in the same store call,
        the record's fetch lock goes — so a fetch already in flight cannot store what it got
        before the purge (``set_if_held``) — and a marker records the purge for as long as such a
        fetch may still run, so that a listing fetched before it does not warm the copy back.
        Raises ``StoreUnavailable`` when the store could not do it.
        """
        now = self._clock()
        key, lock_key = self._keys.entry(record_id), self._keys.lock(record_id)
        marker = (self._keys.purged(record_id), b"%.3f" % now,
                  self._policy.lock_wait_seconds + self._policy.longest_fetch_seconds)
        entry = decode_entry(self._store.get(key)) if soft else None
        keep = max(self._policy.stale_while_revalidate_seconds, self._policy.stale_if_error_seconds)
        if entry is not None and entry.found and keep > 0:
            stale = replace(entry, fresh_seconds=min(entry.fresh_seconds, math.floor(now - entry.fetched_at)))
            self._store.set_and_delete([(key, encode_entry(stale), keep), marker], [lock_key])
        else:
            self._store.set_and_delete([marker], [key, lock_key])
        # Every cached listing page that holds the record goes too (its tag set names them).
        tag = self._keys.pages(record_id)
        pages = [page.decode() for page in self._store.members(tag)]
        if pages:
            self._store.delete_many([*pages, tag])
        for derived in self.derived:  # what is built from this record goes with it, in the same mode
            derived.purge(record_id, soft)

    def describe(self, record_id: str) -> EntryReport:
        """The record's entry as stored, its fetch lock and purge marker (raises ``StoreUnavailable``)."""
        key = self._keys.entry(record_id)
        lock_key, marker_key = self._keys.lock(record_id), self._keys.purged(record_id)
        stored, lock, _ = self._store.describe([key, lock_key, marker_key])
        entry, marker = self._store.get(key), self._store.get(marker_key)
        try:
            purged_at = float(marker) if marker else None
        except ValueError:
            purged_at = None
        return EntryReport(decode_entry(entry), stored, lock.stored_bytes is not None, purged_at,
                           self._policy.stale_windows, self._clock())

    def _resolve(self, record_id: str, entry: CachedRecord | None, request_id: str | None,
                 spread: bool = False, held: StoreLock | None = None) -> RecordAnswer:
        """Answer from the entry read for ``record_id`` (None if absent), fetching when needed
        (``spread``: one of many written together, whose freshness is jittered; ``held``: the
        record's lock, taken by the read)."""
        now = self._clock()
        action = decide(entry, now, self._policy.stale_windows)
        if action is Action.FETCH or entry is None:
            return self._fetch_once(record_id, request_id, entry, held, spread=spread)
        if action is Action.SERVE:
            return self._served_fresh(record_id, entry, now)
        self._revalidate_in_background(record_id, request_id)
        status = CacheStatus(hit=True, ttl=entry.fresh_left(now), detail="stale-while-revalidate")
        return answer(entry, CacheResult.STALE, now, status)

    def _resolve_or_error(
        self, record_id: str, entry: CachedRecord | None, request_id: str | None, spread: bool = False
    ) -> RecordAnswer | PassportError:
        try:
            return self._resolve(record_id, entry, request_id, spread)
        except PassportError as exc:
            return exc

    def _coalesced(self, record_id: str, fetch: Callable[[], RecordAnswer]) -> RecordAnswer:
        """Share one fetch among this process's threads; followers' answers say so."""
        result, ran_it = self._in_flight.run(record_id, fetch)
        if ran_it or result.cache is not CacheResult.MISS:
            return result
        metrics.COALESCED.labels("collapsed").inc()
        return replace(result, cache_status=str(COLLAPSED))

    def _fetch_under_lock(
        self, record_id: str, request_id: str | None, stale: CachedRecord | None,
        newer_than: float | None = None, forward: str = "miss", spread: bool = False,
        held: StoreLock | None = None,
    ) -> RecordAnswer:
        """Fetch while holding the record's lock, or wait (bounded) for whoever holds it.

        ``newer_than``: only a copy fetched since then is what was asked for (a caller's refresh);
        ``forward`` is why Passport is asked (``Cache-Status``'s ``fwd``); ``held``: the lock, taken
        by the read that found no entry — nothing can have been stored since, so fetch at once.
        """
        if held is not None and self._locks.holds(held):
            try:
                return self._fetch_answer(record_id, request_id, stale, held, forward, spread)
            finally:
                self._release(held)
        lock = self._new_lock(record_id)
        waiting_since = self._clock()
        try:
            answered = hold_or_wait(
                self._locks, lock, self._polling,
                work=lambda: self._stored_meanwhile(record_id, newer_than) or self._fetch_answer(
                    record_id, request_id, stale, lock, forward, spread),
                done_meanwhile=lambda: self._done_meanwhile(record_id, stale, waiting_since, newer_than),
                release=self._release, clock=self._clock, sleep=self._sleep,
            )
        except StoreUnavailable:
            return self._fetch_bypassing_store(record_id, request_id)
        if answered is not None:
            return answered
        metrics.COALESCED.labels("lock_timeout").inc()
        log.warning("waited %.1fs for another fetch of %s %s; fetching without caching",
                    self._policy.lock_wait_seconds, self.kind, record_id)
        return self._fetch_answer(record_id, request_id, stale, None, forward, spread)

    def _done_meanwhile(self, record_id: str, stale: CachedRecord | None,
                        waiting_since: float, newer_than: float | None = None) -> RecordAnswer | None:
        """What the fetch we wait for has left, if anything: its entry, or its failure — shared rather
        than each waiter asking a failing Passport again in turn."""
        raw_entry, raw_failure = self._store.get_many(
            [self._keys.entry(record_id), self._keys.failure(record_id)])
        entry = decode_entry(raw_entry)
        if entry is not None and entry.is_fresh(now := self._clock()) and (
                newer_than is None or entry.fetched_at >= newer_than):
            metrics.COALESCED.labels("collapsed").inc()
            return answer(entry, CacheResult.MISS, now, COLLAPSED)
        failure = decode_failure(raw_failure, waiting_since)
        if failure is None:
            return None
        metrics.COALESCED.labels("shared_failure").inc()
        return self._stale_or_raise(record_id, failure, stale)

    def _fresh_in_store(self, record_id: str, newer_than: float | None = None) -> CachedRecord | None:
        """The record's copy in the store now (read again, not the request's read), if it is fresh
        (and fetched since ``newer_than``, when given)."""
        entry = decode_entry(self._store.get(self._keys.entry(record_id)))
        if entry is None or not entry.is_fresh(self._clock()):
            return None
        return entry if newer_than is None or entry.fetched_at >= newer_than else None

    def _stored_meanwhile(self, record_id: str, newer_than: float | None = None) -> RecordAnswer | None:
        """The entry a fetch stored between our read and our lock (it released the lock as it stored).

        Why: in a burst, a request that read the record as missing just before another worker's
        fetch stored it would otherwise find the lock free and ask Passport a second time.
        """
        entry = self._fresh_in_store(record_id, newer_than)
        if entry is None:
            return None
        metrics.COALESCED.labels("collapsed").inc()
        return answer(entry, CacheResult.MISS, self._clock(), COLLAPSED)

    def _fetch_answer(
        self, record_id: str, request_id: str | None, stale: CachedRecord | None, lock: StoreLock | None,
        forward: str = "miss", spread: bool = False,
    ) -> RecordAnswer:
        """Fetch now; only the lock holder stores the result or tells waiters of a failure."""
        try:
            entry = self._fetch(record_id, request_id, spread)
        except PassportError as exc:
            if lock is not None:
                self._share_failure(record_id, exc)
            return self._stale_or_raise(record_id, exc, stale)
        if lock is None:
            return answer(entry, CacheResult.MISS, entry.fetched_at, CacheStatus(fwd=forward, detail="lock-timeout"))
        if not self._store_entry(record_id, entry, lock):  # a purge came during the fetch: kept by nobody
            return answer(entry, CacheResult.MISS, entry.fetched_at, CacheStatus(fwd=forward, detail="lock-lost"))
        return answer(entry, CacheResult.MISS, entry.fetched_at, CacheStatus(fwd=forward, stored=True))

    def _fetch_bypassing_store(self, record_id: str, request_id: str | None) -> RecordAnswer:
        entry = self._fetch(record_id, request_id)
        status = CacheStatus(fwd="bypass", detail="store-unavailable")
        return answer(entry, CacheResult.BYPASS, entry.fetched_at, status)

    def _stale_or_raise(self, record_id: str, error: PassportError, stale: CachedRecord | None) -> RecordAnswer:
        """Serve the last good copy within stale-if-error; a 403 drops it instead."""
        if isinstance(error, PassportForbidden):
            self._forget(record_id)
            raise error
        now = self._clock()
        if stale is not None and serves_on_error(stale, now, self._policy.stale_windows):
            log.warning("Passport failed for %s %s (%s); serving the stale copy",
                        self.kind, record_id, type(error).__name__)
            status = CacheStatus(fwd="stale", ttl=stale.fresh_left(now), detail="upstream-error")
            return answer(stale, CacheResult.STALE, now, status)
        raise error

    def _revalidate_in_background(self, record_id: str, request_id: str | None,
                                  newer_than: float | None = None) -> bool:
        """Start one refresh cluster-wide: only the winner of the record's lock runs it (True).

        ``newer_than``: a fresh copy in the store counts as refreshed only if fetched after that
        (refresh-ahead refreshes a copy that is still fresh).
        """
        lock = self._new_lock(record_id)
        try:
            if not self._locks.take(lock):
                return False
        except StoreUnavailable:
            return False
        self._refresher.submit(self._revalidate, record_id, request_id, lock, newer_than)
        return True

    def _revalidate(self, record_id: str, request_id: str | None, lock: StoreLock,
                    newer_than: float | None = None) -> None:
        try:
            if self._fresh_in_store(record_id, None if newer_than is None else newer_than + 0.001) is not None:
                return  # another refresh stored it between this request's read and its lock
            self._store_entry(record_id, self._fetch(record_id, request_id), lock)
        except StoreUnavailable:
            return  # nowhere to store a refreshed copy; the next lookup tries again
        except PassportForbidden:
            self._forget(record_id)
        except PassportError as exc:
            log.warning("background refresh of %s %s failed: %s", self.kind, record_id, type(exc).__name__)
        except Exception:
            log.exception("background refresh of %s %s crashed", self.kind, record_id)
        finally:
            self._release(lock)

    def _fetch(self, record_id: str, request_id: str | None, spread: bool = False) -> CachedRecord:
        """Fetch, validate and render one record from Passport; a 404 becomes a 404 entry."""
        try:
            rendered = self._passport.get(record_id, request_id)
        except PassportNotFound:
            return not_found_entry(self._clock(), self._policy.not_found_seconds)
        except InvalidPassportRecord as exc:
            log.warning("Passport's body for %s %s failed validation: %s", self.kind, record_id, exc)
            raise PassportBadResponse(str(exc)) from None
        except PassportError as exc:
            log.warning("Passport lookup of %s %s failed: %s", self.kind, record_id, type(exc).__name__)
            raise
        return self._entry_for(self._owned(rendered, request_id), spread)

    def _owned(self, rendered: Rendered, request_id: str | None) -> Rendered:
        """A record that names no customer gets the owner of the record it names (a key: its account's,
        looked up through that kind's cache); a Passport failure on the way fails this fetch too."""
        if rendered.owner is not None or rendered.owner_ref is None or self._owner_of is None:
            return rendered
        return replace(rendered, owner=self._owner_of(rendered.owner_ref, request_id))

    def owner_of(self, record_id: str, request_id: str | None) -> str | None:
        """The customer owning a record of this kind (None if Passport has no such record), read
        through the cache: a fresh copy costs nothing, a missing one one coalesced fetch."""
        found = self.refresh(record_id, request_id)
        return found.entry.owner if found.entry.found else None

    def _entry_for(self, rendered: Rendered, spread: bool = False) -> CachedRecord:
        """A cache entry for a rendered record, fresh for what its ``updated_at`` earns.

        ``spread``: one of many written together (a listing's warm-up, a batch), whose freshness
        is moved by up to ±``ttl_jitter`` so that they do not all expire in the same second.
        """
        fetched_at = self._clock()
        fresh = ttl_for(rendered.updated_at, datetime.fromtimestamp(fetched_at, UTC), self._policy.freshness)
        if spread and self._policy.ttl_jitter:
            fresh = max(1, round(fresh * (1 + self._policy.ttl_jitter * (2 * self._random() - 1))))
        return found_entry(rendered.body, fetched_at, rendered.updated_at.timestamp(), fresh, rendered.owner,
                           rendered.masked_body)

    def _store_entry(self, record_id: str, entry: CachedRecord, lock: StoreLock | None = None) -> bool:
        """Keep a record past its freshness for the stale windows; a 404 only for its own time.

        With the record's ``lock``, the entry is stored only while the lock is still ours (a purge
        takes it away), and the same store call releases it (one round trip less for every stored
        fetch). False when nothing was stored.
        """
        keep = self._keep_for(entry)
        if keep <= 0:
            return False
        key, value = self._keys.entry(record_id), encode_entry(entry)
        if lock is None:
            return self._best_effort(lambda: self._store.set(key, value, keep))
        # Served all the same if this fails; the next request fetches again (and the lock is released
        # on its own, now or by the lock keeper once the store is back).
        try:
            stored = self._store.set_if_held(key, value, keep, lock.key, lock.owner)
        except StoreUnavailable:
            return False
        self._locks.released_with(lock)  # released by that call, or no longer ours to release
        return stored

    def _keep_for(self, entry: CachedRecord) -> int:
        """How long the store keeps an entry: a copy past its freshness for the stale windows, a 404
        only for its own time."""
        if not entry.found:
            return entry.fresh_seconds
        return entry.fresh_seconds + max(self._policy.stale_while_revalidate_seconds,
                                         self._policy.stale_if_error_seconds)

    def _share_failure(self, record_id: str, error: PassportError) -> None:
        """Tell the requests waiting on this fetch how it ended; gone once they have stopped waiting."""
        record = encode_failure(error, self._clock())
        self._best_effort(lambda: self._store.set(self._keys.failure(record_id), record,
                                                  self._policy.lock_wait_seconds))

    def _forget(self, record_id: str) -> None:
        self._best_effort(lambda: self._store.delete(self._keys.entry(record_id)))

    def _new_lock(self, record_id: str) -> StoreLock:
        """The record's fetch lock with an owner value of our own (not yet taken in the store)."""
        return StoreLock.new(self._keys.lock(record_id))

    def _release(self, lock: StoreLock) -> None:
        """Release the lock unless the store call that stored the entry did (the keeper knows which)."""
        if self._locks.holds(lock):
            self._locks.release(lock)

    @staticmethod
    def _best_effort(write: Callable[[], object]) -> bool:
        """Run a store write whose failure changes no answer (the store logged it already); True if done."""
        try:
            write()
        except StoreUnavailable:
            return False
        return True
