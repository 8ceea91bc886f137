"""Settings for a test app, written as a deployment writes them: environment variables, all strings."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def as_environ(settings: Mapping[str, Any]) -> dict[str, str]:
    """``True`` as ``true``, a tuple or list comma-separated, numbers as written; ``None`` leaves one unset."""
    environ = {}
    for name, value in settings.items():
        if value is None:
            continue
        if isinstance(value, bool):
            environ[name] = "true" if value else "false"
        elif isinstance(value, (tuple, list)):
            environ[name] = ",".join(str(item) for item in value)
        else:
            environ[name] = str(value)
    return environ
