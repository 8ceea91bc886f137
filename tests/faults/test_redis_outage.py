"""Redis goes away under load: every request is still answered, and caching comes back by itself.

One instance (2 workers) serves a bounded load (3 threads over 4 warm ids). In the middle of it
redis-server is either SIGKILLed and later restarted on the same port ("killed"), or SIGSTOPped
and later SIGCONTed ("frozen": every command then waits out REDIS_SOCKET_TIMEOUT_SECONDS). While it
is gone, requests go straight to Passport (``X-Cache: BYPASS``); once it is back, answers are
``HIT`` again within 5 s.
"""
from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.support.cluster import Answer, Cluster, LoadRunner, Tally, fetch, poll

LOAD_THREADS = 3
LOAD_MAX_SECONDS = 20.0
ANSWERS_BEFORE_OUTAGE = 30
BYPASSES_DURING_OUTAGE = 15
RESUME_WITHIN_SECONDS = 5.0
OUTAGE_DEADLINE_SECONDS = 8.0


@dataclass
class OutageRun:
    mode: str
    bodies: dict[str, dict] = field(repr=False)
    answers: list[Answer] = field(repr=False)
    down_at: float
    back_at: float
    readyz_before: Answer
    readyz_while_down: Answer
    healthz_while_down: Answer
    first_hit_after_back: Answer | None
    resumed_after: float | None


def take_redis_down(cluster: Cluster, mode: str) -> None:
    if mode == "killed":
        cluster.redis.kill()
    else:
        cluster.redis.process.send_signal(signal.SIGSTOP)


def bring_redis_back(cluster: Cluster, mode: str) -> None:
    if mode == "killed":
        cluster.redis.start()  # same port, empty (no persistence)
    else:
        cluster.redis.process.send_signal(signal.SIGCONT)


@pytest.fixture(scope="module", params=["killed", "frozen"])
def run(request) -> Iterator[OutageRun]:
    mode = request.param
    with Cluster() as cluster:
        instance = cluster.start_instance(workers=2)
        ids = cluster.emulator.customer_ids(4)
        bodies = {}
        for customer_id in ids:
            warm = fetch(instance.customer_url(customer_id))
            assert warm.ok, warm
            bodies[customer_id] = warm.json()
        urls = [instance.customer_url(customer_id) for customer_id in ids]
        readyz_before = fetch(instance.url("/readyz"), timeout=5)
        with LoadRunner(urls, threads=LOAD_THREADS, max_seconds=LOAD_MAX_SECONDS, timeout=5) as load:
            poll(lambda: len(load.answers()), lambda n: n >= ANSWERS_BEFORE_OUTAGE, "load warming up")
            down_at = time.monotonic()
            take_redis_down(cluster, mode)
            poll(lambda: [a for a in load.answers(since=down_at) if a.x_cache == "BYPASS"],
                 lambda bypassed: len(bypassed) >= BYPASSES_DURING_OUTAGE,
                 "answers bypassing the cache while Redis is down", timeout=OUTAGE_DEADLINE_SECONDS)
            readyz = fetch(instance.url("/readyz"), timeout=5)
            healthz = fetch(instance.url("/healthz"), timeout=5)
            bring_redis_back(cluster, mode)
            back_at = time.monotonic()
            probe_url = urls[0]
            try:
                first_hit = poll(lambda: fetch(probe_url, timeout=5), lambda a: a.x_cache == "HIT",
                                 "a HIT after Redis came back", timeout=RESUME_WITHIN_SECONDS)
                resumed_after = time.monotonic() - back_at
            except AssertionError:
                first_hit, resumed_after = None, None
            answers = load.stop()
        yield OutageRun(mode, {urls[n]: bodies[ids[n]] for n in range(len(ids))}, answers, down_at,
                        back_at, readyz_before, readyz, healthz, first_hit, resumed_after)


def test_no_request_is_lost_while_redis_is_down_and_back(run):
    lost = [answer for answer in run.answers if not answer.ok]
    assert len(lost) == 0, f"{len(lost)} of {len(run.answers)} lost: {lost[:5]} ({Tally.of(run.answers)})"


def test_every_answer_carries_the_right_customer(run):
    wrong = [answer for answer in run.answers if answer.ok and answer.json() != run.bodies[answer.url]]
    assert wrong == []


def test_load_kept_going_through_the_outage(run):
    during = [a for a in run.answers if run.down_at <= a.started < run.back_at]
    after = [a for a in run.answers if a.started >= run.back_at]
    assert len(during) >= 15 and len(after) >= 1, Tally.of(run.answers)


def test_requests_bypass_the_cache_while_redis_is_down(run):
    during = [a for a in run.answers if run.down_at <= a.started < run.back_at and a.ok]
    bypassed = [a for a in during if a.x_cache == "BYPASS"]
    assert bypassed, Tally.of(during)
    status = bypassed[-1].headers.get("Cache-Status", "")
    assert "fwd=bypass" in status and "detail=store-unavailable" in status, status


def test_readiness_is_ready_with_redis_ok_and_the_breaker_closed_before_the_outage(run):
    assert run.readyz_before.status == 200, run.readyz_before
    body = run.readyz_before.json()
    assert body["status"] == "ready"
    assert body["checks"]["redis"] == "ok"
    assert body["checks"]["passport"] == "closed"


def test_readiness_stays_ready_degraded_naming_redis_while_it_is_down(run):
    """The fleet shares this Redis: a readiness failing on it would take every instance out at once."""
    assert run.healthz_while_down.status == 200
    assert run.readyz_while_down.status == 200, run.readyz_while_down
    body = run.readyz_while_down.json()
    assert body["status"] == "degraded"
    assert body["checks"]["redis"] == "unavailable"


def test_answers_are_hits_again_within_5s_of_redis_coming_back(run):
    assert run.first_hit_after_back is not None, f"no HIT within {RESUME_WITHIN_SECONDS}s of Redis coming back"
    assert run.first_hit_after_back.ok
    assert run.resumed_after <= RESUME_WITHIN_SECONDS
