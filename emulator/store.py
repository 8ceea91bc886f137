"""All mutable emulator state (customers, resources, tokens, counters, faults) behind one lock."""

from __future__ import annotations

import copy
import secrets
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from emulator.faults import Fault, FaultAction, FaultBook
from emulator.resources_seed import RESOURCE_KINDS, SeedResources
from emulator.settings import EmulatorSettings

STORE_EXTENSION_KEY = "passport_emulator"
REQUEST_ID_HISTORY = 1000
TRACE_HEADER_HISTORY = 1000
TOKEN_BYTES = 32
# The calls whose W3C trace headers are kept (counter -> "kind" in stats): the ones a traced
# client makes on a read, so a test can see the trace context reach Passport.
TRACED_CALL_KINDS: dict[str, str] = {
    "customer_calls": "customer", "list_calls": "list", "token_calls": "token",
    "account_calls": "account", "key_calls": "key", "recipient_calls": "recipient",
    "account_list_calls": "account_list", "key_list_calls": "key_list", "recipient_list_calls": "recipient_list",
}
# Counters of calls about one id ({id: n} in stats, with a total), then counters of all calls.
PER_ID_COUNTERS: tuple[str, ...] = ("customer_calls", "account_calls", "key_calls", "recipient_calls")
TOTAL_COUNTERS: tuple[str, ...] = ("token_calls", "token_revoke_calls", "list_calls", "patch_calls",
                                   "account_list_calls", "key_list_calls", "recipient_list_calls")
# An edit that deletes a resource (a seed record must stay gone, where a missing edit shows it).
REMOVED: Any = object()


@dataclass(frozen=True)
class TraceHeaders:
    """The W3C trace context headers of one request, None when absent."""

    traceparent: str | None = None
    tracestate: str | None = None


@dataclass
class TokenRecord:
    """One issued access token."""

    access_token: str
    token_id: str
    created_at: float
    expires_at: float
    revoked: bool = False


@dataclass
class Counters:
    """Calls seen on the Passport endpoints since start or the last reset."""

    per_id: dict[str, dict[str, int]] = field(default_factory=lambda: {name: {} for name in PER_ID_COUNTERS})
    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOTAL_COUNTERS, 0))
    last_authorization_ok: bool = False

    def count(self, kind: str, about_id: str | None) -> None:
        """One more call of `kind` (a PER_ID_COUNTERS or TOTAL_COUNTERS name)."""
        if kind in self.per_id:
            calls = self.per_id[kind]
            calls[about_id or ""] = calls.get(about_id or "", 0) + 1
        else:
            self.totals[kind] += 1

    def by_id(self, kind: str) -> dict[str, Any]:
        """`{kind: {id: n}, kind_total: n}` for the stats answer."""
        calls = self.per_id[kind]
        return {kind: dict(calls), f"{kind}_total": sum(calls.values())}


