"""Whether a pooled connection has something unread, asked of the operating system directly.

Why: before reusing a pooled connection, redis-py (each command) and urllib3 (each Passport call)
ask whether it has anything to read: a reply left unread, or the peer's close. Under gevent that
question goes through gevent's ``select.poll``, which builds watchers and may run the hub: on
our machine a Redis command then costs about 40 to 130 µs more, twice per miss, and urllib3's
check once more. The question is asked with a zero timeout, so it never waits: the operating
system's own ``poll`` answers it in one system call, and cannot block a gevent worker.
"""
from __future__ import annotations

import select
from collections.abc import Callable
from typing import Any


def _unpatched_poll() -> Callable[[], Any]:
    """The standard library's ``select.poll``, even where gevent has replaced it."""
    try:
        from gevent import monkey
    except ImportError:  # no gevent: nothing was replaced
        return select.poll
    poll: Callable[[], Any] = monkey.get_original("select", "poll")
    return poll


_POLL = _unpatched_poll()


def has_input(sock: Any) -> bool:
    """Whether reading ``sock`` would return at once: data, the peer's close, or an error.

    A TLS socket may hold decrypted bytes above the operating system's buffer: they count too.
    """
    pending = getattr(sock, "pending", None)
    if pending is not None and pending():
        return True
    poller = _POLL()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(0))
