"""Customer listing through the cache: Passport's pages, reshaped, cached briefly, warming lookups.

A page is asked of Passport with its own parameter names (``page_params.*``, ``order_params.*``,
filters), validated customer by customer, rendered into the frontends' page shape and kept for
``CACHE_LIST_SECONDS`` under a key built from the normalised parameters. Every customer in a valid
page is also written to the per-customer cache (``RecordService.warm``), so that a list followed
by a click on one row costs Passport nothing more. A stored page is tagged with each of its
customers (a Redis set per customer naming the pages that hold it), so that purging a customer
deletes the pages too; a page holding a customer purged while it was being fetched is not stored.
Passport answers 404 for an entity without customers (or a page past the end): that is an empty
page here, not an error.
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
from app.passport.masking import dump, mask_fields
from app.passport.resource import Rendered
from app.passport.resources import CUSTOMER
from app.passport.schemas import InvalidPassportCustomer
from app.policy.coalescing import SingleFlight
from app.policy.records import CacheResult, RecordService
from app.store.cache import CacheKeys, CacheStore, StoreUnavailable

log = logging.getLogger(__name__)

PASSPORT_ORDER_KEYS = {"createdAt": "created_at", "updatedAt": "updated_at"}
TAG_MARGIN_SECONDS = 5  # a tag outlives the pages it names
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


def render_page(customers: list[Rendered], number: int, size: int, total_pages: int, total_items: int) -> bytes:
    """The frontend page body, of the same rendered customers as single lookups store."""
    page = json.dumps({"number": number, "size": size, "totalPages": total_pages, "totalItems": total_items},
                      separators=(",", ":")).encode()
    return b'{"customers":[' + b",".join(c.body for c in customers) + b'],"page":' + page + b"}"


class ListingService:
    """List customers a page at a time, through a short-lived page cache."""

    def __init__(self, passport: PassportCustomers, store: CacheStore, keys: CacheKeys,
                 customers: RecordService, list_seconds: int, masked: bool = False) -> None:
        self._passport = passport
        self._store = store
        self._keys = keys
        self._customers = customers
        self._list_seconds = list_seconds
        self.masked = masked  # customers are masked for callers without pii.read (PII_MASKING)
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

    @staticmethod
    def masked_page(body: bytes) -> bytes:
        """A page as a caller without ``pii.read`` sees it: each customer's personal fields masked
        (pages are kept whole, and masked as they are sent: listings are few next to lookups)."""
        page = json.loads(body)
        page["customers"] = [mask_fields(customer, CUSTOMER.masked_fields) for customer in page["customers"]]
        return dump(page)

    def _fetch_and_store(
        self, key: str, params: dict[str, str], query: dict[str, Any], request_id: str | None
    ) -> bytes:
        """Fetch the page, tag it with its customers, warm them, and keep it unless one was purged.

        The order matters: tags first, so that a purge from now on deletes the page once stored;
        then the purge markers (read by the warm-up), so that a purge from before is not undone.
        """
        customers, body = self._fetch(params, query, request_id)
        tags = [self._keys.of(CUSTOMER.name).pages(customer_id) for customer_id, _ in customers]
        try:
            if self._list_seconds:
                self._store.add_member(tags, key.encode(), self._list_seconds + TAG_MARGIN_SECONDS)
            purged = self._customers.warm(dict(customers))
            if self._list_seconds and not purged:
                self._store.set(key, body, self._list_seconds)
        except StoreUnavailable:
            pass
        return body

    def _fetch(self, params: dict[str, str], query: dict[str, Any],
               request_id: str | None) -> tuple[list[tuple[str, Rendered]], bytes]:
        """The page's customers, rendered (with their ids, in Passport's order), and the page's body."""
        try:
            records, info = self._passport.page(params, request_id)
        except PassportNotFound:
            return [], render_page([], query["page"], query["page_size"], 0, 0)
        except InvalidPassportCustomer as exc:
            log.warning("Passport's customer page failed validation: %s", exc)
            raise PassportBadResponse(str(exc)) from None
        customers = [(record.id, CUSTOMER.rendered(record, masked=self.masked)) for record in records]
        return customers, render_page([rendered for _, rendered in customers], info["current_page"],
                                      query["page_size"], info["total_pages"], info["total_elements"])
