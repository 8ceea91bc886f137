"""Settings for who may call us and how we protect what we hold: caller auth, CORS, rate limits, encryption.

``AUTH_API_KEYS`` holds ``name:sha256hex`` entries, optionally ``name:sha256hex:scope+scope``
(no scopes means ``customers.read``): only hashes are configured, never the keys themselves.
"""
from __future__ import annotations

import base64
import binascii
import re

import limits

from config.readers import ConfigError, EnvReader
from config.settings import ApiKeyEntry, AuthSettings

# Every scope a caller may hold, named once: what each route requires is one of these.
READ_SCOPE = "customers.read"
ACCOUNTS_READ_SCOPE = "accounts.read"
KEYS_READ_SCOPE = "keys.read"
RECIPIENTS_READ_SCOPE = "recipients.read"
# Personal data whole (e-mail, phone, identification, account numbers, key values); without it,
# masked on the routes that mask (PII_MASKING).
PII_SCOPE = "pii.read"
PURGE_SCOPE = "customers.purge"
# May ask for a copy fresh from Passport (Cache-Control: no-cache on a lookup).
REFRESH_SCOPE = "customers.refresh"
SCOPES = frozenset({READ_SCOPE, ACCOUNTS_READ_SCOPE, KEYS_READ_SCOPE, RECIPIENTS_READ_SCOPE, PII_SCOPE, PURGE_SCOPE,
                    REFRESH_SCOPE})
DEFAULT_SCOPES = frozenset({READ_SCOPE})
AUTH_MODES = ("enforced", "gateway-trusted")
CALLER_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
MIN_JWT_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash output
FERNET_KEY_BYTES = 32
RATE_LIMIT_OFF = ("off", "none")
DEFAULT_CUSTOMER_CACHE_CONTROL = "private, no-cache"
CACHE_DIRECTIVE = re.compile(r"private|no-cache|no-store|must-revalidate|max-age=[0-9]{1,9}")


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


def read_auth(env: EnvReader, default_api_keys: str | None, default_auth_mode: str) -> AuthSettings:
    """Read the caller-authentication settings."""
    settings = AuthSettings(
        mode=env.text("AUTH_MODE", default_auth_mode) or default_auth_mode,
        api_keys=parse_api_keys(env.secret("AUTH_API_KEYS", default_api_keys)),
        jwt_secret=env.secret("AUTH_JWT_SECRET", None),
        jwks_url=env.url("AUTH_JWKS_URL", None),
        jwt_issuer=env.text("AUTH_JWT_ISSUER", None),
        jwt_audience=env.text("AUTH_JWT_AUDIENCE", None),
        jwt_leeway_seconds=env.integer("AUTH_JWT_LEEWAY_SECONDS", 30, minimum=0, maximum=300),
        jwt_customers_claim=env.text("AUTH_JWT_CUSTOMERS_CLAIM", "customer_ids") or "customer_ids",
    )
    if settings.mode not in AUTH_MODES:
        raise ConfigError(f"AUTH_MODE must be one of: {', '.join(AUTH_MODES)}")
    if settings.jwt_secret and len(settings.jwt_secret.encode()) < MIN_JWT_SECRET_BYTES:
        raise ConfigError(f"AUTH_JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes long")
    return settings


def read_rate_limit(env: EnvReader, default: str, name: str = "RATELIMIT_DEFAULT") -> str | None:
    """A rate limit (``RATELIMIT_DEFAULT`` unless named) in Flask-Limiter's syntax; None when off."""
    rate_limit = env.text(name, default) or default
    if rate_limit.lower() in RATE_LIMIT_OFF:
        return None
    try:
        limits.parse_many(rate_limit)
    except ValueError:
        raise ConfigError(f"{name}={rate_limit!r} is not a rate such as '600 per minute' (or 'off')") from None
    return rate_limit


def read_customer_cache_control(env: EnvReader) -> str:
    """``CUSTOMER_CACHE_CONTROL``: what a browser may keep of an answer that carries customer data.

    ``private, no-cache`` by default (kept, but revalidated each time: a cheap 304 thanks to the
    ETag); ``private, no-store`` is the strict choice. It must say ``private`` or ``no-store`` and
    never ``public``: personal data is for this caller's browser, never for a shared cache.
    """
    value = env.text("CUSTOMER_CACHE_CONTROL", DEFAULT_CUSTOMER_CACHE_CONTROL) or DEFAULT_CUSTOMER_CACHE_CONTROL
    directives = [part.strip().lower() for part in value.split(",") if part.strip()]
    if any(not CACHE_DIRECTIVE.fullmatch(directive) for directive in directives) or not (
        "private" in directives or "no-store" in directives
    ):
        raise ConfigError(
            "CUSTOMER_CACHE_CONTROL must be Cache-Control directives among private, no-cache, no-store, "
            "must-revalidate and max-age=N, with private or no-store (e.g. 'private, no-cache')")
    return ", ".join(directives)


def read_origins(env: EnvReader) -> tuple[str, ...]:
    """``CORS_ALLOWED_ORIGINS``: the browser origins allowed to call us (none: CORS off)."""
    value = env.text("CORS_ALLOWED_ORIGINS", None)
    origins = tuple(o.strip() for o in value.split(",") if o.strip()) if value else ()
    if "*" in origins:
        raise ConfigError("CORS_ALLOWED_ORIGINS must list origins; '*' would expose customer data to any site")
    return origins
