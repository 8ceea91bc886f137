"""Tests of the Passport API emulator itself (emulator/), mostly through Flask's test client."""

from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from emulator import (
    EXAMPLE_CUSTOMER_ID,
    EmulatorSettings,
    create_app,
    serve_in_thread,
    start_emulator_process,
    stop_server,
)
from emulator.__main__ import parse_settings
from emulator.example import embedded_example
from tests.support.clock import FakeClock
from tests.support.emulator import EmulatorControl

START = 1_760_000_000.0  # 2025-10-09T08:53:20Z
TTL = 60
CUSTOMERS = 40
PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHARED_EXAMPLE = PROJECT_ROOT.parent / "shared" / "passport" / "customer-example.json"
CREDENTIALS = {
    "client_id": "dev-client-id",
    "client_secret": "dev-client-secret",
    "grant_type": "client_credentials",
}
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ERROR_KEYS = {"message", "http_code", "type", "trace_id", "code"}
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
SUBPROCESS_TIMEOUT = 15



@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def app(clock: FakeClock) -> Flask:
    return create_app(EmulatorSettings(customers=CUSTOMERS, seed=7, token_ttl=TTL, clock=clock))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def token(client: FlaskClient) -> dict[str, Any]:
    return client.post("/v1/iam/oauth/tokens", json=CREDENTIALS).get_json()


@pytest.fixture
def auth(token: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token['access_token']}"}


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def stats(client: FlaskClient) -> dict[str, Any]:
    return client.get("/_emulator/stats").get_json()


def add_fault(client: FlaskClient, **fault: Any) -> None:
    assert client.post("/_emulator/faults", json=fault).status_code == 201


def list_customers(client: FlaskClient, auth: dict[str, str], **params: Any) -> TestResponse:
    return client.get("/v1/customers", query_string=params, headers=auth)


# --- tokens ---------------------------------------------------------------------------------
def test_token_success(token: dict[str, Any]) -> None:
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == TTL
    assert len(token["access_token"]) >= 32
    uuid.UUID(token["token_id"])
    uuid.UUID(token["account_id"])
    assert token["created_at"] == "2025-10-09T08:53:20.000Z"
    assert "paas.core.entity_customers.get" in token["scopes"]
    assert token["roles"] == ["entity.client_credentials"]


@pytest.mark.parametrize("field", ["client_id", "client_secret"])
def test_token_wrong_credentials(client: FlaskClient, field: str) -> None:
    response = client.post("/v1/iam/oauth/tokens", json={**CREDENTIALS, field: "wrong"})
    assert response.status_code == 401
    assert set(response.get_json()) == ERROR_KEYS


def test_token_http_basic_not_accepted(client: FlaskClient) -> None:
    basic = {"Authorization": "Basic ZGV2LWNsaWVudC1pZDpkZXYtY2xpZW50LXNlY3JldA=="}
    form = {"grant_type": "client_credentials"}
    response = client.post("/v1/iam/oauth/tokens", headers=basic, data=form)
    assert response.status_code == 400


@pytest.mark.parametrize("body", [
    {"client_id": "dev-client-id", "grant_type": "client_credentials"},
    {**CREDENTIALS, "grant_type": "password"},
    {**CREDENTIALS, "client_id": 5},
    [CREDENTIALS],
])
def test_token_bad_request(client: FlaskClient, body: Any) -> None:
    assert client.post("/v1/iam/oauth/tokens", json=body).status_code == 400


def test_token_non_json_body(client: FlaskClient) -> None:
    response = client.post("/v1/iam/oauth/tokens", data=json.dumps(CREDENTIALS),
                           content_type="text/plain")
    assert response.status_code == 400


def test_token_expires_after_ttl(client: FlaskClient, auth: dict[str, str],
                                 clock: FakeClock) -> None:
    assert client.get(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}", headers=auth).status_code == 200
    clock.now += TTL
    assert client.get(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}", headers=auth).status_code == 401
    assert stats(client)["last_authorization_ok"] is False


