"""The record a failed fetch leaves for its waiters: round-trips, and only for those who waited."""
from __future__ import annotations

import pytest

from app.passport import errors as passport_errors
from app.policy.records import decode_failure, encode_failure


@pytest.mark.parametrize(
    "error",
    [passport_errors.PassportTimeout("x"), passport_errors.PassportUnreachable("x"),
     passport_errors.PassportServerError(503), passport_errors.PassportRateLimited(7),
     passport_errors.PassportCircuitOpen(4), passport_errors.PassportBadResponse("x"),
     passport_errors.PassportForbidden("x"), passport_errors.PassportCredentialsRejected("x")],
)
def test_failure_round_trips_with_its_number(error):
    rebuilt = decode_failure(encode_failure(error, at=100.0), since=99.0)
    assert type(rebuilt) is type(error)
    assert getattr(rebuilt, "retry_after", None) == getattr(error, "retry_after", None)
    assert getattr(rebuilt, "status", None) == getattr(error, "status", None)


def test_a_failure_from_before_the_wait_began_is_ignored():
    assert decode_failure(encode_failure(passport_errors.PassportTimeout("x"), at=100.0), since=100.5) is None


@pytest.mark.parametrize("raw", [None, b"", b"garbage", b"1.0 NotAnError 0", b"1.0 PassportTimeout", b"x y z"])
def test_unreadable_records_are_ignored(raw):
    assert decode_failure(raw, since=0.0) is None
