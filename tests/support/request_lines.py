"""Read the request lines (``app.observability.AccessLog``) out of what a test captured of stdout."""
from __future__ import annotations

import json
from typing import Any

ACCESS_LOGGER = '"logger": "passport_bff.access"'


def request_lines(stdout: str) -> list[dict[str, Any]]:
    """Every JSON request line in ``stdout`` (an app built with ``LOG_FORMAT=json``), decoded, in order."""
    return [json.loads(line) for line in stdout.splitlines() if ACCESS_LOGGER in line]
