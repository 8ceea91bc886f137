"""Records of a declared kind from Passport, validated: one by id (rendered), or those a customer owns."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import marshmallow as ma

from app.passport.client import PassportClient
from app.passport.errors import InvalidPassportRecord, PassportNotFound
from app.passport.resource import Rendered, Resource
from app.passport.schemas import PassportPaginationSchema
from app.passport.tokens import TokenProvider

LIST_PAGE_SIZE = 100  # records asked per page of a list (Passport documents no maximum)
PAGINATION = PassportPaginationSchema()


class PassportRecords:
    """Get one record of a declared kind from Passport, validated and rendered.

    Every call carries a token from the ``TokenProvider`` (renewed on a 401); what Passport sends
    back goes through the resource's strict schema. A body that fails it raises
    ``InvalidPassportRecord`` (``app.passport.errors``), for the policy to log with its context and answer as
    ``PassportBadResponse``; Passport's own failures raise ``app.passport.errors``.
    """

    def __init__(self, resource: Resource[Any], client: PassportClient, tokens: TokenProvider,
                 masked: bool = False) -> None:
        self.resource = resource
        self._client = client
        self._tokens = tokens
        self._masked = masked  # render the masked body too (app.passport.masking)

    @property
    def kind(self) -> str:
        return self.resource.name

    def get(self, record_id: str, request_id: str | None) -> Rendered:
        """The record ``record_id``, rendered; ``PassportNotFound`` when Passport has none."""
        resource = self.resource
        path = resource.path_for(record_id)
        payload = self._tokens.call_with_token(
            lambda token: self._client.get_record(resource.name, path, token, request_id,
                                                  resource.not_found_statuses), request_id)
        return resource.rendered(resource.parse(payload, record_id), masked=self._masked)

    def owned_by(self, customer_id: str, max_items: int, request_id: str | None) -> tuple[list[Any], bool]:
        """The records of this kind Passport lists for ``customer_id`` (its list filtered by ``customer_id``),
        every page followed up to ``max_items``; and whether there were more (truncated).

        Each listed record goes through the kind's strict schema (``InvalidPassportRecord``); a list
        answered 404 is empty (UPSTREAM.md: these lists document no 404, but treat one as empty).
        Whose records they are is the caller's to check: Passport's filter is not trusted.
        """
        resource = self.resource
        if resource.list_path is None:
            raise ValueError(f"{resource.name} records are not listed by customer")
        page_size = max(1, min(LIST_PAGE_SIZE, max_items))
        records: list[Any] = []
        for page_number in range(1, max_items // page_size + 2):  # bounded, whatever Passport claims
            items, total_pages = self._page(customer_id, page_number, page_size, request_id)
            records += [resource.parse(item, item_id(item)) for item in items]
            if len(records) >= max_items or page_number >= total_pages or not items:
                more = len(records) > max_items or (len(records) == max_items and page_number < total_pages)
                return records[:max_items], more
        return records[:max_items], True

    def _page(self, customer_id: str, page_number: int, page_size: int,
              request_id: str | None) -> tuple[list[Any], int]:
        resource = self.resource
        query = urlencode({"customer_id": customer_id, "page_params.page_number": str(page_number),
                           "page_params.page_size": str(page_size)})
        try:
            payload = self._tokens.call_with_token(
                lambda token: self._client.get_record(f"{resource.name}_list", f"{resource.list_path}?{query}",
                                                      token, request_id), request_id)
        except PassportNotFound:
            return [], 0
        if not isinstance(payload, dict) or not isinstance(payload.get(resource.plural), list) or not isinstance(
                payload.get("pagination_info"), dict):
            raise InvalidPassportRecord(f"{resource.plural} page is not a list of {resource.plural} with its pages")
        try:
            pagination = PAGINATION.load(payload["pagination_info"])
        except ma.ValidationError as exc:
            fields_in_error = sorted(exc.messages_dict) if isinstance(exc.messages, dict) else []
            raise InvalidPassportRecord(f"invalid page fields: {', '.join(fields_in_error)}") from None
        return payload[resource.plural], pagination["total_pages"]


def item_id(item: Any) -> str:
    """A listed record's own id, lower-case, for its schema's id check ("" when it has none: refused)."""
    value = item.get("id") if isinstance(item, dict) else None
    return value.lower() if isinstance(value, str) else ""
