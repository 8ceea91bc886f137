"""Typed readers for environment variables, each failing with a message naming the variable."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the variable and what it needs."""


class EnvReader:
    """Read settings from one environment mapping; secrets may come from ``<NAME>_FILE``."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def raw(self, name: str) -> str | None:
        """Return the stripped value of ``name``, or None when unset or blank."""
        value = self._environ.get(name)
        if value is None or not value.strip():
            return None
        return value.strip()

    def text(self, name: str, default: str | None) -> str | None:
        """Read a plain string."""
        value = self.raw(name)
        return default if value is None else value

    def secret(self, name: str, default: str | None) -> str | None:
        """Read a secret from ``name`` or from the file named by ``<name>_FILE``."""
        value = self.raw(name)
        path = self.raw(f"{name}_FILE")
        if value is not None and path is not None:
            raise ConfigError(f"set either {name} or {name}_FILE, not both")
        if path is None:
            return default if value is None else value
        try:
            content = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            # The path is configuration, not a secret: naming it helps the operator.
            raise ConfigError(f"{name}_FILE={path} cannot be read ({exc.strerror})") from None
        if not content:
            raise ConfigError(f"{name}_FILE={path} is empty")
        return content

    def number(self, name: str, default: float, *, minimum: float, maximum: float = float("inf")) -> float:
        """Read a float between ``minimum`` and ``maximum``."""
        value = self.raw(name)
        if value is None:
            return default
        try:
            parsed = float(value)
        except ValueError:
            raise ConfigError(f"{name}={value!r} is not a number") from None
        if not parsed >= minimum:  # also rejects NaN
            raise ConfigError(f"{name}={value!r} must be at least {minimum}")
        if parsed > maximum:
            raise ConfigError(f"{name}={value!r} must be at most {maximum}")
        return parsed

    def integer(self, name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
        """Read an integer within ``[minimum, maximum]``."""
        value = self.raw(name)
        if value is None:
            return default
        try:
            parsed = int(value)
        except ValueError:
            raise ConfigError(f"{name}={value!r} is not a whole number") from None
        if parsed < minimum or (maximum is not None and parsed > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            raise ConfigError(f"{name}={value!r} must be {bound}")
        return parsed

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        """Read one of ``choices`` (case-insensitive)."""
        value = self.raw(name)
        if value is None:
            return default
        if value.upper() not in choices:
            raise ConfigError(f"{name}={value!r} is not one of: {', '.join(choices)}")
        return value.upper()

    def url(self, name: str, default: str | None) -> str | None:
        """Read an http(s) base URL, without its trailing slash."""
        value = self.raw(name)
        if value is None:
            return default
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{name}={value!r} must be an http:// or https:// URL")
        if parts.query or parts.fragment:
            raise ConfigError(f"{name}={value!r} must not carry a query or fragment")
        return value.rstrip("/")

    def boolean(self, name: str, default: bool) -> bool:
        """Read true/false (also 1/0, yes/no)."""
        value = self.raw(name)
        if value is None:
            return default
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}={value!r} must be true or false")

    def names(self, name: str, allowed: tuple[str, ...]) -> frozenset[str]:
        """Read a comma-separated set of names, each one of ``allowed`` (none: empty)."""
        value = self.raw(name)
        if value is None:
            return frozenset()
        names = frozenset(part.strip().lower() for part in value.split(",") if part.strip())
        unknown = sorted(names - set(allowed))
        if unknown:
            raise ConfigError(f"{name} names {', '.join(unknown)}; valid: {', '.join(allowed)}")
        return names

    def host_ports(self, name: str) -> tuple[tuple[str, int], ...]:
        """Read ``host:port,host:port``."""
        value = self.raw(name)
        if value is None:
            return ()
        pairs = []
        for item in value.split(","):
            host, _, port = item.strip().rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ConfigError(f"{name} must be a comma-separated list of host:port")
            pairs.append((host, int(port)))
        return tuple(pairs)

    def existing_file(self, name: str) -> str | None:
        """Read the path of a file that must exist and be readable."""
        value = self.raw(name)
        if value is None:
            return None
        if not Path(value).is_file():
            raise ConfigError(f"{name}={value} is not a readable file")
        return value
