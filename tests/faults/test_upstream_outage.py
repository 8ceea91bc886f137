"""Passport goes down: cached customers are served stale, the breaker opens, uncached ids fail fast.

Each mode breaks Passport one way after two customers were cached: the emulator answers 500
("errors") or 429 ("rate-limited"), takes 3 s when we wait at most 1 s ("slow"), or is stopped
("stopped"). Freshness is pinned to 1 s and stale-while-revalidate is off, so a cached copy turns
stale quickly and the next lookup has to ask Passport. One gunicorn worker, so the per-process breaker we open is the
one that answers; ``PASSPORT_BREAKER_FAILURES=2``.

The sequence, per mode: warm two ids; break Passport; poll the first cached id until it is not a
fresh hit any more (its lookup fails upstream: failure 1); look up an uncached id (failure 2, the
breaker opens); then look up another uncached id and the second cached id with the breaker open.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.support.cluster import Answer, Cluster, clear_faults, fetch, iso_utc, poll, problem

FRESH_SECONDS = 1
READ_TIMEOUT_SECONDS = 1.0
SLOW_LATENCY_MS = 3000
BREAKER_FAILURES = 2
BREAKER_RESET_SECONDS = 30
STALE_DEADLINE_SECONDS = 6.0
# A breaker-open answer must come back without waiting for Passport: well under the read timeout.
FAIL_FAST_SECONDS = READ_TIMEOUT_SECONDS / 2

SETTINGS = {
    "CACHE_TTL_MIN_SECONDS": FRESH_SECONDS,
    "CACHE_TTL_MAX_SECONDS": FRESH_SECONDS,
    "CACHE_STALE_WHILE_REVALIDATE_SECONDS": 0,
    # The outage's steps are counted call by call: no refresh-ahead asking Passport in between.
    "CACHE_REFRESH_AHEAD": 0,
    "PASSPORT_TIMEOUT_SECONDS": READ_TIMEOUT_SECONDS,
    "PASSPORT_CONNECT_TIMEOUT_SECONDS": 0.5,
    "PASSPORT_RETRY_BACKOFF_SECONDS": 0.05,
    "PASSPORT_BREAKER_FAILURES": BREAKER_FAILURES,
    "PASSPORT_BREAKER_RESET_SECONDS": BREAKER_RESET_SECONDS,
}

# What an uncached id gets before the breaker opens, per mode: (status, problem type suffix).
FIRST_FAILURE = {
    "errors": (502, "upstream-error"),
    "rate-limited": (503, "upstream-rate-limited"),
    "slow": (504, "upstream-timeout"),
    "stopped": (502, "upstream-unreachable"),
}


def not_a_fresh_hit(answer: Answer) -> bool:
    return answer.x_cache != "HIT"


@dataclass
class OutageRun:
    mode: str
    warm: dict[str, Answer] = field(repr=False)
    stale_first: Answer
    uncached_first: Answer
    open_uncached: Answer
    open_cached: Answer
    readyz_open: Answer
    calls_before_open: int | None
    calls_after_open: int | None


def break_passport(cluster: Cluster, mode: str) -> None:
    if mode == "errors":
        cluster.emulator.fault(status=500)
    elif mode == "rate-limited":
        cluster.emulator.fault(status=429)
    elif mode == "slow":
        cluster.emulator.fault(latency_ms=SLOW_LATENCY_MS)
    else:
        cluster.stop_emulator()


@pytest.fixture(scope="module", params=sorted(FIRST_FAILURE))
def run(request) -> Iterator[OutageRun]:
    mode = request.param
    with Cluster(**SETTINGS) as cluster:
        instance = cluster.start_instance(workers=1)
        ids = cluster.emulator.customer_ids(8)
        cached, uncached = ids[1:3], ids[3:5]
        warm = {customer_id: fetch(instance.customer_url(customer_id)) for customer_id in cached}
        assert all(answer.ok for answer in warm.values()), warm
        break_passport(cluster, mode)
        calls = (lambda: cluster.emulator.customer_calls()) if mode != "stopped" else (lambda: None)

        stale_first = poll(lambda: fetch(instance.customer_url(cached[0])), not_a_fresh_hit,
                           "the first cached id turning stale", timeout=STALE_DEADLINE_SECONDS)
        uncached_first = fetch(instance.customer_url(uncached[0]))
        calls_before_open = calls()
        open_uncached = fetch(instance.customer_url(uncached[1]))
        open_cached = poll(lambda: fetch(instance.customer_url(cached[1])), not_a_fresh_hit,
                           "the second cached id turning stale", timeout=STALE_DEADLINE_SECONDS)
        calls_after_open = calls()
        readyz_open = fetch(instance.url("/readyz"))
        yield OutageRun(mode, warm, stale_first, uncached_first, open_uncached, open_cached, readyz_open,
                        calls_before_open, calls_after_open)


class TestCachedRecords:
    def test_are_served_stale_with_the_last_good_body(self, run):
        assert run.stale_first.status == 200, run.stale_first
        assert run.stale_first.x_cache == "STALE"
        assert run.stale_first.body == run.warm[run.stale_first.json()["id"]].body

    def test_stale_answer_says_why_in_cache_status(self, run):
        status = run.stale_first.headers.get("Cache-Status", "")
        assert status.startswith("passport-bff;"), status
        assert "fwd=stale" in status and "detail=upstream-error" in status, status
        ttl = [part.strip() for part in status.split(";") if part.strip().startswith("ttl=")]
        assert ttl and int(ttl[0][4:]) <= 0, status

    def test_stale_answer_is_older_than_its_freshness(self, run):
        # RFC 9111 §4.2: a response is stale once its age exceeds its freshness lifetime.
        headers = run.stale_first.headers
        assert int(headers["Age"]) >= FRESH_SECONDS, (headers["Age"], headers.get("Cache-Status"))

    def test_are_still_served_stale_while_the_breaker_is_open(self, run):
        assert run.open_cached.status == 200, run.open_cached
        assert run.open_cached.x_cache == "STALE"
        assert run.open_cached.body == run.warm[run.open_cached.json()["id"]].body


class TestUncachedCustomers:
    def test_get_the_upstream_problem_before_the_breaker_opens(self, run):
        status, slug = FIRST_FAILURE[run.mode]
        body = problem(run.uncached_first, status)
        assert body["type"].endswith(":" + slug), body

    def test_get_503_with_retry_after_once_the_breaker_is_open(self, run):
        problem(run.open_uncached, 503)
        retry_after = run.open_uncached.headers.get("Retry-After", "")
        assert retry_after.isdigit() and 1 <= int(retry_after) <= BREAKER_RESET_SECONDS, retry_after

    def test_breaker_open_answers_come_back_without_waiting_for_passport(self, run):
        assert run.open_uncached.elapsed < FAIL_FAST_SECONDS, run.open_uncached

    def test_breaker_open_answers_do_not_call_passport(self, run):
        if run.mode == "stopped":
            pytest.skip("a stopped emulator counts nothing")
        assert run.calls_after_open == run.calls_before_open


def test_readiness_reports_the_open_breaker_and_still_wants_traffic(run):
    assert run.readyz_open.status == 200, run.readyz_open
    body = run.readyz_open.json()
    # A 429 pauses the fleet (app.passport.back_pressure): no more calls, so no breaker to open.
    expected = "paused" if run.mode == "rate-limited" else "open"
    assert (body["status"], body["checks"]["passport"]) == ("degraded", expected), body


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """One instance on a healthy emulator, shared by the tests that inject their own faults."""
    with Cluster(**SETTINGS) as cluster:
        cluster.start_instance(workers=1)
        yield cluster


class TestFailuresThatAreNotOutages:
    """Passport's 404 and 403 are answers, not failures: never hidden behind a stale copy."""

    @pytest.fixture
    def instance(self, cluster):
        clear_faults(cluster.emulator)
        return cluster.instances[0]

    @pytest.mark.parametrize(("status", "slug"), [(404, "customer-not-found"), (403, "customer-forbidden")])
    def test_passport_404_or_403_on_a_stale_copy_is_passed_on_not_served_stale(
        self, cluster, instance, status, slug
    ):
        customer_id = cluster.emulator.customer_ids(8)[5 if status == 404 else 6]
        assert fetch(instance.customer_url(customer_id)).ok
        cluster.emulator.fault(customer_id=customer_id, status=status)
        answer = poll(lambda: fetch(instance.customer_url(customer_id)), not_a_fresh_hit,
                      "the cached id turning stale", timeout=STALE_DEADLINE_SECONDS)
        body = problem(answer, status)
        assert body["type"].endswith(":" + slug)

    @pytest.mark.parametrize("status", [404, 403])
    def test_many_404s_or_403s_do_not_open_the_breaker(self, cluster, instance, status):
        ids = [f"00000000-0000-4000-8000-{status:04d}{n:08d}" for n in range(BREAKER_FAILURES + 2)]
        cluster.emulator.fault(status=status)
        for customer_id in ids:
            problem(fetch(instance.customer_url(customer_id)), status)
        assert cluster.emulator.customer_calls(ids[-1]) == 1  # asked: the breaker stayed closed

    def test_invalid_bodies_are_served_stale_but_do_not_open_the_breaker(self, cluster, instance):
        ids = cluster.emulator.customer_ids(40)[20:20 + BREAKER_FAILURES + 2]
        cached, uncached = ids[0], ids[1:]
        assert fetch(instance.customer_url(cached)).ok
        cluster.emulator.fault(status=200, body="this is not json")
        stale = poll(lambda: fetch(instance.customer_url(cached)), not_a_fresh_hit,
                     "the cached id turning stale", timeout=STALE_DEADLINE_SECONDS)
        assert (stale.status, stale.x_cache) == (200, "STALE"), stale
        for customer_id in uncached:  # more invalid bodies than PASSPORT_BREAKER_FAILURES
            body = problem(fetch(instance.customer_url(customer_id)), 502)
            assert body["type"].endswith(":upstream-bad-response"), body
        assert cluster.emulator.customer_calls(uncached[-1]) == 1  # asked: the breaker stayed closed


