"""How long a cached record stays fresh, derived from its own ``updated_at``.

Passport documents no change notifications, so freshness is a heuristic: a record
that has not changed for a long time is unlikely to change in the next few minutes. This is the
heuristic freshness of RFC 9111 §4.2.2 (a fraction of the time since last modification), applied
to ``updated_at`` and clamped so that hot records are still re-read soon and old ones not never.
"""
from __future__ import annotations

from datetime import datetime

from app.passport.resource import FreshnessRule


def ttl_for(updated_at: datetime, now: datetime, policy: FreshnessRule) -> int:
    """Return the whole seconds a record last modified at ``updated_at`` stays fresh at ``now``.

    A timestamp in the future (clock skew, or a bad record) gets the minimum: it tells nothing
    about how stable the record is.
    """
    age_seconds = (now - updated_at).total_seconds()
    if age_seconds <= 0:
        return policy.min_seconds
    heuristic = int(policy.factor * age_seconds)
    return max(policy.min_seconds, min(policy.max_seconds, heuristic))
