"""Health and readiness: what an orchestrator sees, with real Redis and the emulator."""
from __future__ import annotations

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


def test_readyz_names_redis_when_it_is_down(make_app, emulator):
    response = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0").test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "not-ready"
    assert body["checks"]["redis"] == "unavailable"
    assert body["checks"]["token"] == "ok"


def test_readyz_names_the_token_when_passport_refuses_us(make_app, emulator):
    response = make_app(PASSPORT_CLIENT_SECRET="wrong").test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["token"] == "unavailable"


def test_readyz_reports_an_open_passport_breaker(make_app, emulator):
    client = make_app(PASSPORT_BREAKER_FAILURES=1, PASSPORT_RETRIES=0).test_client()
    emulator.fault(status=500, target="tokens")
    client.get("/readyz")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["passport"] == "open"


def test_readyz_without_redis_configured_is_ready_in_process(make_app, emulator):
    response = make_app(REDIS_URL=None).test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"]["redis"] == "not-configured"


def test_readyz_leaks_no_configuration(make_app, emulator):
    body = make_app().test_client().get("/readyz").get_data(as_text=True)
    for secret_ish in ("dev-client-secret", "dev-client-id", "redis://", "127.0.0.1"):
        assert secret_ish not in body
