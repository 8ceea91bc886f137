"""The audit trail: "who looked at customer X" is answered from the sink alone, for every route.

One JSON line per customer record that leaves the service (lookup 200 or 304, each customer of a
batch, each customer of a listing page), with caller, route, result, request id, trace id and the
caller's stated purpose; nothing for problems or remembered 404s; a failing sink costs no answer.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import pytest

from tests.support.emulator import DOCS_CUSTOMER_ID

KEYS = {"support-desk": "support-desk-key-0123456789", "onboarding": "onboarding-key-0123456789"}
API_KEYS = ",".join(f"{name}:{hashlib.sha256(key.encode()).hexdigest()}" for name, key in KEYS.items())
LOOKUP_ROUTE = "/v1/customers/<path:customer_id>"


def as_caller(name: str, **headers: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[name], **headers}


def events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def who_looked_at(path: Path, customer_id: str) -> set[tuple]:
    """The question an auditor asks, answered from the audit file only."""
    return {(event["caller"], event["route"], event["result"], event["purpose"])
            for event in events(path) if event["customer_id"] == customer_id}


@pytest.fixture(params=[True, False], ids=["fast-path", "flask-view"])
def audited(request, make_app, tmp_path):
    """An app auditing to a file, callers by API key; lookups through either adapter."""
    sink = tmp_path / "audit.log"
    app = make_app(AUTH_MODE="enforced", AUTH_API_KEYS=API_KEYS, AUDIT_LOG=f"file:{sink}",
                   HIT_FAST_PATH=request.param)
    return app.test_client(), sink


def test_who_looked_at_a_customer_is_answered_for_every_route(audited, emulator):
    client, sink = audited
    listing = client.get("/v1/customers?pageSize=20", headers=as_caller("onboarding"))
    listed = [customer["id"] for customer in listing.get_json()["customers"]]
    customer_id, other_id = listed[0], str(uuid.uuid4())
    url = f"/v1/customers/{customer_id}"
    first = client.get(url, headers=as_caller("support-desk", **{"X-Purpose": "ticket:SUP-1234"}))
    assert first.headers["X-Cache"] == "HIT"  # the listing warmed it
    again = client.get(url, headers=as_caller("onboarding", **{"If-None-Match": first.headers["ETag"]}))
    assert again.status_code == 304
    batch = client.post("/v1/customers:batchGet", json={"ids": [customer_id, other_id]},
                        headers=as_caller("support-desk", **{"X-Purpose": "kyc-review"}))
    assert batch.get_json()["notFound"] == [other_id]

    assert who_looked_at(sink, customer_id) == {
        ("onboarding", "/v1/customers", "MISS", None),
        ("support-desk", LOOKUP_ROUTE, "HIT", "ticket:SUP-1234"),
        ("onboarding", LOOKUP_ROUTE, "NOT_MODIFIED", None),
        ("support-desk", "/v1/customers:batchGet", "HIT", "kyc-review"),
    }
    assert who_looked_at(sink, other_id) == set()  # not found: nothing disclosed
    # Every customer of the page was disclosed, once each, in the page's order.
    assert [e["customer_id"] for e in events(sink) if e["route"] == "/v1/customers"] == listed


def test_an_event_says_when_who_what_and_under_which_request(audited, emulator):
    client, sink = audited
    answer = client.get(f"/v1/customers/{DOCS_CUSTOMER_ID}", headers=as_caller("support-desk", **{
        "X-Request-ID": "audit-req-1"}))
    (event,) = events(sink)
    assert answer.headers["X-Request-ID"] == "audit-req-1"
    assert set(event) == {"time", "event", "customer_id", "caller", "route", "result", "request_id", "trace_id",
                          "purpose"}
    assert event["event"] == "customer.disclosed"
    assert event["time"].endswith("Z") and event["request_id"] == "audit-req-1"
    assert event["trace_id"] is None  # tracing is off
    # No other personal data: nothing of the record but its id.
    body = answer.get_json()
    for value in (body["email"], body["mobilePhone"], body["identification"]["number"], body["name"]):
        assert value not in sink.read_text()


def test_nothing_is_audited_when_no_record_leaves(audited, emulator):
    client, sink = audited
    missing = str(uuid.uuid4())
    assert client.get(f"/v1/customers/{missing}", headers=as_caller("support-desk")).status_code == 404
    assert client.get(f"/v1/customers/{missing}", headers=as_caller("support-desk")).status_code == 404  # remembered
    assert client.get("/v1/customers/not-a-uuid", headers=as_caller("support-desk")).status_code == 400
    assert client.get(f"/v1/customers/{DOCS_CUSTOMER_ID}").status_code == 401
    batch = client.post("/v1/customers:batchGet", json={"ids": [missing]}, headers=as_caller("onboarding"))
    assert batch.get_json()["notFound"] == [missing]
    assert events(sink) == []


@pytest.mark.parametrize("purpose", ["", " leading-space", "x" * 65, "ticket 1234", "a\tb", "ünïcode", "-dash-first"])
def test_a_malformed_purpose_is_a_400_naming_the_header_before_any_lookup(audited, emulator, purpose):
    client, sink = audited
    headers = as_caller("support-desk", **{"X-Purpose": purpose.encode("utf-8").decode("latin-1")})
    answers = [
        client.get(f"/v1/customers/{DOCS_CUSTOMER_ID}", headers=headers),
        client.post("/v1/customers:batchGet", json={"ids": [DOCS_CUSTOMER_ID]}, headers=headers),
        client.get("/v1/customers", headers=headers),
    ]
    for answer in answers:
        assert answer.status_code == 400, answer.get_data(as_text=True)
        assert answer.content_type == "application/problem+json"
        problem = answer.get_json()
        assert problem["type"].endswith(":invalid-purpose") and "X-Purpose" in problem["detail"]
    assert emulator.customer_calls() == 0
    assert events(sink) == []


def test_a_failing_sink_costs_the_answer_nothing_and_is_counted(make_app, emulator, caplog):
    """/dev/full refuses every write (ENOSPC), even to root: a full disk, for real."""
    client = make_app(AUDIT_LOG="file:/dev/full").test_client()
    answers = [client.get(f"/v1/customers/{DOCS_CUSTOMER_ID}") for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    metrics = client.get("/metrics").get_data(as_text=True)
    failures = next(float(line.split()[-1]) for line in metrics.splitlines()
                    if line.startswith("passport_bff_audit_write_failures_total "))
    assert failures >= 3
    said = [record for record in caplog.records if "audit trail could not be written" in record.getMessage()]
    assert len(said) <= 1  # once a minute at most (the counter may hold other tests' failures)


def test_stdout_is_a_sink_too(make_app, emulator, capsys):
    client = make_app(AUDIT_LOG="stdout").test_client()
    assert client.get(f"/v1/customers/{DOCS_CUSTOMER_ID}").status_code == 200
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"customer.disclosed"' in line]
    assert [(line["customer_id"], line["caller"], line["result"]) for line in lines] == [
        (DOCS_CUSTOMER_ID, "gateway", "MISS")]


def test_off_writes_nothing(make_app, emulator, capsys, tmp_path):
    client = make_app(AUDIT_LOG="off").test_client()
    assert client.get(f"/v1/customers/{DOCS_CUSTOMER_ID}").status_code == 200
    assert "customer.disclosed" not in capsys.readouterr().out
