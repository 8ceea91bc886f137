"""Configuration of passport-bff, read once from the environment (12-factor).

One class per environment, chosen by ``APP_ENV``:

- ``development`` (the default for local runs): points at the bundled Passport emulator with its
  development credentials and caches in-process unless ``REDIS_URL`` is set.
- ``testing``: like development, but nothing is assumed; tests pass what they need.
- ``production``: refuses to start without the Passport settings, real credentials and
  ``REDIS_URL``.

Every secret may also be given as ``<NAME>_FILE`` (Docker and Kubernetes secrets). Values are
validated here, at start-up, with messages that name the variable, so that a bad deployment
fails before it serves a request.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from config.readers import ConfigError, EnvReader
from config.security import caller_auth_configured, read_security

__all__ = ["ConfigError", "Config", "DevelopmentConfig", "TestingConfig", "ProductionConfig", "load_config"]

EMULATOR_BASE_URL = "http://127.0.0.1:8090"
EMULATOR_CLIENT_ID = "dev-client-id"
EMULATOR_CLIENT_SECRET = "dev-client-secret"
# The development API key is public by design (README); production never accepts it.
DEVELOPMENT_API_KEY = "dev-api-key"
DEVELOPMENT_API_KEYS = f"dev:{hashlib.sha256(DEVELOPMENT_API_KEY.encode()).hexdigest()}:customers.read+customers.purge"
REDIS_SCHEMES = ("redis", "rediss", "unix")


class Config:
    """Settings shared by every environment; subclasses change defaults and requirements."""

    APP_ENV = "base"
    DEFAULT_PASSPORT_BASE_URL: str | None = None
    DEFAULT_PASSPORT_CLIENT_ID: str | None = None
    DEFAULT_PASSPORT_CLIENT_SECRET: str | None = None
    DEFAULT_API_KEYS: str | None = None
    DEFAULT_AUTH_MODE = "enforced"
    DEFAULT_RATE_LIMIT = "6000 per minute"
    DEFAULT_RATELIMIT_SYNC_SECONDS = 0.1
    DEFAULT_LOG_FORMAT = "TEXT"
    DEFAULT_NEAR_ENTRIES = 10_000
    REQUIRED: tuple[str, ...] = ()

    @classmethod
    def read(cls, env: EnvReader) -> dict[str, Any]:
        """Read and validate every setting this environment uses."""
        deadline = env.number("PASSPORT_DEADLINE_SECONDS", 10.0, minimum=0.1)
        settings: dict[str, Any] = {
            "APP_ENV": cls.APP_ENV,
            "PORT": env.integer("PORT", 8000, minimum=1, maximum=65535),
            "PASSPORT_BASE_URL": env.url("PASSPORT_BASE_URL", cls.DEFAULT_PASSPORT_BASE_URL),
            "PASSPORT_CLIENT_ID": env.secret("PASSPORT_CLIENT_ID", cls.DEFAULT_PASSPORT_CLIENT_ID),
            "PASSPORT_CLIENT_SECRET": env.secret(
                "PASSPORT_CLIENT_SECRET", cls.DEFAULT_PASSPORT_CLIENT_SECRET
            ),
            "PASSPORT_TIMEOUT_SECONDS": env.number("PASSPORT_TIMEOUT_SECONDS", 5.0, minimum=0.05),
            "PASSPORT_CONNECT_TIMEOUT_SECONDS": env.number(
                "PASSPORT_CONNECT_TIMEOUT_SECONDS", 2.0, minimum=0.05
            ),
            "PASSPORT_MAX_RESPONSE_BYTES": env.integer(
                "PASSPORT_MAX_RESPONSE_BYTES", 256 * 1024, minimum=1024
            ),
            "PASSPORT_TOKEN_REFRESH_MARGIN_SECONDS": env.integer(
                "PASSPORT_TOKEN_REFRESH_MARGIN_SECONDS", 300, minimum=0
            ),
            "PASSPORT_TOKEN_DEFAULT_TTL_SECONDS": env.integer(
                "PASSPORT_TOKEN_DEFAULT_TTL_SECONDS", 300, minimum=1
            ),
            "PASSPORT_DEADLINE_SECONDS": deadline,
            "PASSPORT_RETRIES": env.integer("PASSPORT_RETRIES", 2, minimum=0, maximum=10),
            "PASSPORT_RETRY_BACKOFF_SECONDS": env.number("PASSPORT_RETRY_BACKOFF_SECONDS", 0.1, minimum=0.0),
            "PASSPORT_BREAKER_FAILURES": env.integer("PASSPORT_BREAKER_FAILURES", 5, minimum=1),
            "PASSPORT_MAX_CONCURRENCY": env.integer("PASSPORT_MAX_CONCURRENCY", 8, minimum=1, maximum=64),
            # Per worker: connections held open toward Passport; more calls wait within their attempt.
            "PASSPORT_MAX_CONNECTIONS": env.integer("PASSPORT_MAX_CONNECTIONS", 100, minimum=1, maximum=10_000),
            "PASSPORT_BREAKER_RESET_SECONDS": env.number("PASSPORT_BREAKER_RESET_SECONDS", 10.0, minimum=0.1),
            "REDIS_URL": env.secret("REDIS_URL", None),
            "REDIS_CLUSTER": env.boolean("REDIS_CLUSTER", False),
            "REDIS_SENTINELS": env.host_ports("REDIS_SENTINELS"),
            "REDIS_SENTINEL_MASTER": env.text("REDIS_SENTINEL_MASTER", None),
            "REDIS_TLS_CA_FILE": env.existing_file("REDIS_TLS_CA_FILE"),
            "REDIS_TLS_CERT_FILE": env.existing_file("REDIS_TLS_CERT_FILE"),
            "REDIS_TLS_KEY_FILE": env.existing_file("REDIS_TLS_KEY_FILE"),
            "REDIS_BREAKER_FAILURES": env.integer("REDIS_BREAKER_FAILURES", 2, minimum=1),
            "REDIS_BREAKER_RESET_SECONDS": env.number("REDIS_BREAKER_RESET_SECONDS", 2.0, minimum=0.1),
            "REDIS_SOCKET_TIMEOUT_SECONDS": env.number("REDIS_SOCKET_TIMEOUT_SECONDS", 0.25, minimum=0.01),
            # Per worker, as many as it serves requests at once; more wait (app.store.redis_topology).
            "REDIS_MAX_CONNECTIONS": env.integer("REDIS_MAX_CONNECTIONS", worker_concurrency(env), minimum=1,
                                                 maximum=10_000),
            "CACHE_KEY_PREFIX": env.text("CACHE_KEY_PREFIX", "passport-bff"),
            "CACHE_TTL_FACTOR": env.number("CACHE_TTL_FACTOR", 0.1, minimum=0.0),
            "CACHE_TTL_MIN_SECONDS": env.integer("CACHE_TTL_MIN_SECONDS", 30, minimum=1),
            "CACHE_TTL_MAX_SECONDS": env.integer("CACHE_TTL_MAX_SECONDS", 3600, minimum=1),
            "CACHE_STALE_WHILE_REVALIDATE_SECONDS": env.integer(
                "CACHE_STALE_WHILE_REVALIDATE_SECONDS", 60, minimum=0
            ),
            "CACHE_STALE_IF_ERROR_SECONDS": env.integer("CACHE_STALE_IF_ERROR_SECONDS", 86400, minimum=0),
            "CACHE_NOT_FOUND_SECONDS": env.integer("CACHE_NOT_FOUND_SECONDS", 30, minimum=0),
            "CACHE_LIST_SECONDS": env.integer("CACHE_LIST_SECONDS", 15, minimum=0),
            "CACHE_NEAR_MAX_ENTRIES": env.integer("CACHE_NEAR_MAX_ENTRIES", cls.DEFAULT_NEAR_ENTRIES, minimum=0),
            # Wait about as long as the fetch we wait for may take (nginx proxy_cache_lock_timeout).
            "CACHE_LOCK_WAIT_SECONDS": env.number("CACHE_LOCK_WAIT_SECONDS", deadline + 1, minimum=0.05),
            # A fetch lock's time to live, renewed while its fetch runs (app.store.lock).
            "CACHE_LOCK_LEASE_SECONDS": env.number("CACHE_LOCK_LEASE_SECONDS", 2.0, minimum=0.2),
            # Answer customer lookups in a WSGI layer ahead of Flask (app.web.fast_path); off: Flask alone.
            "HIT_FAST_PATH": env.boolean("HIT_FAST_PATH", True),
            "LOG_LEVEL": env.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
            "LOG_FORMAT": env.choice("LOG_FORMAT", cls.DEFAULT_LOG_FORMAT, ("JSON", "TEXT")).lower(),
        }
        settings.update(read_security(env, cls.DEFAULT_API_KEYS, cls.DEFAULT_AUTH_MODE, cls.DEFAULT_RATE_LIMIT))
        # How long a worker may count a caller's lookups locally before adding them to the shared
        # window (app.web.lookup_limit.FastPathBudget); 0 counts every lookup in Redis at once (exact).
        settings["RATELIMIT_SYNC_SECONDS"] = env.number(
            "RATELIMIT_SYNC_SECONDS", cls.DEFAULT_RATELIMIT_SYNC_SECONDS, minimum=0.0, maximum=5.0
        )
        settings["FLASK_DEBUG_REQUESTED"] = (env.raw("FLASK_DEBUG") or "0").lower() not in ("0", "false", "no")
        cls.check(settings)
        return settings

    @classmethod
    def check(cls, settings: dict[str, Any]) -> None:
        """Reject combinations of settings that cannot work together."""
        missing = [name for name in cls.REQUIRED if not settings.get(name)]
        if missing:
            raise ConfigError(
                f"APP_ENV={cls.APP_ENV} needs {', '.join(missing)} "
                "(each secret may also be given as <NAME>_FILE)"
            )
        redis_url = settings["REDIS_URL"]
        if redis_url and urlsplit(redis_url).scheme not in REDIS_SCHEMES:
            # The URL may hold a password: name the variable, never echo the value.
            raise ConfigError(f"REDIS_URL must start with one of: {', '.join(REDIS_SCHEMES)}://")
        if bool(settings["REDIS_SENTINELS"]) != bool(settings["REDIS_SENTINEL_MASTER"]):
            raise ConfigError("REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together")
        if settings["REDIS_CLUSTER"] and (not redis_url or settings["REDIS_SENTINELS"]):
            raise ConfigError("REDIS_CLUSTER=true needs REDIS_URL (a node of the cluster) and no REDIS_SENTINELS")

        if settings["CACHE_TTL_MIN_SECONDS"] > settings["CACHE_TTL_MAX_SECONDS"]:
            raise ConfigError("CACHE_TTL_MIN_SECONDS must not be greater than CACHE_TTL_MAX_SECONDS")


class DevelopmentConfig(Config):
    """Local runs: the bundled Passport emulator and its development credentials."""

    APP_ENV = "development"
    DEFAULT_PASSPORT_BASE_URL = EMULATOR_BASE_URL
    DEFAULT_PASSPORT_CLIENT_ID = EMULATOR_CLIENT_ID
    DEFAULT_PASSPORT_CLIENT_SECRET = EMULATOR_CLIENT_SECRET
    DEFAULT_API_KEYS: str | None = DEVELOPMENT_API_KEYS


class TestingConfig(DevelopmentConfig):
    """The test suite: development defaults; caller auth, rate limits and the near cache are off
    unless a test turns them on (tests that write to Redis behind the app's back would otherwise
    race the near cache's invalidation by a few milliseconds); a rate limit, once on, counts
    every hit in Redis at once, so that tests see the exact limit."""

    APP_ENV = "testing"
    DEFAULT_NEAR_ENTRIES = 0
    DEFAULT_API_KEYS = None
    DEFAULT_AUTH_MODE = "gateway-trusted"
    DEFAULT_RATE_LIMIT = "off"
    DEFAULT_RATELIMIT_SYNC_SECONDS = 0.0


class ProductionConfig(Config):
    """Deployments: real Passport credentials and a shared Redis are mandatory."""

    APP_ENV = "production"
    DEFAULT_LOG_FORMAT = "JSON"
    REQUIRED = ("PASSPORT_BASE_URL", "PASSPORT_CLIENT_ID", "PASSPORT_CLIENT_SECRET")

    @classmethod
    def check(cls, settings: dict[str, Any]) -> None:
        """Also refuse the emulator's development credentials, which are public."""
        super().check(settings)
        if not redis_enabled(settings):
            raise ConfigError("APP_ENV=production needs REDIS_URL (or REDIS_SENTINELS): instances must share one cache")
        if settings["PASSPORT_CLIENT_ID"] == EMULATOR_CLIENT_ID or (
            settings["PASSPORT_CLIENT_SECRET"] == EMULATOR_CLIENT_SECRET
        ):
            raise ConfigError(
                "PASSPORT_CLIENT_ID / PASSPORT_CLIENT_SECRET hold the emulator's development "
                "credentials; production needs the real Passport credentials"
            )
        if settings["FLASK_DEBUG_REQUESTED"]:
            raise ConfigError("FLASK_DEBUG must not be set in production: the debugger runs code for anyone")
        if settings["AUTH_MODE"] == "enforced" and not caller_auth_configured(settings):
            raise ConfigError(
                "production needs caller authentication: set AUTH_API_KEYS, AUTH_JWT_SECRET or "
                "AUTH_JWKS_URL, or AUTH_MODE=gateway-trusted if the gateway authenticates every caller"
            )
        if any(entry.sha256_hex == DEVELOPMENT_API_KEYS.split(":")[1] for entry in settings["AUTH_API_KEYS"]):
            raise ConfigError("AUTH_API_KEYS holds the public development key; production needs its own keys")
        if (settings["AUTH_JWT_SECRET"] or settings["AUTH_JWKS_URL"]) and not (
            settings["AUTH_JWT_ISSUER"] and settings["AUTH_JWT_AUDIENCE"]
        ):
            raise ConfigError("production JWT verification needs AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE")


def redis_enabled(settings: Mapping[str, Any]) -> bool:
    """Whether a shared Redis is configured (one server, a Cluster node, or Sentinels)."""
    return bool(settings.get("REDIS_URL") or settings.get("REDIS_SENTINELS"))


CONFIGS: dict[str, type[Config]] = {
    config.APP_ENV: config for config in (DevelopmentConfig, TestingConfig, ProductionConfig)
}


# gunicorn's settings, as config/gunicorn.py reads them (a test keeps the defaults equal): how many
# requests one worker serves at once sizes what each worker holds per request (Redis connections).
GUNICORN_DEFAULT_WORKER_CLASS = "gevent"
GUNICORN_DEFAULT_WORKER_CONNECTIONS = 1000
GUNICORN_DEFAULT_THREADS = 8


def worker_concurrency(env: EnvReader) -> int:
    """Requests one gunicorn worker serves at once: its greenlets (gevent) or its threads (gthread)."""
    if env.text("GUNICORN_WORKER_CLASS", GUNICORN_DEFAULT_WORKER_CLASS) == "gthread":
        return env.integer("GUNICORN_THREADS", GUNICORN_DEFAULT_THREADS, minimum=1)
    return env.integer("GUNICORN_WORKER_CONNECTIONS", GUNICORN_DEFAULT_WORKER_CONNECTIONS, minimum=1)


def load_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the validated settings of the environment named by ``APP_ENV``."""
    environ = os.environ if environ is None else environ
    name = environ.get("APP_ENV", DevelopmentConfig.APP_ENV).strip().lower()
    try:
        config = CONFIGS[name]
    except KeyError:
        raise ConfigError(
            f"APP_ENV={name!r} is not one of: {', '.join(sorted(CONFIGS))}"
        ) from None
    return config.read(EnvReader(environ))
