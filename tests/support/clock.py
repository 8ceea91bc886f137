"""The one fake clock of the suite: a time a test sets and moves by hand (no test sleeps to wait)."""
from __future__ import annotations


class FakeClock:
    """Call it for the time; ``sleep`` (handed to code that would sleep) or ``advance`` moves it on."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    advance = sleep
