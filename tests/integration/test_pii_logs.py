"""Drive every error path with a known customer: its PII, the token and the secret never reach a log."""
from __future__ import annotations

import io
import logging

import pytest

from app.observability import log_handler
from tests.support.emulator import DOCS_CUSTOMER_ID
from tests.support.examples import DOCS_EXAMPLE
from tests.support.time_travel import make_stale

PII = ("eAqpUh6u@example.com", "573956158117", "903978023")
CLIENT_SECRET = "dev-client-secret"
URL = f"/v1/customers/{DOCS_CUSTOMER_ID}"


@pytest.fixture
def captured_logs():
    """Everything logged anywhere during the test, through the service's own handler, at DEBUG."""
    stream = io.StringIO()
    handler = log_handler(stream)
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous_level)


def test_no_pii_token_or_secret_in_logs_on_any_path(make_app, emulator, redis_client, captured_logs, capsys):
    app = make_app(LOG_LEVEL="DEBUG", CACHE_STALE_WHILE_REVALIDATE_SECONDS=0, PASSPORT_TIMEOUT_SECONDS=0.3,
                   PASSPORT_RETRIES=1, PASSPORT_BREAKER_FAILURES=50)
    client = app.test_client()
    client.get(URL)                                            # miss
    client.get(URL)                                            # hit
    make_stale(redis_client, DOCS_CUSTOMER_ID, 5)
    for fault in ({"status": 500}, {"status": 503}, {"status": 429}, {"latency_ms": 600}, {"status": 403}):
        emulator.fault(**fault, times=2)
        client.get(URL)                                        # stale-if-error, errors, 403
    emulator.put_customer(DOCS_CUSTOMER_ID, {**DOCS_EXAMPLE, "merchant_category_code": "12"})
    client.get(URL)                                            # invalid body carrying PII
    emulator.fault(body='{"id": "x", "email": "eAqpUh6u@example.com", "mobile_phone_number": "573956158117"}')
    client.get(URL)                                            # hostile body
    emulator.reset()
    emulator.revoke_tokens()
    client.get(URL)                                            # 401 -> new token
    emulator.fault(status=401)
    client.get(URL)                                            # persistent 401
    make_app(PASSPORT_CLIENT_SECRET="wrong-" + CLIENT_SECRET).test_client().get(URL)  # bad credentials
    token = redis_client.get(next(iter(redis_client.scan_iter("*token:*")))).split(b" ", 1)[1].decode()

    logs = captured_logs.getvalue() + capsys.readouterr().out  # the log records, then the request lines
    assert "GET /v1/customers" in logs  # the capture saw the traffic
    for value in (*PII, CLIENT_SECRET, token):
        assert value not in logs, f"{value!r} leaked into the logs"
