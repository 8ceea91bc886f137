"""Configuration of passport-bff, read once from the environment (12-factor).

``load_config()`` returns ``config.settings.Settings``: one frozen record per concern. One class per
environment, chosen by ``APP_ENV``, sets the defaults and what is required:

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
from urllib.parse import urlsplit

from config.readers import ConfigError, EnvReader
from config.security import (
    parse_encryption_keys,
    read_auth,
    read_customer_cache_control,
    read_origins,
    read_rate_limit,
)
from config.settings import (
    AuditSettings,
    CacheSettings,
    HttpSettings,
    LogSettings,
    PassportSettings,
    RedisSettings,
    ServerSettings,
    Settings,
)
from config.tracing import read_tracing

__all__ = ["ConfigError", "Config", "DevelopmentConfig", "TestingConfig", "ProductionConfig", "Settings",
           "load_config"]

EMULATOR_BASE_URL = "http://127.0.0.1:8090"
EMULATOR_CLIENT_ID = "dev-client-id"
EMULATOR_CLIENT_SECRET = "dev-client-secret"
# The development API key is public by design (README); production never accepts it.
DEVELOPMENT_API_KEY = "dev-api-key"
DEVELOPMENT_API_KEYS = (f"dev:{hashlib.sha256(DEVELOPMENT_API_KEY.encode()).hexdigest()}"
                        ":customers.read+accounts.read+keys.read+recipients.read+pii.read+customers.purge"
                        "+customers.refresh")
REDIS_SCHEMES = ("redis", "rediss", "unix")
# How long a record of each kind may stay fresh, when set (the kind's declaration holds the default:
# accounts 5 s, keys 5 min, recipients 1 day; app/passport/resources/).
RECORD_MAX_SECONDS_VARIABLES = (("account", "ACCOUNT_MAX_AGE_SECONDS"), ("key", "KEY_TTL_MAX_SECONDS"),
                                ("recipient", "RECIPIENT_TTL_MAX_SECONDS"))
RECORD_MAX_SECONDS_LIMIT = 7 * 86_400
DEFAULT_DEADLINE_SECONDS = 10.0
READINESS_CHECKS = ("redis", "passport", "token")


class Config:
    """Settings shared by every environment; subclasses change defaults and requirements."""

    APP_ENV = "base"
    DEFAULT_PASSPORT_BASE_URL: str | None = None
    DEFAULT_PASSPORT_CLIENT_ID: str | None = None
    DEFAULT_PASSPORT_CLIENT_SECRET: str | None = None
    DEFAULT_API_KEYS: str | None = None
    DEFAULT_AUTH_MODE = "enforced"
    DEFAULT_RATE_LIMIT = "6000 per minute"
    DEFAULT_REFRESH_RATE_LIMIT = "60 per minute"
    DEFAULT_RATELIMIT_SYNC_SECONDS = 0.1
    DEFAULT_LOG_FORMAT = "TEXT"
    DEFAULT_NEAR_ENTRIES = 10_000
    DEFAULT_AUDIT_LOG = "stdout"
    REQUIRED: tuple[str, ...] = ()

    @classmethod
    def read(cls, env: EnvReader) -> Settings:
        """Read and validate every setting this environment uses."""
        passport = cls.read_passport(env)
        settings = Settings(
            app_env=cls.APP_ENV,
            passport=passport,
            redis=read_redis(env),
            cache=cls.read_cache(env, passport.deadline_seconds),
            auth=read_auth(env, cls.DEFAULT_API_KEYS, cls.DEFAULT_AUTH_MODE),
            http=cls.read_http(env),
            log=LogSettings(level=read_log_level(env),
                            format=env.choice("LOG_FORMAT", cls.DEFAULT_LOG_FORMAT, ("JSON", "TEXT")).lower()),
            audit=read_audit(env, cls.DEFAULT_AUDIT_LOG),
            tracing=read_tracing(env),
            flask_debug_requested=(env.raw("FLASK_DEBUG") or "0").lower() not in ("0", "false", "no"),
        )
        cls.check(settings)
        return settings

    @classmethod
    def read_passport(cls, env: EnvReader) -> PassportSettings:
        return PassportSettings(
            base_url=env.url("PASSPORT_BASE_URL", cls.DEFAULT_PASSPORT_BASE_URL),
            client_id=env.secret("PASSPORT_CLIENT_ID", cls.DEFAULT_PASSPORT_CLIENT_ID),
            client_secret=env.secret("PASSPORT_CLIENT_SECRET", cls.DEFAULT_PASSPORT_CLIENT_SECRET),
            timeout_seconds=env.number("PASSPORT_TIMEOUT_SECONDS", 5.0, minimum=0.05),
            connect_timeout_seconds=env.number("PASSPORT_CONNECT_TIMEOUT_SECONDS", 2.0, minimum=0.05),
            max_response_bytes=env.integer("PASSPORT_MAX_RESPONSE_BYTES", 256 * 1024, minimum=1024),
            token_refresh_margin_seconds=env.integer("PASSPORT_TOKEN_REFRESH_MARGIN_SECONDS", 300, minimum=0),
            token_default_ttl_seconds=env.integer("PASSPORT_TOKEN_DEFAULT_TTL_SECONDS", 300, minimum=1),
            deadline_seconds=env.number("PASSPORT_DEADLINE_SECONDS", DEFAULT_DEADLINE_SECONDS, minimum=0.1),
            retries=env.integer("PASSPORT_RETRIES", 2, minimum=0, maximum=10),
            retry_backoff_seconds=env.number("PASSPORT_RETRY_BACKOFF_SECONDS", 0.1, minimum=0.0),
            breaker_failures=env.integer("PASSPORT_BREAKER_FAILURES", 5, minimum=1),
            breaker_reset_seconds=env.number("PASSPORT_BREAKER_RESET_SECONDS", 10.0, minimum=0.1),
            max_concurrency=env.integer("PASSPORT_MAX_CONCURRENCY", 8, minimum=1, maximum=64),
            # Per worker: connections held open toward Passport; more calls wait within their attempt.
            max_connections=env.integer("PASSPORT_MAX_CONNECTIONS", 100, minimum=1, maximum=10_000),
            # Per worker: calls in flight past this fail at once (503, or the stale copy) instead of piling
            # up. By default as many as the worker serves requests at once: lower it to shield Passport.
            max_in_flight=env.integer("PASSPORT_MAX_IN_FLIGHT", read_server(env).worker_concurrency, minimum=1,
                                      maximum=100_000),
            # Retries stay under this share of the calls of the last 10 s (per worker; 2 = two per call).
            retry_budget=env.number("PASSPORT_RETRY_BUDGET", 0.1, minimum=0.0, maximum=10.0),
            # Passport's Retry-After is honoured fleet-wide up to this long (a longer or broken one is clamped).
            max_retry_after_seconds=env.number("PASSPORT_MAX_RETRY_AFTER_SECONDS", 300.0, minimum=1.0,
                                               maximum=86_400.0),
        )

    @classmethod
    def read_cache(cls, env: EnvReader, deadline: float) -> CacheSettings:
        """The cache's settings; ``deadline`` (Passport's fetch deadline) sizes the default lock wait."""
        return CacheSettings(
            key_prefix=env.text("CACHE_KEY_PREFIX", "passport-bff") or "passport-bff",
            ttl_factor=env.number("CACHE_TTL_FACTOR", 0.1, minimum=0.0),
            ttl_min_seconds=env.integer("CACHE_TTL_MIN_SECONDS", 30, minimum=1),
            ttl_max_seconds=env.integer("CACHE_TTL_MAX_SECONDS", 3600, minimum=1),
            stale_while_revalidate_seconds=env.integer("CACHE_STALE_WHILE_REVALIDATE_SECONDS", 60, minimum=0),
            stale_if_error_seconds=env.integer("CACHE_STALE_IF_ERROR_SECONDS", 86400, minimum=0),
            not_found_seconds=env.integer("CACHE_NOT_FOUND_SECONDS", 30, minimum=0),
            list_seconds=env.integer("CACHE_LIST_SECONDS", 15, minimum=0),
            near_max_entries=env.integer("CACHE_NEAR_MAX_ENTRIES", cls.DEFAULT_NEAR_ENTRIES, minimum=0),
            # Wait about as long as the fetch we wait for may take (nginx proxy_cache_lock_timeout).
            lock_wait_seconds=env.number("CACHE_LOCK_WAIT_SECONDS", deadline + 1, minimum=0.05),
            # A fetch lock's time to live, renewed while its fetch runs (app.store.lock).
            lock_lease_seconds=env.number("CACHE_LOCK_LEASE_SECONDS", 2.0, minimum=0.2),
            # A copy fetched this recently satisfies a caller's refresh (Cache-Control: no-cache): a
            # storm of refresh clicks on one customer asks Passport at most once per this many seconds.
            refresh_satisfied_seconds=env.number("CACHE_REFRESH_SATISFIED_SECONDS", 1.0, minimum=0.0, maximum=60.0),
            # A copy read in the last part of its freshness is refreshed in the background (0: never).
            refresh_ahead_fraction=env.number("CACHE_REFRESH_AHEAD", 0.1, minimum=0.0, maximum=0.9),
            # Copies written together (a listing's warm-up, a batch) get ± this much of their freshness.
            ttl_jitter=env.number("CACHE_TTL_JITTER", 0.1, minimum=0.0, maximum=0.5),
            encryption_keys=parse_encryption_keys(env.secret("CACHE_ENCRYPTION_KEYS", None)),
            customer_masking=env.choice("PII_MASKING", "OFF", ("OFF", "ON")) == "ON",
            overview_max_items=env.integer("OVERVIEW_MAX_ITEMS", 100, minimum=1, maximum=1000),
            record_max_seconds=tuple(
                (kind, env.integer(name, 0, minimum=1, maximum=RECORD_MAX_SECONDS_LIMIT))
                for kind, name in RECORD_MAX_SECONDS_VARIABLES if env.raw(name) is not None
            ),
        )

    @classmethod
    def read_http(cls, env: EnvReader) -> HttpSettings:
        return HttpSettings(
            port=env.integer("PORT", 8000, minimum=1, maximum=65535),
            trusted_proxy_hops=env.integer("TRUSTED_PROXY_HOPS", 0, minimum=0, maximum=10),
            max_request_body_bytes=env.integer("MAX_REQUEST_BODY_BYTES", 64 * 1024, minimum=1024),
            cors_allowed_origins=read_origins(env),
            rate_limit=read_rate_limit(env, cls.DEFAULT_RATE_LIMIT),
            refresh_rate_limit=read_rate_limit(env, cls.DEFAULT_REFRESH_RATE_LIMIT, "RATELIMIT_REFRESH"),
            # How long a worker may count a caller's lookups locally before adding them to the shared
            # window (app.web.lookup_limit.FastPathBudget); 0 counts every lookup in Redis at once (exact).
            rate_limit_sync_seconds=env.number(
                "RATELIMIT_SYNC_SECONDS", cls.DEFAULT_RATELIMIT_SYNC_SECONDS, minimum=0.0, maximum=5.0),
            # Serve customer lookups in a WSGI layer ahead of Flask (app.web.fast_path); off: the Flask view.
            lookup_fast_path=env.boolean("HIT_FAST_PATH", True),
            # Off by default: every instance shares Redis and Passport, so a failing check would empty the fleet.
            readiness_strict_checks=env.names("READINESS_STRICT_CHECKS", READINESS_CHECKS),
            customer_cache_control=read_customer_cache_control(env),
        )

    @classmethod
    def check(cls, settings: Settings) -> None:
        """Reject combinations of settings that cannot work together."""
        values = {"PASSPORT_BASE_URL": settings.passport.base_url, "PASSPORT_CLIENT_ID": settings.passport.client_id,
                  "PASSPORT_CLIENT_SECRET": settings.passport.client_secret}
        missing = [name for name in cls.REQUIRED if not values[name]]
        if missing:
            raise ConfigError(
                f"APP_ENV={cls.APP_ENV} needs {', '.join(missing)} "
                "(each secret may also be given as <NAME>_FILE)"
            )
        redis = settings.redis
        if redis.url and urlsplit(redis.url).scheme not in REDIS_SCHEMES:
            # The URL may hold a password: name the variable, never echo the value.
            raise ConfigError(f"REDIS_URL must start with one of: {', '.join(REDIS_SCHEMES)}://")
        if bool(redis.sentinels) != bool(redis.sentinel_master):
            raise ConfigError("REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together")
        if redis.cluster and (not redis.url or redis.sentinels):
            raise ConfigError("REDIS_CLUSTER=true needs REDIS_URL (a node of the cluster) and no REDIS_SENTINELS")
        if settings.cache.ttl_min_seconds > settings.cache.ttl_max_seconds:
            raise ConfigError("CACHE_TTL_MIN_SECONDS must not be greater than CACHE_TTL_MAX_SECONDS")


def read_log_level(env: EnvReader) -> str:
    return env.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))


def read_audit(env: EnvReader, default: str) -> AuditSettings:
    """``AUDIT_LOG``: ``stdout``, ``off``, or ``file:PATH`` in a directory that exists now."""
    value = env.raw("AUDIT_LOG") or default
    if value in ("stdout", "off"):
        return AuditSettings(value)
    kind, _, path = value.partition(":")
    if kind != "file" or not path:
        raise ConfigError(f"AUDIT_LOG must be stdout, off or file:PATH (got {value!r})")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ConfigError(f"AUDIT_LOG={value!r}: the directory {directory} does not exist")
    return AuditSettings("file", path)


def read_redis(env: EnvReader) -> RedisSettings:
    return RedisSettings(
        url=env.secret("REDIS_URL", None),
        cluster=env.boolean("REDIS_CLUSTER", False),
        sentinels=env.host_ports("REDIS_SENTINELS"),
        sentinel_master=env.text("REDIS_SENTINEL_MASTER", None),
        tls_ca_file=env.existing_file("REDIS_TLS_CA_FILE"),
        tls_cert_file=env.existing_file("REDIS_TLS_CERT_FILE"),
        tls_key_file=env.existing_file("REDIS_TLS_KEY_FILE"),
        breaker_failures=env.integer("REDIS_BREAKER_FAILURES", 2, minimum=1),
        breaker_reset_seconds=env.number("REDIS_BREAKER_RESET_SECONDS", 2.0, minimum=0.1),
        socket_timeout_seconds=env.number("REDIS_SOCKET_TIMEOUT_SECONDS", 0.25, minimum=0.01),
        # Per worker, as many as it serves requests at once; more wait (app.store.redis_topology).
        max_connections=env.integer("REDIS_MAX_CONNECTIONS", read_server(env).worker_concurrency, minimum=1,
                                    maximum=10_000),
    )


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
    DEFAULT_REFRESH_RATE_LIMIT = "off"
    DEFAULT_RATELIMIT_SYNC_SECONDS = 0.0
    DEFAULT_AUDIT_LOG = "off"


class ProductionConfig(Config):
    """Deployments: real Passport credentials and a shared Redis are mandatory."""

    APP_ENV = "production"
    DEFAULT_LOG_FORMAT = "JSON"
    REQUIRED = ("PASSPORT_BASE_URL", "PASSPORT_CLIENT_ID", "PASSPORT_CLIENT_SECRET")

    @classmethod
    def check(cls, settings: Settings) -> None:
        """Also refuse the emulator's development credentials, which are public."""
        super().check(settings)
        passport, auth = settings.passport, settings.auth
        if not settings.redis.enabled:
            raise ConfigError("APP_ENV=production needs REDIS_URL (or REDIS_SENTINELS): instances must share one cache")
        if passport.client_id == EMULATOR_CLIENT_ID or passport.client_secret == EMULATOR_CLIENT_SECRET:
            raise ConfigError(
                "PASSPORT_CLIENT_ID / PASSPORT_CLIENT_SECRET hold the emulator's development "
                "credentials; production needs the real Passport credentials"
            )
        if settings.flask_debug_requested:
            raise ConfigError("FLASK_DEBUG must not be set in production: the debugger runs code for anyone")
        if auth.enforced and not auth.configured:
            raise ConfigError(
                "production needs caller authentication: set AUTH_API_KEYS, AUTH_JWT_SECRET or "
                "AUTH_JWKS_URL, or AUTH_MODE=gateway-trusted if the gateway authenticates every caller"
            )
        if any(entry.sha256_hex == DEVELOPMENT_API_KEYS.split(":")[1] for entry in auth.api_keys):
            raise ConfigError("AUTH_API_KEYS holds the public development key; production needs its own keys")
        if (auth.jwt_secret or auth.jwks_url) and not (auth.jwt_issuer and auth.jwt_audience):
            raise ConfigError("production JWT verification needs AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE")


