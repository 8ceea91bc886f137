"""What a kind of Passport record is to passport-bff, declared once: ``Resource``.

A customer, an account, a Bre-B key and a recipient are cached, coalesced, purged, audited and
counted by the same code (``app.policy.resources``, ``app.web.lookup``); what sets them apart is a
``Resource`` value, declared in the kind's own module (``app.passport.resources``): the Passport
path, the strict upstream schema and the frontend shape (``parse`` and ``render``), the record's
owner, the freshness rule, the scope a caller needs, the personal-data fields. Nothing here knows
Flask, Redis or HTTP (nor imports what does: the gunicorn master loads it, through
``app.web.problems``, before any worker patches sockets): the Passport layer fetches through
``app.passport.records``, the policy stores what ``Rendered`` holds, the web layer routes
``/v1/<plural>/<id>``.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from app.passport.masking import Mask, masked_body

R = TypeVar("R")


@dataclass(frozen=True)
class FreshnessRule:
    """How long a record stays fresh: RFC 9111's heuristic on its ``updated_at``, clamped.

    ``factor`` of the time since the record last changed, between ``min_seconds`` and
    ``max_seconds`` (``app.policy.freshness``). A record that changes with every payment (an
    account's balance) gets ``factor=0`` and ``min_seconds == max_seconds``: a fixed maximum age.
    """

    factor: float = 0.1
    min_seconds: int = 30
    max_seconds: int = 3600


@dataclass(frozen=True, slots=True)
class Rendered:
    """A validated record, rendered as frontends receive it: what the cache keeps of it."""

    body: bytes  # the frontend JSON, compact, ready to send
    updated_at: datetime  # Passport's ``updated_at``: the freshness heuristic's input
    owner: str | None  # the customer it belongs to; None for a customer (its own) or a record naming none
    owner_ref: str | None = None  # the record through which the owner is found (a key's account), if any
    masked_body: bytes | None = None  # the body with its personal fields masked, when the kind masks them


@dataclass(frozen=True)
class Resource(Generic[R]):
    """One kind of Passport record, as every layer of passport-bff needs to know it."""

    name: str  # "customer": cache keys, metrics, audit events, problem types ("customer-not-found")
    plural: str  # "customers": the route /v1/<plural>/<id>
    title: str  # "Customer": problem titles and the OpenAPI document
    passport_path: str  # Passport's retrieve path, with an ``{id}`` placeholder
    parse: Callable[[Any, str], R]  # Passport's decoded body, the id asked -> record (or InvalidPassportRecord)
    render: Callable[[R], bytes]  # record -> frontend JSON bytes
    updated_at: Callable[[R], datetime]
    owner: Callable[[R], str | None]  # the customer it belongs to (None: a customer, which is its own)
    scope: str  # what a caller needs to read it
    freshness: FreshnessRule
    frontend_schema: Any  # the marshmallow schema of the frontend shape (for the OpenAPI document)
    example_id: str  # the id of the docs' example record (the emulator seeds it; the OpenAPI document shows it)
    # Frontend fields holding personal data, each with its mask (app.passport.masking): what a caller
    # without pii.read sees of them. Names (a key's displayName, a recipient's alias) are not masked.
    masked_fields: Mapping[str, Mask] = field(default_factory=dict)
    # A record that names no customer, owned by the customer of another record (a key: its
    # account's): that kind's name, and how to read that record's id from this one.
    owner_via: tuple[str, Callable[[R], str]] | None = None
    # Passport's statuses meaning "no such record" for this kind (the id sent is always a UUID).
    not_found_statuses: tuple[int, ...] = (404,)
    # Passport's list of this kind filtered by ``customer_id`` (its body's key is ``plural``): the
    # customer overview's part; None when the kind is not listed by customer.
    list_path: str | None = None

    @property
    def is_customer(self) -> bool:
        """A customer is its own owner: a caller bound to customers is checked on its id, before any read."""
        return self.name == "customer"

    def path_for(self, record_id: str) -> str:
        return self.passport_path.format(id=quote(record_id, safe=""))

    def rendered(self, record: R, masked: bool = False) -> Rendered:
        """The record rendered for frontends; ``masked``: with the masked body too, if it has personal fields."""
        body = self.render(record)
        owner_ref = None if self.owner_via is None else self.owner_via[1](record)
        masked_version = masked_body(body, self.masked_fields) if masked and self.masked_fields else None
        return Rendered(body, self.updated_at(record), self.owner(record), owner_ref, masked_version)
