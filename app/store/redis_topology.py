"""How to reach Redis: one server (``redis://``, ``rediss://`` with TLS, ``unix://``), a Sentinel-
managed master, or a Redis Cluster — chosen by configuration, handed to the stores ready to use.

Every client fails fast: short socket timeouts, one immediate retry (a stale pooled connection),
no backoff — redis-py's default exponential backoff would make each request wait seconds on a
dead Redis, and failing open is only useful if it is also quick. Keys put everything about one
customer in one hash slot (``{<id>}``), so per-customer commands and scripts work on a Cluster.

Connections: a gevent worker holds up to ``GUNICORN_WORKER_CONNECTIONS`` (1,000) requests at once,
and redis-py's default pool refuses the 101st concurrent command (``MaxConnectionsError``). In a
cold burst that refusal looked like Redis failing: the breaker opened and every worker went to
Passport alone. So a single server is reached through a ``WorkerPool``: at most
``REDIS_MAX_CONNECTIONS`` connections per worker (a Redis serves every worker of the fleet, and
its ``maxclients`` is 10,000), and a command that finds them all busy waits for one — a few
commands' time — up to ``REDIS_SOCKET_TIMEOUT_SECONDS``. A wait that runs out is ``PoolBusy``, a
``MaxConnectionsError``: this worker is busy, not Redis down, and ``app.store.cache`` does not count it
against Redis. Cluster and Sentinel clients keep redis-py's non-blocking pools, sized the same.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import redis
from redis._parsers import _HiredisParser
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import MaxConnectionsError
from redis.retry import Retry
from redis.sentinel import Sentinel
from redis.utils import HIREDIS_AVAILABLE

from app.sockets import has_input
from config.settings import RedisSettings

HEALTH_CHECK_SECONDS = 30
POOL_EMPTY_MESSAGE = "No connection available."  # what BlockingConnectionPool raises when its wait runs out


class PoolBusy(MaxConnectionsError):
    """Every connection of this worker's pool stayed busy for the whole wait: local, not Redis's fault."""


class WorkerPool(redis.BlockingConnectionPool):
    """A bounded pool whose commands wait for a free connection; an exhausted wait is ``PoolBusy``."""

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return redis.BlockingConnectionPool.get_connection(self, *args, **kwargs)
        except redis.ConnectionError as exc:
            if str(exc) == POOL_EMPTY_MESSAGE:  # redis-py's only sign that the wait, not a connect, failed
                raise PoolBusy(f"no Redis connection free within {self.timeout} s") from None
            raise


class ReplyParser(_HiredisParser):
    """hiredis's reply parser, whose non-waiting "anything unread?" check skips gevent's hub.

    redis-py's pool asks it before every command (with maintenance notifications on, the default
    under RESP3, it then ignores the answer: a dead connection fails its command and the one retry
    connects again). Asked with a zero timeout, it now takes the operating system's ``poll``
    (``app.sockets``); a closed connection answers "something to read" rather than raising, which
    the pool treats alike. Checks that wait (a timeout) are hiredis's own, so that they yield.
    """

    def can_read(self, timeout: float = 0) -> bool:
        sock, reader = self._sock, self._reader
        if timeout or sock is None or reader is None:
            return bool(super().can_read(timeout))
        return bool(reader.has_data()) or has_input(sock)


def client_options(settings: RedisSettings) -> dict[str, Any]:
    """Timeouts, retry policy and TLS files shared by every topology."""
    timeout = settings.socket_timeout_seconds
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 1),
    }
    tls = {"ssl_ca_certs": settings.tls_ca_file, "ssl_certfile": settings.tls_cert_file,
           "ssl_keyfile": settings.tls_key_file}
    options.update({name: value for name, value in tls.items() if value})
    return options


def connect_redis(settings: RedisSettings) -> redis.Redis | RedisCluster:
    """Build the client the configuration describes."""
    options = client_options(settings)
    if settings.sentinels:
        return sentinel_master(settings, options)
    if settings.cluster:
        return RedisCluster.from_url(server_url(settings), max_connections=settings.max_connections, **options)
    return redis.Redis(connection_pool=worker_pool(settings))


def server_url(settings: RedisSettings) -> str:
    """``REDIS_URL``, which every topology but Sentinel needs (``config`` checks it is there)."""
    if settings.url is None:
        raise ValueError("REDIS_URL is not set")
    return settings.url


def worker_pool(settings: RedisSettings) -> WorkerPool:
    """The bounded, waiting pool toward one Redis server (``REDIS_URL``), for this worker."""
    options = client_options(settings)
    if HIREDIS_AVAILABLE:
        options["parser_class"] = ReplyParser
    return WorkerPool.from_url(
        server_url(settings), max_connections=settings.max_connections,
        timeout=settings.socket_timeout_seconds, health_check_interval=HEALTH_CHECK_SECONDS, **options,
    )


def sentinel_master(settings: RedisSettings, options: dict[str, Any]) -> redis.Redis:
    """Ask the Sentinels for the current master; credentials and db come from ``REDIS_URL`` if set."""
    url = urlsplit(settings.url or "redis://")
    sentinel_options = {k: v for k, v in options.items() if k != "retry"}
    sentinel = Sentinel(list(settings.sentinels), sentinel_kwargs=sentinel_options, **sentinel_options)
    database = int(url.path.lstrip("/") or 0)
    master: redis.Redis = sentinel.master_for(
        settings.sentinel_master, db=database, username=url.username, password=url.password,
        retry=options["retry"], max_connections=settings.max_connections)
    return master


def limiter_storage_options(settings: RedisSettings) -> dict[str, Any]:
    """The rate limiter's client options: its own pool, bounded and waiting like the store's."""
    if settings.sentinels:
        return client_options(settings)
    if settings.cluster:
        return {**client_options(settings), "max_connections": settings.max_connections}
    return {"connection_pool": worker_pool(settings)}


def limiter_storage_uri(settings: RedisSettings) -> str:
    """The same Redis, in the ``limits`` library's URI dialect."""
    if settings.sentinels:
        hosts = ",".join(f"{host}:{port}" for host, port in settings.sentinels)
        return f"redis+sentinel://{hosts}/{settings.sentinel_master}"
    url = server_url(settings)
    if settings.cluster:
        scheme, rest = url.split("://", 1)
        return f"{scheme}+cluster://{rest}"
    return url
