"""Production starts and serves without its Redis: bypass mode, and /readyz says degraded (still ready).

A dedicated emulator accepts non-development credentials (``live-id`` / ``live-secret``), as
production refuses the emulator's public development ones; REDIS_URL points at a free loopback
port where nothing listens. Callers authenticate with an API key (production requires caller
authentication), and the per-caller rate limit, which also counts in that Redis, stays on.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from tests.support.cluster import Cluster, Instance, fetch
from tests.support.processes import LOOPBACK, free_port

LIVE_ID, LIVE_SECRET = "live-id", "live-secret"
API_KEY = "fault-tests-key-0123456789"
CALLER = {"X-API-Key": API_KEY}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with Cluster(emulator_args=["--client-id", LIVE_ID, "--client-secret", LIVE_SECRET], with_redis=False) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def instance(cluster) -> Instance:
    env = {
        "APP_ENV": "production",
        "PASSPORT_BASE_URL": cluster.emulator.base_url,
        "PASSPORT_CLIENT_ID": LIVE_ID,
        "PASSPORT_CLIENT_SECRET": LIVE_SECRET,
        "REDIS_URL": f"redis://{LOOPBACK}:{free_port()}/0",
        "AUTH_API_KEYS": f"faults:{hashlib.sha256(API_KEY.encode()).hexdigest()}",
    }
    return cluster.start_instance(workers=1, env=env)  # waits for /healthz to answer 200


def test_it_starts_and_is_alive(instance):
    assert instance.process.poll() is None
    assert fetch(instance.url("/healthz")).status == 200


def test_customers_are_served_straight_from_passport(cluster, instance):
    customer_id = cluster.emulator.customer_ids(3)[2]
    answers = [fetch(instance.customer_url(customer_id), headers=CALLER) for _ in range(2)]
    for answer in answers:
        assert (answer.status, answer.x_cache) == (200, "BYPASS"), answer
        assert answer.json()["id"] == customer_id
        status = answer.headers.get("Cache-Status", "")
        assert "fwd=bypass" in status and "detail=store-unavailable" in status, status


def test_readiness_wants_traffic_degraded_naming_redis(instance):
    answer = fetch(instance.url("/readyz"))
    assert answer.status == 200, answer
    body = answer.json()
    assert body["status"] == "degraded"
    assert body["checks"]["redis"] == "unavailable"
