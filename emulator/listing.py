"""Every list endpoint (customers, accounts, keys, recipients): query parsing, filtering, ordering, paging.

One pager, driven by each list's ``ListRules`` (which filters it takes and how they compare). The
customers' list keeps its original behaviour through ``CUSTOMER_LIST_RULES`` and ``select_page``
(None when the page would be empty: Passport answers 404 there). The resource lists also take
``ORDER_DIRECTION_ENUM_UNSPECIFIED`` and ``page_params.first_request_timestamp`` and answer an
empty page with 200, through ``matching`` then ``page_of``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from emulator.formats import is_uuid, iso_utc_ms

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_NUMBER = 1
PAGE_SIZE_PARAM = "page_params.page_size"
PAGE_NUMBER_PARAM = "page_params.page_number"
SNAPSHOT_SECONDS_PARAM = "page_params.first_request_timestamp.seconds"
SNAPSHOT_NANOS_PARAM = "page_params.first_request_timestamp.nanos"
MAX_SNAPSHOT_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second a timestamp can render
MAX_NANOS = 999_999_999
NANOS_PER_SECOND = 1_000_000_000
ORDER_KEY_PARAM = "order_params.order_key"
ORDER_DIRECTION_PARAM = "order_params.order_direction"
ORDER_KEYS: tuple[str, ...] = ("created_at", "updated_at")
ORDER_DIRECTIONS: tuple[str, ...] = ("ASC", "DESC")
# The resource lists' protobuf enum: its zero value means "the default" (ascending).
RESOURCE_ORDER_DIRECTIONS: tuple[str, ...] = ("ORDER_DIRECTION_ENUM_UNSPECIFIED", "ASC", "DESC")
DESCENDING = "DESC"


class ListQueryError(ValueError):
    """A list query parameter with a value Passport would reject (400)."""


@dataclass(frozen=True)
class ListFilter:
    """One filter parameter of a list: the field it compares, and how."""

    param: str
    path: tuple[str, ...] | None  # the compared field (nested keys); None: accepted but not applied
    exact: bool = False  # case-sensitive (numbers, personal data); ids and enum values are not
    is_id: bool = False  # the value must be a UUID (400 otherwise)
    through: str | None = None  # the value names an owner; the caller swaps in the ids of its `through` records


@dataclass(frozen=True)
class ListRules:
    """What one list endpoint accepts."""

    filters: tuple[ListFilter, ...]
    order_directions: tuple[str, ...] = ORDER_DIRECTIONS  # the first is the default
    takes_first_request_timestamp: bool = False

    def filter_named(self, param: str) -> ListFilter:
        return next(candidate for candidate in self.filters if candidate.param == param)


CUSTOMER_LIST_RULES = ListRules(filters=(
    ListFilter("identification_number", ("identification_number",), exact=True),
    ListFilter("customer_id", ("id",), is_id=True),
    ListFilter("identification_type", ("identification_type",)),
))


def _normal(value: str, exact: bool) -> str:
    return value if exact else value.lower()


def field_at(record: dict[str, Any], path: tuple[str, ...]) -> Any:
    """The value at `path` in nested objects, None when any step is missing or not an object."""
    value: Any = record
    for step in path:
        value = value.get(step) if isinstance(value, dict) else None
    return value


@dataclass(frozen=True)
class Condition:
    """A filter in use: a record passes when its field is one of `wanted` (already normalised)."""

    filter: ListFilter
    wanted: frozenset[str]

    @classmethod
    def of(cls, list_filter: ListFilter, values: Iterable[str]) -> Condition:
        return cls(list_filter, frozenset(_normal(value, list_filter.exact) for value in values))

    def accepts(self, record: dict[str, Any]) -> bool:
        if self.filter.path is None:
            return True
        actual = field_at(record, self.filter.path)
        return isinstance(actual, str) and _normal(actual, self.filter.exact) in self.wanted


@dataclass(frozen=True)
class ListQuery:
    page_size: int = DEFAULT_PAGE_SIZE
    page_number: int = DEFAULT_PAGE_NUMBER
    order_key: str = ORDER_KEYS[0]
    descending: bool = False
    conditions: tuple[Condition, ...] = ()
    first_request_timestamp: float | None = None  # POSIX seconds; None when not given

    def with_wanted(self, param: str, values: Iterable[str]) -> ListQuery:
        """This query with the values of filter `param` replaced (resolving a `through` filter)."""
        conditions = tuple(Condition.of(condition.filter, values) if condition.filter.param == param
                           else condition for condition in self.conditions)
        return replace(self, conditions=conditions)

    def wanted_at(self, path: tuple[str, ...]) -> frozenset[str] | None:
        """The values every condition on the field `path` allows, None when none constrains it."""
        sets = [condition.wanted for condition in self.conditions if condition.filter.path == path]
        return frozenset.intersection(*sets) if sets else None


@dataclass(frozen=True)
class Page:
    items: list[Any]
    current_page: int
    total_pages: int
    total_elements: int

    @property
    def customers(self) -> list[Any]:
        """The items under the name the customers' view reads."""
        return self.items

    @property
    def beyond_last(self) -> bool:
        return self.current_page > self.total_pages


