"""End to end through gunicorn (gevent workers): a Passport that trickles costs a lookup one attempt's budget.

``PASSPORT_TIMEOUT_SECONDS`` bounds each attempt on the wall clock — TLS handshake, headers and
body — so a Passport sending a byte every 0.2 s gets the caller its 504 ``upstream-timeout``
problem after about that long, not at the fetch deadline nor when Passport gives up, and
nothing of it is cached: the next lookup asks Passport again.

Passport here is the scripted upstream; its token answer is taken once, by a first lookup.
"""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from emulator.example import load_example
from tests.support.cluster import Cluster, Instance, fetch, problem
from tests.support.scripted_upstream import (
    ScriptedUpstream,
    respond,
    scripted_upstream,
    trickled,
    trickled_tls_handshake,
)

ATTEMPT_SECONDS = 1.0
DEADLINE_SECONDS = 4.0
MARGIN_SECONDS = 1.0  # gunicorn, Redis and a loaded machine on top of the Passport call
SETTINGS = {
    "PASSPORT_TIMEOUT_SECONDS": ATTEMPT_SECONDS,
    "PASSPORT_CONNECT_TIMEOUT_SECONDS": 5,  # longer than the attempt: the attempt must win
    "PASSPORT_DEADLINE_SECONDS": DEADLINE_SECONDS,
    "PASSPORT_BREAKER_FAILURES": 1000,
}
TRICKLE_INTERVAL = 0.2
EXAMPLE = load_example()  # the docs example: shared/passport beside the repo, else the emulator's copy
TOKEN_BODY = json.dumps({"access_token": "token-1", "expires_in": 3600}).encode()
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def customer_body(customer_id: str) -> bytes:
    return json.dumps(dict(EXAMPLE, id=customer_id)).encode()


@pytest.fixture(scope="module")
def upstream() -> Iterator[ScriptedUpstream]:
    with scripted_upstream(respond(500, b"unexpected call")) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with Cluster(**SETTINGS) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def instance(cluster: Cluster, upstream: ScriptedUpstream) -> Instance:
    """An instance on the scripted Passport, holding a token already (taken by a lookup of a 404)."""
    instance = cluster.start_instance(workers=1, PASSPORT_BASE_URL=upstream.base_url)
    upstream.scripts.extend([respond(200, TOKEN_BODY), respond(404, b"")])
    problem(fetch(instance.customer_url(UNKNOWN_ID)), 404)
    return instance


@pytest.mark.parametrize("customer_id, slow", [
    pytest.param("6c1f7d2e-2b7a-4c55-9f0e-0d6f7e1a2b01", {"body_interval": TRICKLE_INTERVAL}, id="body"),
    pytest.param("6c1f7d2e-2b7a-4c55-9f0e-0d6f7e1a2b02",
                 {"head_interval": TRICKLE_INTERVAL, "headers": {"X-Padding": "p" * 100}}, id="headers"),
])
def test_a_trickling_answer_is_a_504_within_the_attempt_budget_and_nothing_is_cached(
        upstream, instance, customer_id, slow):
    upstream.scripts.append(trickled(200, customer_body(customer_id), **slow))
    answer = fetch(instance.customer_url(customer_id))
    problem(answer, 504)
    assert answer.elapsed < ATTEMPT_SECONDS + MARGIN_SECONDS < DEADLINE_SECONDS, answer

    connections = upstream.connections
    upstream.scripts.append(respond(200, customer_body(customer_id)))
    again = fetch(instance.customer_url(customer_id))
    assert (again.status, again.x_cache) == (200, "MISS"), again
    assert upstream.connections == connections + 1


def test_a_tls_handshake_that_trickles_is_a_504_within_the_attempt_budget(cluster):
    with scripted_upstream(trickled_tls_handshake(TRICKLE_INTERVAL), reads_request=False) as tls_upstream:
        port = tls_upstream.server_address[1]
        instance = cluster.start_instance(workers=1, PASSPORT_BASE_URL=f"https://127.0.0.1:{port}")
        answer = fetch(instance.customer_url("6c1f7d2e-2b7a-4c55-9f0e-0d6f7e1a2b03"))
    problem(answer, 504)
    assert answer.elapsed < ATTEMPT_SECONDS + MARGIN_SECONDS, answer
