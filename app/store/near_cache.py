"""A near cache: each worker keeps recently read customer entries in memory, coherent with Redis.

Coherence comes from Redis itself (server-assisted client-side caching, ``CLIENT TRACKING``): a
background thread holds two connections of its own — one subscribed to ``__redis__:invalidate``,
one that turned tracking on in broadcasting mode for the record key prefixes, redirected to the
first. Whenever anyone (any worker, any instance) writes, deletes or expires a customer key, Redis
pushes its name and the entry is dropped here within milliseconds.

Safety rules:
- Nothing is served from memory unless the invalidation stream is up (``coherent``); when it is
  lost (Redis restart, network) everything is flushed, and only after tracking is re-established
  does the near cache fill again.
- A value read from Redis is kept only if no invalidation arrived while it was being read (a
  sequence number), so a write racing a read cannot leave an old copy behind.
- Bounded (least recently used first out). Freshness is still judged by the cache policy on
  every hit, from the entry's own header.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Any

import redis

from app.metrics import NEAR_CACHE_HITS

log = logging.getLogger(__name__)

INVALIDATION_CHANNEL = "__redis__:invalidate"
RECONNECT_SECONDS = 0.5
READ_TIMEOUT_SECONDS = 1.0
PING_EVERY_SECONDS = 5.0


class NearCache:
    """Per-process copies of Redis values under ``prefixes``, dropped when Redis says they changed."""

    def __init__(self, client: redis.Redis, prefixes: list[str], max_entries: int) -> None:
        self._connection_class = client.connection_pool.connection_class
        # RESP2 on purpose: the invalidations then arrive as plain pub/sub messages on the listener
        # (redis-py 8 speaks RESP3 by default, where they would be push frames it consumes itself).
        # (Redis maintenance notifications are a RESP3 feature: left out of these two connections.)
        self._connection_kwargs = {
            name: value for name, value in client.connection_pool.connection_kwargs.items()
            if not name.startswith(("maint_notifications", "orig_"))
        } | {"protocol": 2}
        self._prefixes = tuple(prefixes)
        self._max_entries = max_entries
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._sequence = 0
        self._coherent = False
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

    def sequence(self) -> int:
        """A number that changes whenever anything is invalidated; read it before reading Redis."""
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

    def put(self, key: str, value: bytes, sequence: int) -> None:
        """Keep ``value`` read from Redis, unless something was invalidated since ``sequence``."""
        if not key.startswith(self._prefixes):
            return
        with self._lock:
            if not self._coherent or self._sequence != sequence:
                return
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def discard(self, key: str) -> None:
        with self._lock:
            self._sequence += 1
            self._entries.pop(key, None)

    def _invalidate(self, keys: list[bytes] | None) -> None:
        with self._lock:
            self._sequence += 1
            if keys is None:
                self._entries.clear()  # FLUSHALL / FLUSHDB
                return
            for key in keys:
                self._entries.pop(key.decode(errors="replace"), None)

    def _lose_coherence(self) -> None:
        with self._lock:
            self._coherent = False
            self._sequence += 1
            self._entries.clear()

    def _follow_invalidations(self) -> None:
        """Keep the invalidation stream up for the life of the process."""
        while not self._stopped.is_set():
            try:
                self._track_and_listen()
            except (redis.RedisError, OSError) as exc:
                if self._coherent:
                    log.warning("near cache lost Redis invalidations (%s); flushed", type(exc).__name__)
            self._lose_coherence()
            self._stopped.wait(RECONNECT_SECONDS)

    def _track_and_listen(self) -> None:
        listener = self._connect()
        tracker = self._connect()
        try:
            client_id = self._command(listener, "CLIENT", "ID")
            self._command(listener, "SUBSCRIBE", INVALIDATION_CHANNEL)
            prefixes = [word for prefix in self._prefixes for word in ("PREFIX", prefix)]
            self._command(tracker, "CLIENT", "TRACKING", "ON", "REDIRECT", client_id, "BCAST", *prefixes)
            with self._lock:
                self._entries.clear()
                self._sequence += 1
                self._coherent = True
            self._listen(listener, tracker)
        finally:
            listener.disconnect()
            tracker.disconnect()

    def _listen(self, listener: Any, tracker: Any) -> None:
        """Drop what Redis says changed; ping both connections when nothing has come for a while.

        One blocking read per message, with a timeout: every write of a tracked key, anywhere in
        the fleet, reaches every worker, so this loop runs once per write in each of them. Asking
        ``can_read`` first would cost two more ``poll`` calls and a peek per message.
        """
        idle = 0.0
        while not self._stopped.is_set():
            try:
                message = listener.read_response(timeout=READ_TIMEOUT_SECONDS, disconnect_on_error=False)
            except redis.TimeoutError:
                idle += READ_TIMEOUT_SECONDS
                if idle >= PING_EVERY_SECONDS:  # both connections must stay alive for tracking to hold
                    self._command(tracker, "PING")
                    listener.send_command("PING")
                    idle = 0.0
                continue
            if isinstance(message, list) and len(message) == 3 and message[0] in (b"message", "message"):
                self._invalidate(message[2])
            idle = 0.0

    def _connect(self) -> Any:
        connection = self._connection_class(**self._connection_kwargs)
        connection.connect()
        return connection

    @staticmethod
    def _command(connection: Any, *args: Any) -> Any:
        connection.send_command(*args)
        return connection.read_response()
