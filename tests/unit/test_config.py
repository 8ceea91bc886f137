"""Configuration: chosen by APP_ENV, validated at start-up with messages naming the variable."""
from __future__ import annotations

import pytest

from config import ConfigError, load_config

PRODUCTION = {
    "APP_ENV": "production",
    "PASSPORT_BASE_URL": "https://api.paas.co.passportfintech.com",
    "PASSPORT_CLIENT_ID": "live-id",
    "PASSPORT_CLIENT_SECRET": "live-secret",
    "REDIS_URL": "redis://cache:6379/0",
    "AUTH_API_KEYS": "frontend:" + "a" * 64,
}


def test_development_is_the_default_and_points_at_the_emulator():
    config = load_config({})
    assert config.app_env == "development"
    assert config.passport.base_url == "http://127.0.0.1:8090"
    assert config.redis.url is None


def test_documented_defaults():
    config = load_config({})
    assert (config.cache.ttl_factor, config.cache.ttl_min_seconds,
            config.cache.ttl_max_seconds) == (0.1, 30, 3600)
    assert config.http.port == 8000


def test_production_with_everything_set_starts():
    assert load_config(PRODUCTION).app_env == "production"


@pytest.mark.parametrize("missing", ["PASSPORT_BASE_URL", "PASSPORT_CLIENT_ID", "PASSPORT_CLIENT_SECRET", "REDIS_URL"])
def test_production_refuses_to_start_without(missing):
    environ = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        load_config(environ)


def test_production_refuses_the_emulator_credentials():
    with pytest.raises(ConfigError, match="PASSPORT_CLIENT_ID"):
        load_config({**PRODUCTION, "PASSPORT_CLIENT_ID": "dev-client-id",
                     "PASSPORT_CLIENT_SECRET": "dev-client-secret"})


