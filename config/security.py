"""Settings for who may call us and how we protect what we hold: caller auth, gateway, encryption.

``AUTH_API_KEYS`` holds ``name:sha256hex`` entries, optionally ``name:sha256hex:scope+scope``
(no scopes means ``customers.read``): only hashes are configured, never the keys themselves.
"""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

import limits

from config.readers import ConfigError, EnvReader

SCOPES = frozenset({"customers.read", "customers.purge"})
DEFAULT_SCOPES = frozenset({"customers.read"})
AUTH_MODES = ("enforced", "gateway-trusted")
CALLER_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
MIN_JWT_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash output
FERNET_KEY_BYTES = 32
RATE_LIMIT_OFF = ("off", "none")


@dataclass(frozen=True)
class ApiKeyEntry:
    name: str
    sha256_hex: str
    scopes: frozenset[str]


def parse_api_keys(value: str | None) -> tuple[ApiKeyEntry, ...]:
    """Parse ``AUTH_API_KEYS``; a malformed entry is reported by position, never by content."""
    if not value:
        return ()
    entries = []
    for position, item in enumerate((part.strip() for part in value.split(",")), start=1):
        fields = item.split(":")
        if len(fields) not in (2, 3) or not CALLER_NAME.fullmatch(fields[0]) or not SHA256_HEX.fullmatch(fields[1]):
            raise ConfigError(f"AUTH_API_KEYS entry {position} must be name:sha256hex[:scope+scope]")
        scopes = frozenset(fields[2].split("+")) if len(fields) == 3 and fields[2] else DEFAULT_SCOPES
        if not scopes <= SCOPES:
            valid = ", ".join(sorted(SCOPES))
            raise ConfigError(f"AUTH_API_KEYS entry {position} has an unknown scope; valid: {valid}")
        entries.append(ApiKeyEntry(fields[0], fields[1].lower(), scopes))
    if len({entry.name for entry in entries}) != len(entries):
        raise ConfigError("AUTH_API_KEYS names must be unique")
    return tuple(entries)


def parse_encryption_keys(value: str | None) -> tuple[str, ...]:
    """Check each ``CACHE_ENCRYPTION_KEYS`` entry is a Fernet key (32 url-safe base64 bytes)."""
    if not value:
        return ()
    keys = tuple(part.strip() for part in value.split(",") if part.strip())
    for position, key in enumerate(keys, start=1):
        try:
            valid = len(base64.urlsafe_b64decode(key.encode())) == FERNET_KEY_BYTES
        except (binascii.Error, ValueError):
            valid = False
        if not valid:
            raise ConfigError(
                f"CACHE_ENCRYPTION_KEYS entry {position} is not a Fernet key "
                "(make one with: python -c "
                "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
            )
    return keys


def read_security(
    env: EnvReader, default_api_keys: str | None, default_auth_mode: str, default_rate_limit: str
) -> dict[str, Any]:
    """Read caller-auth, gateway, rate-limit and encryption settings."""
    origins = env.text("CORS_ALLOWED_ORIGINS", None)
    settings = {
        "AUTH_MODE": env.text("AUTH_MODE", default_auth_mode),
        "AUTH_API_KEYS": parse_api_keys(env.secret("AUTH_API_KEYS", default_api_keys)),
        "AUTH_JWT_SECRET": env.secret("AUTH_JWT_SECRET", None),
        "AUTH_JWKS_URL": env.url("AUTH_JWKS_URL", None),
        "AUTH_JWT_ISSUER": env.text("AUTH_JWT_ISSUER", None),
        "AUTH_JWT_AUDIENCE": env.text("AUTH_JWT_AUDIENCE", None),
        "AUTH_JWT_LEEWAY_SECONDS": env.integer("AUTH_JWT_LEEWAY_SECONDS", 30, minimum=0, maximum=300),
        "AUTH_JWT_CUSTOMERS_CLAIM": env.text("AUTH_JWT_CUSTOMERS_CLAIM", "customer_ids"),
        "TRUSTED_PROXY_HOPS": env.integer("TRUSTED_PROXY_HOPS", 0, minimum=0, maximum=10),
        "MAX_REQUEST_BODY_BYTES": env.integer("MAX_REQUEST_BODY_BYTES", 64 * 1024, minimum=1024),
        "CORS_ALLOWED_ORIGINS": tuple(o.strip() for o in origins.split(",") if o.strip()) if origins else (),
        "RATELIMIT_DEFAULT": env.text("RATELIMIT_DEFAULT", default_rate_limit),
        "CACHE_ENCRYPTION_KEYS": parse_encryption_keys(env.secret("CACHE_ENCRYPTION_KEYS", None)),
    }
    check_security(settings)
    return settings


def check_security(settings: dict[str, Any]) -> None:
    if settings["AUTH_MODE"] not in AUTH_MODES:
        raise ConfigError(f"AUTH_MODE must be one of: {', '.join(AUTH_MODES)}")
    secret = settings["AUTH_JWT_SECRET"]
    if secret and len(secret.encode()) < MIN_JWT_SECRET_BYTES:
        raise ConfigError(f"AUTH_JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes long")
    rate_limit = settings["RATELIMIT_DEFAULT"]
    if rate_limit.lower() in RATE_LIMIT_OFF:
        settings["RATELIMIT_DEFAULT"] = None
    else:
        try:
            limits.parse_many(rate_limit)
        except ValueError:
            raise ConfigError(
                f"RATELIMIT_DEFAULT={rate_limit!r} is not a rate such as '600 per minute' (or 'off')") from None
    if "*" in settings["CORS_ALLOWED_ORIGINS"]:
        raise ConfigError("CORS_ALLOWED_ORIGINS must list origins; '*' would expose customer data to any site")


def caller_auth_configured(settings: dict[str, Any]) -> bool:
    return bool(settings["AUTH_API_KEYS"] or settings["AUTH_JWT_SECRET"] or settings["AUTH_JWKS_URL"])
