"""What to do with a cached entry, decided with no I/O: the cache policy's rules in two pure functions.

``decide(entry, now, windows)`` — when a lookup has read the customer's entry:

| the entry read                                          | action                      |
|---------------------------------------------------------|-----------------------------|
| none (absent, foreign or damaged)                       | ``FETCH``                   |
| fresh: a customer, or a remembered 404                  | ``SERVE``                   |
| a customer, stale for less than stale-while-revalidate  | ``SERVE_STALE_AND_REFRESH`` |
| a customer, stale for longer                            | ``FETCH``                   |
| a remembered 404, expired                               | ``FETCH``                   |

``serves_on_error(entry, now, windows)`` — when a fetch failed (RFC 5861 §4, stale-if-error): the
copy answers instead if it is a customer stale for at most the stale-if-error window; never a 404.
(What a 403 does — drop the copy — is an action on the store, ``app.policy.records``.)

Freshness itself (how long a record stays fresh, from its ``updated_at``) is ``app.policy.freshness``;
an entry records the freshness it earned when it was fetched.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from app.store.entry import CachedRecord


class Action(Enum):
    SERVE = "serve"
    SERVE_STALE_AND_REFRESH = "serve-stale-and-refresh"
    FETCH = "fetch"


@dataclass(frozen=True)
class StaleWindows:
    """How long past its freshness a customer's copy may still answer (RFC 5861)."""

    while_revalidate_seconds: float
    if_error_seconds: float


def decide(entry: CachedRecord | None, now: float, windows: StaleWindows) -> Action:
    """What a lookup does with the entry it read at ``now``."""
    if entry is None:
        return Action.FETCH
    if entry.is_fresh(now):
        return Action.SERVE
    if entry.found and entry.stale_for(now) < windows.while_revalidate_seconds:
        return Action.SERVE_STALE_AND_REFRESH
    return Action.FETCH


def serves_on_error(entry: CachedRecord | None, now: float, windows: StaleWindows) -> bool:
    """Whether ``entry`` may answer for a fetch that failed at ``now`` (stale-if-error)."""
    return entry is not None and entry.found and entry.stale_for(now) <= windows.if_error_seconds
