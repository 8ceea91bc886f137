"""app.policy.cache_status: the RFC 9211 Cache-Status wordings, one value each."""
from __future__ import annotations

import pytest

from app.policy.cache_status import UPSTREAM_FAILED, CacheStatus


@pytest.mark.parametrize("status, field", [
    (CacheStatus(hit=True, ttl=12), "passport-bff; hit; ttl=12"),
    (CacheStatus(hit=True, ttl=-3, detail="stale-while-revalidate"),
     "passport-bff; hit; ttl=-3; detail=stale-while-revalidate"),
    (CacheStatus(fwd="miss", stored=True), "passport-bff; fwd=miss; stored"),
    (CacheStatus(fwd="miss", collapsed=True), "passport-bff; fwd=miss; collapsed"),
    (CacheStatus(fwd="miss", detail="lock-timeout"), "passport-bff; fwd=miss; detail=lock-timeout"),
    (CacheStatus(fwd="bypass", detail="store-unavailable"), "passport-bff; fwd=bypass; detail=store-unavailable"),
    (CacheStatus(fwd="stale", ttl=-100, detail="upstream-error"),
     "passport-bff; fwd=stale; ttl=-100; detail=upstream-error"),
    (UPSTREAM_FAILED, "passport-bff; fwd=miss; detail=upstream-error"),
])
def test_the_field_reads(status, field):
    assert str(status) == field


@pytest.mark.parametrize("ttl", [0, 1, 59, 3600, -1])
def test_the_fresh_hit_shortcut_reads_as_the_value(ttl):
    assert CacheStatus.fresh_hit(ttl) == str(CacheStatus(hit=True, ttl=ttl))