def test_token_revocation_endpoint(client: FlaskClient, token: dict[str, Any],
                                   auth: dict[str, str]) -> None:
    assert client.delete(f"/v1/iam/oauth/tokens/{UNKNOWN_ID}", headers=auth).status_code == 404
    revoke = client.delete(f"/v1/iam/oauth/tokens/{token['token_id']}", headers=auth)
    assert revoke.status_code == 204
    assert client.get(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}", headers=auth).status_code == 401


def test_revoke_all_control(client: FlaskClient, auth: dict[str, str]) -> None:
    assert client.post("/_emulator/tokens/revoke").get_json() == {"revoked": 1}
    assert client.get(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}", headers=auth).status_code == 401
    fresh = client.post("/v1/iam/oauth/tokens", json=CREDENTIALS).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {fresh}"}
    assert client.get(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}", headers=headers).status_code == 200


# --- retrieve -------------------------------------------------------------------------------
def test_docs_example_matches_file(client: FlaskClient, auth: dict[str, str]) -> None:
    response = client.get(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}", headers=auth)
    assert response.status_code == 200
    assert response.get_json() == embedded_example()
    if SHARED_EXAMPLE.exists():
        assert response.get_json() == json.loads(SHARED_EXAMPLE.read_text(encoding="utf-8"))