CONFIGS: dict[str, type[Config]] = {
    config.APP_ENV: config for config in (DevelopmentConfig, TestingConfig, ProductionConfig)
}


WORKER_CLASSES = ("gevent", "gthread")
# A gateway that routes by /readyz needs a readiness period or two to notice a 503 (Kubernetes
# probes every 10 s by default; deploy/kubernetes probes every 5 s). No gateway routes to a
# development or test instance, so those stop at once.
DRAIN_SECONDS = {"production": 10.0}


def read_server(env: EnvReader) -> ServerSettings:
    """gunicorn's settings, read by ``config/gunicorn.py`` and sizing what a worker holds per request."""
    worker_class = env.text("GUNICORN_WORKER_CLASS", "gevent") or "gevent"
    if worker_class not in WORKER_CLASSES:
        raise ConfigError(f"GUNICORN_WORKER_CLASS must be one of: {', '.join(WORKER_CLASSES)} (got {worker_class!r})")
    port = env.integer("PORT", 8000, minimum=1, maximum=65535)
    return ServerSettings(
        bind=env.text("GUNICORN_BIND", None) or f"0.0.0.0:{port}",
        workers=env.integer("WEB_CONCURRENCY", 2, minimum=1, maximum=256),
        worker_class=worker_class,
        worker_connections=env.integer("GUNICORN_WORKER_CONNECTIONS", 1000, minimum=1, maximum=100_000),
        threads=env.integer("GUNICORN_THREADS", 8, minimum=1, maximum=1000),
        timeout_seconds=env.integer("GUNICORN_TIMEOUT", 30, minimum=1),
        graceful_timeout_seconds=env.integer("GUNICORN_GRACEFUL_TIMEOUT", 20, minimum=0),
        drain_seconds=env.number("DRAIN_SECONDS", DRAIN_SECONDS.get(app_env_name(env), 0.0), minimum=0.0,
                                 maximum=3600.0),
        log_level=read_log_level(env).lower(),
    )


def load_server_settings(environ: Mapping[str, str] | None = None) -> ServerSettings:
    """gunicorn's validated settings from the environment."""
    return read_server(EnvReader(os.environ if environ is None else environ))


def app_env_name(env: EnvReader) -> str:
    """The environment ``APP_ENV`` names, lower case (``development`` when unset)."""
    return (env.raw("APP_ENV") or DevelopmentConfig.APP_ENV).strip().lower()


def load_config(environ: Mapping[str, str] | None = None) -> Settings:
    """Return the validated settings of the environment named by ``APP_ENV``."""
    environ = os.environ if environ is None else environ
    name = app_env_name(EnvReader(environ))
    try:
        config = CONFIGS[name]
    except KeyError:
        raise ConfigError(
            f"APP_ENV={name!r} is not one of: {', '.join(sorted(CONFIGS))}"
        ) from None
    return config.read(EnvReader(environ))
