"""Injected faults: parse them from control requests, match them to calls, use them up.

A FaultBook is not thread-safe on its own; the Store calls it under its single lock.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

# Which calls a fault hits: customers/accounts/keys/recipients = a retrieve by id, list = the
# customers' list, <resource>_list = that resource's list, patch = a customer update, tokens =
# both token endpoints, all = every Passport endpoint. A fault's customer_id narrows it to calls
# about that id: the retrieved id, or a list's customer_id filter.
FAULT_TARGETS: tuple[str, ...] = (
    "customers", "tokens", "list", "patch",
    "accounts", "keys", "recipients", "account_list", "key_list", "recipient_list",
    "all",
)
DEFAULT_TARGET = "customers"
DEFAULT_CONTENT_TYPE = "application/json"
MIN_STATUS = 100
MAX_STATUS = 599
MAX_LATENCY_MS = 60_000
KNOWN_KEYS = frozenset(
    {"target", "customer_id", "status", "body", "content_type", "latency_ms", "times", "retry_after"}
)


class FaultError(ValueError):
    """A fault definition that cannot be used."""


@dataclass
class Fault:
    """One active fault. `times` is how many matching calls it still applies to (None = all)."""

    fault_id: int
    target: str = DEFAULT_TARGET
    customer_id: str | None = None
    status: int | None = None
    body: str | None = None
    content_type: str = DEFAULT_CONTENT_TYPE
    latency_ms: int = 0
    times: int | None = None
    retry_after: str | None = None  # a Retry-After header for the answer (any text: tests send junk too)

    @property
    def answers(self) -> bool:
        """True when the fault replaces the response (not only delays it)."""
        return self.status is not None or self.body is not None

    def matches(self, target: str, customer_id: str | None) -> bool:
        if self.target not in (target, "all"):
            return False
        return self.customer_id is None or self.customer_id == customer_id

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FaultAction:
    """What to do to one call: wait `latency_ms`, then answer with `answer` if set."""

    latency_ms: int = 0
    answer: Fault | None = None


def _int_field(payload: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = payload.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FaultError(f"{key} must be an integer between {low} and {high}")
    return value


def _str_field(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is not None and not isinstance(value, str):
        raise FaultError(f"{key} must be a string")
    return value


def parse_fault(payload: Any, fault_id: int) -> Fault:
    """Build a Fault from the JSON of `POST /_emulator/faults`; raise FaultError if invalid."""
    if not isinstance(payload, dict):
        raise FaultError("fault must be a JSON object")
    unknown = sorted(set(payload) - KNOWN_KEYS)
    if unknown:
        raise FaultError(f"unknown fault fields: {', '.join(unknown)}")
    target = payload.get("target", DEFAULT_TARGET)
    if target not in FAULT_TARGETS:
        raise FaultError(f"target must be one of {', '.join(FAULT_TARGETS)}")
    customer_id = _str_field(payload, "customer_id")
    return Fault(
        fault_id=fault_id,
        target=target,
        customer_id=customer_id.lower() if customer_id else None,
        status=_int_field(payload, "status", MIN_STATUS, MAX_STATUS),
        body=_str_field(payload, "body"),
        content_type=_str_field(payload, "content_type") or DEFAULT_CONTENT_TYPE,
        latency_ms=_int_field(payload, "latency_ms", 0, MAX_LATENCY_MS) or 0,
        times=_int_field(payload, "times", 1, 2**31),
        retry_after=_str_field(payload, "retry_after"),
    )


class FaultBook:
    """The active faults, in the order they were added."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._next_id = 1

    def add(self, payload: Any) -> Fault:
        fault = parse_fault(payload, self._next_id)
        self._next_id += 1
        self._faults.append(fault)
        return replace(fault)

    def clear(self) -> int:
        cleared = len(self._faults)
        self._faults.clear()
        return cleared

    def active(self) -> list[dict[str, Any]]:
        return [fault.to_json() for fault in self._faults]

    def take(self, target: str, customer_id: str | None) -> FaultAction:
        """Apply matching faults to one call: all delays, plus the first answering fault.

        Each fault applied uses up one of its `times`; answering faults that lose to an
        earlier one are left untouched.
        """
        matched = [fault for fault in self._faults if fault.matches(target, customer_id)]
        answer = next((fault for fault in matched if fault.answers), None)
        applied = [fault for fault in matched if not fault.answers or fault is answer]
        for fault in applied:
            if fault.times is not None:
                fault.times -= 1
        self._faults = [fault for fault in self._faults if fault.times is None or fault.times > 0]
        latency = sum(fault.latency_ms for fault in applied)
        return FaultAction(latency_ms=latency, answer=replace(answer) if answer else None)
