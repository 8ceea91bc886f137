"""Drive the Passport emulator's test-only controls (``/_emulator/...``) from tests."""
from __future__ import annotations

from typing import Any

import requests

CONTROL_TIMEOUT_SECONDS = 5
# The records of Passport's docs (../shared/passport/*-example.json), which the emulator seeds:
# the customer owns the account, the key names the account, the recipient is the customer's.
DOCS_CUSTOMER_ID = "db7e89e7-59d8-4ab1-b675-a2ae52c3339e"
DOCS_ACCOUNT_ID = "6c23f053-0e1a-46b4-b902-97ba47e351bc"
DOCS_KEY_ID = "3184cbfd-73bd-4910-bd03-f8461e724247"
DOCS_RECIPIENT_ID = "daa209f9-fbdf-4f2b-aadc-db42fe16358c"


class EmulatorControl:
    """A handle on one running emulator."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._http = requests.Session()

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = self._http.request(method, self.base_url + path, timeout=CONTROL_TIMEOUT_SECONDS, **kwargs)
        response.raise_for_status()
        return response

    def reset(self) -> None:
        self._call("POST", "/_emulator/reset")

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/_emulator/stats").json()

    def customer_calls(self, customer_id: str | None = None) -> int:
        stats = self.stats()
        if customer_id is None:
            return stats["customer_calls_total"]
        return stats["customer_calls"].get(customer_id, 0)

    def token_calls(self) -> int:
        return self.stats()["token_calls"]

    def trace_headers(self) -> list[dict[str, Any]]:
        """The W3C trace headers of the customer, list and token calls, oldest first (see emulator docs)."""
        return self.stats()["trace_headers"]

    def fault(self, **fault: Any) -> None:
        """Inject a fault (see the emulator's docs: status, body, latency_ms, times, ...)."""
        self._call("POST", "/_emulator/faults", json=fault)

    def put_customer(self, customer_id: str, record: Any) -> None:
        self._call("PUT", f"/_emulator/customers/{customer_id}", json=record)

    def touch_customer(self, customer_id: str, updated_at: str | None = None) -> dict[str, Any]:
        body = {"updated_at": updated_at} if updated_at else {}
        return self._call("POST", f"/_emulator/customers/{customer_id}/touch", json=body).json()

    def revoke_tokens(self) -> None:
        self._call("POST", "/_emulator/tokens/revoke")

    def customer_ids(self, limit: int) -> list[str]:
        return self._call("GET", "/_emulator/customers", params={"limit": limit}).json()

    def record_calls(self, kind: str, record_id: str) -> int:
        """Passport calls for one record of ``kind`` (``account``, ``key``, ``recipient``, ``customer``)."""
        return self.stats()[f"{kind}_calls"].get(record_id, 0)

    def resources_of(self, customer_id: str) -> dict[str, list[str]]:
        """The ids of the accounts, keys and recipients the customer owns."""
        return self._call("GET", f"/_emulator/customers/{customer_id}/resources").json()

    def put_record(self, plural: str, record_id: str, record: Any) -> None:
        """Store ``record`` raw (no validation) as the account, key or recipient ``record_id``."""
        self._call("PUT", f"/_emulator/{plural}/{record_id}", json=record)
