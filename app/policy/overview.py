"""The customer overview: the customer, its accounts, keys and recipients, in one call, each part through its own cache.

A part (a customer's accounts, say) is a record of its own kind to the cache policy
(``customer-accounts``, keyed by the customer's id): a ``RecordService`` over a ``PartSource``,
so coalescing, locks, stale-while-revalidate, stale-if-error, refresh-ahead and purge work for it
as for a single record. ``PartSource`` fetches the part: Passport's list of that kind filtered by
``customer_id``, every page followed up to ``OVERVIEW_MAX_ITEMS``, each record validated by its
kind's schema, its owner checked (Passport's filter is not trusted: a record of another customer
makes the part a 502, never cached), each record warming its own single-record entry, and the
list rendered as one body (and its masked twin). Its freshness is its kind's rule applied to the
newest record (an account list: 5 s).

``OverviewService.overview`` reads the customer's entry and the three parts' in one store round
trip (or from the near cache); whatever is not fresh goes through its service, concurrently. One
part failing does not fail the others: each comes back as its answer or its error.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from app.passport.errors import InvalidPassportRecord, PassportError
from app.passport.records import PassportRecords
from app.passport.resource import Rendered
from app.policy.records import RecordAnswer, RecordService, StoreRead
from app.store.cache import CacheStore, StoreUnavailable
from app.store.entry import decode_entry

log = logging.getLogger(__name__)

ITEMS_PREFIX = b'{"items":['
TRUNCATED = b'],"truncated":true}'
COMPLETE = b'],"truncated":false}'


def part_kind(plural: str) -> str:
    """The cache's name for the part of an overview that lists ``plural`` (``customer-accounts``)."""
    return f"customer-{plural}"


def part_body(items: list[bytes], truncated: bool) -> bytes:
    return ITEMS_PREFIX + b",".join(items) + (TRUNCATED if truncated else COMPLETE)


def part_items(body: bytes) -> tuple[bytes, bool]:
    """A part's stored body as its items' JSON array and whether the list was cut (no parsing)."""
    truncated = body.endswith(TRUNCATED)
    end = len(body) - len(TRUNCATED if truncated else COMPLETE)
    return b"[" + body[len(ITEMS_PREFIX):end] + b"]", truncated


class PartSource:
    """Fetch one part of an overview: the records of one kind a customer owns, as one rendered list."""

    def __init__(self, passport: PassportRecords, singles: RecordService, max_items: int, masked: bool,
                 owner_of: Callable[[str, str | None], str | None] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._passport = passport
        self._singles = singles
        self._max_items = max_items
        self._masked = masked
        self._owner_of = owner_of  # a kind naming no customer (a key): its owner through the record it names
        self._clock = clock
        self.kind = part_kind(passport.resource.plural)

    def get(self, customer_id: str, request_id: str | None) -> Rendered:
        resource = self._passport.resource
        records, truncated = self._passport.owned_by(customer_id, self._max_items, request_id)
        rendered = [(record_id(record), resource.rendered(record, self._masked)) for record in records]
        owners = self._owners_through(rendered, request_id)
        owned = {record_id: self._owned_by(customer_id, record_id, one, owners) for record_id, one in rendered}
        self._warm(owned)
        bodies = [one.body for _, one in rendered]
        masked = [one.masked_body or one.body for _, one in rendered]
        newest = max((one.updated_at for _, one in rendered), default=self._clock())
        masked_part = part_body(masked, truncated) if self._masked else None
        return Rendered(part_body(bodies, truncated), newest, customer_id, masked_body=masked_part)

    def _owners_through(self, rendered: list[tuple[str, Rendered]], request_id: str | None) -> dict[str, str | None]:
        """The owners of the records these name (a key's account's customer): each asked once, through
        that kind's cache, however many records name it."""
        if self._owner_of is None:
            return {}
        refs = dict.fromkeys(one.owner_ref for _, one in rendered if one.owner is None and one.owner_ref)
        return {ref: self._owner_of(ref, request_id) for ref in refs if ref is not None}

    def _owned_by(self, customer_id: str, record_id: str, one: Rendered, owners: dict[str, str | None]) -> Rendered:
        """The record, its owner checked to be ``customer_id`` (else the whole part is a bad answer)."""
        owner = one.owner if one.owner is not None else owners.get(one.owner_ref or "")
        if owner != customer_id:
            kind = self._passport.resource.name
            raise InvalidPassportRecord(f"{kind} {record_id} listed for customer {customer_id} belongs to another")
        return replace(one, owner=owner)

    def _warm(self, owned: dict[str, Rendered]) -> None:
        """Every listed record also answers its own lookup from now on (best effort: the part stands alone)."""
        try:
            self._singles.warm(owned)
        except StoreUnavailable:
            pass


def record_id(record: Any) -> str:
    """A listed record's id (its kind's schema made it a lower-case UUID)."""
    return str(record["id"])


@dataclass
class Overview:
    """Each part's answer, or the Passport failure that left it without one."""

    customer: RecordAnswer | PassportError
    parts: dict[str, RecordAnswer | PassportError]  # by plural: accounts, keys, recipients


class OverviewService:
    """Answer a customer's overview from the customer's service and one service per part."""

    def __init__(self, customers: RecordService, parts: dict[str, RecordService], store: CacheStore,
                 fetcher: Executor) -> None:
        self._customers = customers
        self._parts = parts
        self._store = store
        self._fetcher = fetcher

    def overview(self, customer_id: str, request_id: str | None, parts: list[str]) -> Overview:
        """The customer and the ``parts`` asked for: fresh copies from one store read, the rest
        fetched concurrently through their own services."""
        services = [self._customers, *(self._parts[name] for name in parts)]
        reads = self._read_all(services, customer_id)
        known: RecordAnswer | PassportError | None = None
        stored = reads[0].entry if reads[0] is not None else None
        if stored is not None and not stored.found:
            # A customer remembered as unknown: its parts are not asked for (polling an unknown id
            # must not become list calls to Passport).
            known = _looked_up(self._customers, customer_id, request_id)
            if isinstance(known, RecordAnswer) and not known.entry.found:
                return Overview(known, {})
        pending: dict[int, Future[RecordAnswer | PassportError]] = {}
        answers: dict[int, RecordAnswer | PassportError] = {}
        for index, (service, read) in enumerate(zip(services, reads, strict=True)):
            if index == 0 and known is not None:
                answers[0] = known
                continue
            hit = service.cached_hit(customer_id, read) if read is not None else None
            if hit is not None:
                answers[index] = hit
            else:
                pending[index] = self._fetcher.submit(_looked_up, service, customer_id, request_id)
        for index, future in pending.items():
            answers[index] = future.result()
        return Overview(answers[0], {name: answers[index] for index, name in enumerate(parts, start=1)})

    def _read_all(self, services: list[RecordService], customer_id: str) -> list[StoreRead | None]:
        """Every entry in one round trip (near-cached ones in none); None for all when the store is down."""
        try:
            raw = self._store.get_many([service.key_of(customer_id) for service in services])
        except StoreUnavailable:
            return [None] * len(services)
        return [StoreRead(decode_entry(value)) for value in raw]


def _looked_up(service: RecordService, customer_id: str, request_id: str | None) -> RecordAnswer | PassportError:
    try:
        return service.lookup(customer_id, request_id)
    except PassportError as error:
        return error
