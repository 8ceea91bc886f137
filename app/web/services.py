"""Build the long-lived parts (store, breakers, Passport client, tokens, customer service) from config.

They are created once per process by ``init_app`` and kept in ``app.extensions``, so requests
share one connection pool to Passport and one to Redis.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from app.breaker import CircuitBreaker
from app.metrics import record_breaker_state
from app.passport.client import PassportClient
from app.passport.tokens import TokenProvider, account_for
from app.policy.customers import CachePolicy, CustomerService
from app.policy.freshness import FreshnessPolicy
from app.policy.listing import ListingService
from app.store.cache import CacheKeys, CacheStore, MemoryStore, RedisStore
from app.store.encryption import EncryptedStore
from app.store.lock import LockKeeper
from app.store.near_cache import NearCache
from app.store.redis_topology import connect_redis
from config import redis_enabled

EXTENSION = "passport_bff"
# Locks must outlive the work they guard: a token fetch plus a customer fetch, and a margin.
LOCK_MARGIN_SECONDS = 1.0
# Background refreshes (stale-while-revalidate) per process; each customer has at most one.
REFRESH_THREADS = 2


@dataclass(frozen=True)
class Services:
    store: CacheStore
    passport: PassportClient
    tokens: TokenProvider
    customers: CustomerService
    listing: ListingService
    redis_configured: bool


def build_store(config: dict[str, Any], keys: CacheKeys) -> CacheStore:
    """Use the shared Redis when one is configured, else an in-process store; seal if asked."""
    store: CacheStore
    if redis_enabled(config):
        breaker = CircuitBreaker("redis", config["REDIS_BREAKER_FAILURES"], config["REDIS_BREAKER_RESET_SECONDS"],
                                 on_state=record_breaker_state)
        client = connect_redis(config)
        store = RedisStore(client, breaker, build_near_cache(config, client, keys))
    else:
        store = MemoryStore()
    encryption_keys = config["CACHE_ENCRYPTION_KEYS"]
    return EncryptedStore(store, encryption_keys) if encryption_keys else store


def build_near_cache(config: dict[str, Any], client: Any, keys: CacheKeys) -> NearCache | None:
    """A near cache in front of a single Redis server (not yet for Cluster or Sentinel set-ups)."""
    size = config["CACHE_NEAR_MAX_ENTRIES"]
    if not size or config["REDIS_CLUSTER"] or config["REDIS_SENTINELS"]:
        return None
    return NearCache(client, keys.customer_prefix, size).start()


def build_passport(config: dict[str, Any]) -> PassportClient:
    breaker = CircuitBreaker(
        "passport", config["PASSPORT_BREAKER_FAILURES"], config["PASSPORT_BREAKER_RESET_SECONDS"],
        on_state=record_breaker_state,
    )
    return PassportClient(
        config["PASSPORT_BASE_URL"],
        config["PASSPORT_CLIENT_ID"],
        config["PASSPORT_CLIENT_SECRET"],
        timeout_seconds=config["PASSPORT_TIMEOUT_SECONDS"],
        connect_timeout_seconds=config["PASSPORT_CONNECT_TIMEOUT_SECONDS"],
        max_response_bytes=config["PASSPORT_MAX_RESPONSE_BYTES"],
        breaker=breaker,
        deadline_seconds=config["PASSPORT_DEADLINE_SECONDS"],
        retries=config["PASSPORT_RETRIES"],
        retry_backoff_seconds=config["PASSPORT_RETRY_BACKOFF_SECONDS"],
        max_connections=config["PASSPORT_MAX_CONNECTIONS"],
    )


def build_services(config: dict[str, Any]) -> Services:
    """Wire every service from validated settings."""
    keys = CacheKeys(config["CACHE_KEY_PREFIX"])
    store = build_store(config, keys)
    passport = build_passport(config)
    token_fetch_seconds = config["PASSPORT_CONNECT_TIMEOUT_SECONDS"] + config["PASSPORT_TIMEOUT_SECONDS"]
    locks = LockKeeper(store, config["CACHE_LOCK_LEASE_SECONDS"])
    tokens = TokenProvider(
        passport.issue_token,
        store,
        keys,
        account_for(config["PASSPORT_BASE_URL"], config["PASSPORT_CLIENT_ID"]),
        refresh_margin_seconds=config["PASSPORT_TOKEN_REFRESH_MARGIN_SECONDS"],
        default_ttl_seconds=config["PASSPORT_TOKEN_DEFAULT_TTL_SECONDS"],
        lock_seconds=token_fetch_seconds + LOCK_MARGIN_SECONDS,
        locks=locks,
    )
    policy = CachePolicy(
        freshness=FreshnessPolicy(
            config["CACHE_TTL_FACTOR"], config["CACHE_TTL_MIN_SECONDS"], config["CACHE_TTL_MAX_SECONDS"]
        ),
        stale_while_revalidate_seconds=config["CACHE_STALE_WHILE_REVALIDATE_SECONDS"],
        stale_if_error_seconds=config["CACHE_STALE_IF_ERROR_SECONDS"],
        not_found_seconds=config["CACHE_NOT_FOUND_SECONDS"],
        lock_wait_seconds=config["CACHE_LOCK_WAIT_SECONDS"],
        longest_fetch_seconds=token_fetch_seconds + config["PASSPORT_DEADLINE_SECONDS"] + LOCK_MARGIN_SECONDS,
    )
    refresher = ThreadPoolExecutor(REFRESH_THREADS, thread_name_prefix="revalidate")
    fetcher = ThreadPoolExecutor(config["PASSPORT_MAX_CONCURRENCY"], thread_name_prefix="batch-fetch")
    customers = CustomerService(passport, tokens, store, keys, policy, refresher, fetcher, locks)
    listing = ListingService(passport, tokens, store, keys, customers, config["CACHE_LIST_SECONDS"])
    return Services(store, passport, tokens, customers, listing, redis_configured=redis_enabled(config))


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = build_services(app.config)


def services() -> Services:
    """The services of the current app."""
    return of(current_app)


def of(app: Flask) -> Services:
    """The services of ``app``, outside a request context (``app.web.fast_path``)."""
    services: Services = app.extensions[EXTENSION]
    return services
