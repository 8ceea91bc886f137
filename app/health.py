"""Health endpoints for orchestrators; they need no caller credentials and reveal no config."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """Say the process is alive; deliberately checks no dependency."""
    return jsonify(status="ok")
