"""The bare baseline of the benchmark: the least a cached customer lookup can cost in Flask.

One route, ``GET /v1/customers/<customer_id>``: one Redis ``GET`` of ready-to-send bytes, answered
with ``Content-Type: application/json`` (404 when the key is absent). No authentication, no rate
limit, no validation, no headers beyond Flask's own, no logging, no metrics. ``bench/run.py``
pre-loads the exact body the service serves for a customer under ``BASELINE_KEY_PREFIX + id`` and
runs this module under gunicorn with the same worker class, workers and threads as the service::

    BASELINE_REDIS_URL=redis://127.0.0.1:6379/0 gunicorn -k gthread -w 2 --threads 8 bench.baseline_app:app

It is not part of the service and never deployed.
"""
from __future__ import annotations

import os

import redis
from flask import Flask, Response

REDIS_URL = os.environ.get("BASELINE_REDIS_URL", "redis://127.0.0.1:6379/0")
KEY_PREFIX = os.environ.get("BASELINE_KEY_PREFIX", "bench-baseline:customer:")

app = Flask(__name__)
# Same client shape as the service (one pool per process, short timeouts); built after the fork
# because gunicorn imports this module in each worker (no preload).
client = redis.Redis.from_url(REDIS_URL, socket_timeout=0.25, socket_connect_timeout=0.25)


@app.get("/v1/customers/<customer_id>")
def get_customer(customer_id: str) -> Response:
    body = client.get(KEY_PREFIX + customer_id)
    if body is None:
        return Response(b'{"status": 404}', status=404, content_type="application/json")
    return Response(body, status=200, content_type="application/json")


@app.get("/healthz")
def healthz() -> Response:
    return Response(b'{"status": "ok"}', content_type="application/json")
