"""Every Passport failure maps to one documented problem, and every problem has one shape."""
from __future__ import annotations

import json

import pytest
from flask import Flask

from app.passport import errors as passport_errors
from app.web import errors

EXPECTED_STATUS = [
    (passport_errors.PassportNotFound("x"), 404),
    (passport_errors.PassportForbidden("x"), 403),
    (passport_errors.PassportUnauthorized("x"), 502),
    (passport_errors.PassportCredentialsRejected("x"), 502),
    (passport_errors.PassportRejectedRequest("x"), 502),
    (passport_errors.PassportRateLimited(7), 503),
    (passport_errors.PassportServerError(500), 502),
    (passport_errors.PassportTimeout("x"), 504),
    (passport_errors.PassportBusy("x"), 504),
    (passport_errors.PassportUnreachable("x"), 502),
    (passport_errors.PassportBadResponse("x"), 502),
    (passport_errors.PassportCircuitOpen(3), 503),
    (passport_errors.PassportPaused(4), 503),
    (passport_errors.PassportOverloaded("x"), 503),
]


@pytest.fixture
def app() -> Flask:
    app = Flask(__name__)
    errors.init_app(app)
    return app


@pytest.mark.parametrize(("error", "status"), EXPECTED_STATUS)
def test_passport_error_maps_to_status(error, status):
    assert errors.problem_from_passport(error).code == status


def test_every_passport_error_class_has_a_mapping():
    leaf_classes = {type(error) for error, _ in EXPECTED_STATUS}
    defined = {c for c in vars(passport_errors).values()
               if isinstance(c, type) and issubclass(c, passport_errors.PassportError)}
    assert defined - {passport_errors.PassportError} == leaf_classes


@pytest.mark.parametrize("error", [passport_errors.PassportRateLimited(7), passport_errors.PassportCircuitOpen(7),
                                   passport_errors.PassportPaused(7)])
def test_retry_after_is_passed_on(app, error):
    with app.test_request_context():
        response = errors.handle_passport_error(error)
    assert response.headers["Retry-After"] == "7"


def test_problem_document_has_the_rfc_9457_members_and_the_request_id(app):
    with app.test_request_context():
        from flask import g
        g.request_id = "req-1"
        response = errors.handle_passport_error(passport_errors.PassportTimeout("internal detail"))
    assert response.content_type == "application/problem+json"
    body = json.loads(response.get_data())
    assert set(body) == {"type", "title", "status", "detail", "request_id"}
    assert body["status"] == 504 and body["request_id"] == "req-1"
    assert body["type"].startswith("urn:passport-bff:problem:")
    assert "internal detail" not in response.get_data(as_text=True)


def test_unexpected_exception_is_a_bare_500_without_a_trace(app):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert response.content_type == "application/problem+json"
    assert "secret internals" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


def test_unknown_route_and_wrong_method_are_problems_too(app):
    @app.get("/only-get")
    def only_get():
        return "ok"

    client = app.test_client()
    assert client.get("/nowhere").content_type == "application/problem+json"
    response = client.post("/only-get")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
