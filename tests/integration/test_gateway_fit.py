"""Behind a gateway: security headers, body limits, CORS, trusted proxies and per-caller rate limits."""
from __future__ import annotations

import hashlib
import logging

import pytest

from tests.support.emulator import DOCS_CUSTOMER_ID
from tests.support.processes import free_port

URL = f"/v1/customers/{DOCS_CUSTOMER_ID}"
KEYS = ",".join(f"{name}:{hashlib.sha256(name.encode()).hexdigest()}" for name in ("alpha", "beta"))


class TestSecurityHeaders:
    @pytest.mark.parametrize("path", [URL, "/v1/customers/nope", "/healthz", "/nowhere"])
    def test_every_answer_is_hardened(self, client, emulator, path):
        response = client.get(path)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "Cache-Control" in response.headers

    def test_customer_data_is_private(self, client, emulator):
        assert client.get(URL).headers["Cache-Control"].startswith("private")

    def test_unauthenticated_answers_are_hardened_too(self, make_app, emulator):
        response = make_app(AUTH_MODE="enforced", AUTH_API_KEYS=KEYS).test_client().get(URL)
        assert response.status_code == 401
        assert response.headers["X-Content-Type-Options"] == "nosniff"


class TestRequestBodies:
    def test_oversized_body_is_413_problem(self, make_app, emulator):
        client = make_app(MAX_REQUEST_BODY_BYTES=1024).test_client()
        response = client.get(URL, data=b"x" * 2048)
        assert response.status_code == 413
        assert response.content_type == "application/problem+json"
        assert emulator.customer_calls() == 0

    def test_small_body_on_a_get_is_ignored(self, client, emulator):
        assert client.get(URL, data=b"{}").status_code == 200


class TestCors:
    def test_off_by_default(self, client, emulator):
        response = client.get(URL, headers={"Origin": "https://app.example"})
        assert "Access-Control-Allow-Origin" not in response.headers

    def test_allowed_origin_gets_cors_headers_and_preflight_needs_no_credentials(self, make_app, emulator):
        client = make_app(CORS_ALLOWED_ORIGINS=("https://app.example",), AUTH_MODE="enforced",
                          AUTH_API_KEYS=KEYS).test_client()
        preflight = client.options(URL, headers={"Origin": "https://app.example",
                                                 "Access-Control-Request-Method": "GET",
                                                 "Access-Control-Request-Headers": "X-API-Key"})
        assert preflight.status_code == 200
        assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"
        response = client.get(URL, headers={"Origin": "https://app.example", "X-API-Key": "alpha"})
        assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
        assert "X-Cache" in response.headers["Access-Control-Expose-Headers"]

    def test_other_origins_get_no_cors_headers(self, make_app, emulator):
        client = make_app(CORS_ALLOWED_ORIGINS=("https://app.example",)).test_client()
        response = client.get(URL, headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in response.headers


class TestTrustedProxies:
    def test_forwarded_for_is_ignored_without_trusted_hops(self, client, emulator, capsys):
        client.get(URL, headers={"X-Forwarded-For": "203.0.113.9"})
        out = capsys.readouterr().out
        assert "passport_bff.access" in out and "client=203.0.113.9" not in out

    def test_forwarded_for_is_believed_for_the_configured_hops(self, make_app, emulator, capsys):
        client = make_app(TRUSTED_PROXY_HOPS=1).test_client()
        client.get(URL, headers={"X-Forwarded-For": "203.0.113.9"})
        assert "client=203.0.113.9" in capsys.readouterr().out


class TestRateLimits:
    @pytest.fixture
    def client(self, make_app):
        return make_app(AUTH_MODE="enforced", AUTH_API_KEYS=KEYS, RATELIMIT_DEFAULT="3 per minute").test_client()

    def test_over_the_limit_is_429_problem_with_retry_after(self, client, emulator):
        for _ in range(3):
            assert client.get(URL, headers={"X-API-Key": "alpha"}).status_code == 200
        response = client.get(URL, headers={"X-API-Key": "alpha"})
        assert response.status_code == 429
        assert response.content_type == "application/problem+json"
        assert int(response.headers["Retry-After"]) > 0
        assert response.get_json()["request_id"] == response.headers["X-Request-ID"]

    def test_answers_within_the_limit_carry_no_retry_after(self, client, emulator):
        response = client.get(URL, headers={"X-API-Key": "alpha"})
        assert response.status_code == 200
        assert "Retry-After" not in response.headers

    def test_limits_are_per_caller(self, client, emulator):
        for _ in range(4):
            client.get(URL, headers={"X-API-Key": "alpha"})
        assert client.get(URL, headers={"X-API-Key": "beta"}).status_code == 200

    def test_limits_are_shared_through_redis_by_every_instance(self, make_app, emulator):
        settings = dict(AUTH_MODE="enforced", AUTH_API_KEYS=KEYS, RATELIMIT_DEFAULT="3 per minute")
        first, second = make_app(**settings).test_client(), make_app(**settings).test_client()
        for _ in range(3):
            first.get(URL, headers={"X-API-Key": "alpha"})
        assert second.get(URL, headers={"X-API-Key": "alpha"}).status_code == 429

    def test_health_checks_are_never_limited(self, client, emulator):
        assert {client.get("/healthz").status_code for _ in range(6)} == {200}

    def test_limiter_fails_open_when_redis_is_down_and_says_so(self, make_app, emulator, caplog):
        client = make_app(AUTH_MODE="enforced", AUTH_API_KEYS=KEYS, RATELIMIT_DEFAULT="100 per minute",
                          REDIS_URL=f"redis://127.0.0.1:{free_port()}/0").test_client()
        with caplog.at_level(logging.WARNING):
            assert {client.get(URL, headers={"X-API-Key": "alpha"}).status_code for _ in range(3)} == {200}
        assert any("rate limit" in r.getMessage().lower() for r in caplog.records if r.levelno >= logging.WARNING)
