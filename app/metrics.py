"""Prometheus metrics (prometheus_client), served at ``/metrics``, correct under gunicorn.

With several gunicorn workers each process counts in its own memory-mapped files under
``PROMETHEUS_MULTIPROC_DIR`` (set by ``config/gunicorn.py``) and ``/metrics`` adds them up
(``MultiProcessCollector``); a single process (development, tests) uses the default registry.
Labels are small closed sets: never a customer id or a caller key.
"""
from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

PREFIX = "passport_bff"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BREAKER_STATES = {"closed": 0, "half-open": 1, "open": 2}

CACHE_REQUESTS = Counter(
    f"{PREFIX}_cache_requests_total", "Lookups by cache result and kind of record (customer, account...).",
    ["result", "resource"],
)
UPSTREAM_REQUESTS = Counter(
    f"{PREFIX}_upstream_requests_total", "Calls to Passport by endpoint and outcome.", ["endpoint", "outcome"]
)
UPSTREAM_DURATION = Histogram(
    f"{PREFIX}_upstream_request_duration_seconds", "Duration of calls to Passport.", ["endpoint"],
    buckets=LATENCY_BUCKETS,
)
NEAR_CACHE_HITS = Counter(f"{PREFIX}_near_cache_hits_total", "Reads answered from the worker's near cache.")
TOKEN_FETCHES = Counter(f"{PREFIX}_token_fetches_total", "Passport access tokens requested.", ["outcome"])
COALESCED = Counter(
    f"{PREFIX}_coalesced_requests_total", "Lookups that waited for another request's fetch.", ["outcome"]
)
REFRESH_AHEAD = Counter(
    f"{PREFIX}_refresh_ahead_total", "Background refreshes started for copies read near the end of their freshness."
)
BREAKER_STATE = Gauge(
    f"{PREFIX}_breaker_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open.", ["dependency"],
    multiprocess_mode="max",
)
READINESS_CHECKS = Gauge(
    f"{PREFIX}_readiness_check", "Readiness checks at the last /readyz: 1 healthy, 0 failing (redis, passport, token).",
    ["check"], multiprocess_mode="livemin",
)
AUDIT_WRITE_FAILURES = Counter(
    f"{PREFIX}_audit_write_failures_total", "Audit events the sink refused (the answers went out all the same)."
)
TRACE_SPANS_EXPORTED = Counter(f"{PREFIX}_trace_spans_exported_total", "Spans delivered to the OTLP collector.")
TRACE_SPANS_DROPPED = Counter(
    f"{PREFIX}_trace_spans_dropped_total", "Spans never delivered: queue full, or the export failed.", ["reason"]
)
HTTP_REQUESTS = Counter(
    f"{PREFIX}_http_requests_total", "HTTP answers by route template, method and status.", ["route", "method", "status"]
)
HTTP_DURATION = Histogram(
    f"{PREFIX}_http_request_duration_seconds", "Time to answer, by route template.", ["route"],
    buckets=LATENCY_BUCKETS,
)


def record_breaker_state(dependency: str, state: str) -> None:
    BREAKER_STATE.labels(dependency).set(BREAKER_STATES[state])


def exposition() -> bytes:
    """Render every metric, summed over gunicorn workers when running multi-process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()
