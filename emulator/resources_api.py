"""Passport's read-only accounts, Bre-B keys and recipients: retrieve by id and list.

The three differ only in what RESOURCE_KINDS declares (paths, names, owner, filters); one
retrieve view and one list view serve them all, through the customers' gate (count, faults,
token), pager and error body. Where Passport's docs are silent, this emulator chose:

- An unknown key id answers 404 (the docs list no 404 for keys; "Activate Key" answers 404).
- A list past its last page, or with nothing matching, answers 200 with `[]` (no list 404).
- Enum filters (status, account_type, key_type, type) are not validated: an unknown value
  matches nothing. Ids, `type` and enum values compare case-insensitively; account numbers and
  key values exactly.
- The recipients' `identification_number`, `account_number` and `account_type` filters are
  accepted and ignored: they describe the payee's resolved account, which a recipient body lacks.
- A key's `customer_id` filter matches keys of the accounts whose `customer_id` it is.
- `page_params.first_request_timestamp.seconds` (+ `.nanos`) is echoed as the answer's
  `first_request_timestamp` and hides records created after it (so later pages stay stable);
  without it the answer carries the time of the call. `ORDER_DIRECTION_ENUM_UNSPECIFIED` is ASC.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from flask import Blueprint, Response, jsonify, request

from emulator.errors import passport_error
from emulator.formats import is_uuid, iso_utc_ms
from emulator.gate import open_call
from emulator.listing import (
    RESOURCE_ORDER_DIRECTIONS,
    Condition,
    ListFilter,
    ListQuery,
    ListQueryError,
    ListRules,
    list_body,
    matching,
    page_of,
    parse_list_query,
)
from emulator.resources_seed import ACCOUNTS, KEYS, OWNER_FIELDS, RECIPIENTS
from emulator.store import Store, current_store

HTTP_BAD_REQUEST = 400
HTTP_NOT_FOUND = 404
OWNER_FILTER = "customer_id"


@dataclass(frozen=True)
class ResourceKind:
    """What sets one resource's endpoints apart; everything else is shared."""

    name: str  # plural: the list's body key, store table, retrieve fault target, control path segment
    singular: str  # error messages; stats `<singular>_calls` and `<singular>_list_calls`
    retrieve_path: str  # with a `<resource_id>` segment
    list_path: str
    id_param: str  # the id's name in Passport's docs and messages
    rules: ListRules

    @property
    def calls_counter(self) -> str:
        return f"{self.singular}_calls"

    @property
    def list_counter(self) -> str:
        return f"{self.singular}_list_calls"

    @property
    def list_target(self) -> str:
        return f"{self.singular}_list"

    @property
    def owner_path(self) -> tuple[str, ...]:
        return (OWNER_FIELDS[self.name],)


def _rules(*filters: ListFilter) -> ListRules:
    return ListRules(filters=filters, order_directions=RESOURCE_ORDER_DIRECTIONS, takes_first_request_timestamp=True)


RESOURCE_KINDS: tuple[ResourceKind, ...] = (
    ResourceKind(ACCOUNTS, "account", "/v1/accounts/<resource_id>", "/v1/accounts", "account_id", _rules(
        ListFilter(OWNER_FILTER, ("customer_id",), is_id=True),
        ListFilter("account_id", ("id",), is_id=True),
        ListFilter("status", ("status",)),
        ListFilter("account_type", ("account_type",)),
        ListFilter("account_number", ("account_number",), exact=True),
    )),
    ResourceKind(KEYS, "key", "/v1/keys/<resource_id>", "/v1/keys", "key_id", _rules(
        ListFilter(OWNER_FILTER, ("account_id",), is_id=True, through=ACCOUNTS),
        ListFilter("account_id", ("account_id",), is_id=True),
        ListFilter("key_type", ("key", "key_type")),
        ListFilter("key_id", ("id",), is_id=True),
        ListFilter("status", ("status",)),
        ListFilter("key_value", ("key", "key_value"), exact=True),
    )),
    ResourceKind(RECIPIENTS, "recipient", "/v1/recipients/breb/<resource_id>", "/v1/recipients", "recipient_id", _rules(
        ListFilter(OWNER_FILTER, ("customer_id",), is_id=True),
        ListFilter("type", ("type",)),
        ListFilter("recipient_id", ("id",), is_id=True),
        ListFilter("identification_number", None),
        ListFilter("account_number", None),
        ListFilter("account_type", None),
    )),
)
KINDS_BY_NAME: dict[str, ResourceKind] = {kind.name: kind for kind in RESOURCE_KINDS}

blueprint = Blueprint("passport_resources", __name__)


def _resolve_through(store: Store, query: ListQuery) -> ListQuery:
    """Swap each `through` filter's owner ids for the ids of the records they own (a key's customer)."""
    for condition in query.conditions:
        through = condition.filter.through
        if through is not None:
            owned = owned_records(store, KINDS_BY_NAME[through], condition.wanted)
            query = query.with_wanted(condition.filter.param, _ids_of(owned))
    return query


def matching_records(store: Store, kind: ResourceKind, query: ListQuery) -> list[dict[str, Any]]:
    """The records of `kind` a list query selects, unordered (the store narrows by owner first)."""
    query = _resolve_through(store, query)
    return matching(store.resources(kind.name, query.wanted_at(kind.owner_path)), query)


def owned_records(store: Store, kind: ResourceKind, customer_ids: frozenset[str]) -> list[dict[str, Any]]:
    """The records of `kind` belonging to any of `customer_ids` (lower-case)."""
    owner_filter = kind.rules.filter_named(OWNER_FILTER)
    return matching_records(store, kind, ListQuery(conditions=(Condition.of(owner_filter, customer_ids),)))


def _ids_of(records: list[dict[str, Any]]) -> list[str]:
    return [record["id"].lower() for record in records if isinstance(record.get("id"), str)]


def resources_of(store: Store, customer_id: str) -> dict[str, list[str]]:
    """The ids of everything a customer owns now, by resource."""
    owners = frozenset({customer_id.lower()})
    return {kind.name: _ids_of(owned_records(store, kind, owners)) for kind in RESOURCE_KINDS}


def retrieve_resource(kind: ResourceKind, resource_id: str) -> Response:
    key = resource_id.lower()
    halt = open_call(kind.calls_counter, kind.name, key)
    if halt is not None:
        return halt
    if not is_uuid(resource_id):
        return passport_error(HTTP_BAD_REQUEST, f"{kind.id_param} must be a UUID")
    record = current_store().get_resource(kind.name, key)
    if record is None:
        return passport_error(HTTP_NOT_FOUND, f"{kind.singular} not found")
    return jsonify(record)


def list_resources(kind: ResourceKind) -> Response:
    wanted_owner = request.args.get(OWNER_FILTER)
    halt = open_call(kind.list_counter, kind.list_target, wanted_owner.lower() if wanted_owner else None)
    if halt is not None:
        return halt
    try:
        query = parse_list_query(request.args, kind.rules)
    except ListQueryError as error:
        return passport_error(HTTP_BAD_REQUEST, str(error))
    store = current_store()
    page = page_of(matching_records(store, kind, query), query)
    first_request = query.first_request_timestamp
    stamp = iso_utc_ms(store.now() if first_request is None else first_request)
    return jsonify(list_body(kind.name, page, stamp))


for _kind in RESOURCE_KINDS:
    blueprint.add_url_rule(_kind.retrieve_path, f"retrieve_{_kind.name}", partial(retrieve_resource, _kind))
    blueprint.add_url_rule(_kind.list_path, f"list_{_kind.name}", partial(list_resources, _kind))
