"""Whether this instance is draining: one flag that gunicorn's master sets and its workers read.

Why shared memory: SIGTERM reaches the master, but ``/readyz`` is answered by the workers, and a
worker the master starts during the drain (to replace one that died) must know too. The flag is
one byte of an anonymous shared mapping, created when this module is first imported; the master
imports it (``config/gunicorn.py``) before it forks, so every worker maps the same byte. Outside
gunicorn (tests, ``flask run``) the byte is private to the process and stays clear.

Nothing here imports Flask or gunicorn: the master runs it, and the web layer only reads it.
"""
from __future__ import annotations

import mmap
import signal
import threading
from typing import Any


class DrainFlag:
    """A flag that, once raised, stays raised for the life of the master and its workers."""

    def __init__(self) -> None:
        self._byte = mmap.mmap(-1, 1)  # anonymous and MAP_SHARED: a fork shares it, not copies it

    def begin(self) -> None:
        """Say this instance is draining: readiness fails from now on."""
        self._byte[0] = 1

    @property
    def draining(self) -> bool:
        return self._byte[0] == 1


DRAIN = DrainFlag()


class DrainBeforeStop:
    """gunicorn master's SIGTERM: drain for ``seconds``, then gunicorn's own graceful stop.

    The first SIGTERM raises the flag (``/readyz`` answers 503 at once, so a gateway that routes by
    readiness stops sending) while the workers keep serving every request, new connections
    included, and close each keep-alive connection after its answer (``close_while_draining``), so
    that clients reconnect — through the gateway, to another instance. When ``seconds`` have passed
    the master stops as gunicorn always does: it closes the listener, gives workers the graceful
    timeout to finish what they are serving, and exits 0. A second SIGTERM ends the drain at once,
    just as the timer does, so an impatient operator (or a SIGTERM sent twice) still gets a clean exit.
    """

    def __init__(self, arbiter: Any, seconds: float, flag: DrainFlag = DRAIN) -> None:
        self.arbiter = arbiter
        self.seconds = seconds
        self.flag = flag
        self._timer: threading.Timer | None = None

    def install(self) -> None:
        """Take over the arbiter's SIGTERM handling (gunicorn looks ``handle_term`` up on the instance)."""
        self.arbiter.handle_term = self.handle_term

    def handle_term(self) -> None:
        """Run by the master's main loop for each SIGTERM (never inside the signal handler)."""
        if self._timer is not None or self.seconds <= 0:
            raise StopIteration  # gunicorn's own SIGTERM: the graceful stop
        self.flag.begin()
        self.arbiter.log.info("Draining for %g s: /readyz answers 503, requests are still served", self.seconds)
        # The timer sends the master its second SIGTERM through gunicorn's own signal queue.
        self._timer = threading.Timer(self.seconds, self.arbiter.signal, (signal.SIGTERM, None))
        self._timer.daemon = True
        self._timer.start()


def close_while_draining(request: Any, flag: DrainFlag = DRAIN) -> None:
    """gunicorn ``pre_request``: while draining, the connection closes after this answer."""
    if flag.draining:
        request.must_close = True
