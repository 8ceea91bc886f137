"""The Passport docs' example customer: loaded from shared/passport when present, else embedded.

The emulator must run without the shared/ folder, so an exact copy of
`shared/passport/customer-example.json` is kept here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EXAMPLE_CUSTOMER_ID = "db7e89e7-59d8-4ab1-b675-a2ae52c3339e"
EXAMPLE_RELATIVE_PATH = Path("shared") / "passport" / "customer-example.json"

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


def embedded_example() -> dict[str, Any]:
    """A fresh copy of the embedded docs example."""
    return json.loads(EMBEDDED_EXAMPLE_JSON)


def candidate_paths() -> list[Path]:
    """Where shared/passport/customer-example.json may live: in the repo or beside it."""
    repo_root = Path(__file__).resolve().parent.parent
    return [repo_root / EXAMPLE_RELATIVE_PATH, repo_root.parent / EXAMPLE_RELATIVE_PATH]


def _read_example(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(record, dict) and record.get("id") == EXAMPLE_CUSTOMER_ID:
        return record
    return None


def load_example(explicit_path: str | None = None) -> dict[str, Any]:
    """The docs example: from `explicit_path`, else the shared file, else the embedded copy."""
    paths = [Path(explicit_path)] if explicit_path else candidate_paths()
    for path in paths:
        record = _read_example(path)
        if record is not None:
            return record
    return embedded_example()
