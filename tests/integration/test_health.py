"""Health and readiness: what an orchestrator sees, with real Redis and the emulator."""
from __future__ import annotations

import time

from tests.support.emulator import DOCS_CUSTOMER_ID
from tests.support.processes import free_port


def test_healthz_is_ok_without_checking_dependencies(make_app):
    client = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
                      PASSPORT_BASE_URL=f"http://127.0.0.1:{free_port()}").test_client()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_ready_with_redis_and_passport_up(client, emulator):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "checks": {"redis": "ok", "passport": "closed", "token": "ok"}}


def test_with_redis_down_readyz_still_wants_traffic_and_names_redis(make_app, emulator):
    """Every instance shares the one Redis: failing readiness on it would empty the whole fleet."""
    response = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0").test_client().get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "degraded"
    assert body["checks"]["redis"] == "unavailable"
    assert body["checks"]["token"] == "ok"


def test_readyz_names_the_token_when_passport_refused_us_one(make_app, emulator):
    client = make_app(PASSPORT_CLIENT_SECRET="wrong").test_client()
    assert client.get("/readyz").get_json()["checks"]["token"] == "ok"  # nothing asked yet, nothing failed
    assert client.get(f"/v1/customers/{DOCS_CUSTOMER_ID}").status_code >= 500
    response = client.get("/readyz")
    assert (response.status_code, response.get_json()["status"]) == (200, "degraded")
    assert response.get_json()["checks"]["token"] == "unavailable"


def test_readyz_never_waits_on_passport_for_a_token(make_app, emulator):
    """A slow Passport must not make every instance's readiness probe time out at once."""
    emulator.fault(target="tokens", latency_ms=5000)
    client = make_app().test_client()
    started = time.monotonic()
    response = client.get("/readyz")
    assert response.get_json()["checks"]["token"] == "ok"
    assert emulator.token_calls() == 0, f"readiness asked Passport for a token ({time.monotonic() - started:.1f}s)"


def test_readyz_reports_an_open_passport_breaker(make_app, emulator):
    client = make_app(PASSPORT_BREAKER_FAILURES=1, PASSPORT_RETRIES=0).test_client()
    emulator.fault(status=500, target="tokens")
    assert client.get(f"/v1/customers/{DOCS_CUSTOMER_ID}").status_code >= 500
    response = client.get("/readyz")
    assert (response.status_code, response.get_json()["status"]) == (200, "degraded")
    assert response.get_json()["checks"]["passport"] == "open"


def test_a_strict_check_that_fails_makes_readyz_503(make_app, emulator):
    client = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", READINESS_STRICT_CHECKS="redis").test_client()
    response = client.get("/readyz")
    assert (response.status_code, response.get_json()["status"]) == (503, "not-ready")
    assert response.get_json()["checks"]["redis"] == "unavailable"


def test_a_strict_check_that_passes_leaves_readyz_ready(make_app, emulator):
    response = make_app(READINESS_STRICT_CHECKS="redis,passport,token").test_client().get("/readyz")
    assert (response.status_code, response.get_json()["status"]) == (200, "ready")


def test_readiness_checks_are_metrics_too(make_app, emulator):
    client = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0").test_client()
    client.get("/readyz")
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'passport_bff_readiness_check{check="redis"} 0.0' in metrics
    assert 'passport_bff_readiness_check{check="token"} 1.0' in metrics


def test_readyz_without_redis_configured_is_ready_in_process(make_app, emulator):
    response = make_app(REDIS_URL=None).test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"]["redis"] == "not-configured"


def test_readyz_leaks_no_configuration(make_app, emulator):
    body = make_app().test_client().get("/readyz").get_data(as_text=True)
    for secret_ish in ("dev-client-secret", "dev-client-id", "redis://", "127.0.0.1"):
        assert secret_ish not in body


def test_a_draining_instance_says_so_with_503_while_it_still_answers(client, monkeypatch):
    from app.drain import DrainFlag
    from app.web import health

    draining = DrainFlag()
    draining.begin()
    monkeypatch.setattr(health, "DRAIN", draining)
    response = client.get("/readyz")
    assert (response.status_code, response.get_json()["status"]) == (503, "draining")
    assert client.get(f"/v1/customers/{DOCS_CUSTOMER_ID}").status_code == 200
