"""Draining: the master's SIGTERM raises a flag the workers share, then stops after ``DRAIN_SECONDS``.

The whole behaviour under real gunicorn and real clients is ``tests/faults/test_drain_and_reload.py``;
these pin down the parts: the flag crosses a fork, the first SIGTERM drains and the second stops.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
from types import SimpleNamespace

import pytest

from app.drain import DrainBeforeStop, DrainFlag, close_while_draining


class Arbiter:
    """The part of gunicorn's arbiter the drain uses: its log and its signal queue."""

    def __init__(self) -> None:
        self.log = logging.getLogger("test.arbiter")
        self.signalled = threading.Event()
        self.signals: list[int] = []

    def signal(self, sig: int, frame: object) -> None:
        self.signals.append(sig)
        self.signalled.set()

    def handle_term(self) -> None:
        raise AssertionError("gunicorn's own handler must have been replaced")


def test_a_flag_raised_in_one_process_is_seen_by_a_process_forked_before():
    flag = DrainFlag()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the worker: wait for the master's word, then report what it sees
        os.close(write)
        os.read(read, 1)
        os._exit(0 if flag.draining else 1)
    os.close(read)
    flag.begin()
    os.write(write, b"x")
    os.close(write)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_the_first_sigterm_drains_and_asks_for_the_stop_when_the_drain_is_over():
    arbiter, flag = Arbiter(), DrainFlag()
    DrainBeforeStop(arbiter, 0.01, flag).install()
    arbiter.handle_term()  # returns: the master keeps running its workers
    assert flag.draining
    assert arbiter.signalled.wait(5)
    assert arbiter.signals == [signal.SIGTERM]
    with pytest.raises(StopIteration):  # that SIGTERM (or an operator's second) is gunicorn's stop
        arbiter.handle_term()


def test_without_a_drain_sigterm_is_gunicorns_graceful_stop_at_once():
    arbiter, flag = Arbiter(), DrainFlag()
    DrainBeforeStop(arbiter, 0, flag).install()
    with pytest.raises(StopIteration):
        arbiter.handle_term()
    assert not flag.draining


def test_while_draining_every_connection_closes_after_its_answer():
    flag = DrainFlag()
    request = SimpleNamespace(must_close=False)
    close_while_draining(request, flag)
    assert request.must_close is False
    flag.begin()
    close_while_draining(request, flag)
    assert request.must_close is True
