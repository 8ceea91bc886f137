"""The lookup's rate limit (app.web.lookup_limit): lookups counted locally (FastPathBudget), added to the
caller's shared window (real Redis, the limiter's own storage) at most every sync interval, and judged
exactly (LookupRateLimit) when the window is full or Redis is away. Only the clock is fake."""
from __future__ import annotations

import limits
import pytest
from limits.storage import RedisStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from app.web.auth import Caller
from app.web.lookup_limit import LOOKUP_SCOPE, FastPathBudget, LookupRateLimit
from app.web.problems import Problem
from tests.support.clock import FakeClock
from tests.support.keys import STORE_KEYS

PREFIX = STORE_KEYS.rate_limit_prefix


@pytest.fixture
def strategy(redis_server, redis_client) -> SlidingWindowCounterRateLimiter:
    return SlidingWindowCounterRateLimiter(RedisStorage(redis_server.url))


def budget(strategy, rate: str, sync_seconds: float, clock: FakeClock | None = None) -> FastPathBudget:
    return FastPathBudget(strategy, limits.parse_many(rate), PREFIX, sync_seconds, clock or FakeClock(1000.0))


def used(strategy, rate: str, key: str = "caller:web") -> int:
    item = limits.parse(rate)
    return item.amount - strategy.get_window_stats(item, PREFIX, key, LOOKUP_SCOPE).remaining


def test_with_no_sync_interval_every_hit_is_counted_in_redis_at_once(strategy):
    exact = budget(strategy, "3 per minute", 0)
    assert [exact.admit("caller:web") for _ in range(4)] == [True, True, True, False]
    assert used(strategy, "3 per minute") == 3


def test_hits_within_an_interval_are_counted_locally_then_added_together(strategy):
    clock = FakeClock(1000.0)
    batched = budget(strategy, "100 per minute", 1.0, clock)
    assert all(batched.admit("caller:web") for _ in range(10))
    assert used(strategy, "100 per minute") == 1  # the first hit of a caller is added at once
    clock.now += 1.0
    assert batched.admit("caller:web")
    assert used(strategy, "100 per minute") == 11


def test_a_full_window_sends_the_caller_to_the_exact_limiter_for_one_interval(strategy):
    clock = FakeClock(1000.0)
    batched = budget(strategy, "5 per minute", 1.0, clock)
    assert all(batched.admit("caller:web") for _ in range(8))  # within the interval: over by 3, at most
    clock.now += 1.0
    assert not batched.admit("caller:web")  # 1 + 8 would pass 5: refused, the Flask route decides
    clock.now += 0.5
    assert not batched.admit("caller:web")
    assert used(strategy, "5 per minute") == 1


def test_callers_are_counted_apart(strategy):
    exact = budget(strategy, "2 per minute", 0)
    assert [exact.admit("caller:web"), exact.admit("caller:web"), exact.admit("caller:web")] == [True, True, False]
    assert exact.admit("caller:ops")


def test_every_limit_of_a_list_applies(strategy):
    exact = budget(strategy, "2 per second; 100 per minute", 0)
    assert [exact.admit("caller:web") for _ in range(3)] == [True, True, False]


def test_with_redis_down_it_asks_for_an_exact_judgement(redis_server):
    stopped = SlidingWindowCounterRateLimiter(RedisStorage(redis_server.url))
    batched = budget(stopped, "100 per minute", 0.1)
    redis_server.stop()
    try:
        assert batched.admit("caller:web") is False
    finally:
        redis_server.start()


def test_memory_is_bounded_with_many_callers(strategy, monkeypatch):
    monkeypatch.setattr(FastPathBudget, "MAX_CALLERS", 3)
    batched = budget(strategy, "100 per minute", 10.0)
    for n in range(10):
        assert batched.admit(f"caller:jwt:{n}")
    assert len(batched._synced_at) <= 3


WEB = Caller("web", frozenset({"customers.read"}))


def test_over_the_limit_a_lookup_is_a_429_problem_with_retry_after(strategy):
    limit = LookupRateLimit(strategy, limits.parse_many("2 per minute"), PREFIX, 0, FakeClock(1000.0))
    limit.check(WEB, "10.0.0.1")
    limit.check(WEB, "10.0.0.1")
    with pytest.raises(Problem) as refused:
        limit.check(WEB, "10.0.0.1")
    assert refused.value.kind.slug == "too-many-requests" and refused.value.code == 429
    assert 1 <= int(refused.value.extra_headers["Retry-After"]) <= 60
    assert refused.value.detail == "Over the limit of 2 per 1 minute; retry later."


def test_anonymous_lookups_count_per_client_address(strategy):
    limit = LookupRateLimit(strategy, limits.parse_many("1 per minute"), PREFIX, 0, FakeClock(1000.0))
    limit.check(None, "10.0.0.1")
    limit.check(None, "10.0.0.2")
    with pytest.raises(Problem):
        limit.check(None, "10.0.0.1")


def test_with_redis_down_lookups_are_counted_in_memory_and_still_limited(redis_server):
    stopped = SlidingWindowCounterRateLimiter(RedisStorage(redis_server.url))
    limit = LookupRateLimit(stopped, limits.parse_many("2 per minute"), PREFIX, 0, FakeClock(1000.0))
    redis_server.stop()
    try:
        limit.check(WEB, None)
        limit.check(WEB, None)
        with pytest.raises(Problem):
            limit.check(WEB, None)
    finally:
        redis_server.start()
