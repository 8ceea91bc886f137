"""Build the long-lived parts (store, breakers, Passport client, tokens, customer service) from config.

They are created once per process by ``init_app`` and kept in ``app.extensions``, so requests
share one connection pool to Passport and one to Redis.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from flask import Flask, current_app

from app.breaker import CircuitBreaker
from app.metrics import record_breaker_state
from app.passport.back_pressure import FleetPause, InFlightLimit, RetryBudget
from app.passport.client import PassportClient
from app.passport.customers import PassportCustomers
from app.passport.records import PassportRecords
from app.passport.resource import FreshnessRule, Resource
from app.passport.resources import CUSTOMER, RESOURCES
from app.passport.tokens import TokenProvider, account_for
from app.policy.listing import ListingService
from app.policy.overview import OverviewService, PartSource, part_kind
from app.policy.records import CachePolicy, RecordService
from app.store.cache import CacheKeys, CacheStore, MemoryStore, RedisStore
from app.store.encryption import EncryptedStore
from app.store.lock import LockKeeper
from app.store.near_cache import NearCache
from app.store.redis_topology import connect_redis
from app.tracing import ContextExecutor
from config.settings import LOCK_MARGIN_SECONDS, CacheSettings, PassportSettings, RedisSettings, Settings

EXTENSION = "passport_bff"
# Background refreshes (stale-while-revalidate) per process; each customer has at most one.
REFRESH_THREADS = 2


@dataclass(frozen=True)
class Services:
    store: CacheStore
    passport: PassportClient
    tokens: TokenProvider
    records: dict[str, RecordService]  # one per declared resource (app.passport.resources), by name
    listing: ListingService
    overview: OverviewService
    redis_configured: bool

    @property
    def customers(self) -> RecordService:
        return self.records[CUSTOMER.name]


def build_store(redis_settings: RedisSettings, cache: CacheSettings, keys: CacheKeys) -> CacheStore:
    """Use the shared Redis when one is configured, else an in-process store; seal if asked."""
    store: CacheStore
    if redis_settings.enabled:
        breaker = CircuitBreaker("redis", redis_settings.breaker_failures, redis_settings.breaker_reset_seconds,
                                 on_state=record_breaker_state)
        client = connect_redis(redis_settings)
        store = RedisStore(client, breaker, build_near_cache(redis_settings, cache, client, keys))
    else:
        store = MemoryStore()
    return EncryptedStore(store, cache.encryption_keys) if cache.encryption_keys else store


def build_near_cache(redis_settings: RedisSettings, cache: CacheSettings, client: Any,
                     keys: CacheKeys) -> NearCache | None:
    """A near cache in front of a single Redis server (not yet for Cluster or Sentinel set-ups)."""
    if not cache.near_max_entries or redis_settings.cluster or redis_settings.sentinels:
        return None
    prefixes = [keys.of(kind).prefix for kind in record_kinds()]
    return NearCache(client, prefixes, cache.near_max_entries).start()


def record_kinds() -> list[str]:
    """Every kind of entry the cache holds: each declared resource, and each overview part."""
    return [resource.name for resource in RESOURCES] + [part_kind(resource.plural) for resource in listed()]


def listed() -> list[Resource[Any]]:
    """The kinds Passport lists by customer: the overview's parts."""
    return [resource for resource in RESOURCES if resource.list_path is not None]


def build_passport(passport: PassportSettings, store: CacheStore, keys: CacheKeys) -> PassportClient:
    breaker = CircuitBreaker("passport", passport.breaker_failures, passport.breaker_reset_seconds,
                             on_state=record_breaker_state)
    if not (passport.base_url and passport.client_id and passport.client_secret):
        raise ValueError("Passport's base URL and credentials are required")  # config names what is missing
    return PassportClient(
        passport.base_url,
        passport.client_id,
        passport.client_secret,
        timeout_seconds=passport.timeout_seconds,
        connect_timeout_seconds=passport.connect_timeout_seconds,
        max_response_bytes=passport.max_response_bytes,
        breaker=breaker,
        deadline_seconds=passport.deadline_seconds,
        retries=passport.retries,
        retry_backoff_seconds=passport.retry_backoff_seconds,
        max_connections=passport.max_connections,
        pause=FleetPause(store, keys, passport.max_retry_after_seconds),
        in_flight=InFlightLimit(passport.max_in_flight),
        retry_budget=RetryBudget(passport.retry_budget),
        max_retry_after_seconds=passport.max_retry_after_seconds,
    )