class Store:
    """Thread-safe in-memory state of one emulator instance."""

    def __init__(self, settings: EmulatorSettings, seed: list[dict[str, Any]],
                 account_id: str, seed_resources: SeedResources) -> None:
        self.settings = settings
        self.account_id = account_id
        self._lock = threading.Lock()
        self._seed = {record["id"].lower(): record for record in copy.deepcopy(seed)}
        self._customers: dict[str, Any] = copy.deepcopy(self._seed)
        self._seed_resources = seed_resources
        self._resource_edits: dict[str, dict[str, Any]] = {kind: {} for kind in RESOURCE_KINDS}
        self._tokens: dict[str, TokenRecord] = {}
        self._counters = Counters()
        self._request_ids: deque[str | None] = deque(maxlen=REQUEST_ID_HISTORY)
        self._trace_headers: deque[dict[str, str | None]] = deque(maxlen=TRACE_HEADER_HISTORY)
        self._faults = FaultBook()

    def now(self) -> float:
        return self.settings.clock()

    # --- calls and faults -------------------------------------------------------------
    def record_call(self, kind: str, request_id: str | None, customer_id: str | None = None,
                    authorization_ok: bool | None = None, trace: TraceHeaders | None = None) -> None:
        """Count one Passport call of `kind` (a Counters name) and remember its request id.

        `customer_id` is the id the call is about (a resource's id for a resource call, the
        customer_id filter for a list). Traced calls (TRACED_CALL_KINDS) also remember their trace
        headers, under the same lock as the count, so every counted call has its entry, in order.
        """
        with self._lock:
            self._request_ids.append(request_id)
            if kind in TRACED_CALL_KINDS:
                self._trace_headers.append(trace_entry(TRACED_CALL_KINDS[kind], customer_id, trace))
            if authorization_ok is not None:
                self._counters.last_authorization_ok = authorization_ok
            self._counters.count(kind, customer_id)

    def take_faults(self, target: str, customer_id: str | None) -> FaultAction:
        with self._lock:
            return self._faults.take(target, customer_id)

    def add_fault(self, payload: Any) -> Fault:
        with self._lock:
            return self._faults.add(payload)

    def clear_faults(self) -> int:
        with self._lock:
            return self._faults.clear()

    def active_faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return self._faults.active()

    # --- tokens -----------------------------------------------------------------------
    def issue_token(self) -> TokenRecord:
        now = self.now()
        record = TokenRecord(
            access_token=secrets.token_urlsafe(TOKEN_BYTES),
            token_id=str(uuid.uuid4()),
            created_at=now,
            expires_at=now + self.settings.token_ttl,
        )
        with self._lock:
            self._tokens[record.access_token] = record
        return record

    def token_valid(self, access_token: str) -> bool:
        now = self.now()
        with self._lock:
            record = self._tokens.get(access_token)
            return record is not None and not record.revoked and now < record.expires_at

    def revoke_token_id(self, token_id: str) -> bool:
        with self._lock:
            matches = [r for r in self._tokens.values() if r.token_id == token_id.lower()]
            for record in matches:
                record.revoked = True
            return bool(matches)

    def revoke_all_tokens(self) -> int:
        with self._lock:
            live = [record for record in self._tokens.values() if not record.revoked]
            for record in live:
                record.revoked = True
            return len(live)

    # --- customers --------------------------------------------------------------------
    def get_customer(self, customer_id: str) -> Any | None:
        with self._lock:
            return copy.deepcopy(self._customers.get(customer_id.lower()))

    def all_customers(self) -> list[Any]:
        with self._lock:
            return copy.deepcopy(list(self._customers.values()))

    def customer_ids(self, limit: int | None = None) -> list[str]:
        with self._lock:
            return list(self._customers)[:limit]

    def put_customer(self, customer_id: str, record: Any) -> None:
        with self._lock:
            self._customers[customer_id.lower()] = copy.deepcopy(record)

    def delete_customer(self, customer_id: str) -> bool:
        with self._lock:
            return self._customers.pop(customer_id.lower(), None) is not None

    def update_customer(self, customer_id: str, changes: dict[str, Any]) -> Any | None:
        """Merge `changes` into a stored object record; None when unknown or not an object."""
        with self._lock:
            record = self._customers.get(customer_id.lower())
            if not isinstance(record, dict):
                return None
            record.update(copy.deepcopy(changes))
            return copy.deepcopy(record)

    # --- accounts, keys, recipients -----------------------------------------------------
    # Seed records come from SeedResources; test edits (PUT, touch, DELETE) lie over them and go
    # on reset. Records are never changed in place (an edit replaces the record), so they are
    # handed out without copying: listing 30,000 seed accounts stays cheap.
    def _resource(self, kind: str, resource_id: str) -> Any | None:
        edits = self._resource_edits[kind]
        if resource_id in edits:
            record = edits[resource_id]
            return None if record is REMOVED else record
        return self._seed_resources.record(kind, resource_id)

    def get_resource(self, kind: str, resource_id: str) -> Any | None:
        """The current record of `kind` (accounts, keys, recipients) with that id, or None."""
        with self._lock:
            return self._resource(kind, resource_id.lower())

    def resources(self, kind: str, owners: frozenset[str] | None = None) -> list[Any]:
        """Records of `kind` that may belong to `owners` (see OWNER_FIELDS), or all of them.

        Seed records are narrowed by owner; edited records come along whatever their owner, so
        the caller filters the answer.
        """
        with self._lock:
            edits = self._resource_edits[kind]
            seeded = self._seed_resources.ids(kind, owners)
            found = [self._seed_resources.record(kind, rid) for rid in seeded if rid not in edits]
            return found + [record for record in edits.values() if record is not REMOVED]

    def put_resource(self, kind: str, resource_id: str, record: Any) -> None:
        with self._lock:
            self._resource_edits[kind][resource_id.lower()] = copy.deepcopy(record)

    def delete_resource(self, kind: str, resource_id: str) -> bool:
        """Remove a record (True), or say there was none (False)."""
        key = resource_id.lower()
        with self._lock:
            edits = self._resource_edits[kind]
            known = edits[key] is not REMOVED if key in edits else self._resource(kind, key) is not None
            if known:
                edits[key] = REMOVED
            return known

    def update_resource(self, kind: str, resource_id: str, changes: dict[str, Any]) -> Any | None:
        """Replace an object record by itself merged with `changes`; None when unknown or not an object."""
        key = resource_id.lower()
        with self._lock:
            record = self._resource(kind, key)
            if not isinstance(record, dict):
                return None
            self._resource_edits[kind][key] = {**record, **copy.deepcopy(changes)}
            return self._resource_edits[kind][key]

    # --- test controls ----------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        with self._lock:
            counters = self._counters
            totals = counters.totals
            return {
                "token_calls": totals["token_calls"],
                "token_revoke_calls": totals["token_revoke_calls"],
                **counters.by_id("customer_calls"),
                "list_calls": totals["list_calls"],
                "patch_calls": totals["patch_calls"],
                "request_ids": list(self._request_ids),
                "trace_headers": [dict(entry) for entry in self._trace_headers],
                "last_authorization_ok": counters.last_authorization_ok,
                **counters.by_id("account_calls"),
                **counters.by_id("key_calls"),
                **counters.by_id("recipient_calls"),
                "account_list_calls": totals["account_list_calls"],
                "key_list_calls": totals["key_list_calls"],
                "recipient_list_calls": totals["recipient_list_calls"],
            }

    def reset(self, clear_tokens: bool = False) -> None:
        """Restore seed customers and resources; zero counters; drop faults; undo revocations.

        Issued tokens stay usable (a client's cached token keeps working across resets)
        unless `clear_tokens`, which forgets every issued token.
        """
        with self._lock:
            self._customers = copy.deepcopy(self._seed)
            self._resource_edits = {kind: {} for kind in RESOURCE_KINDS}
            self._counters = Counters()
            self._request_ids.clear()
            self._trace_headers.clear()
            self._faults.clear()
            if clear_tokens:
                self._tokens.clear()
            for record in self._tokens.values():
                record.revoked = False


def trace_entry(kind: str, customer_id: str | None, trace: TraceHeaders | None) -> dict[str, str | None]:
    """One `trace_headers` item of the stats answer."""
    trace = trace or TraceHeaders()
    return {"kind": kind, "customer_id": customer_id, "traceparent": trace.traceparent,
            "tracestate": trace.tracestate}


def current_store() -> Store:
    """The Store of the Flask app handling the current request."""
    store: Store = current_app.extensions[STORE_EXTENSION_KEY]
    return store