def test_breaker_closes_again_once_passport_recovers(make_cluster):
    cluster = make_cluster(**{**SETTINGS, "PASSPORT_BREAKER_RESET_SECONDS": 1})
    instance = cluster.start_instance(workers=1)
    ids = cluster.emulator.customer_ids(12)[8:12]
    cluster.emulator.fault(status=500)
    for customer_id in ids[:BREAKER_FAILURES]:
        problem(fetch(instance.customer_url(customer_id)), 502)
    problem(fetch(instance.customer_url(ids[2])), 503)  # open
    clear_faults(cluster.emulator)
    recovered = poll(lambda: fetch(instance.customer_url(ids[3])), lambda answer: answer.ok,
                     "a lookup succeeding after the breaker's reset time", timeout=1 + 5)
    assert recovered.json()["id"] == ids[3]


def test_stale_if_error_window_bounds_how_old_a_served_copy_may_be(make_cluster):
    """Past freshness + CACHE_STALE_IF_ERROR_SECONDS the copy is no longer served: the error is."""
    cluster = make_cluster(**{**SETTINGS, "CACHE_STALE_IF_ERROR_SECONDS": 1, "PASSPORT_BREAKER_FAILURES": 1000})
    instance = cluster.start_instance(workers=1)
    customer_id = cluster.emulator.customer_ids(14)[13]
    cluster.emulator.touch_customer(customer_id, iso_utc(5000))
    assert fetch(instance.customer_url(customer_id)).ok
    cluster.emulator.fault(status=500)
    # Stale within the window first, then (about a second later) the upstream error itself.
    answer = poll(lambda: fetch(instance.customer_url(customer_id)), lambda a: a.status != 200 or a.x_cache == "MISS",
                  "the copy ageing out of the stale-if-error window", timeout=STALE_DEADLINE_SECONDS)
    problem(answer, 502)
