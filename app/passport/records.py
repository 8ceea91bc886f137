"""One record of a declared kind from Passport, validated and rendered: ``PassportRecords``."""
from __future__ import annotations

from typing import Any

from app.passport.client import PassportClient
from app.passport.resource import Rendered, Resource
from app.passport.tokens import TokenProvider


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

    def get(self, record_id: str, request_id: str | None) -> Rendered:
        """The record ``record_id``, rendered; ``PassportNotFound`` when Passport has none."""
        resource = self.resource
        path = resource.path_for(record_id)
        payload = self._tokens.call_with_token(
            lambda token: self._client.get_record(resource.name, path, token, request_id,
                                                  resource.not_found_statuses), request_id)
        return resource.rendered(resource.parse(payload, record_id), masked=self._masked)
