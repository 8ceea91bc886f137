"""Passport's customers as validated records, one by id or a page: how the policy layer asks Passport.

Both the customer lookup (``app.policy.customers``) and the listing (``app.policy.listing``) go
through here: every call carries a token from the ``TokenProvider`` (renewed on a 401), and what
Passport sends back is validated into ``Customer`` records (``app.passport.schemas``). A body that
fails validation raises ``InvalidPassportCustomer``, for the caller to log with its context and
answer as ``PassportBadResponse``; Passport's own failures raise ``app.passport.errors``.
"""
from __future__ import annotations

from app.passport.client import PassportClient
from app.passport.schemas import Customer, parse_passport_customer, parse_passport_page
from app.passport.tokens import TokenProvider


class PassportCustomers:
    """Get one customer or one page of customers from Passport, validated."""

    def __init__(self, client: PassportClient, tokens: TokenProvider) -> None:
        self._client = client
        self._tokens = tokens

    def get(self, customer_id: str, request_id: str | None) -> Customer:
        """The customer ``customer_id``; ``PassportNotFound`` when Passport has none."""
        payload = self._tokens.call_with_token(
            lambda token: self._client.get_customer(customer_id, token, request_id), request_id)
        return parse_passport_customer(payload, customer_id)

    def page(self, params: dict[str, str], request_id: str | None) -> tuple[list[Customer], dict[str, int]]:
        """One page of customers (Passport's query ``params``) and the page's numbers."""
        payload = self._tokens.call_with_token(
            lambda token: self._client.list_customers(params, token, request_id), request_id)
        return parse_passport_page(payload)
