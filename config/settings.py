"""The service's settings as typed values: one frozen record per concern, handed to the part that uses it.

``load_config()`` (``config``) reads and validates them from the environment once; builders take
their section (``build_passport(settings.passport)``), and nothing reads a setting by string key.
Values derived from several settings are properties here, next to what they derive from.
"""
from __future__ import annotations

from dataclasses import dataclass, field

LOCK_MARGIN_SECONDS = 1.0  # a lock or wait outlives the work it covers by this much


@dataclass(frozen=True)
class ApiKeyEntry:
    name: str
    sha256_hex: str
    scopes: frozenset[str]


@dataclass(frozen=True)
class PassportSettings:
    base_url: str | None
    client_id: str | None
    client_secret: str | None
    timeout_seconds: float
    connect_timeout_seconds: float
    max_response_bytes: int
    token_refresh_margin_seconds: int
    token_default_ttl_seconds: int
    deadline_seconds: float
    retries: int
    retry_backoff_seconds: float
    breaker_failures: int
    breaker_reset_seconds: float
    max_concurrency: int
    max_connections: int
    max_in_flight: int  # per worker: Passport calls at once; more fail fast
    retry_budget: float  # retries as a share of calls over a sliding window
    max_retry_after_seconds: float  # the longest pause Passport may ask of the fleet

    @property
    def token_fetch_seconds(self) -> float:
        """The longest a token fetch may take: its connect, then its one attempt."""
        return self.connect_timeout_seconds + self.timeout_seconds

    @property
    def longest_fetch_seconds(self) -> float:
        """The longest a customer fetch may take, a token fetch and every retry included."""
        return self.token_fetch_seconds + self.deadline_seconds + LOCK_MARGIN_SECONDS


@dataclass(frozen=True)
class RedisSettings:
    url: str | None
    cluster: bool
    sentinels: tuple[tuple[str, int], ...]
    sentinel_master: str | None
    tls_ca_file: str | None
    tls_cert_file: str | None
    tls_key_file: str | None
    breaker_failures: int
    breaker_reset_seconds: float
    socket_timeout_seconds: float
    max_connections: int

    @property
    def enabled(self) -> bool:
        """Whether a shared Redis is configured (one server, a Cluster node, or Sentinels)."""
        return bool(self.url or self.sentinels)


@dataclass(frozen=True)
class CacheSettings:
    key_prefix: str
    ttl_factor: float
    ttl_min_seconds: int
    ttl_max_seconds: int
    stale_while_revalidate_seconds: int
    stale_if_error_seconds: int
    not_found_seconds: int
    list_seconds: int
    near_max_entries: int
    lock_wait_seconds: float
    lock_lease_seconds: float
    refresh_satisfied_seconds: float  # a copy fetched this recently satisfies a caller's refresh
    refresh_ahead_fraction: float  # a copy read in this last part of its freshness is refreshed ahead
    ttl_jitter: float  # ± this fraction of freshness for copies written together
    encryption_keys: tuple[str, ...]
    # The longest a record of a kind stays fresh, where configured (kind -> seconds): an account's
    # fixed maximum age, a key's or a recipient's clamp (the kind's declaration says the default).
    record_max_seconds: tuple[tuple[str, int], ...] = ()
    # PII_MASKING=on: customers' personal fields are masked for callers without pii.read, as the
    # other kinds' always are (off by default: the customer route's answers stay as they were).
    customer_masking: bool = False
    overview_max_items: int = 100  # records listed per part of a customer overview, at most


@dataclass(frozen=True)
class AuthSettings:
    mode: str
    api_keys: tuple[ApiKeyEntry, ...]
    jwt_secret: str | None
    jwks_url: str | None
    jwt_issuer: str | None
    jwt_audience: str | None
    jwt_leeway_seconds: int
    jwt_customers_claim: str

    @property
    def enforced(self) -> bool:
        return self.mode == "enforced"

    @property
    def configured(self) -> bool:
        """Whether any way for callers to authenticate is configured."""
        return bool(self.api_keys or self.jwt_secret or self.jwks_url)


@dataclass(frozen=True)
class HttpSettings:
    port: int
    trusted_proxy_hops: int
    max_request_body_bytes: int
    cors_allowed_origins: tuple[str, ...]
    rate_limit: str | None  # None: off
    rate_limit_sync_seconds: float
    refresh_rate_limit: str | None  # a caller's revalidation requests (Cache-Control: no-cache); None: off
    lookup_fast_path: bool
    readiness_strict_checks: frozenset[str]  # the readiness checks that make /readyz 503 when they fail
    customer_cache_control: str  # Cache-Control of every answer carrying customer data


@dataclass(frozen=True)
class LogSettings:
    level: str
    format: str  # "json" or "text"


@dataclass(frozen=True)
class TracingSettings:
    """OpenTelemetry traces (``OTEL_*``, ``config/tracing.py``); ``exporter`` ``none`` is off."""

    exporter: str  # "otlp", "console" or "none"
    endpoint: str | None  # where "otlp" posts spans (the full traces URL)
    headers: tuple[tuple[str, str], ...] = field(repr=False)  # may hold the collector's credential
    timeout_seconds: float
    compression: str | None  # "gzip" or None
    service_name: str
    resource_attributes: tuple[tuple[str, str], ...]
    sampler: str
    sampler_ratio: float
    max_queue_size: int
    max_export_batch_size: int
    schedule_delay_millis: int

    @property
    def enabled(self) -> bool:
        return self.exporter != "none"


@dataclass(frozen=True)
class AuditSettings:
    """Where the audit trail of disclosures goes (``AUDIT_LOG``)."""

    sink: str  # "stdout", "file" or "off"
    path: str | None = None  # the file, for "file"


@dataclass(frozen=True)
class ServerSettings:
    """gunicorn's settings (``config/gunicorn.py``)."""

    bind: str
    workers: int
    worker_class: str  # "gevent" or "gthread"
    worker_connections: int
    threads: int
    timeout_seconds: int
    graceful_timeout_seconds: int
    drain_seconds: float  # after SIGTERM: /readyz 503, requests still served, then the graceful stop
    log_level: str

    @property
    def worker_concurrency(self) -> int:
        """Requests one worker serves at once: its greenlets (gevent) or its threads (gthread)."""
        return self.threads if self.worker_class == "gthread" else self.worker_connections


@dataclass(frozen=True)
class Settings:
    app_env: str
    passport: PassportSettings
    redis: RedisSettings
    cache: CacheSettings
    auth: AuthSettings
    http: HttpSettings
    log: LogSettings
    audit: AuditSettings
    tracing: TracingSettings
    flask_debug_requested: bool