def test_secret_can_come_from_a_file(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-file\n")
    environ = {**PRODUCTION, "PASSPORT_CLIENT_SECRET": "", "PASSPORT_CLIENT_SECRET_FILE": str(secret_file)}
    assert load_config(environ).passport.client_secret == "from-file"


def test_unreadable_secret_file_is_named_without_leaking_anything(tmp_path):
    environ = {**PRODUCTION, "PASSPORT_CLIENT_SECRET": "", "PASSPORT_CLIENT_SECRET_FILE": str(tmp_path / "absent")}
    with pytest.raises(ConfigError, match="PASSPORT_CLIENT_SECRET_FILE"):
        load_config(environ)


def test_secret_and_its_file_together_are_ambiguous(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("x")
    with pytest.raises(ConfigError, match="not both"):
        load_config({**PRODUCTION, "PASSPORT_CLIENT_SECRET_FILE": str(secret_file)})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PASSPORT_TIMEOUT_SECONDS", "soon"),
        ("PASSPORT_TIMEOUT_SECONDS", "0"),
        ("PASSPORT_TIMEOUT_SECONDS", "nan"),
        ("CACHE_TTL_MIN_SECONDS", "-1"),
        ("CACHE_TTL_FACTOR", "x"),
        ("PORT", "70000"),
        ("PASSPORT_BASE_URL", "ftp://example.test"),
        ("PASSPORT_BASE_URL", "api.example.test"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_invalid_values_are_rejected_naming_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        load_config({name: value})


def test_min_ttl_above_max_ttl_is_rejected():
    with pytest.raises(ConfigError, match="CACHE_TTL_MIN_SECONDS"):
        load_config({"CACHE_TTL_MIN_SECONDS": "100", "CACHE_TTL_MAX_SECONDS": "50"})


def test_redis_url_with_a_wrong_scheme_is_rejected_without_echoing_it():
    with pytest.raises(ConfigError, match="REDIS_URL") as excinfo:
        load_config({"REDIS_URL": "http://user:hunter2@cache"})
    assert "hunter2" not in str(excinfo.value)


def test_unknown_app_env_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="development, production, testing"):
        load_config({"APP_ENV": "staging"})


def test_base_url_loses_its_trailing_slash():
    assert load_config({"PASSPORT_BASE_URL": "https://x.test/"}).passport.base_url == "https://x.test"


def test_production_refuses_to_start_without_caller_authentication():
    environ = {k: v for k, v in PRODUCTION.items() if k != "AUTH_API_KEYS"}
    with pytest.raises(ConfigError, match="AUTH_API_KEYS"):
        load_config(environ)


def test_production_may_leave_authentication_to_the_gateway_explicitly():
    environ = {k: v for k, v in PRODUCTION.items() if k != "AUTH_API_KEYS"}
    assert load_config({**environ, "AUTH_MODE": "gateway-trusted"}).auth.mode == "gateway-trusted"


def test_production_refuses_the_public_development_key():
    from config import DEVELOPMENT_API_KEYS
    with pytest.raises(ConfigError, match="development key"):
        load_config({**PRODUCTION, "AUTH_API_KEYS": DEVELOPMENT_API_KEYS})


def test_production_jwt_needs_issuer_and_audience():
    with pytest.raises(ConfigError, match="AUTH_JWT_ISSUER"):
        load_config({**PRODUCTION, "AUTH_JWT_SECRET": "s" * 32})


def test_development_configures_the_documented_development_key():
    import hashlib
    entries = load_config({}).auth.api_keys
    assert [e.name for e in entries] == ["dev"]
    assert entries[0].sha256_hex == hashlib.sha256(b"dev-api-key").hexdigest()


def test_api_keys_parse_names_hashes_and_scopes():
    entries = load_config(
        {"AUTH_API_KEYS": f"web:{'A' * 64}, ops:{'b' * 64}:customers.read+customers.purge"}).auth.api_keys
    assert [(e.name, e.sha256_hex, sorted(e.scopes)) for e in entries] == [
        ("web", "a" * 64, ["customers.read"]),
        ("ops", "b" * 64, ["customers.purge", "customers.read"]),
    ]


@pytest.mark.parametrize(
    "value",
    ["web", "web:short", f"web:{'g' * 64}", f"web:{'a' * 64}:customers.write", f"a b:{'a' * 64}",
     f"web:{'a' * 64},web:{'b' * 64}"],
)
def test_malformed_api_keys_are_rejected_without_echoing_them(value):
    with pytest.raises(ConfigError, match="AUTH_API_KEYS") as excinfo:
        load_config({"AUTH_API_KEYS": value})
    assert "a" * 64 not in str(excinfo.value)


def test_api_keys_can_come_from_a_file(tmp_path):
    keys = tmp_path / "keys"
    keys.write_text(f"web:{'c' * 64}\n")
    assert load_config({"AUTH_API_KEYS_FILE": str(keys)}).auth.api_keys[0].name == "web"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTH_MODE", "trust-me"),
        ("AUTH_JWT_SECRET", "too-short"),
        ("CORS_ALLOWED_ORIGINS", "*"),
        ("RATELIMIT_DEFAULT", "lots"),
        ("CACHE_ENCRYPTION_KEYS", "not-a-fernet-key"),
        ("TRUSTED_PROXY_HOPS", "-1"),
        ("RATELIMIT_SYNC_SECONDS", "-0.1"),
        ("RATELIMIT_SYNC_SECONDS", "60"),
        ("HIT_FAST_PATH", "maybe"),
    ],
)
def test_invalid_security_settings_are_rejected_naming_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        load_config({name: value})


def test_rate_limit_can_be_switched_off():
    assert load_config({"RATELIMIT_DEFAULT": "off"}).http.rate_limit is None


def test_encryption_keys_are_validated_and_kept_in_order():
    from cryptography.fernet import Fernet
    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    assert load_config({"CACHE_ENCRYPTION_KEYS": f"{first},{second}"}).cache.encryption_keys == (first, second)


