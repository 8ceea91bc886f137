"""Build the long-lived parts (store, Passport client, tokens, customer service) from config.

They are created once per process by ``init_app`` and kept in ``app.extensions``, so requests
share one connection pool to Passport and one to Redis.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from app.cache import CacheKeys, CacheStore, MemoryStore, RedisStore, connect_redis
from app.customers import CustomerService
from app.freshness import FreshnessPolicy
from app.passport import PassportClient
from app.tokens import TokenProvider, account_for

EXTENSION = "passport_bff"
# A token fetch may take the whole connect + read timeout; the lock must outlive it.
TOKEN_LOCK_EXTRA_SECONDS = 1.0


@dataclass(frozen=True)
class Services:
    store: CacheStore
    passport: PassportClient
    tokens: TokenProvider
    customers: CustomerService


def build_store(config: dict[str, Any]) -> CacheStore:
    """Use the shared Redis when ``REDIS_URL`` is set, else an in-process store."""
    url = config["REDIS_URL"]
    if not url:
        return MemoryStore()
    return RedisStore(connect_redis(url, config["REDIS_SOCKET_TIMEOUT_SECONDS"]))


def build_services(config: dict[str, Any]) -> Services:
    """Wire every service from validated settings."""
    store = build_store(config)
    keys = CacheKeys(config["CACHE_KEY_PREFIX"])
    passport = PassportClient(
        config["PASSPORT_BASE_URL"],
        config["PASSPORT_CLIENT_ID"],
        config["PASSPORT_CLIENT_SECRET"],
        timeout_seconds=config["PASSPORT_TIMEOUT_SECONDS"],
        connect_timeout_seconds=config["PASSPORT_CONNECT_TIMEOUT_SECONDS"],
        max_response_bytes=config["PASSPORT_MAX_RESPONSE_BYTES"],
    )
    tokens = TokenProvider(
        passport.issue_token,
        store,
        keys,
        account_for(config["PASSPORT_BASE_URL"], config["PASSPORT_CLIENT_ID"]),
        refresh_margin_seconds=config["PASSPORT_TOKEN_REFRESH_MARGIN_SECONDS"],
        default_ttl_seconds=config["PASSPORT_TOKEN_DEFAULT_TTL_SECONDS"],
        lock_seconds=config["PASSPORT_CONNECT_TIMEOUT_SECONDS"]
        + config["PASSPORT_TIMEOUT_SECONDS"]
        + TOKEN_LOCK_EXTRA_SECONDS,
    )
    freshness = FreshnessPolicy(
        config["CACHE_TTL_FACTOR"], config["CACHE_TTL_MIN_SECONDS"], config["CACHE_TTL_MAX_SECONDS"]
    )
    customers = CustomerService(passport, tokens, store, keys, freshness)
    return Services(store, passport, tokens, customers)


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = build_services(app.config)


def services() -> Services:
    """The services of the current app."""
    return current_app.extensions[EXTENSION]
