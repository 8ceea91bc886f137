"""The cache store: a small bytes interface with a Redis and an in-process implementation.

Stores know nothing of customers; the cache policy (``app.policy.records``) decides what to keep and
for how long. A Redis failure is logged here with the operation and key and raised as
``StoreUnavailable``, the one exception callers handle: they **fail open** and carry on without
the store, so that a sick Redis slows passport-bff down to Passport's pace instead of taking it
down (the lesson of alphagov/notifications-utils' Redis client). A command this worker could not
send because all its connections stayed busy (``MaxConnectionsError``, see ``app.store.redis_topology``)
is unavailable too, but it is not counted against Redis: it never opens the breaker.

Keys come from ``CacheKeys`` alone: namespaced by ``CACHE_KEY_PREFIX``, versioned with the stored
format, and with the customer id as a Redis Cluster hash tag so that everything about one
customer lives in one slot.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import redis
from redis.cluster import RedisCluster
from redis.commands.core import Script
from redis.exceptions import MaxConnectionsError, NoScriptError

from app import tracing
from app.breaker import CircuitBreaker, CircuitOpen
from app.store.near_cache import NearCache

log = logging.getLogger(__name__)
T = TypeVar("T")

FORMAT_VERSION = "v1"
MEMORY_STORE_MAX_ENTRIES = 10_000

# Delete a key only while it still holds the value we put there (a lock we own, a token we saw).
COMPARE_AND_DELETE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
COMPARE_AND_EXPIRE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
# Store a value and release a lock, only while the lock still holds our value: a fetched customer
# is kept only if nothing (a purge) took its fetch lock away meanwhile. One round trip; both keys
# carry the customer's hash tag, so one slot.
SET_IF_HELD = """
if redis.call('get', KEYS[2]) ~= ARGV[3] then return 0 end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('del', KEYS[2])
return 1
"""
# Read a value; if there is none, take its lock (SET NX PX) in the same round trip. A third key,
# when given, is read too (Passport's fleet-wide pause, on a single Redis; a Cluster keeps it in
# another slot, so there the caller reads it apart). Lua's false is Redis's nil in the reply.
READ_OR_LOCK = """
local value = redis.call('get', KEYS[1])
local extra = false
if #KEYS > 2 then extra = redis.call('get', KEYS[3]) end
if value then return {value, 0, extra} end
if redis.call('set', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {false, 1, extra} end
return {false, 0, extra}
"""
# Set some keys and delete others at once: KEYS are the keys to set, then the keys to delete;
# ARGV[1] says how many to set, then a value and a time to live (ms) for each (one slot).
SET_AND_DELETE = """
local sets = tonumber(ARGV[1])
for i = 1, sets do redis.call('set', KEYS[i], ARGV[2 * i], 'PX', ARGV[2 * i + 1]) end
for i = sets + 1, #KEYS do redis.call('del', KEYS[i]) end
return sets
"""


class StoreUnavailable(Exception):
    """The store cannot be reached now; callers fall back to working without it."""


@dataclass(frozen=True)
class ReadOrLock:
    """What ``read_or_lock`` found: the value (None: absent), whether the lock was taken for us,
    and the extra key's value (``extra_read`` False when it was not read in that round trip)."""

    value: bytes | None
    locked: bool
    extra: bytes | None = None
    extra_read: bool = False


@dataclass(frozen=True)
class KeyInfo:
    """What the store holds under a key, without its value: stored size and time left (None: absent)."""

    stored_bytes: int | None
    ttl_seconds: float | None


@dataclass(frozen=True)
class RecordKeys:
    """The keys of one kind of cached record (``customer``, ``account``...), all in the id's hash slot."""

    base: str
    kind: str

    @property
    def prefix(self) -> str:
        """What every entry key of this kind starts with (the near cache tracks it)."""
        return f"{self.base}:{self.kind}:"

    def entry(self, record_id: str) -> str:
        return f"{self.base}:{self.kind}:{{{record_id}}}"

    def lock(self, record_id: str) -> str:
        return f"{self.base}:{self.kind}-lock:{{{record_id}}}"

    def failure(self, record_id: str) -> str:
        return f"{self.base}:{self.kind}-failure:{{{record_id}}}"

    def pages(self, record_id: str) -> str:
        """The set of cached listing pages that hold the record (a purge deletes them too)."""
        return f"{self.base}:{self.kind}-pages:{{{record_id}}}"

    def purged(self, record_id: str) -> str:
        """When the record was last purged, kept while a fetch begun before it may still be running."""
        return f"{self.base}:{self.kind}-purged:{{{record_id}}}"


class CacheKeys:
    """Build every key passport-bff stores, from one namespace."""

    def __init__(self, prefix: str) -> None:
        self._base = f"{prefix}:{FORMAT_VERSION}"

    def of(self, kind: str) -> RecordKeys:
        """The keys of records of ``kind`` (a resource's name)."""
        return RecordKeys(self._base, kind)

    @property
    def passport_not_before(self) -> str:
        """When the fleet may call Passport again, after it asked for a pause (Retry-After)."""
        return f"{self._base}:passport-not-before"

    @property
    def passport_probe(self) -> str:
        """Taken by the one call that probes Passport once its pause is over."""
        return f"{self._base}:passport-probe"

    def list_page(self, query_digest: str) -> str:
        return f"{self._base}:list:{query_digest}"

    def token(self, account: str) -> str:
        return f"{self._base}:token:{{{account}}}"

    def token_lock(self, account: str) -> str:
        return f"{self._base}:token-lock:{{{account}}}"

    @property
    def rate_limit_prefix(self) -> str:
        """The prefix of the rate limiter's counters (Flask-Limiter's and the lookup's)."""
        return f"{self._base}:ratelimit"


class CacheStore(Protocol):
    """What the cache policy and the token provider need from a store."""

    def get(self, key: str) -> bytes | None:
        """Return the value at ``key``, or None when absent or expired."""

    def get_many(self, keys: list[str]) -> list[bytes | None]:
        """Return the values at ``keys``, in order, in one round trip."""

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        """Store ``value`` at ``key`` for ``ttl_seconds``."""

    def set_many(self, items: list[tuple[str, bytes, float]]) -> None:
        """Store each ``(key, value, ttl_seconds)`` of ``items``, in one round trip (any slots; not atomic)."""

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""

    def add(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        """Store ``value`` only if ``key`` is absent; True when stored."""

    def delete_if_equal(self, key: str, value: bytes) -> bool:
        """Remove ``key`` only while it still holds ``value``; True when removed."""

    def expire_if_equal(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        """Give ``key`` ``ttl_seconds`` more to live, only while it still holds ``value``; True when done."""

    def set_if_held(self, key: str, value: bytes, ttl_seconds: float, lock_key: str, owner: bytes) -> bool:
        """Set ``key`` and delete ``lock_key``, only while ``lock_key`` holds ``owner``; True if done."""

    def cached(self, key: str) -> bytes | None:
        """``key``'s value if this process holds a copy (the near cache), without asking the store."""

    def read_or_lock(self, key: str, lock_key: str, owner: bytes, ttl_seconds: float,
                     extra_key: str | None = None) -> ReadOrLock:
        """Read ``key``; when it is absent, take ``lock_key`` for ``owner`` in the same call (one slot).
        ``extra_key`` is read along when the store can do it in the same round trip."""

    def set_and_delete(self, sets: list[tuple[str, bytes, float]], deletes: list[str]) -> None:
        """Set ``(key, value, ttl)`` for each of ``sets`` and delete ``deletes``, all at once (one slot)."""

    def describe(self, keys: list[str]) -> list[KeyInfo]:
        """Size and time left of each key, as stored (sealed, if encrypted), in one round trip (one slot)."""

    def add_member(self, set_keys: list[str], member: bytes, ttl_seconds: float) -> None:
        """Add ``member`` to each set of ``set_keys``, each living at least ``ttl_seconds`` more (any slots)."""

    def members(self, set_key: str) -> list[bytes]:
        """The members of a set (none when absent)."""

    def delete_many(self, keys: list[str]) -> None:
        """Delete every key of ``keys`` (any slots)."""

    def ping(self) -> None:
        """Check the store answers."""


class RedisStore:
    """A ``CacheStore`` on a shared Redis, handed a ready client (any topology redis-py knows).

    Every command goes through a circuit breaker: once Redis has failed a few times in a row,
    commands fail at once for a short while instead of each waiting for a socket timeout, so a
    dead Redis costs a request microseconds; after the pause one command probes it again.
    """

    def __init__(self, client: redis.Redis | RedisCluster, breaker: CircuitBreaker,
                 near: NearCache | None = None) -> None:
        self.client = client
        self.breaker = breaker
        self.near = near
        self._compare_and_delete = client.register_script(COMPARE_AND_DELETE)
        self._compare_and_expire = client.register_script(COMPARE_AND_EXPIRE)
        self._set_if_held = client.register_script(SET_IF_HELD)
        self._read_or_lock = client.register_script(READ_OR_LOCK)
        self._cluster = isinstance(client, RedisCluster)
        self._set_and_delete = client.register_script(SET_AND_DELETE)

    def get(self, key: str) -> bytes | None:
        near = self.near
        if near is None or not near.keeps(key):
            return self._run("get", key, lambda: stored_bytes(self.client.get(key)))
        value = near.get(key)
        if value is not None:
            return value
        value, sequence = self._run("get", key, lambda: near.read("GET", key))
        value = stored_bytes(value)
        if value is not None:
            near.put(key, value, sequence)
        return value

    def get_many(self, keys: list[str]) -> list[bytes | None]:
        if not keys:
            return []
        near = self.near
        if near is None or not any(near.keeps(key) for key in keys):
            # A Cluster spreads customers over slots: redis-py splits the MGET per node for us.
            command = self.client.mget_nonatomic if isinstance(self.client, RedisCluster) else self.client.mget
            return self._run("mget", keys[0], lambda: [stored_bytes(value) for value in command(keys)])
        known: list[bytes | None] = [near.get(key) for key in keys]
        missing = [key for key, value in zip(keys, known, strict=True) if value is None]
        if not missing:
            return known
        values, sequence = self._run("mget", missing[0], lambda: near.read("MGET", *missing))
        fetched = {key: stored_bytes(value) for key, value in zip(missing, values, strict=True)}
        for key, value in fetched.items():
            if value is not None:
                near.put(key, value, sequence)
        return [value if value is not None else fetched[key] for key, value in zip(keys, known, strict=True)]

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        self._forget_near(key)
        self._run("set", key, lambda: self.client.set(key, value, px=_millis(ttl_seconds)))

    def set_many(self, items: list[tuple[str, bytes, float]]) -> None:
        if not items:
            return
        for key, _, _ in items:
            self._forget_near(key)

        def store() -> None:
            pipeline = self.client.pipeline(transaction=False)
            for key, value, ttl_seconds in items:
                pipeline.set(key, value, px=_millis(ttl_seconds))
            pipeline.execute()

        self._run("set_many", items[0][0], store)

    def delete(self, key: str) -> None:
        self._forget_near(key)
        self._run("delete", key, lambda: self.client.delete(key))

    def add(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        self._forget_near(key)
        return bool(self._run("add", key, lambda: self.client.set(key, value, px=_millis(ttl_seconds), nx=True)))

    def delete_if_equal(self, key: str, value: bytes) -> bool:
        self._forget_near(key)
        return bool(self._run("delete_if_equal", key, lambda: self._compare_and_delete(keys=[key], args=[value])))

    def expire_if_equal(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        return bool(self._run("expire_if_equal", key, lambda: self._compare_and_expire(
            keys=[key], args=[value, _millis(ttl_seconds)])))

    def set_if_held(self, key: str, value: bytes, ttl_seconds: float, lock_key: str, owner: bytes) -> bool:
        keys: list[str] = [key, lock_key]
        args: list[bytes | int] = [value, _millis(ttl_seconds), owner]
        near = self.near
        if near is None:
            return bool(self._run("set_if_held", key, lambda: self._set_if_held(keys=keys, args=args)))
        # A miss's store: on a near cache reader, so that the invalidation of the key the miss's read
        # tracked (usually on that same connection) does not come back to wake this worker.
        for written in keys:
            self._forget_near(written)
        try:
            return bool(self._run("set_if_held", key, lambda: self._script_on_reader(near.write, self._set_if_held,
                                                                                      keys, args)))
        finally:
            for written in keys:  # near.write's rule: our copies go after the write too
                self._forget_near(written)

    def cached(self, key: str) -> bytes | None:
        return self.near.get(key) if self.near is not None else None

    def read_or_lock(self, key: str, lock_key: str, owner: bytes, ttl_seconds: float,
                     extra_key: str | None = None) -> ReadOrLock:
        near = self.near
        keys = [key, lock_key] if extra_key is None or self._cluster else [key, lock_key, extra_key]
        args: list[bytes | int] = [owner, _millis(ttl_seconds)]
        sequence: int | None = None
        if near is None:
            reply = self._run("read_or_lock", key, lambda: self._read_or_lock(keys=keys, args=args))
        else:
            value = near.get(key)
            if value is not None:
                return ReadOrLock(value, False)
            reply, sequence = self._run("read_or_lock", key,
                                        lambda: self._script_on_reader(near.read, self._read_or_lock, keys, args))
        value, locked, extra = stored_bytes(reply[0]), bool(reply[1]), stored_bytes(reply[2])
        if value is not None and near is not None:
            near.put(key, value, sequence)
        return ReadOrLock(value, locked, extra, extra_read=len(keys) > 2)

    def _script_on_reader(self, run: Callable[..., T], script: Script, keys: list[str],
                          args: list[bytes | int]) -> T:
        """Run a script through a near cache reader (``run``: its ``read`` or ``write``) with ``EVALSHA``,
        the script loaded first if this Redis has not seen it (as redis-py's ``Script`` does)."""
        try:
            return run("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            self.client.script_load(script.script)
            return run("EVALSHA", script.sha, len(keys), *keys, *args)

    def set_and_delete(self, sets: list[tuple[str, bytes, float]], deletes: list[str]) -> None:
        keys = [key for key, _, _ in sets] + deletes
        for key in keys:
            self._forget_near(key)
        args: list[bytes | int] = [len(sets)]
        for _, value, ttl_seconds in sets:
            args += [value, _millis(ttl_seconds)]
        self._run("set_and_delete", keys[0], lambda: self._set_and_delete(keys=keys, args=args))

    def _forget_near(self, key: str) -> None:
        """Our own writes are dropped here at once (every write that can change a value: Redis's
        word of it comes a moment later, and this worker must read its own writes); Redis tells the
        other workers that read the key."""
        if self.near is not None:
            self.near.discard(key)

    def add_member(self, set_keys: list[str], member: bytes, ttl_seconds: float) -> None:
        if not set_keys:
            return

        def add() -> None:
            pipeline = self.client.pipeline(transaction=False)
            for key in set_keys:
                pipeline.sadd(key, member)
                pipeline.pexpire(key, _millis(ttl_seconds))  # every page lives as long: the last one decides
            pipeline.execute()

        self._run("add_member", set_keys[0], add)

    def members(self, set_key: str) -> list[bytes]:
        found = self._run("members", set_key, lambda: self.client.smembers(set_key))
        return sorted(member for member in found if isinstance(member, bytes))  # the client never decodes

    def delete_many(self, keys: list[str]) -> None:
        if not keys:
            return
        for key in keys:
            self._forget_near(key)
        self._run("delete_many", keys[0], lambda: self.client.delete(*keys))

    def describe(self, keys: list[str]) -> list[KeyInfo]:
        def both() -> list[object]:
            pipeline = self.client.pipeline(transaction=False)
            for key in keys:
                pipeline.strlen(key)
                pipeline.pttl(key)
            return list(pipeline.execute())

        replies = self._run("describe", keys[0], both)
        return [key_info(int(size), int(ttl)) for size, ttl in zip(replies[::2], replies[1::2], strict=True)]  # type: ignore[call-overload]

    def ping(self) -> None:
        self._run("ping", "-", self.client.ping)

    def _run(self, operation: str, key: str, command: Callable[[], T]) -> T:
        """Run one command through the breaker, translating every Redis failure; traced as one span."""
        span = tracing.begin_client_span(f"redis {operation}", {"db.system.name": "redis",
                                                                "db.operation.name": operation})
        error: BaseException | None = None
        try:
            with self.breaker.guard(is_redis_failure):
                return command()
        except CircuitOpen as exc:
            error = exc
            raise StoreUnavailable(f"redis {operation}: circuit open") from None
        except MaxConnectionsError as exc:
            error = exc
            log.warning("redis %s not sent for %s: this worker's Redis connections all stayed busy", operation, key)
            raise StoreUnavailable(f"redis {operation}: connection pool busy") from None
        except redis.RedisError as exc:
            error = exc
            log.warning("redis %s failed for %s: %s", operation, key, type(exc).__name__)
            raise StoreUnavailable(f"redis {operation} failed") from None
        except BaseException as exc:
            error = exc
            raise
        finally:
            tracing.end_client_span(span, error=error)


def stored_bytes(value: object) -> bytes | None:
    """A value as Redis sends it to a client that does not decode answers: bytes, or None for no key."""
    if value is None or isinstance(value, bytes):
        return value
    raise TypeError(f"Redis answered {type(value).__name__}: the client must not decode responses")


def is_redis_failure(error: BaseException) -> bool:
    """Redis failed the command; a pool of this worker with no free connection is not Redis failing."""
    return isinstance(error, redis.RedisError) and not isinstance(error, MaxConnectionsError)


def key_info(size: int, ttl_millis: int) -> KeyInfo:
    """From Redis's STRLEN and PTTL: PTTL is -2 for no key, -1 for a key that never expires."""
    if ttl_millis == -2:
        return KeyInfo(None, None)
    return KeyInfo(size, None if ttl_millis < 0 else ttl_millis / 1000)


def _millis(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class MemoryStore:
    """A ``CacheStore`` inside one process: for development and tests without ``REDIS_URL``.

    Bounded (least recently used entries go first) and thread-safe; not shared between workers,
    which is why production refuses to run on it.
    """

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, max_entries: int = MEMORY_STORE_MAX_ENTRIES
    ) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._sets: dict[str, tuple[set[bytes], float]] = {}  # set key -> members, expiry (tags)
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._live_value(key)

    def get_many(self, keys: list[str]) -> list[bytes | None]:
        with self._lock:
            return [self._live_value(key) for key in keys]

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        with self._lock:
            self._put(key, value, ttl_seconds)

    def set_many(self, items: list[tuple[str, bytes, float]]) -> None:
        with self._lock:
            for key, value, ttl_seconds in items:
                self._put(key, value, ttl_seconds)

    def delete(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def add(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        with self._lock:
            if self._live_value(key) is not None:
                return False
            self._put(key, value, ttl_seconds)
            return True

    def delete_if_equal(self, key: str, value: bytes) -> bool:
        with self._lock:
            return self._delete_if_equal(key, value)

    def expire_if_equal(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        with self._lock:
            if self._live_value(key) != value:
                return False
            self._put(key, value, ttl_seconds)
            return True

    def set_if_held(self, key: str, value: bytes, ttl_seconds: float, lock_key: str, owner: bytes) -> bool:
        with self._lock:
            if not self._delete_if_equal(lock_key, owner):
                return False
            self._put(key, value, ttl_seconds)
            return True

    def cached(self, key: str) -> bytes | None:
        """An in-process store is its own copy: ``read_or_lock`` does the reading."""
        return None

    def read_or_lock(self, key: str, lock_key: str, owner: bytes, ttl_seconds: float,
                     extra_key: str | None = None) -> ReadOrLock:
        with self._lock:
            value = self._live_value(key)
            extra = self._live_value(extra_key) if extra_key is not None else None
            if value is not None:
                return ReadOrLock(value, False, extra, extra_key is not None)
            if self._live_value(lock_key) is not None:
                return ReadOrLock(None, False, extra, extra_key is not None)
            self._put(lock_key, owner, ttl_seconds)
            return ReadOrLock(None, True, extra, extra_key is not None)

    def set_and_delete(self, sets: list[tuple[str, bytes, float]], deletes: list[str]) -> None:
        with self._lock:
            for key, value, ttl_seconds in sets:
                self._put(key, value, ttl_seconds)
            for key in deletes:
                self._entries.pop(key, None)

    def _delete_if_equal(self, key: str, value: bytes) -> bool:
        if self._live_value(key) != value:
            return False
        del self._entries[key]
        return True

    def add_member(self, set_keys: list[str], member: bytes, ttl_seconds: float) -> None:
        with self._lock:
            now = self._clock()
            for key in set_keys:
                members, expires_at = self._sets.get(key, (set(), now))
                if expires_at <= now:
                    members = set()
                members.add(member)
                self._sets[key] = (members, max(expires_at, now + ttl_seconds))

    def members(self, set_key: str) -> list[bytes]:
        with self._lock:
            members, expires_at = self._sets.get(set_key, (set(), 0.0))
            return sorted(members) if expires_at > self._clock() else []

    def delete_many(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._entries.pop(key, None)
                self._sets.pop(key, None)

    def describe(self, keys: list[str]) -> list[KeyInfo]:
        with self._lock:
            now = self._clock()
            infos = []
            for key in keys:
                value = self._live_value(key)
                infos.append(KeyInfo(None, None) if value is None else
                             KeyInfo(len(value), self._entries[key][1] - now))
            return infos

    def ping(self) -> None:
        """An in-process store always answers."""

    def _live_value(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if expires_at <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def _put(self, key: str, value: bytes, ttl_seconds: float) -> None:
        self._entries[key] = (value, self._clock() + ttl_seconds)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