def _bounded_int(args: Mapping[str, str], name: str, default: int, maximum: int | None,
                 minimum: int = 1) -> int:
    raw = args.get(name)
    if raw is None:
        return default
    number = int(raw) if raw.isascii() and raw.isdigit() else minimum - 1
    if number < minimum or (maximum is not None and number > maximum):
        limit = f" and at most {maximum}" if maximum is not None else ""
        raise ListQueryError(f"{name} must be an integer of at least {minimum}{limit}")
    return number


def _choice(args: Mapping[str, str], name: str, allowed: tuple[str, ...], upper: bool) -> str:
    raw = args.get(name, allowed[0])
    value = raw.upper() if upper else raw
    if value not in allowed:
        raise ListQueryError(f"{name} must be one of {', '.join(allowed)}")
    return value


def _conditions(args: Mapping[str, str], filters: tuple[ListFilter, ...]) -> tuple[Condition, ...]:
    found = {candidate: args[candidate.param] for candidate in filters if args.get(candidate.param)}
    for candidate, value in found.items():
        if candidate.is_id and not is_uuid(value):
            raise ListQueryError(f"{candidate.param} must be a UUID")
    return tuple(Condition.of(candidate, (value,)) for candidate, value in found.items())


def _first_request_timestamp(args: Mapping[str, str]) -> float | None:
    """`page_params.first_request_timestamp` (a protobuf Timestamp) in POSIX seconds; needs `.seconds`."""
    if args.get(SNAPSHOT_SECONDS_PARAM) is None:
        return None
    seconds = _bounded_int(args, SNAPSHOT_SECONDS_PARAM, 0, MAX_SNAPSHOT_SECONDS, minimum=0)
    nanos = _bounded_int(args, SNAPSHOT_NANOS_PARAM, 0, MAX_NANOS, minimum=0)
    return seconds + nanos / NANOS_PER_SECOND


def parse_list_query(args: Mapping[str, str], rules: ListRules = CUSTOMER_LIST_RULES) -> ListQuery:
    """Read the list parameters; raise ListQueryError on a bad value. Unknown ones are ignored."""
    return ListQuery(
        page_size=_bounded_int(args, PAGE_SIZE_PARAM, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
        page_number=_bounded_int(args, PAGE_NUMBER_PARAM, DEFAULT_PAGE_NUMBER, None),
        order_key=_choice(args, ORDER_KEY_PARAM, ORDER_KEYS, upper=False),
        descending=_choice(args, ORDER_DIRECTION_PARAM, rules.order_directions, upper=True) == DESCENDING,
        conditions=_conditions(args, rules.filters),
        first_request_timestamp=_first_request_timestamp(args) if rules.takes_first_request_timestamp else None,
    )


def _existed_by(record: dict[str, Any], cutoff: str | None) -> bool:
    """False for a record created after the list's first request (later pages stay stable)."""
    return cutoff is None or str(record.get("created_at", "")) <= cutoff


def matching(records: Iterable[Any], query: ListQuery) -> list[dict[str, Any]]:
    """The object records that pass every condition (and existed at the first request, if given)."""
    cutoff = None if query.first_request_timestamp is None else iso_utc_ms(query.first_request_timestamp)
    return [record for record in records if isinstance(record, dict) and _existed_by(record, cutoff)
            and all(condition.accepts(record) for condition in query.conditions)]


def _order_key(record: dict[str, Any], key: str) -> tuple[str, str]:
    return str(record.get(key, "")), str(record.get("id", ""))


def page_of(matches: list[dict[str, Any]], query: ListQuery) -> Page:
    """The requested page of records `matching` chose, ordered (in place); empty past the last page."""
    matches.sort(key=lambda record: _order_key(record, query.order_key), reverse=query.descending)
    start = (query.page_number - 1) * query.page_size
    return Page(
        items=matches[start:start + query.page_size],
        current_page=query.page_number,
        total_pages=math.ceil(len(matches) / query.page_size),
        total_elements=len(matches),
    )


def select_page(records: list[Any], query: ListQuery) -> Page | None:
    """The requested page of matching records, or None when it would be empty (Passport 404)."""
    page = page_of(matching(records, query), query)
    return None if page.beyond_last else page


def list_body(plural: str, page: Page, first_request_timestamp: str) -> dict[str, object]:
    """A list answer: `{<plural>: [...], "pagination_info": {...}}`."""
    return {
        plural: page.items,
        "pagination_info": {
            "current_page": page.current_page,
            "total_pages": page.total_pages,
            "total_elements": page.total_elements,
            "first_request_timestamp": first_request_timestamp,
        },
    }
