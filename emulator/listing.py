"""The customer list (`GET /v1/customers`): query parsing, filtering, ordering and paging."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator.formats import is_uuid

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_NUMBER = 1
PAGE_SIZE_PARAM = "page_params.page_size"
PAGE_NUMBER_PARAM = "page_params.page_number"
ORDER_KEY_PARAM = "order_params.order_key"
ORDER_DIRECTION_PARAM = "order_params.order_direction"
ORDER_KEYS: tuple[str, ...] = ("created_at", "updated_at")
ORDER_DIRECTIONS: tuple[str, ...] = ("ASC", "DESC")
FILTER_NAMES: tuple[str, ...] = ("identification_number", "customer_id", "identification_type")


class ListQueryError(ValueError):
    """A list query parameter with a value Passport would reject (400)."""


@dataclass(frozen=True)
class ListQuery:
    page_size: int = DEFAULT_PAGE_SIZE
    page_number: int = DEFAULT_PAGE_NUMBER
    order_key: str = ORDER_KEYS[0]
    descending: bool = False
    filters: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Page:
    customers: list[Any]
    current_page: int
    total_pages: int
    total_elements: int


def _bounded_int(args: Mapping[str, str], name: str, default: int, maximum: int | None) -> int:
    raw = args.get(name)
    if raw is None:
        return default
    number = int(raw) if raw.isascii() and raw.isdigit() else 0
    if number < 1 or (maximum is not None and number > maximum):
        limit = f" and at most {maximum}" if maximum is not None else ""
        raise ListQueryError(f"{name} must be an integer of at least 1{limit}")
    return number


def _choice(args: Mapping[str, str], name: str, allowed: tuple[str, ...], upper: bool) -> str:
    raw = args.get(name, allowed[0])
    value = raw.upper() if upper else raw
    if value not in allowed:
        raise ListQueryError(f"{name} must be one of {', '.join(allowed)}")
    return value


def _filters(args: Mapping[str, str]) -> dict[str, str]:
    found = {name: args[name] for name in FILTER_NAMES if args.get(name)}
    if "customer_id" in found and not is_uuid(found["customer_id"]):
        raise ListQueryError("customer_id must be a UUID")
    return found


def parse_list_query(args: Mapping[str, str]) -> ListQuery:
    """Read the list parameters; raise ListQueryError on a bad value. Unknown ones are ignored."""
    return ListQuery(
        page_size=_bounded_int(args, PAGE_SIZE_PARAM, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
        page_number=_bounded_int(args, PAGE_NUMBER_PARAM, DEFAULT_PAGE_NUMBER, None),
        order_key=_choice(args, ORDER_KEY_PARAM, ORDER_KEYS, upper=False),
        descending=_choice(args, ORDER_DIRECTION_PARAM, ORDER_DIRECTIONS, upper=True) == "DESC",
        filters=_filters(args),
    )


def _matches(record: Any, filters: Mapping[str, str]) -> bool:
    """Object records whose fields equal every filter (ids and types case-insensitively)."""
    if not isinstance(record, dict):
        return False
    for name, wanted in filters.items():
        actual = record.get("id" if name == "customer_id" else name)
        if not isinstance(actual, str):
            return False
        exact = name == "identification_number"
        if (actual != wanted) if exact else (actual.lower() != wanted.lower()):
            return False
    return True


def _order_key(record: dict[str, Any], key: str) -> tuple[str, str]:
    return str(record.get(key, "")), str(record.get("id", ""))


def select_page(records: list[Any], query: ListQuery) -> Page | None:
    """The requested page of matching records, or None when it would be empty (Passport 404)."""
    matches = [record for record in records if _matches(record, query.filters)]
    matches.sort(key=lambda record: _order_key(record, query.order_key), reverse=query.descending)
    total_pages = math.ceil(len(matches) / query.page_size)
    if query.page_number > total_pages:
        return None
    start = (query.page_number - 1) * query.page_size
    return Page(
        customers=matches[start:start + query.page_size],
        current_page=query.page_number,
        total_pages=total_pages,
        total_elements=len(matches),
    )
