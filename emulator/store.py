"""All mutable emulator state (customers, tokens, counters, faults) behind one lock."""

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
from emulator.settings import EmulatorSettings

STORE_EXTENSION_KEY = "passport_emulator"
REQUEST_ID_HISTORY = 1000
TRACE_HEADER_HISTORY = 1000
TOKEN_BYTES = 32
# The calls whose W3C trace headers are kept (Counters field -> "kind" in stats): the ones a
# traced client makes on a read, so a test can see the trace context reach Passport.
TRACED_CALL_KINDS: dict[str, str] = {"customer_calls": "customer", "list_calls": "list", "token_calls": "token"}


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

    token_calls: int = 0
    token_revoke_calls: int = 0
    customer_calls: dict[str, int] = field(default_factory=dict)
    list_calls: int = 0
    patch_calls: int = 0
    last_authorization_ok: bool = False


class Store:
    """Thread-safe in-memory state of one emulator instance."""

    def __init__(self, settings: EmulatorSettings, seed: list[dict[str, Any]],
                 account_id: str) -> None:
        self.settings = settings
        self.account_id = account_id
        self._lock = threading.Lock()
        self._seed = {record["id"].lower(): record for record in copy.deepcopy(seed)}
        self._customers: dict[str, Any] = copy.deepcopy(self._seed)
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
        """Count one Passport call of `kind` (a Counters field name) and remember its id.

        Customer, list and token calls also remember their trace headers, under the same lock
        as the count, so every counted call has its entry, in arrival order.
        """
        with self._lock:
            self._request_ids.append(request_id)
            if kind in TRACED_CALL_KINDS:
                self._trace_headers.append(trace_entry(TRACED_CALL_KINDS[kind], customer_id, trace))
            if authorization_ok is not None:
                self._counters.last_authorization_ok = authorization_ok
            if kind == "customer_calls":
                calls = self._counters.customer_calls
                calls[customer_id or ""] = calls.get(customer_id or "", 0) + 1
            else:
                setattr(self._counters, kind, getattr(self._counters, kind) + 1)

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

    # --- test controls ----------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        with self._lock:
            counters = self._counters
            return {
                "token_calls": counters.token_calls,
                "token_revoke_calls": counters.token_revoke_calls,
                "customer_calls": dict(counters.customer_calls),
                "customer_calls_total": sum(counters.customer_calls.values()),
                "list_calls": counters.list_calls,
                "patch_calls": counters.patch_calls,
                "request_ids": list(self._request_ids),
                "trace_headers": [dict(entry) for entry in self._trace_headers],
                "last_authorization_ok": counters.last_authorization_ok,
            }

    def reset(self, clear_tokens: bool = False) -> None:
        """Restore seed customers; zero counters; drop faults; undo revocations.

        Issued tokens stay usable (a client's cached token keeps working across resets)
        unless `clear_tokens`, which forgets every issued token.
        """
        with self._lock:
            self._customers = copy.deepcopy(self._seed)
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
    return current_app.extensions[STORE_EXTENSION_KEY]
