"""Schemathesis against the live app (real Redis, the Passport emulator): no server error, and every
answer true to the OpenAPI document — status code, content type, body schema and headers.

Two parts:

- ``test_every_answer_conforms_to_the_document``: generated requests for every operation (valid and
  invalid ones), all built-in checks, ``not_a_server_error`` included: with a healthy emulator any
  5xx is a bug.
- ``TestDocumentedFailures``: the answers generation cannot reach (304, cache hits, remembered 404,
  upstream 502/503/504, 429, 413, readiness 503, a bearer JWT), provoked on purpose and checked
  against the document with the conformance checks only — there a documented 5xx is the point.
"""
from __future__ import annotations

import hashlib
import time

import jwt
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app import create_app
from tests.support.emulator import DOCS_CUSTOMER_ID
from tests.support.processes import free_port

API_KEY = "schemathesis-key"
READ_ONLY_KEY = "schemathesis-read-only"
JWT_SECRET = "j" * 40
MAX_EXAMPLES = 25  # per operation and generation mode; the whole file runs in about 15 s
PUBLIC_TAGS = ["operations", "documentation"]
CUSTOMER_PATH = "/v1/customers/{customer_id}"
PURGE_PATH = "/v1/customers/{customer_id}/cache"
BATCH_PATH = "/v1/customers:batchGet"
UNKNOWN_ID = "00000000-0000-4000-8000-00000000abcd"
CONFORMANCE = [status_code_conformance, content_type_conformance, response_headers_conformance,
               response_schema_conformance]

CONFIG = {
    # "all": schema-valid requests (must be accepted and answered as documented) and schema-invalid
    # ones (must be refused with a documented 4xx). Deterministic, so CI reruns the same cases.
    "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
    # The customer operations declare the apiKey scheme: Schemathesis sends this key there, and
    # leaves it out when it checks that they refuse unauthenticated calls (ignored_auth).
    "auth": {"openapi": {"apiKey": {"api_key": API_KEY}}},
    "checks": {
        # The emulator is healthy, so any 5xx is a bug, even the documented upstream 502/503/504.
        "not_a_server_error": {"enabled": True, "expected-statuses": ["2xx", "3xx", "4xx"]},
        # Conformance to the document.
        "status_code_conformance": {"enabled": True},
        "content_type_conformance": {"enabled": True},
        "response_schema_conformance": {"enabled": True},
        "response_headers_conformance": {"enabled": True},
        # Input handling and access control.
        "positive_data_acceptance": {"enabled": True},
        "negative_data_rejection": {"enabled": True},
        "missing_required_header": {"enabled": True},
        "ignored_auth": {"enabled": True},
        "unsupported_method": {"enabled": True},
        "allow_header_conformance": {"enabled": True},
    },
}

# The schema is read from an app's /openapi.json at import (parametrize needs it then); the cases
# are sent to the live app of each test. The document does not depend on configuration.
# (schemathesis.pytest.from_fixture would load it from the live app, but it fails on pytest 9.2.)
schema = schemathesis.openapi.from_wsgi(
    "/openapi.json",
    create_app(environ={"APP_ENV": "testing", "PASSPORT_BASE_URL": "http://127.0.0.1:9"}),
    config=schemathesis.Config.from_dict(CONFIG),
)


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


API_KEYS = (f"schemathesis:{sha256(API_KEY)}:customers.read+customers.purge,"
            f"reader:{sha256(READ_ONLY_KEY)}")


@pytest.fixture
def make_live_app(make_app):
    """Callers enforced; the main key has both scopes, so every operation is reachable."""
    def build(**overrides):
        return make_app(AUTH_MODE="enforced", AUTH_API_KEYS=API_KEYS, AUTH_JWT_SECRET=JWT_SECRET, **overrides)
    return build


@pytest.fixture
def live_app(make_live_app, emulator):
    return make_live_app()


@schema.parametrize()
# One live app per operation, shared by its examples: the cache state they leave is part of the test.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_answer_conforms_to_the_document(case, live_app):
    case.call_and_validate(app=live_app)


def conforming(app, path: str, method: str, *, status: int, key: str | None = API_KEY, **case_data):
    """Send one hand-made case; check its answer has ``status`` and conforms to the document."""
    headers = dict(case_data.pop("headers", {}))
    if key is not None:
        headers["X-API-Key"] = key
    case = schema[path][method].Case(headers=headers, **case_data)
    response = case.call(app=app)
    assert response.status_code == status, response.text
    case.validate_response(response, checks=CONFORMANCE)
    return response


def header(response, name: str) -> str:
    """One header of a Schemathesis response (its names are lower-cased, its values lists)."""
    return response.headers[name.lower()][0]


def customer(customer_id: str = DOCS_CUSTOMER_ID) -> dict:
    return {"path_parameters": {"customer_id": customer_id}}


