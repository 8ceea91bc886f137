"""A near cache: each worker keeps recently read record entries in memory, coherent with Redis.

Coherence comes from Redis itself (server-assisted client-side caching, ``CLIENT TRACKING``), in
its opt-in mode: Redis remembers which keys *this worker* read into its memory and tells it, and
only it, when one of those changes. A background thread holds a connection subscribed to
``__redis__:invalidate``; the reads whose values may be kept here go through ``read``, on reader
connections of this near cache whose tracking is redirected to that subscriber, each read opted
in (``CLIENT CACHING YES``) in the same round trip as the read itself. A miss's store goes through
``write`` on a reader too: with ``NOLOOP``, the key its read tracked (read missing, usually on that
same connection) sends no invalidation back to wake this worker; the store drops its own copy.

Why opt-in and not broadcasting mode (``BCAST`` on the record key prefixes, what this cache did
first): in broadcasting mode every write of a record key anywhere — each miss's store, in every
worker of every instance — wakes every worker's subscriber, to drop an entry that almost never
was there. A fleet of N workers paid N wake-ups per miss. Now a write reaches only the workers
that read that key since it last changed (usually the writer alone, whose read found it missing).

Safety rules:
- Nothing is served from memory unless the invalidation stream is up (``coherent``); when it is
  lost (Redis restart, network) everything is flushed, and only after it is re-established does
  the near cache fill again — through readers tracking toward the new subscriber.
- A value read from Redis is kept only if no invalidation arrived while it was being read (a
  sequence number), so a write racing a read cannot leave an old copy behind.
- Redis forgets what a connection tracked when that connection goes. So a reader that fails,
  reconnects, or that Redis no longer lists (killed, closed idle: checked every few seconds)
  flushes the whole near cache: its entries could no longer be invalidated.
- Bounded (least recently used first out). Freshness is still judged by the cache policy on
  every hit, from the entry's own header.
"""
from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import OrderedDict
from typing import Any

import redis
from redis.exceptions import ResponseError

from app.metrics import NEAR_CACHE_HITS

log = logging.getLogger(__name__)

INVALIDATION_CHANNEL = "__redis__:invalidate"
RECONNECT_SECONDS = 0.5
READ_TIMEOUT_SECONDS = 1.0
CHECK_EVERY_SECONDS = 5.0
OPT_IN = ("CLIENT", "CACHING", "YES")


