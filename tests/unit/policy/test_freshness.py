"""The freshness rule: a tenth of the record's age, clamped, the minimum for future timestamps."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.passport.resource import FreshnessRule
from app.policy.freshness import ttl_for

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
DEFAULT = FreshnessRule()


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def test_ttl_is_a_tenth_of_the_time_since_the_last_update():
    assert ttl_for(ago(1000), NOW, DEFAULT) == 100


def test_recently_updated_record_gets_the_minimum():
    assert ttl_for(ago(10), NOW, DEFAULT) == 30


def test_long_unchanged_record_gets_the_maximum():
    assert ttl_for(ago(365 * 86400), NOW, DEFAULT) == 3600


def test_updated_at_in_the_future_gets_the_minimum():
    assert ttl_for(NOW + timedelta(hours=5), NOW, DEFAULT) == 30


def test_updated_at_equal_to_now_gets_the_minimum():
    assert ttl_for(NOW, NOW, DEFAULT) == 30


def test_factor_and_bounds_come_from_the_policy():
    policy = FreshnessRule(factor=0.5, min_seconds=5, max_seconds=60)
    assert ttl_for(ago(40), NOW, policy) == 20
    assert ttl_for(ago(4), NOW, policy) == 5
    assert ttl_for(ago(1000), NOW, policy) == 60


def test_ttl_is_whole_seconds_rounded_down():
    assert ttl_for(ago(1009.9), NOW, DEFAULT) == 100
