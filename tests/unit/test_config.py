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
}


def test_development_is_the_default_and_points_at_the_emulator():
    config = load_config({})
    assert config["APP_ENV"] == "development"
    assert config["PASSPORT_BASE_URL"] == "http://127.0.0.1:8090"
    assert config["REDIS_URL"] is None


def test_documented_defaults():
    config = load_config({})
    assert (config["CACHE_TTL_FACTOR"], config["CACHE_TTL_MIN_SECONDS"], config["CACHE_TTL_MAX_SECONDS"]) == (0.1, 30, 3600)
    assert config["PORT"] == 8000


def test_production_with_everything_set_starts():
    assert load_config(PRODUCTION)["APP_ENV"] == "production"


@pytest.mark.parametrize("missing", ["PASSPORT_BASE_URL", "PASSPORT_CLIENT_ID", "PASSPORT_CLIENT_SECRET", "REDIS_URL"])
def test_production_refuses_to_start_without(missing):
    environ = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        load_config(environ)


def test_production_refuses_the_emulator_credentials():
    with pytest.raises(ConfigError, match="PASSPORT_CLIENT_ID"):
        load_config({**PRODUCTION, "PASSPORT_CLIENT_ID": "dev-client-id", "PASSPORT_CLIENT_SECRET": "dev-client-secret"})


def test_secret_can_come_from_a_file(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-file\n")
    environ = {**PRODUCTION, "PASSPORT_CLIENT_SECRET": "", "PASSPORT_CLIENT_SECRET_FILE": str(secret_file)}
    assert load_config(environ)["PASSPORT_CLIENT_SECRET"] == "from-file"


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
    assert load_config({"PASSPORT_BASE_URL": "https://x.test/"})["PASSPORT_BASE_URL"] == "https://x.test"