def test_production_refuses_flask_debug():
    with pytest.raises(ConfigError, match="FLASK_DEBUG"):
        load_config({**PRODUCTION, "FLASK_DEBUG": "1"})


def test_sentinels_parse_and_satisfy_production():
    environ = {k: v for k, v in PRODUCTION.items() if k != "REDIS_URL"}
    config = load_config({**environ, "REDIS_SENTINELS": "s1:26379, s2:26380", "REDIS_SENTINEL_MASTER": "bff"})
    assert config.redis.sentinels == (("s1", 26379), ("s2", 26380))


@pytest.mark.parametrize(
    ("environ", "name"),
    [
        ({"REDIS_SENTINELS": "s1:26379"}, "REDIS_SENTINEL_MASTER"),
        ({"REDIS_SENTINELS": "s1", "REDIS_SENTINEL_MASTER": "m"}, "REDIS_SENTINELS"),
        ({"REDIS_CLUSTER": "true"}, "REDIS_CLUSTER"),
        ({"REDIS_CLUSTER": "maybe"}, "REDIS_CLUSTER"),
        ({"REDIS_TLS_CA_FILE": "/nonexistent/ca.pem"}, "REDIS_TLS_CA_FILE"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
    ],
)
def test_invalid_redis_and_log_settings_name_the_variable(environ, name):
    with pytest.raises(ConfigError, match=name):
        load_config(environ)


def test_tls_files_reach_the_client_options(tmp_path):
    from app.store.redis_topology import client_options
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    config = load_config({"REDIS_URL": "rediss://cache:6380/0", "REDIS_TLS_CA_FILE": str(ca)})
    assert client_options(config.redis)["ssl_ca_certs"] == str(ca)


def test_production_logs_json_and_development_text():
    assert load_config(PRODUCTION).log.format == "json"
    assert load_config({}).log.format == "text"


def test_gunicorns_settings_are_read_and_validated_like_the_apps():
    from config import load_server_settings

    server = load_server_settings({"WEB_CONCURRENCY": "4", "GUNICORN_WORKER_CLASS": "gthread", "PORT": "9000"})
    assert (server.workers, server.worker_class, server.bind, server.worker_concurrency) == (4, "gthread",
                                                                                             "0.0.0.0:9000", 8)
    with pytest.raises(ConfigError, match="WEB_CONCURRENCY"):
        load_server_settings({"WEB_CONCURRENCY": "many"})


def test_a_bad_web_concurrency_stops_gunicorn_naming_the_variable():
    import subprocess
    import sys

    started = subprocess.run([sys.executable, "-c", "import runpy; runpy.run_path('config/gunicorn.py')"],
                             env={"WEB_CONCURRENCY": "zero", "PATH": ""}, capture_output=True, text=True, timeout=60)
    assert started.returncode != 0
    assert "WEB_CONCURRENCY='zero' is not a whole number" in started.stderr


def test_readiness_strict_checks_are_named_checks():
    assert load_config({"READINESS_STRICT_CHECKS": "Redis, token"}).http.readiness_strict_checks == {"redis", "token"}
    assert load_config({}).http.readiness_strict_checks == frozenset()
    with pytest.raises(ConfigError, match="READINESS_STRICT_CHECKS names disk"):
        load_config({"READINESS_STRICT_CHECKS": "redis,disk"})


@pytest.mark.parametrize("value", ["public, max-age=60", "max-age=60", "no-cache", "private, immutable"])
def test_customer_cache_control_refuses_what_would_let_personal_data_be_kept_elsewhere(value):
    with pytest.raises(ConfigError, match="CUSTOMER_CACHE_CONTROL"):
        load_config({"CUSTOMER_CACHE_CONTROL": value})


def test_customer_cache_control_defaults_to_revalidating_each_time():
    assert load_config({}).http.customer_cache_control == "private, no-cache"
    assert load_config({"CUSTOMER_CACHE_CONTROL": "Private,No-Store"}).http.customer_cache_control == (
        "private, no-store")


def test_production_drains_for_a_readiness_period_and_other_environments_stop_at_once():
    from config import load_server_settings

    assert load_server_settings({"APP_ENV": "production"}).drain_seconds == 10
    assert load_server_settings({}).drain_seconds == 0
    assert load_server_settings({"APP_ENV": "testing", "DRAIN_SECONDS": "2.5"}).drain_seconds == 2.5
    with pytest.raises(ConfigError, match="DRAIN_SECONDS"):
        load_server_settings({"DRAIN_SECONDS": "-1"})


@pytest.mark.parametrize("value", ["syslog", "file:", "file", "stdout:x", "file:/no/such/directory/audit.log"])
def test_a_bad_audit_log_is_refused_naming_the_variable(value):
    with pytest.raises(ConfigError, match="AUDIT_LOG"):
        load_config({**PRODUCTION, "AUDIT_LOG": value})


def test_the_audit_trail_goes_to_stdout_unless_told_otherwise(tmp_path):
    assert load_config(PRODUCTION).audit.sink == "stdout"
    assert load_config({"APP_ENV": "testing"}).audit.sink == "off"
    chosen = load_config({**PRODUCTION, "AUDIT_LOG": f"file:{tmp_path}/audit.log"}).audit
    assert (chosen.sink, chosen.path) == ("file", f"{tmp_path}/audit.log")


def test_tracing_is_off_unless_an_otlp_endpoint_or_exporter_asks_for_it():
    assert not load_config(PRODUCTION).tracing.enabled
    traced = load_config({**PRODUCTION, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}).tracing
    assert (traced.exporter, traced.endpoint) == ("otlp", "http://collector:4318/v1/traces")
    signal = load_config({**PRODUCTION, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://c.example/traces"}).tracing
    assert signal.endpoint == "https://c.example/traces"
    assert load_config({**PRODUCTION, "OTEL_TRACES_EXPORTER": "console"}).tracing.exporter == "console"
    assert not load_config({**PRODUCTION, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                            "OTEL_SDK_DISABLED": "true"}).tracing.enabled


def test_tracing_reads_the_standard_variables():
    traced = load_config({**PRODUCTION, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                          "OTEL_EXPORTER_OTLP_HEADERS": "api-key=abc%3D,tenant=t1",
                          "OTEL_EXPORTER_OTLP_TIMEOUT": "2500", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
                          "OTEL_SERVICE_NAME": "bff-eu", "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod",
                          "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25",
                          "OTEL_BSP_MAX_QUEUE_SIZE": "100"}).tracing
    assert traced.headers == (("api-key", "abc="), ("tenant", "t1"))
    assert "abc" not in repr(traced)  # the collector's credential never shows in a repr
    assert (traced.timeout_seconds, traced.compression, traced.service_name) == (2.5, "gzip", "bff-eu")
    assert traced.resource_attributes == (("deployment.environment", "prod"),)
    assert (traced.sampler, traced.sampler_ratio, traced.max_queue_size) == ("parentbased_traceidratio", 0.25, 100)


@pytest.mark.parametrize(("name", "value"), [
    ("OTEL_TRACES_EXPORTER", "jaeger"),
    ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
    ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
    ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
    ("OTEL_TRACES_SAMPLER", "sometimes"),
    ("OTEL_TRACES_SAMPLER_ARG", "2"),
    ("OTEL_PROPAGATORS", "b3"),
    ("OTEL_RESOURCE_ATTRIBUTES", "novalue"),
])
def test_bad_tracing_settings_are_refused_naming_the_variable(name, value):
    environ = {**PRODUCTION, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", name: value}
    with pytest.raises(ConfigError, match=name):
        load_config(environ)


def test_a_malformed_collector_header_is_refused_without_echoing_it():
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_HEADERS") as refused:
        load_config({**PRODUCTION, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                     "OTEL_EXPORTER_OTLP_HEADERS": "s3cret"})
    assert "s3cret" not in str(refused.value)