def freshness_of(resource: Resource[Any], cache: CacheSettings) -> FreshnessRule:
    """The resource's declared freshness, as configured: the customer's by ``CACHE_TTL_*``, the
    others' longest by ``ACCOUNT_MAX_AGE_SECONDS``, ``KEY_TTL_MAX_SECONDS``, ``RECIPIENT_TTL_MAX_SECONDS``."""
    if resource is CUSTOMER:
        return FreshnessRule(cache.ttl_factor, cache.ttl_min_seconds, cache.ttl_max_seconds)
    declared = resource.freshness
    longest = dict(cache.record_max_seconds).get(resource.name)
    if longest is None:
        return declared
    shortest = longest if declared.min_seconds == declared.max_seconds else min(declared.min_seconds, longest)
    return FreshnessRule(declared.factor, shortest, longest)


def build_policy(cache: CacheSettings, passport: PassportSettings) -> CachePolicy:
    return CachePolicy(
        freshness=freshness_of(CUSTOMER, cache),
        stale_while_revalidate_seconds=cache.stale_while_revalidate_seconds,
        stale_if_error_seconds=cache.stale_if_error_seconds,
        not_found_seconds=cache.not_found_seconds,
        lock_wait_seconds=cache.lock_wait_seconds,
        longest_fetch_seconds=passport.longest_fetch_seconds,
        refresh_satisfied_seconds=cache.refresh_satisfied_seconds,
        refresh_ahead_fraction=cache.refresh_ahead_fraction,
        ttl_jitter=cache.ttl_jitter,
    )


def build_services(settings: Settings) -> Services:
    """Wire every service from validated settings."""
    cache, passport_settings = settings.cache, settings.passport
    keys = CacheKeys(cache.key_prefix)
    store = build_store(settings.redis, cache, keys)
    passport = build_passport(passport_settings, store, keys)
    locks = LockKeeper(store, cache.lock_lease_seconds)
    tokens = TokenProvider(
        passport.issue_token,
        store,
        keys,
        account_for(passport_settings.base_url or "", passport_settings.client_id or ""),
        refresh_margin_seconds=passport_settings.token_refresh_margin_seconds,
        default_ttl_seconds=passport_settings.token_default_ttl_seconds,
        lock_seconds=passport_settings.token_fetch_seconds + LOCK_MARGIN_SECONDS,
        locks=locks,
    )
    # Background refreshes and batch fetches run in their request's context: its trace, its span.
    refresher = ContextExecutor(REFRESH_THREADS, thread_name_prefix="revalidate")
    fetcher = ContextExecutor(passport_settings.max_concurrency, thread_name_prefix="batch-fetch")
    policy = build_policy(cache, passport_settings)
    records: dict[str, RecordService] = {}
    for resource in RESOURCES:  # a kind owned through another is declared after it (a key after the account)
        owner_of = records[resource.owner_via[0]].owner_of if resource.owner_via else None
        masked = cache.customer_masking or resource is not CUSTOMER  # the customer's: PII_MASKING
        records[resource.name] = RecordService(
            PassportRecords(resource, passport, tokens, masked), store, keys,
            replace(policy, freshness=freshness_of(resource, cache)), refresher, fetcher, locks, owner_of=owner_of)
    listing = ListingService(PassportCustomers(passport, tokens), store, keys, records[CUSTOMER.name],
                             cache.list_seconds, masked=cache.customer_masking)
    parts = {}
    for resource in listed():
        owner_of = records[resource.owner_via[0]].owner_of if resource.owner_via else None
        source = PartSource(PassportRecords(resource, passport, tokens, masked=True), records[resource.name],
                            cache.overview_max_items, masked=True, owner_of=owner_of)
        freshness = freshness_of(resource, cache)  # a part is as fresh as its kind's newest record
        parts[resource.plural] = RecordService(source, store, keys, replace(policy, freshness=freshness), refresher,
                                               fetcher, locks)
    records[CUSTOMER.name].derived.extend(parts.values())  # a customer's purge reaches its overview parts
    overview = OverviewService(records[CUSTOMER.name], parts, store, fetcher)
    return Services(store, passport, tokens, records, listing, overview, redis_configured=settings.redis.enabled)


def init_app(app: Flask, settings: Settings) -> Services:
    built = app.extensions[EXTENSION] = build_services(settings)
    return built


def services() -> Services:
    """The services of the current app."""
    return of(current_app)


def of(app: Flask) -> Services:
    """The services of ``app``, outside a request context."""
    services: Services = app.extensions[EXTENSION]
    return services