def test_uppercase_id_is_found(client: FlaskClient, auth: dict[str, str]) -> None:
    response = client.get(f"/v1/customers/{EXAMPLE_CUSTOMER_ID.upper()}", headers=auth)
    assert response.status_code == 200
    assert response.get_json()["id"] == EXAMPLE_CUSTOMER_ID


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-token", "Basic abc"])
def test_customer_needs_valid_token(client: FlaskClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.get(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}", headers=headers)
    assert response.status_code == 401
    assert set(response.get_json()) == ERROR_KEYS


def test_customer_bad_uuid_and_unknown(client: FlaskClient, auth: dict[str, str]) -> None:
    bad = client.get("/v1/customers/not-a-uuid", headers=auth)
    assert bad.status_code == 400 and bad.get_json()["http_code"] == 400
    assert client.get(f"/v1/customers/{UNKNOWN_ID}", headers=auth).status_code == 404


# --- list -----------------------------------------------------------------------------------
def test_list_defaults_and_pagination(client: FlaskClient, auth: dict[str, str]) -> None:
    first = list_customers(client, auth).get_json()
    assert len(first["customers"]) == 10
    info = first["pagination_info"]
    assert info["current_page"] == 1 and info["total_elements"] == CUSTOMERS + 1
    assert info["total_pages"] == 5 and ISO_MS.match(info["first_request_timestamp"])
    seen = []
    for page in range(1, 4):
        body = list_customers(client, auth, **{"page_params.page_size": 15,
                                               "page_params.page_number": page}).get_json()
        seen += [customer["id"] for customer in body["customers"]]
    assert len(seen) == len(set(seen)) == CUSTOMERS + 1
    beyond = {"page_params.page_size": 15, "page_params.page_number": 4}
    assert list_customers(client, auth, **beyond).status_code == 404


@pytest.mark.parametrize("key", ["created_at", "updated_at"])
@pytest.mark.parametrize("direction", ["ASC", "DESC"])
def test_list_ordering(client: FlaskClient, auth: dict[str, str], key: str, direction: str) -> None:
    params = {"page_params.page_size": 100, "order_params.order_key": key,
              "order_params.order_direction": direction}
    values = [c[key] for c in list_customers(client, auth, **params).get_json()["customers"]]
    assert values == sorted(values, reverse=direction == "DESC")


def test_list_filters(client: FlaskClient, auth: dict[str, str]) -> None:
    by_number = list_customers(client, auth, identification_number="903978023").get_json()
    assert [c["id"] for c in by_number["customers"]] == [EXAMPLE_CUSTOMER_ID]
    by_id = list_customers(client, auth, customer_id=EXAMPLE_CUSTOMER_ID.upper()).get_json()
    assert by_id["pagination_info"]["total_elements"] == 1
    ccs = list_customers(client, auth, identification_type="CC",
                         **{"page_params.page_size": 100}).get_json()["customers"]
    assert ccs and all(c["identification_type"] == "CC" for c in ccs)


def test_list_404_when_nothing_matches(client: FlaskClient, auth: dict[str, str]) -> None:
    response = list_customers(client, auth, identification_number="000000000")
    assert response.status_code == 404 and set(response.get_json()) == ERROR_KEYS


def test_list_404_for_entity_without_customers(clock: FakeClock) -> None:
    empty = create_app(EmulatorSettings(customers=0, clock=clock)).test_client()
    empty.delete(f"/_emulator/customers/{EXAMPLE_CUSTOMER_ID}")
    token = empty.post("/v1/iam/oauth/tokens", json=CREDENTIALS).get_json()["access_token"]
    response = empty.get("/v1/customers", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404


@pytest.mark.parametrize("params", [
    {"page_params.page_size": "0"}, {"page_params.page_size": "101"},
    {"page_params.page_size": "ten"}, {"page_params.page_number": "0"},
    {"order_params.order_key": "business_name"}, {"order_params.order_direction": "UP"},
    {"customer_id": "nope"},
])
def test_list_bad_parameters(client: FlaskClient, auth: dict[str, str], params: dict) -> None:
    assert list_customers(client, auth, **params).status_code == 400


def test_list_needs_token(client: FlaskClient) -> None:
    assert client.get("/v1/customers").status_code == 401


# --- patch ----------------------------------------------------------------------------------
def test_patch_updates_fields_and_updated_at(client: FlaskClient, auth: dict[str, str],
                                             clock: FakeClock) -> None:
    clock.now += 5
    changes = {"business_name": "Nuevo Nombre S.A.S.", "email": "pagos@nuevo.co"}
    response = client.patch(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}", json=changes, headers=auth)
    assert response.status_code == 200
    body = response.get_json()
    assert body["business_name"] == "Nuevo Nombre S.A.S." and body["email"] == "pagos@nuevo.co"
    assert body["updated_at"] == "2025-10-09T08:53:25.000Z"
    assert client.get(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}", headers=auth).get_json() == body


@pytest.mark.parametrize("body", [
    {}, {"status": "INACTIVE"}, {"email": "x" * 40 + "@a.co"}, {"merchant_category_code": "12"},
    {"identification_number": "12345"}, {"mobile_phone_number": "57-300"}, ["business_name"],
])
def test_patch_bad_body(client: FlaskClient, auth: dict[str, str], body: Any) -> None:
    response = client.patch(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}", json=body, headers=auth)
    assert response.status_code == 400


def test_patch_unknown_and_unauthorized(client: FlaskClient, auth: dict[str, str]) -> None:
    change = {"business_name": "X"}
    assert client.patch(f"/v1/customers/{UNKNOWN_ID}", json=change, headers=auth).status_code == 404
    assert client.patch(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}", json=change).status_code == 401


# --- stats and request ids ------------------------------------------------------------------
def test_stats_count_every_call(client: FlaskClient, auth: dict[str, str]) -> None:
    client.get(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}", headers=auth)
    client.get(f"/v1/customers/{EXAMPLE_CUSTOMER_ID.upper()}", headers=auth)
    client.get(f"/v1/customers/{UNKNOWN_ID}", headers=auth)
    client.get(f"/v1/customers/{UNKNOWN_ID}")
    list_customers(client, auth)
    client.patch(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}", json={"email": "a@b.co"}, headers=auth)
    client.post("/v1/iam/oauth/tokens", json={})
    counted = stats(client)
    assert counted["token_calls"] == 2
    assert counted["customer_calls"] == {EXAMPLE_CUSTOMER_ID: 2, UNKNOWN_ID: 2}
    assert counted["customer_calls_total"] == 4
    assert counted["list_calls"] == 1 and counted["patch_calls"] == 1
    assert counted["last_authorization_ok"] is True


def test_request_ids_recorded(client: FlaskClient, auth: dict[str, str]) -> None:
    for number in range(3):
        headers = {**auth, "X-Request-ID": f"req-{number}"}
        client.get(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}", headers=headers)
    client.get(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}", headers=auth)
    client.get("/_emulator/health", headers={"X-Request-ID": "control-calls-not-recorded"})
    assert stats(client)["request_ids"] == [None, "req-0", "req-1", "req-2", None]


def test_request_ids_keep_last_thousand(client: FlaskClient) -> None:
    for number in range(1005):
        client.get(f"/v1/customers/{UNKNOWN_ID}", headers={"X-Request-ID": str(number)})
    recorded = stats(client)["request_ids"]
    assert len(recorded) == 1000 and recorded[0] == "5" and recorded[-1] == "1004"


# --- faults ---------------------------------------------------------------------------------
def test_status_fault_counts_and_answers(client: FlaskClient, auth: dict[str, str]) -> None:
    add_fault(client, status=503)
    response = client.get(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}", headers=auth)
    assert response.status_code == 503 and response.get_json()["http_code"] == 503
    assert client.get(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}").status_code == 503
    assert stats(client)["customer_calls_total"] == 2
    assert list_customers(client, auth).status_code == 200


def test_body_fault_answers_200_raw(client: FlaskClient, auth: dict[str, str]) -> None:
    add_fault(client, body="<html>gateway</html>", content_type="text/html")
    response = client.get(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}", headers=auth)
    assert response.status_code == 200
    assert response.content_type.startswith("text/html")
    assert response.get_data(as_text=True) == "<html>gateway</html>"


def test_truncated_json_fault_defaults_to_json_type(client: FlaskClient,
                                                    auth: dict[str, str]) -> None:
    add_fault(client, status=200, body='{"id": "db7e', times=1)
    response = client.get(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}", headers=auth)
    assert response.content_type == "application/json" and response.get_data() == b'{"id": "db7e'


def test_latency_fault_then_normal_answer(client: FlaskClient, auth: dict[str, str]) -> None:
    add_fault(client, latency_ms=50)
    response = client.get(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}", headers=auth)
    assert response.status_code == 200 and response.get_json()["id"] == EXAMPLE_CUSTOMER_ID


def test_fault_times_expire(client: FlaskClient, auth: dict[str, str]) -> None:
    add_fault(client, status=500, times=2)
    codes = [client.get(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}", headers=auth).status_code
             for _ in range(3)]
    assert codes == [500, 500, 200]
    assert client.get("/_emulator/faults").get_json() == {"faults": []}


def test_fault_for_one_customer(client: FlaskClient, auth: dict[str, str]) -> None:
    other = client.get("/_emulator/customers?limit=2").get_json()[1]
    add_fault(client, customer_id=EXAMPLE_CUSTOMER_ID.upper(), status=404)
    assert client.get(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}", headers=auth).status_code == 404
    assert client.get(f"/v1/customers/{other}", headers=auth).status_code == 200


def test_fault_targets(client: FlaskClient, auth: dict[str, str]) -> None:
    add_fault(client, target="tokens", status=500, times=1)
    add_fault(client, target="list", status=502, times=1)
    assert client.post("/v1/iam/oauth/tokens", json=CREDENTIALS).status_code == 500
    assert client.post("/v1/iam/oauth/tokens", json=CREDENTIALS).status_code == 200
    assert list_customers(client, auth).status_code == 502
    add_fault(client, target="all", status=418)
    assert client.patch(f"/v1/customers/{UNKNOWN_ID}", json={}, headers=auth).status_code == 418
    assert client.delete("/_emulator/faults").get_json() == {"cleared": 1}
    assert list_customers(client, auth).status_code == 200


@pytest.mark.parametrize("fault", [
    {"target": "payments"}, {"status": "500"}, {"status": 700}, {"latency_ms": -1},
    {"times": 0}, {"colour": "red"}, ["status"],
])
def test_invalid_fault_rejected(client: FlaskClient, fault: Any) -> None:
    assert client.post("/_emulator/faults", json=fault).status_code == 400


# --- raw records, touch, reset, ids ---------------------------------------------------------
def test_put_raw_record_and_delete(client: FlaskClient, auth: dict[str, str]) -> None:
    raw = {"id": "wrong-id", "business_name": None, "extra": [1, 2]}
    assert client.put(f"/_emulator/customers/{UNKNOWN_ID}", json=raw).status_code == 200
    assert client.get(f"/v1/customers/{UNKNOWN_ID}", headers=auth).get_json() == raw
    assert client.delete(f"/_emulator/customers/{UNKNOWN_ID}").status_code == 200
    assert client.get(f"/v1/customers/{UNKNOWN_ID}", headers=auth).status_code == 404
    assert client.delete(f"/_emulator/customers/{UNKNOWN_ID}").status_code == 404


def test_touch_sets_updated_at(client: FlaskClient, clock: FakeClock) -> None:
    clock.now += 1.5
    touched = client.post(f"/_emulator/customers/{EXAMPLE_CUSTOMER_ID}/touch").get_json()
    assert touched["updated_at"] == "2025-10-09T08:53:21.500Z"
    given = {"updated_at": "2030-01-01T00:00:00.000Z"}
    path = f"/_emulator/customers/{EXAMPLE_CUSTOMER_ID}/touch"
    assert client.post(path, json=given).get_json()["updated_at"] == given["updated_at"]
    assert client.post(f"/_emulator/customers/{UNKNOWN_ID}/touch").status_code == 404


def test_reset_restores_state_but_keeps_tokens(client: FlaskClient, auth: dict[str, str]) -> None:
    client.patch(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}", json={"email": "a@b.co"}, headers=auth)
    client.delete(f"/_emulator/customers/{EXAMPLE_CUSTOMER_ID}")
    add_fault(client, status=500)
    assert client.post("/_emulator/reset").status_code == 200
    assert stats(client)["customer_calls_total"] == 0 and stats(client)["patch_calls"] == 0
    response = client.get(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}", headers=auth)
    assert response.status_code == 200 and response.get_json() == embedded_example()
    client.post("/_emulator/reset", json={"clear_tokens": True})
    assert client.get(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}", headers=auth).status_code == 401


def test_customer_ids_control(client: FlaskClient) -> None:
    ids = client.get("/_emulator/customers?limit=3").get_json()
    assert ids[0] == EXAMPLE_CUSTOMER_ID and len(ids) == 3
    assert len(client.get("/_emulator/customers").get_json()) == CUSTOMERS + 1
    assert client.get("/_emulator/customers?limit=x").status_code == 400
    assert client.get("/_emulator/health").get_json() == {"status": "ok"}


# --- seed data ------------------------------------------------------------------------------
def all_records(app: Flask) -> list[dict[str, Any]]:
    client = app.test_client()
    token = client.post("/v1/iam/oauth/tokens", json=CREDENTIALS).get_json()["access_token"]
    query = {"page_params.page_size": 100}
    body = client.get("/v1/customers", query_string=query,
                      headers={"Authorization": f"Bearer {token}"}).get_json()
    return body["customers"]


def test_seed_is_deterministic(clock: FakeClock) -> None:
    def build(seed: int) -> list[dict[str, Any]]:
        return all_records(create_app(EmulatorSettings(customers=30, seed=seed, clock=clock)))
    assert build(3) == build(3)
    assert build(3) != build(4)


def check_customer(record: dict[str, Any], now: datetime) -> None:
    assert str(uuid.UUID(record["id"])) == record["id"]
    assert record["type"] == "BUSINESS" and record["status"] in {"ACTIVE", "INACTIVE"}
    assert 1 <= len(record["business_name"]) <= 140
    assert 1 <= len(record["email"]) <= 35 and "@" in record["email"]
    assert re.fullmatch(r"\+?573\d{9}", record["mobile_phone_number"])
    assert record["identification_type"] in {"NIT", "CC"}
    assert re.fullmatch(r"\d{9}", record["identification_number"])
    assert re.fullmatch(r"\d{4}", record["merchant_category_code"])
    address = record["address"]
    assert address["line_1"] and address["country"] == "CO" and address["city"]
    assert re.fullmatch(r"\d{6}", address["post_code"]) and address["state"]
    assert ISO_MS.match(record["created_at"]) and ISO_MS.match(record["updated_at"])
    assert parse_iso(record["created_at"]) < parse_iso(record["updated_at"]) <= now


def test_seed_fields_are_valid_and_varied() -> None:
    clock = FakeClock()
    app = create_app(EmulatorSettings(customers=300, clock=clock))
    now = datetime.fromtimestamp(clock.now, tz=UTC)
    generated = [r for r in all_records(app) if r["id"] != EXAMPLE_CUSTOMER_ID]
    ids = app.test_client().get("/_emulator/customers").get_json()
    assert len(ids) == 301 and len(set(ids)) == 301
    for record in generated:
        check_customer(record, now)
    ages = [(now - parse_iso(r["updated_at"])).total_seconds() for r in generated]
    for low, high in [(0, 60), (60, 3600), (3600, 86400), (86400, 30 * 86400), (30 * 86400, 1e9)]:
        assert any(low <= age < high for age in ages), (low, high)
    assert {r["status"] for r in generated} == {"ACTIVE", "INACTIVE"}
    assert any(r["mobile_phone_number"].startswith("+") for r in generated)
    assert any("line_2" not in r["address"] for r in generated)
    assert any(r["address"].get("line_3") == "" for r in generated)


# --- settings, threads and the real process -------------------------------------------------
def test_cli_overrides_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMULATOR_PORT", "9100")
    monkeypatch.setenv("EMULATOR_SEED", "5")
    monkeypatch.setenv("EMULATOR_CLIENT_ID", "env-id")
    settings = parse_settings(["--port", "0", "--token-ttl", "30"])
    assert (settings.port, settings.seed, settings.token_ttl) == (0, 5, 30)
    assert settings.client_id == "env-id" and settings.customers == 300
    assert settings.host == "127.0.0.1" and settings.client_secret == "dev-client-secret"


def test_serve_in_thread() -> None:
    server, base_url = serve_in_thread(EmulatorSettings(port=0, customers=3))
    try:
        assert requests.get(f"{base_url}/_emulator/health", timeout=5).json() == {"status": "ok"}
    finally:
        stop_server(server)


def read_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The first stdout line of `process`, or "" if none comes within `timeout` seconds."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout).strip()
    except queue.Empty:
        return ""


@pytest.fixture
def emulator_subprocess() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`python -m emulator --port 0` as a child process, always stopped afterwards."""
    command = [sys.executable, "-m", "emulator", "--port", "0", "--customers", "10"]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        line = read_line(process, SUBPROCESS_TIMEOUT)
        match = re.fullmatch(r"Passport emulator listening on (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        yield process, match.group(1)
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.communicate(timeout=SUBPROCESS_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate(timeout=SUBPROCESS_TIMEOUT)


@pytest.mark.timeout(SUBPROCESS_TIMEOUT * 2)
def test_real_process(emulator_subprocess: tuple[subprocess.Popen[str], str]) -> None:
    process, base_url = emulator_subprocess
    assert requests.get(f"{base_url}/_emulator/health", timeout=5).json() == {"status": "ok"}
    token = requests.post(f"{base_url}/v1/iam/oauth/tokens", json=CREDENTIALS, timeout=5).json()
    headers = {"Authorization": f"Bearer {token['access_token']}", "X-Request-ID": "over-tcp"}
    url = f"{base_url}/v1/customers/{EXAMPLE_CUSTOMER_ID}"
    assert requests.get(url, headers=headers, timeout=5).json()["id"] == EXAMPLE_CUSTOMER_ID
    recorded = requests.get(f"{base_url}/_emulator/stats", timeout=5).json()["request_ids"]
    assert recorded[-1] == "over-tcp"
    process.terminate()
    _, stderr = process.communicate(timeout=SUBPROCESS_TIMEOUT)
    assert process.returncode == 0
    assert "GET /v1/customers" not in stderr  # quiet: no access log without --verbose


@pytest.mark.timeout(SUBPROCESS_TIMEOUT * 2)
def test_start_emulator_process_helper() -> None:
    running = start_emulator_process(["--customers", "2", "--seed", "9"])
    try:
        health = requests.get(f"{running.base_url}/_emulator/health", timeout=5)
        assert health.json() == {"status": "ok"} and running.base_url.endswith(f":{running.port}")
    finally:
        assert running.stop() == 0


def test_wsgi_module_takes_its_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``emulator.wsgi:app`` (the benchmark serves it under gunicorn) honours ``EMULATOR_*``."""
    import importlib

    monkeypatch.setenv("EMULATOR_CUSTOMERS", "3")
    monkeypatch.setenv("EMULATOR_CLIENT_ID", "wsgi-client-id")
    monkeypatch.setenv("EMULATOR_CLIENT_SECRET", "wsgi-client-secret")
    module = importlib.reload(importlib.import_module("emulator.wsgi"))
    client = module.app.test_client()
    refused = client.post("/v1/iam/oauth/tokens", json=CREDENTIALS)
    accepted = client.post("/v1/iam/oauth/tokens", json={
        **CREDENTIALS, "client_id": "wsgi-client-id", "client_secret": "wsgi-client-secret",
    })
    assert refused.status_code == 401 and accepted.status_code == 200
    assert len(client.get("/_emulator/customers?limit=100").get_json()) == 4  # the docs' example + 3


# --- W3C trace headers ----------------------------------------------------------------------
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACESTATE = "vendor=opaque,other=1"


def trace_entry(kind: str, customer_id: str | None = None, traceparent: str | None = None,
                tracestate: str | None = None) -> dict[str, Any]:
    return {"kind": kind, "customer_id": customer_id, "traceparent": traceparent, "tracestate": tracestate}


def test_trace_headers_recorded_per_call(client: FlaskClient, auth: dict[str, str]) -> None:
    traced = {**auth, "traceparent": TRACEPARENT}
    client.get(f"/v1/customers/{EXAMPLE_CUSTOMER_ID.upper()}", headers={**traced, "tracestate": TRACESTATE})
    client.get(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}", headers=auth)
    list_customers(client, traced, customer_id=EXAMPLE_CUSTOMER_ID)
    list_customers(client, traced)
    client.post("/v1/iam/oauth/tokens", json=CREDENTIALS, headers={"traceparent": "not-validated"})
    client.patch(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}", json={"email": "a@b.co"}, headers=traced)
    client.get("/_emulator/health", headers={"traceparent": TRACEPARENT})
    assert stats(client)["trace_headers"] == [
        trace_entry("token"),  # the `auth` fixture's token
        trace_entry("customer", EXAMPLE_CUSTOMER_ID, TRACEPARENT, TRACESTATE),
        trace_entry("customer", EXAMPLE_CUSTOMER_ID),
        trace_entry("list", EXAMPLE_CUSTOMER_ID, TRACEPARENT),
        trace_entry("list", None, TRACEPARENT),
        trace_entry("token", None, "not-validated"),
    ]


def test_trace_headers_of_faulted_and_refused_calls(client: FlaskClient) -> None:
    """Recorded where the call is counted: before faults answer and before the token is checked."""
    add_fault(client, target="tokens", status=503)
    assert client.post("/v1/iam/oauth/tokens", json=CREDENTIALS, headers={"traceparent": "a"}).status_code == 503
    assert client.get(f"/v1/customers/{UNKNOWN_ID}", headers={"traceparent": "b"}).status_code == 401
    assert stats(client)["trace_headers"] == [trace_entry("token", None, "a"), trace_entry("customer", UNKNOWN_ID, "b")]


def test_trace_headers_keep_last_thousand(client: FlaskClient) -> None:
    for number in range(1005):
        client.get(f"/v1/customers/{UNKNOWN_ID}", headers={"traceparent": str(number)})
    recorded = stats(client)["trace_headers"]
    assert len(recorded) == 1000 and recorded[0]["traceparent"] == "5" and recorded[-1]["traceparent"] == "1004"


def test_reset_clears_trace_headers(client: FlaskClient, auth: dict[str, str]) -> None:
    client.get(f"/v1/customers/{EXAMPLE_CUSTOMER_ID}", headers={**auth, "traceparent": TRACEPARENT})
    assert len(stats(client)["trace_headers"]) == 2
    assert client.post("/_emulator/reset").status_code == 200
    assert stats(client)["trace_headers"] == []


def test_trace_headers_over_a_real_socket() -> None:
    """Headers as an HTTP client sends them reach the record; EmulatorControl reads it back."""
    server, base_url = serve_in_thread(EmulatorSettings(port=0, customers=3))
    try:
        control = EmulatorControl(base_url)
        headers = {"traceparent": TRACEPARENT, "tracestate": TRACESTATE}
        requests.get(f"{base_url}/v1/customers/{EXAMPLE_CUSTOMER_ID}", headers=headers, timeout=5)
        assert control.trace_headers() == [trace_entry("customer", EXAMPLE_CUSTOMER_ID, TRACEPARENT, TRACESTATE)]
        control.reset()
        assert control.trace_headers() == []
    finally:
        stop_server(server)
