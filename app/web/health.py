"""Operational endpoints: health, readiness and metrics; no caller credentials, no config shown.

- ``/healthz``: the process is alive (checks nothing else, so a sick dependency never gets a
  healthy process restarted).
- ``/readyz``: this instance can do its job now — Redis answers (when configured), a Passport
  token is cached or obtainable, and the Passport breaker is closed. The body names each check's
  result; 503 when any fails, so the gateway sends traffic elsewhere.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST

from app.breaker import CLOSED
from app.metrics import exposition
from app.observability import REQUEST_ID_HEADER
from app.passport.errors import PassportError
from app.store.cache import StoreUnavailable
from app.web.api_docs import TEXT, headers, json_response, public_operation, schema_ref, with_const
from app.web.auth import public
from app.web.services import Services, services

bp = Blueprint("health", __name__)

OK = "ok"


@bp.get("/healthz")
@public
def healthz() -> Response:
    """Say the process is alive; deliberately checks no dependency."""
    return jsonify(status="ok")


@bp.get("/readyz")
@public
def readyz() -> Response:
    checks = readiness_checks(services())
    ready = checks["redis"] in (OK, "not-configured") and checks["passport"] == CLOSED and checks["token"] == OK
    response = jsonify(status="ready" if ready else "not-ready", checks=checks)
    response.status_code = 200 if ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def readiness_checks(parts: Services) -> dict[str, str]:
    """Run each readiness check; never raise."""
    return {"redis": redis_check(parts), "passport": parts.passport.breaker.state, "token": token_check(parts)}


def redis_check(parts: Services) -> str:
    if not parts.redis_configured:
        return "not-configured"
    try:
        parts.store.ping()
    except StoreUnavailable:
        return "unavailable"
    return OK


def token_check(parts: Services) -> str:
    try:
        parts.tokens.get()
    except PassportError:
        return "unavailable"
    return OK


@bp.get("/metrics")
@public
def metrics() -> Response:
    return Response(exposition(), content_type=CONTENT_TYPE_LATEST)


# --- OpenAPI: what the document says of these views (app.web.openapi) ------------------------------

def operations() -> dict[str, dict[str, dict[str, Any]]]:
    return {
        "health.healthz": {"get": public_operation("getHealth", "operations", "Liveness: the process is up", {
            "200": json_response("Alive; no dependency is checked.", schema_ref("Health")),
        })},
        "health.readyz": {"get": public_operation("getReadiness", "operations", "Readiness: can serve now", {
            "200": json_response("Ready.", with_const("Readiness", "status", "ready")),
            "503": json_response("Not ready; `checks` names what failed.",
                                 with_const("Readiness", "status", "not-ready")),
        })},
        "health.metrics": {"get": public_operation("getMetrics", "operations", "Prometheus metrics", {
            "200": {"description": "Prometheus text exposition.", "headers": headers((REQUEST_ID_HEADER,)),
                    "content": {TEXT: {"schema": {"type": "string"}}}},
        })},
    }
