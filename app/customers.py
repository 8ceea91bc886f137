"""The customer cache policy: when a cached copy is served, and how a missing one is fetched.

This is the module to read first. A lookup is:

1. **Hit** — the store holds a copy still within its freshness (``app.freshness``): serve its
   stored bytes as they are.
2. **Miss** — otherwise: get a token (``app.tokens``), ask Passport (``app.passport``), validate
   and reshape the body (``app.schemas``), store it for the freshness its ``updated_at`` earns,
   and serve it.

Nothing but a validated 200 is ever stored: every Passport failure propagates as a
``PassportError`` and the HTTP layer turns it into a problem answer.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum

from app.cache import CacheKeys, CacheStore
from app.entry import CachedCustomer, decode_entry, encode_entry, strong_etag
from app.freshness import FreshnessPolicy, ttl_for
from app.passport import PassportBadResponse, PassportClient, PassportError
from app.schemas import InvalidPassportCustomer, parse_passport_customer, render_customer
from app.tokens import TokenProvider

log = logging.getLogger(__name__)


class CacheResult(str, Enum):
    """How an answer was produced, as told in ``X-Cache``."""

    HIT = "HIT"
    MISS = "MISS"


@dataclass(frozen=True)
class CustomerAnswer:
    entry: CachedCustomer
    cache: CacheResult
    answered_at: float


class CustomerService:
    """Look customers up through the cache."""

    def __init__(
        self,
        passport: PassportClient,
        tokens: TokenProvider,
        store: CacheStore,
        keys: CacheKeys,
        freshness: FreshnessPolicy,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._passport = passport
        self._tokens = tokens
        self._store = store
        self._keys = keys
        self._freshness = freshness
        self._clock = clock

    def lookup(self, customer_id: str, request_id: str | None) -> CustomerAnswer:
        """Answer for one well-formed, canonical customer id."""
        key = self._keys.customer(customer_id)
        now = self._clock()
        entry = decode_entry(self._store.get(key))
        if entry is not None and entry.fresh_left(now) > 0:
            return CustomerAnswer(entry, CacheResult.HIT, now)
        entry = self._fetch(customer_id, request_id)
        self._store.set(key, encode_entry(entry), entry.fresh_seconds)
        return CustomerAnswer(entry, CacheResult.MISS, entry.fetched_at)

    def _fetch(self, customer_id: str, request_id: str | None) -> CachedCustomer:
        """Fetch, validate and render one customer from Passport."""
        try:
            payload = self._tokens.call_with_token(
                lambda token: self._passport.get_customer(customer_id, token, request_id), request_id
            )
            customer = parse_passport_customer(payload, customer_id)
        except InvalidPassportCustomer as exc:
            log.warning("Passport's body for customer %s failed validation: %s", customer_id, exc)
            raise PassportBadResponse(str(exc)) from None
        except PassportError as exc:
            log.warning("Passport lookup of customer %s failed: %s", customer_id, type(exc).__name__)
            raise
        body = render_customer(customer)
        fetched_at = self._clock()
        fresh_seconds = ttl_for(customer.updated_at, datetime.fromtimestamp(fetched_at, timezone.utc), self._freshness)
        return CachedCustomer(body, strong_etag(body), fetched_at, customer.updated_at.timestamp(), fresh_seconds)
