"""Passport's customer listing, one page of validated records: how the listing (``app.policy.listing``) asks.

One customer by id goes through ``app.passport.resource.PassportRecords`` like every other kind of
record; a page is the customers' own call. It carries a token from the ``TokenProvider`` (renewed
on a 401), and what Passport sends back is validated into ``Customer`` records
(``app.passport.schemas``); a page that fails validation raises ``InvalidPassportCustomer``.
"""
from __future__ import annotations

from app.passport.client import PassportClient
from app.passport.schemas import Customer, parse_passport_page
from app.passport.tokens import TokenProvider


class PassportCustomers:
    """Get one page of customers from Passport, validated."""

    def __init__(self, client: PassportClient, tokens: TokenProvider) -> None:
        self._client = client
        self._tokens = tokens

    def page(self, params: dict[str, str], request_id: str | None) -> tuple[list[Customer], dict[str, int]]:
        """One page of customers (Passport's query ``params``) and the page's numbers."""
        payload = self._tokens.call_with_token(
            lambda token: self._client.list_customers(params, token, request_id), request_id)
        return parse_passport_page(payload)
