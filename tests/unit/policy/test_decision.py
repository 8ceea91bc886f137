"""app.policy.decision: what a lookup does with the entry it read — the cache policy's decision table."""
from __future__ import annotations

import pytest

from app.policy.decision import Action, StaleWindows, decide, serves_on_error
from app.store.entry import found_entry, not_found_entry

FETCHED_AT = 1_000.0
FRESH_SECONDS = 60
WINDOWS = StaleWindows(while_revalidate_seconds=30, if_error_seconds=600)
CUSTOMER = found_entry(b'{"id": "x"}', FETCHED_AT, FETCHED_AT - 3_600, FRESH_SECONDS)
REMEMBERED_404 = not_found_entry(FETCHED_AT, FRESH_SECONDS)
FRESH_UNTIL = FETCHED_AT + FRESH_SECONDS


@pytest.mark.parametrize("entry, now, action", [
    (None, FETCHED_AT, Action.FETCH),
    (CUSTOMER, FETCHED_AT, Action.SERVE),
    (CUSTOMER, FRESH_UNTIL - 0.001, Action.SERVE),
    (CUSTOMER, FRESH_UNTIL, Action.SERVE_STALE_AND_REFRESH),  # freshness ends at its last instant
    (CUSTOMER, FRESH_UNTIL + 29.999, Action.SERVE_STALE_AND_REFRESH),
    (CUSTOMER, FRESH_UNTIL + 30, Action.FETCH),  # past stale-while-revalidate
    (CUSTOMER, FRESH_UNTIL + 600, Action.FETCH),  # within stale-if-error: fetch, the copy is the fallback
    (CUSTOMER, FRESH_UNTIL + 601, Action.FETCH),  # past both
    (CUSTOMER, FETCHED_AT - 5, Action.SERVE),  # fetched "in the future" (clocks apart): still fresh
    (REMEMBERED_404, FETCHED_AT + 1, Action.SERVE),
    (REMEMBERED_404, FRESH_UNTIL, Action.FETCH),  # an expired 404 is never served stale
    (REMEMBERED_404, FRESH_UNTIL + 1, Action.FETCH),
], ids=["absent", "fresh", "fresh-last-moment", "stale-at-once", "stale-within-swr", "stale-past-swr",
        "stale-within-sie", "stale-past-both", "fetched-in-the-future", "404-fresh", "404-expired",
        "404-expired-later"])
def test_decide(entry, now, action):
    assert decide(entry, now, WINDOWS) is action


@pytest.mark.parametrize("entry, now, serves", [
    (CUSTOMER, FRESH_UNTIL + 600, True),  # at the edge of stale-if-error
    (CUSTOMER, FRESH_UNTIL + 600.001, False),
    (CUSTOMER, FRESH_UNTIL + 10, True),
    (REMEMBERED_404, FRESH_UNTIL + 10, False),  # a 404 never stands in for a failure
    (None, FETCHED_AT, False),
], ids=["sie-edge", "past-sie", "within-sie", "404", "absent"])
def test_serves_on_error(entry, now, serves):
    assert serves_on_error(entry, now, WINDOWS) is serves


def test_without_stale_windows_only_fresh_copies_are_served():
    none = StaleWindows(0, 0)
    assert decide(CUSTOMER, FRESH_UNTIL, none) is Action.FETCH
    assert not serves_on_error(CUSTOMER, FRESH_UNTIL + 0.001, none)
