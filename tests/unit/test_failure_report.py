"""app.failure_report: a recurring failure is said once a minute, not once a request."""
from __future__ import annotations

import logging

from app.failure_report import FailureReport
from tests.support.clock import FakeClock


def test_a_failure_is_logged_at_most_once_per_period(caplog):
    clock = FakeClock(0.0)
    report = FailureReport(logging.getLogger("test.failure_report"), "sink down: %s", 60.0, clock)
    with caplog.at_level(logging.WARNING, logger="test.failure_report"):
        for _ in range(5):
            report("ENOSPC")
        clock.advance(59)
        report("ENOSPC")
        clock.advance(1)
        report("EIO")
    assert [record.getMessage() for record in caplog.records] == ["sink down: ENOSPC", "sink down: EIO"]