class TestDocumentedFailures:
    def test_not_modified(self, live_app, emulator):
        first = conforming(live_app, CUSTOMER_PATH, "GET", status=200, **customer())
        conforming(live_app, CUSTOMER_PATH, "GET", status=304, headers={"If-None-Match": header(first, "ETag")},
                   **customer())

    def test_cache_hit_with_age(self, live_app, emulator):
        conforming(live_app, CUSTOMER_PATH, "GET", status=200, **customer())
        hit = conforming(live_app, CUSTOMER_PATH, "GET", status=200, **customer())
        assert header(hit, "X-Cache") == "HIT" and int(header(hit, "Age")) >= 0

    def test_remembered_not_found(self, live_app, emulator):
        conforming(live_app, CUSTOMER_PATH, "GET", status=404, **customer(UNKNOWN_ID))
        remembered = conforming(live_app, CUSTOMER_PATH, "GET", status=404, **customer(UNKNOWN_ID))
        assert header(remembered, "X-Cache") == "HIT"

    def test_unauthenticated_and_insufficient_scope(self, live_app, emulator):
        conforming(live_app, CUSTOMER_PATH, "GET", status=401, key=None, **customer())
        conforming(live_app, PURGE_PATH, "DELETE", status=403, key=READ_ONLY_KEY, **customer())

    def test_bearer_jwt(self, live_app, emulator):
        token = jwt.encode({"exp": int(time.time()) + 60, "scope": "customers.read"}, JWT_SECRET, algorithm="HS256")
        conforming(live_app, CUSTOMER_PATH, "GET", status=200, key=None,
                   headers={"Authorization": f"Bearer {token}"}, **customer())

    def test_purge_with_refresh(self, live_app, emulator):
        conforming(live_app, PURGE_PATH, "DELETE", status=204, query={"refresh": "true"}, **customer())

    def test_upstream_error_is_a_documented_502(self, make_live_app, emulator):
        app = make_live_app(PASSPORT_RETRIES=0)
        conforming(app, "/readyz", "GET", status=200, key=None)  # a token first
        emulator.fault(status=500, target="customers")
        conforming(app, CUSTOMER_PATH, "GET", status=502, **customer())
        conforming(app, PURGE_PATH, "DELETE", status=502, query={"refresh": "true"}, **customer())

    def test_open_breaker_is_a_documented_503_with_retry_after(self, make_live_app, emulator):
        app = make_live_app(PASSPORT_RETRIES=0, PASSPORT_BREAKER_FAILURES=1)
        conforming(app, "/readyz", "GET", status=200, key=None)
        emulator.fault(status=500, target="customers")
        conforming(app, CUSTOMER_PATH, "GET", status=502, **customer())
        refused = conforming(app, CUSTOMER_PATH, "GET", status=503, **customer(UNKNOWN_ID))
        assert int(header(refused, "Retry-After")) >= 1
        assert conforming(app, "/readyz", "GET", status=200, key=None).json()["status"] == "degraded"

    def test_upstream_timeout_is_a_documented_504(self, make_live_app, emulator):
        app = make_live_app(PASSPORT_RETRIES=0, PASSPORT_TIMEOUT_SECONDS=0.2)
        conforming(app, "/readyz", "GET", status=200, key=None)
        emulator.fault(latency_ms=1000, target="customers")
        conforming(app, CUSTOMER_PATH, "GET", status=504, **customer())

    def test_rate_limited_is_a_documented_429(self, make_live_app, emulator):
        app = make_live_app(RATELIMIT_DEFAULT="1 per minute")
        conforming(app, CUSTOMER_PATH, "GET", status=200, **customer())
        limited = conforming(app, CUSTOMER_PATH, "GET", status=429, **customer())
        assert int(header(limited, "Retry-After")) >= 1

    def test_oversized_body_is_a_documented_413(self, make_live_app, emulator):
        app = make_live_app(MAX_REQUEST_BODY_BYTES=1024)  # the smallest limit configuration allows
        conforming(app, BATCH_PATH, "POST", status=413, body={"ids": [DOCS_CUSTOMER_ID] * 40},
                   media_type="application/json")

    def test_batch_reports_failures_per_id(self, make_live_app, emulator):
        app = make_live_app(PASSPORT_RETRIES=0)
        ids = emulator.customer_ids(2)
        emulator.fault(status=500, customer_id=ids[1])
        answer = conforming(app, BATCH_PATH, "POST", status=200, body={"ids": [ids[0], ids[1], UNKNOWN_ID]},
                            media_type="application/json").json()
        assert [c["id"] for c in answer["customers"]] == [ids[0]]
        assert answer["notFound"] == [UNKNOWN_ID] and answer["failed"][0]["status"] == 502

    def test_readiness_names_what_failed(self, make_live_app, emulator):
        app = make_live_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
        assert conforming(app, "/readyz", "GET", status=200, key=None).json()["status"] == "degraded"

    def test_a_strict_readiness_check_that_fails_is_a_documented_503(self, make_live_app, emulator):
        app = make_live_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", READINESS_STRICT_CHECKS="redis")
        conforming(app, "/readyz", "GET", status=503, key=None)


class TestPatterns:
    def test_listing_refuses_a_filter_with_a_trailing_newline(self, live_app, emulator):
        conforming(live_app, "/v1/customers", "GET", status=400, query={"identificationType": "NIT\n"})
