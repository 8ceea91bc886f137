"""Operational endpoints: health, readiness and metrics; no caller credentials, no config shown.

- ``/healthz``: the process is alive (checks nothing else, so a sick dependency never gets a
  healthy process restarted).
- ``/readyz``: send this instance traffic. It is 200 while the instance can answer, degraded
  included: with Redis down it answers straight from Passport (``BYPASS``), with Passport's breaker
  open or no token it answers from its stale copies and with fast 503s — answers all the same, and
  every instance of the fleet shares the same Redis and the same Passport, so a readiness that
  failed on them would take the whole fleet out of the pool at once (a Redis blip would become an
  outage, and the stale copies would never be served). The body names each check (``"redis":
  "unavailable"``, ``"passport": "open"``) and says ``"status": "degraded"``; ``/metrics`` has the
  same checks (``passport_bff_readiness_check``). ``READINESS_STRICT_CHECKS`` lists the checks that
  make it 503 instead, for deployments that prefer another instance (or region) to a degraded one.
  It is also 503 (``"status": "draining"``) from the moment the instance was told to stop
  (SIGTERM, ``app.drain``) while it still serves for ``DRAIN_SECONDS``: the gateway's cue to send
  the traffic elsewhere before the listener closes.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST

from app.breaker import CLOSED
from app.drain import DRAIN
from app.metrics import READINESS_CHECKS, exposition
from app.observability import REQUEST_ID_HEADER
from app.store.cache import StoreUnavailable
from app.web.api_docs import TEXT, headers, json_response, public_operation, schema_ref
from app.web.auth import public
from app.web.services import Services, services

bp = Blueprint("health", __name__)

OK = "ok"


@bp.get("/healthz")
@public
def healthz() -> Response:
    """Say the process is alive; deliberately checks no dependency."""
    return jsonify(status="ok")


HEALTHY = {"redis": (OK, "not-configured"), "passport": (CLOSED,), "token": (OK,)}
STRICT_EXTENSION = "passport_bff_strict_readiness"


@bp.get("/readyz")
@public
def readyz() -> Response:
    checks = readiness_checks(services())
    failing = [name for name, result in checks.items() if result not in HEALTHY[name]]
    for name in HEALTHY:
        READINESS_CHECKS.labels(name).set(0 if name in failing else 1)
    strict: frozenset[str] = current_app.extensions[STRICT_EXTENSION]
    if DRAIN.draining:
        status, code = "draining", 503
    elif any(name in strict for name in failing):
        status, code = "not-ready", 503
    else:
        status, code = ("degraded" if failing else "ready"), 200
    response = jsonify(status=status, checks=checks)
    response.status_code = code
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask, strict_checks: frozenset[str]) -> None:
    """Serve health and readiness; ``strict_checks`` fail readiness (``READINESS_STRICT_CHECKS``)."""
    app.extensions[STRICT_EXTENSION] = strict_checks
    app.register_blueprint(bp)


def readiness_checks(parts: Services) -> dict[str, str]:
    """Run each readiness check; never raise."""
    return {"redis": redis_check(parts), "passport": parts.passport.state, "token": token_check(parts)}


def redis_check(parts: Services) -> str:
    if not parts.redis_configured:
        return "not-configured"
    try:
        parts.store.ping()
    except StoreUnavailable:
        return "unavailable"
    return OK


def token_check(parts: Services) -> str:
    """``ok`` while a token is held or the last fetch succeeded; never waits on Passport."""
    return OK if parts.tokens.available() else "unavailable"


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
            "200": json_response("Send traffic: `ready`, or `degraded` (`checks` names what failed; "
                                 "the instance still answers).", schema_ref("Readiness")),
            "503": json_response("Send no traffic: `draining` (the instance is stopping; it still answers "
                                 "for `DRAIN_SECONDS`), or `not-ready` (a check named in "
                                 "`READINESS_STRICT_CHECKS` failed).",
                                 {"allOf": [schema_ref("Readiness"), {"properties": {"status": {
                                     "enum": ["draining", "not-ready"]}}}]}),
        })},
        "health.metrics": {"get": public_operation("getMetrics", "operations", "Prometheus metrics", {
            "200": {"description": "Prometheus text exposition.", "headers": headers((REQUEST_ID_HEADER,)),
                    "content": {TEXT: {"schema": {"type": "string"}}}},
        })},
    }
