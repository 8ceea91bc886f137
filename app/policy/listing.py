"""Customer listing through the cache: Passport's pages, reshaped, cached briefly, warming lookups.

A page is asked of Passport with its own parameter names (``page_params.*``, ``order_params.*``,
filters), validated customer by customer, rendered into the frontends' page shape and kept for
``CACHE_LIST_SECONDS`` under a key built from the normalised parameters. Every customer in a valid
page is also written to the per-customer cache (``CustomerService.warm``), so that a list followed
by a click on one row costs Passport nothing more. Passport answers 404 for an entity without
customers (or a page past the end): that is an empty page here, not an error.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from app.passport.customers import PassportCustomers
from app.passport.errors import PassportBadResponse, PassportNotFound
from app.passport.schemas import Customer, InvalidPassportCustomer, render_customer
from app.policy.coalescing import SingleFlight
from app.policy.customers import CacheResult, CustomerService
from app.store.cache import CacheKeys, CacheStore, StoreUnavailable

log = logging.getLogger(__name__)

PASSPORT_ORDER_KEYS = {"createdAt": "created_at", "updatedAt": "updated_at"}
PASSPORT_FILTERS = {"identification_type": "identification_type", "identification_number": "identification_number"}


@dataclass(frozen=True)
class ListAnswer:
    body: bytes
    cache: CacheResult

    def customer_ids(self) -> list[str]:
        """The ids of the page's customers, in order (read back from the page: a cached page is its body)."""
        return [customer["id"] for customer in json.loads(self.body)["customers"]]


def passport_query(query: dict[str, Any]) -> dict[str, str]:
    """Translate validated frontend parameters into Passport's, in a stable order."""
    params = {
        "page_params.page_number": str(query["page"]),
        "page_params.page_size": str(query["page_size"]),
        "order_params.order_key": PASSPORT_ORDER_KEYS[query["order_by"]],
        "order_params.order_direction": query["direction"].upper(),
    }
    params.update({passport: query[ours] for ours, passport in PASSPORT_FILTERS.items() if query.get(ours)})
    return dict(sorted(params.items()))


def render_page(customers: list[Customer], number: int, size: int, total_pages: int, total_items: int) -> bytes:
    """The frontend page body, built from the same customer renderer as single lookups."""
    page = json.dumps({"number": number, "size": size, "totalPages": total_pages, "totalItems": total_items},
                      separators=(",", ":")).encode()
    return b'{"customers":[' + b",".join(render_customer(c) for c in customers) + b'],"page":' + page + b"}"


class ListingService:
    """List customers a page at a time, through a short-lived page cache."""

    def __init__(self, passport: PassportCustomers, store: CacheStore, keys: CacheKeys,
                 customers: CustomerService, list_seconds: int) -> None:
        self._passport = passport
        self._store = store
        self._keys = keys
        self._customers = customers
        self._list_seconds = list_seconds
        self._in_flight = SingleFlight(max_wait_seconds=60)

    def page(self, query: dict[str, Any], request_id: str | None) -> ListAnswer:
        params = passport_query(query)
        key = self._keys.list_page(hashlib.sha256(urlencode(params).encode()).hexdigest()[:32])
        try:
            cached = self._store.get(key)
        except StoreUnavailable:
            cached = None
        if cached:
            return ListAnswer(cached, CacheResult.HIT)
        body, _ = self._in_flight.run(key, lambda: self._fetch_and_store(key, params, query, request_id))
        return ListAnswer(body, CacheResult.MISS)

    def _fetch_and_store(
        self, key: str, params: dict[str, str], query: dict[str, Any], request_id: str | None
    ) -> bytes:
        body = self._fetch(params, query, request_id)
        if self._list_seconds:
            try:
                self._store.set(key, body, self._list_seconds)
            except StoreUnavailable:
                pass
        return body

    def _fetch(self, params: dict[str, str], query: dict[str, Any], request_id: str | None) -> bytes:
        try:
            customers, info = self._passport.page(params, request_id)
        except PassportNotFound:
            return render_page([], query["page"], query["page_size"], 0, 0)
        except InvalidPassportCustomer as exc:
            log.warning("Passport's customer page failed validation: %s", exc)
            raise PassportBadResponse(str(exc)) from None
        self._customers.warm(customers)
        return render_page(customers, info["current_page"], query["page_size"], info["total_pages"],
                           info["total_elements"])
