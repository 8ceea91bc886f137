"""The Passport docs' examples: a customer, and the account, Bre-B key and recipient it owns.

Each is loaded from shared/passport when present, else embedded: the emulator must run without
the shared/ folder, so exact copies of `shared/passport/*-example.json` are kept here. The
resources are fixed to belong together: the account and the recipient to the example customer
(the docs' recipient names a 37-character, non-UUID `customer_id`: a typo), the key to the account.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from emulator.resources_seed import ACCOUNTS, KEYS, RECIPIENTS, Holdings

EXAMPLE_CUSTOMER_ID = "db7e89e7-59d8-4ab1-b675-a2ae52c3339e"
EXAMPLE_ACCOUNT_ID = "6c23f053-0e1a-46b4-b902-97ba47e351bc"
EXAMPLE_KEY_ID = "3184cbfd-73bd-4910-bd03-f8461e724247"
EXAMPLE_RECIPIENT_ID = "daa209f9-fbdf-4f2b-aadc-db42fe16358c"
EXAMPLES_FOLDER = Path("shared") / "passport"
EXAMPLE_RELATIVE_PATH = EXAMPLES_FOLDER / "customer-example.json"

EMBEDDED_EXAMPLE_JSON = """
{
  "business_name": "changing",
  "type": "BUSINESS",
  "created_at": "2025-10-09T10:40:27.446Z",
  "updated_at": "2025-10-09T17:19:27.951Z",
  "email": "eAqpUh6u@example.com",
  "status": "ACTIVE",
  "identification_number": "903978023",
  "merchant_category_code": "0412",
  "mobile_phone_number": "573956158117",
  "address": {
    "line_3": "Calle 20 675",
    "city": "Cartagena",
    "line_1": "Diagonal 46 1104",
    "country": "CO",
    "post_code": "101010",
    "state": "Bolivar",
    "line_2": "Carrera 18 2111"
  },
  "identification_type": "NIT",
  "id": "db7e89e7-59d8-4ab1-b675-a2ae52c3339e"
}
"""


EMBEDDED_ACCOUNT_JSON = """
{
  "updated_at": "2025-10-09T17:41:23.179Z",
  "pending_balance": { "value": "0", "currency": "COP" },
  "customer_id": "db7e89e7-59d8-4ab1-b675-a2ae52c3339e",
  "account_type": "ORDINARY",
  "status": "ACTIVE",
  "account_number": "88827643001",
  "created_at": "2025-10-09T10:40:29.966Z",
  "available_balance": { "value": "90000000000000000", "currency": "COP" },
  "id": "6c23f053-0e1a-46b4-b902-97ba47e351bc"
}
"""

EMBEDDED_KEY_JSON = """
{
  "status": "ACTIVE",
  "key": { "key_type": "BCODE", "key_value": "0016027228" },
  "account_id": "6c23f053-0e1a-46b4-b902-97ba47e351bc",
  "created_at": "2025-10-09T10:42:39.710Z",
  "updated_at": "2025-10-09T10:42:39.710Z",
  "id": "3184cbfd-73bd-4910-bd03-f8461e724247"
}
"""

EMBEDDED_RECIPIENT_JSON = """
{
  "customer_id": "3daa209f9-fbdf-4f2b-aadc-db42fe16358c",
  "key": { "key_type": "PHONE", "key_value": "3975999158" },
  "type": "BREB",
  "updated_at": "2025-10-10T07:43:41.267Z",
  "created_at": "2025-10-10T07:43:41.267Z",
  "alias": "Pepito SAS5",
  "id": "daa209f9-fbdf-4f2b-aadc-db42fe16358c"
}
"""


def embedded_example() -> dict[str, Any]:
    """A fresh copy of the embedded docs example."""
    example: dict[str, Any] = json.loads(EMBEDDED_EXAMPLE_JSON)
    return example


def candidate_paths(file_name: str = EXAMPLE_RELATIVE_PATH.name) -> list[Path]:
    """Where shared/passport/<file_name> may live: in the repo or beside it."""
    repo_root = Path(__file__).resolve().parent.parent
    return [repo_root / EXAMPLES_FOLDER / file_name, repo_root.parent / EXAMPLES_FOLDER / file_name]


def _read_example(path: Path, example_id: str = EXAMPLE_CUSTOMER_ID) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(record, dict) and record.get("id") == example_id:
        return record
    return None


def _first_example(paths: list[Path], example_id: str, embedded_json: str) -> dict[str, Any]:
    """The first readable file holding that example, else a fresh copy of the embedded one."""
    for path in paths:
        record = _read_example(path, example_id)
        if record is not None:
            return record
    embedded: dict[str, Any] = json.loads(embedded_json)
    return embedded


def load_example(explicit_path: str | None = None) -> dict[str, Any]:
    """The docs example: from `explicit_path`, else the shared file, else the embedded copy."""
    paths = [Path(explicit_path)] if explicit_path else candidate_paths()
    return _first_example(paths, EXAMPLE_CUSTOMER_ID, EMBEDDED_EXAMPLE_JSON)


def load_example_resources() -> Holdings:
    """The docs' example account, key and recipient, all the example customer's."""
    account = _first_example(candidate_paths("account-example.json"), EXAMPLE_ACCOUNT_ID, EMBEDDED_ACCOUNT_JSON)
    key = _first_example(candidate_paths("key-example.json"), EXAMPLE_KEY_ID, EMBEDDED_KEY_JSON)
    recipient = _first_example(candidate_paths("recipient-example.json"), EXAMPLE_RECIPIENT_ID,
                               EMBEDDED_RECIPIENT_JSON)
    account["customer_id"] = EXAMPLE_CUSTOMER_ID
    key["account_id"] = EXAMPLE_ACCOUNT_ID
    recipient["customer_id"] = EXAMPLE_CUSTOMER_ID
    return {ACCOUNTS: [account], KEYS: [key], RECIPIENTS: [recipient]}
