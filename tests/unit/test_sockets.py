"""Asking a socket whether it has something unread: an answer at once, and never a wait."""
from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from app.sockets import has_input


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


def test_a_quiet_connection_has_no_input(pair):
    assert has_input(pair[0]) is False


def test_bytes_waiting_are_input_and_stay_unread(pair):
    pair[1].sendall(b"+PONG\r\n")
    assert has_input(pair[0]) is True
    assert pair[0].recv(16) == b"+PONG\r\n"


def test_the_peers_close_is_input(pair):
    pair[1].close()
    assert has_input(pair[0]) is True


def test_under_gevent_asking_lets_no_other_greenlet_run():
    """gevent's own poll would pass through its hub, where other greenlets run: ours must not."""
    program = (
        "from gevent import monkey; monkey.patch_all()\n"
        "import gevent, socket\n"
        "from app.sockets import has_input\n"
        "ran = []\n"
        "gevent.spawn(ran.append, 'other greenlet')\n"
        "ours, theirs = socket.socketpair()\n"
        "quiet = has_input(ours)\n"
        "theirs.sendall(b'x')\n"
        "print(quiet, has_input(ours), ran)\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split("\n")[0] == "False True []"