class NearCache:
    """Per-process copies of Redis values under ``prefixes``, dropped when Redis says they changed."""

    def __init__(self, client: redis.Redis, prefixes: list[str], max_entries: int,
                 check_every_seconds: float = CHECK_EVERY_SECONDS) -> None:
        pool = client.connection_pool
        # RESP2 on purpose: the invalidations then arrive as plain pub/sub messages on the subscriber,
        # and a reader never receives a push frame (RESP3 sends one when the subscriber goes) that
        # redis-py would take for the answer to its next command. Maintenance notifications are a
        # RESP3 feature: left out of these connections.
        self._connection_kwargs = {
            name: value for name, value in pool.connection_kwargs.items()
            if not name.startswith(("maint_notifications", "orig_"))
        } | {"protocol": 2}
        self._connection_class = pool.connection_class
        # Readers: as bounded and waiting as the store's own pool (a gevent worker reads from many
        # requests at once), and of its class; made on demand, so a quiet worker holds one or two.
        waits = {"timeout": pool.timeout} if isinstance(pool, redis.BlockingConnectionPool) else {}
        self._readers = type(pool)(connection_class=pool.connection_class, max_connections=pool.max_connections,
                                   **waits, **self._connection_kwargs)
        self._prefixes = tuple(prefixes)
        self._max_entries = max_entries
        self._check_every_seconds = check_every_seconds
        self._may_list_clients = True  # until an ACL says otherwise
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._sequence = 0
        self._coherent = False
        self._subscriber_id: int | None = None  # the connection invalidations are redirected to
        # reader connection -> its client id, for readers tracking toward the current subscriber
        self._tracking: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self._watched: weakref.WeakSet[Any] = weakref.WeakSet()  # readers whose reconnects we hear of
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._follow_invalidations, name="near-cache", daemon=True)

    def start(self) -> NearCache:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()

    @property
    def coherent(self) -> bool:
        return self._coherent

    def keeps(self, key: str) -> bool:
        """Whether values of ``key`` may be kept here (so reads of it go through ``read``)."""
        return key.startswith(self._prefixes)

    def sequence(self) -> int:
        """A number that changes whenever a kept value may have changed (``read`` returns it with
        each reply, for ``put``)."""
        return self._sequence

    def get(self, key: str) -> bytes | None:
        if not self._coherent:
            return None
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
        if value is not None:
            NEAR_CACHE_HITS.inc()
        return value

    def read(self, *command: Any) -> tuple[Any, int | None]:
        """Run one read ``command`` with Redis tracking, for this cache, the keys it reads.

        Returns the reply and the sequence to ``put`` values of it with; None when they may not be
        kept (the invalidation stream is down, so nothing would tell us of a change). The command's
        own error reply (``NOSCRIPT``...) is raised as redis-py raises it; a connection that fails
        is retried once, as the store's commands are.
        """
        sequence, subscriber = self._sequence, self._subscriber_id
        reply, tracked = self._on_a_reader(command, subscriber if self._coherent else None, opt_in=True)
        return reply, sequence if tracked else None

    def write(self, *command: Any) -> Any:
        """Run a write ``command`` of kept keys on a reader: Redis then tells us nothing of the keys
        that reader tracked (``NOLOOP``) — often the very key a miss read missing and now stores,
        on the same connection, and whose invalidation would only wake this worker's subscriber.

        The caller must drop its own copies of the keys written *after* the write (``discard``):
        a read between a drop before it and the write would otherwise keep the old value unheard.
        """
        subscriber = self._subscriber_id if self._coherent else None
        return self._on_a_reader(command, subscriber, opt_in=False)[0]

    def _on_a_reader(self, command: tuple[Any, ...], subscriber: int | None, opt_in: bool) -> tuple[Any, bool]:
        connection = self._readers.get_connection()
        try:
            result: tuple[Any, bool] = connection.retry.call_with_retry(
                lambda: self._run_on(connection, command, subscriber, opt_in),
                lambda _error: self._reader_lost(connection))
            return result
        finally:
            self._readers.release(connection)

    def put(self, key: str, value: bytes, sequence: int | None) -> None:
        """Keep ``value`` read through ``read``, unless something was invalidated since ``sequence``."""
        if sequence is None or not self.keeps(key):
            return
        with self._lock:
            if not self._coherent or self._sequence != sequence:
                return
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def discard(self, key: str) -> None:
        """Drop this worker's copy of ``key``, which it just wrote. A key never kept here (a fetch
        lock) changes nothing: bumping the sequence for it would only keep racing reads from being kept."""
        if not self.keeps(key):
            return
        with self._lock:
            self._sequence += 1
            self._entries.pop(key, None)

    # ---- reads under tracking ------------------------------------------------------------------

    def _run_on(self, connection: Any, command: tuple[Any, ...], subscriber: int | None,
                opt_in: bool) -> tuple[Any, bool]:
        """One round trip: (tracking set-up, once per reader and subscriber,) opt-in for a read, the command.

        The reply, and whether Redis tracks what a read read for us. A set-up refused (the subscriber
        went meanwhile) only makes the values not kept; the command's own error reply is raised.
        """
        if connection not in self._watched:  # a reconnect forgets what the old connection tracked
            connection.register_connect_callback(self._forget_reader)
            self._watched.add(connection)
        connection.connect()  # no-op when connected; a reconnect happens here, before we decide
        set_up: list[tuple[Any, ...]] = []
        if subscriber is not None and connection not in self._tracking:
            set_up = [("CLIENT", "TRACKING", "ON", "REDIRECT", subscriber, "OPTIN", "NOLOOP"), ("CLIENT", "ID")]
        if subscriber is not None and opt_in:
            set_up.append(OPT_IN)
        connection.send_packed_command(connection.pack_commands([*set_up, command]))
        replies = [self._reply(connection) for _ in range(len(set_up) + 1)]  # all read: the connection stays in step
        tracked = bool(set_up) and not any(isinstance(reply, ResponseError) for reply in replies[:-1])
        if subscriber is not None and connection not in self._tracking and tracked:
            with self._lock:
                if self._subscriber_id == subscriber:
                    self._tracking[connection] = int(replies[1])
        elif set_up and not tracked:
            self._forget_reader(connection)
        if isinstance(replies[-1], ResponseError):
            raise replies[-1]
        return replies[-1], tracked

    @staticmethod
    def _reply(connection: Any) -> Any:
        try:
            return connection.read_response()
        except ResponseError as error:
            return error

    def _reader_lost(self, connection: Any) -> None:
        """A reader failed: whatever it tracked is forgotten by Redis, so what it read goes too."""
        connection.disconnect()
        self._forget_reader(connection)

    def _forget_reader(self, connection: Any) -> None:
        """A reader that tracked for us no longer does (it failed, reconnected, or Redis dropped it)."""
        with self._lock:
            if self._tracking.pop(connection, None) is not None:
                self._flush()

    def _flush(self) -> None:
        """Drop every copy (the lock is held): some could no longer be invalidated."""
        self._sequence += 1
        self._entries.clear()

    # ---- the invalidation stream ---------------------------------------------------------------

    def _invalidate(self, keys: list[bytes] | None) -> None:
        with self._lock:
            if keys is None:  # FLUSHALL / FLUSHDB
                self._flush()
                return
            self._sequence += 1
            for key in keys:
                self._entries.pop(key.decode(errors="replace"), None)

    def _lose_coherence(self) -> None:
        with self._lock:
            self._coherent = False
            self._subscriber_id = None
            self._tracking.clear()
            self._flush()

    def _follow_invalidations(self) -> None:
        """Keep the invalidation stream up for the life of the process."""
        while not self._stopped.is_set():
            try:
                self._subscribe_and_listen()
            except (redis.RedisError, OSError) as exc:
                if self._coherent:
                    log.warning("near cache lost Redis invalidations (%s); flushed", type(exc).__name__)
            self._lose_coherence()
            self._stopped.wait(RECONNECT_SECONDS)

    def _subscribe_and_listen(self) -> None:
        subscriber = self._connect()
        watchdog = self._connect()  # checks that the readers are still there, and keeps itself alive
        try:
            subscriber_id = int(self._command(subscriber, "CLIENT", "ID"))
            self._command(subscriber, "SUBSCRIBE", INVALIDATION_CHANNEL)
            with self._lock:
                self._subscriber_id = subscriber_id
                self._tracking.clear()  # readers track toward the new subscriber from their next read
                self._flush()
                self._coherent = True
            self._listen(subscriber, watchdog)
        finally:
            subscriber.disconnect()
            watchdog.disconnect()

    def _listen(self, subscriber: Any, watchdog: Any) -> None:
        """Drop what Redis says changed; every few seconds, check the readers and both connections.

        One blocking read per message, with a timeout: asking ``can_read`` first would cost two
        more ``poll`` calls and a peek per message.
        """
        next_check = time.monotonic() + self._check_every_seconds
        while not self._stopped.is_set():
            try:
                message = subscriber.read_response(timeout=READ_TIMEOUT_SECONDS, disconnect_on_error=False)
            except redis.TimeoutError:
                message = None
            if isinstance(message, list) and len(message) == 3 and message[0] in (b"message", "message"):
                self._invalidate(message[2])
            if time.monotonic() >= next_check:
                self._check_readers(watchdog)
                subscriber.send_command("PING")  # its answer comes as a message, ignored above
                next_check = time.monotonic() + self._check_every_seconds

    def _check_readers(self, watchdog: Any) -> None:
        """Flush if Redis no longer lists a tracking reader (killed, or closed for idling): the keys
        it tracked would change unheard. That reader tracks again from its next read."""
        with self._lock:
            readers = dict(self._tracking.items())
        if not readers or not self._may_list_clients:
            self._command(watchdog, "PING")
            return
        try:
            listed = self._command(watchdog, "CLIENT", "LIST", "ID", *readers.values())
        except ResponseError as refused:  # an ACL without @admin: NOPERM
            self._may_list_clients = False
            log.warning("near cache: Redis refused CLIENT LIST (%s); a reader Redis closes while idle is found "
                        "at its next read instead", str(refused).split(" ", 1)[0])
            return
        alive = {int(field[3:]) for line in listed.decode().splitlines() for field in line.split(" ")
                 if field.startswith("id=")}
        gone = [connection for connection, client_id in readers.items() if client_id not in alive]
        if gone:
            log.warning("near cache: %d reader connection(s) gone from Redis; flushed", len(gone))
            for connection in gone:
                self._forget_reader(connection)

    def _connect(self) -> Any:
        connection = self._connection_class(**self._connection_kwargs)
        connection.connect()
        return connection

    @staticmethod
    def _command(connection: Any, *args: Any) -> Any:
        connection.send_command(*args)
        return connection.read_response()
