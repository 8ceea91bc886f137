"""How to reach Redis: one server (``redis://``, ``rediss://`` with TLS, ``unix://``), a Sentinel-
managed master, or a Redis Cluster — chosen by configuration, handed to the stores ready to use.

Every client fails fast: short socket timeouts, one immediate retry (a stale pooled connection),
no backoff — redis-py's default exponential backoff would make each request wait seconds on a
dead Redis, and failing open is only useful if it is also quick. Keys put everything about one
customer in one hash slot (``{<id>}``), so per-customer commands and scripts work on a Cluster.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

HEALTH_CHECK_SECONDS = 30


def client_options(config: dict[str, Any]) -> dict[str, Any]:
    """Timeouts, retry policy and TLS files shared by every topology."""
    timeout = config["REDIS_SOCKET_TIMEOUT_SECONDS"]
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 1),
    }
    tls = {"ssl_ca_certs": config["REDIS_TLS_CA_FILE"], "ssl_certfile": config["REDIS_TLS_CERT_FILE"],
           "ssl_keyfile": config["REDIS_TLS_KEY_FILE"]}
    options.update({name: value for name, value in tls.items() if value})
    return options


def connect_redis(config: dict[str, Any]) -> redis.Redis | RedisCluster:
    """Build the client the configuration describes."""
    options = client_options(config)
    if config["REDIS_SENTINELS"]:
        return sentinel_master(config, options)
    if config["REDIS_CLUSTER"]:
        return RedisCluster.from_url(config["REDIS_URL"], **options)
    return redis.Redis.from_url(config["REDIS_URL"], health_check_interval=HEALTH_CHECK_SECONDS, **options)


def sentinel_master(config: dict[str, Any], options: dict[str, Any]) -> redis.Redis:
    """Ask the Sentinels for the current master; credentials and db come from ``REDIS_URL`` if set."""
    url = urlsplit(config["REDIS_URL"] or "redis://")
    sentinel_options = {k: v for k, v in options.items() if k != "retry"}
    sentinel = Sentinel(list(config["REDIS_SENTINELS"]), sentinel_kwargs=sentinel_options, **sentinel_options)
    database = int(url.path.lstrip("/") or 0)
    return sentinel.master_for(config["REDIS_SENTINEL_MASTER"], db=database, username=url.username,
                               password=url.password, retry=options["retry"])


def limiter_storage_uri(config: dict[str, Any]) -> str:
    """The same Redis, in the ``limits`` library's URI dialect."""
    if config["REDIS_SENTINELS"]:
        hosts = ",".join(f"{host}:{port}" for host, port in config["REDIS_SENTINELS"])
        return f"redis+sentinel://{hosts}/{config['REDIS_SENTINEL_MASTER']}"
    url: str = config["REDIS_URL"]
    if config["REDIS_CLUSTER"]:
        scheme, rest = url.split("://", 1)
        return f"{scheme}+cluster://{rest}"
    return url
