"""One wall-clock budget per Passport attempt: connect, send, headers and body all end by it.

Why: requests and urllib3 only know per-operation timeouts. The read timeout bounds each socket
read, so an upstream sending a byte every 0.2 s never trips a 2 s read timeout, in the headers
(read by ``http.client`` before we see a response at all) as in the body. Checking the clock
between body reads does not help with headers either.

How: ``PassportClient`` runs each attempt inside ``attempt_budget(ends_at)``. The connections of a
session built with ``BudgetedAdapter`` then

- connect (TCP, and the TLS handshake) with a socket timeout cut to the time left, and under gevent
  inside a ``gevent.Timeout`` (gevent's handshake and DNS lookup take no overall timeout);
- send with a socket timeout cut to the time left;
- read the status line, headers and body through ``BudgetedReader``, which gives every socket read
  ``min(read timeout, time left)`` and raises ``TimeoutError`` once none is left, as a socket
  timeout would: urllib3 and requests translate it into a read timeout, the connection is dropped.

Connections are bounded too: a worker holds at most ``PASSPORT_MAX_CONNECTIONS`` open toward
Passport (``BudgetedAdapter(pool_maxsize=..., pool_block=True)``). A call that finds them all busy
waits for one, but only until its attempt's end; a wait that runs out is ``PassportPoolBusy``.
Without the bound, a burst of distinct cold ids made as many simultaneous Passport calls as the
worker held requests (up to 1,000 under gevent), and urllib3 discarded every connection past the
pool's size after one use, logging a warning for each.

The budget is a ``ContextVar``, so each thread (or greenlet) sees only its own attempt's. Outside
an attempt, or with a SOCKS proxy (not given these connection classes), behaviour is urllib3's own.
Costs on the fast path: one clock read and one ``settimeout`` per socket read or send.
"""
from __future__ import annotations

import http.client
import io
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import EmptyPoolError

from app.sockets import has_input

# A socket timeout of 0 would make the socket non-blocking; the next read raises the timeout instead.
SMALLEST_SOCKET_TIMEOUT = 0.001

_attempt_ends_at: ContextVar[float | None] = ContextVar("passport_attempt_ends_at", default=None)


@contextmanager
def attempt_budget(ends_at: float) -> Iterator[None]:
    """Make every Passport connection used inside this block end its work by ``ends_at`` (monotonic)."""
    token = _attempt_ends_at.set(ends_at)
    try:
        yield
    finally:
        _attempt_ends_at.reset(token)


def seconds_left(ends_at: float) -> float:
    """Time left until ``ends_at``; none left is a ``TimeoutError``, as from a socket."""
    left = ends_at - time.monotonic()
    if left <= 0:
        raise TimeoutError("Passport's answer did not arrive within the attempt's time")
    return left


class BudgetedReader(io.RawIOBase):
    """A socket's raw reader whose every read ends by the attempt's end, however bytes trickle."""

    def __init__(self, sock: Any, ends_at: float) -> None:
        super().__init__()
        self._sock = sock
        self._raw = sock.makefile("rb", buffering=0)  # a SocketIO: keeps the socket's io refcount
        self._ends_at = ends_at
        self._read_timeout: float | None = sock.gettimeout()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        left = seconds_left(self._ends_at)
        self._sock.settimeout(left if self._read_timeout is None else min(self._read_timeout, left))
        read: int | None = self._raw.readinto(buffer)
        return read

    def fileno(self) -> int:
        return int(self._raw.fileno())

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _BudgetedSocket:
    """What ``http.client.HTTPResponse`` asks of a socket (``makefile("rb")``), budgeted."""

    def __init__(self, sock: Any, ends_at: float) -> None:
        self._sock = sock
        self._ends_at = ends_at

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(BudgetedReader(self._sock, self._ends_at))


class BudgetedResponse(http.client.HTTPResponse):
    """An ``http.client`` response whose status line, headers and body are read within the budget."""

    def __init__(self, sock: Any, *args: Any, **kwargs: Any) -> None:
        ends_at = _attempt_ends_at.get()
        readable: Any = sock if ends_at is None else _BudgetedSocket(sock, ends_at)  # duck-typed: makefile()
        super().__init__(readable, *args, **kwargs)


def _connect_deadline(ends_at: float | None) -> AbstractContextManager[object]:
    """Under gevent, interrupt a connect (DNS, TLS handshake) still running at ``ends_at``.

    Why: CPython gives the whole TLS handshake the socket timeout; gevent gives it to each wait,
    and neither bounds the DNS lookup. Plain threads cannot be interrupted: there the socket
    timeout cut to the time left is the bound (DNS excepted).
    """
    if ends_at is None or "gevent" not in sys.modules:
        return nullcontext()
    import gevent
    import gevent.monkey

    if not gevent.monkey.is_module_patched("socket"):
        return nullcontext()
    timeout: AbstractContextManager[object] = gevent.Timeout(
        max(ends_at - time.monotonic(), SMALLEST_SOCKET_TIMEOUT),
        TimeoutError("Passport's connection was not made within the attempt's time"))
    return timeout


class _BudgetedConnectionMixin(HTTPConnection):
    """Connect and send within the attempt's budget; read through ``BudgetedResponse``."""

    response_class: type[http.client.HTTPResponse] = BudgetedResponse

    def connect(self) -> None:
        with _connect_deadline(_attempt_ends_at.get()):
            super().connect()

    def _new_conn(self) -> Any:
        """The TCP socket, its timeout cut to the time left before the TLS handshake and sending."""
        sock = super()._new_conn()
        self._cut_timeout(sock)
        return sock

    @property
    def is_connected(self) -> bool:
        """Whether a pooled connection may be reused (nothing unread, not closed), asked without gevent's hub."""
        return self.sock is not None and not has_input(self.sock)

    def send(self, data: Any) -> None:
        if self.sock is not None:
            self._cut_timeout(self.sock)  # urllib3 set the connect timeout again for sending
        super().send(data)

    @staticmethod
    def _cut_timeout(sock: Any) -> None:
        ends_at = _attempt_ends_at.get()
        if ends_at is not None:
            timeout = sock.gettimeout()
            left = max(ends_at - time.monotonic(), SMALLEST_SOCKET_TIMEOUT)
            sock.settimeout(left if timeout is None else min(timeout, left))


class BudgetedHTTPConnection(_BudgetedConnectionMixin, HTTPConnection):
    pass


class BudgetedHTTPSConnection(_BudgetedConnectionMixin, HTTPSConnection):
    pass


class PassportPoolBusy(EmptyPoolError):
    """Every connection of this worker to Passport stayed busy until the attempt's end: local, not Passport's fault.

    An ``EmptyPoolError``, so urllib3 and requests let it through untranslated to ``PassportClient``.
    """


class _BudgetedPoolMixin(HTTPConnectionPool):
    """Wait for a free connection of a full (blocking) pool until the attempt's end, not forever."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        ends_at = _attempt_ends_at.get()
        if not self.block or ends_at is None:
            return super()._get_conn(timeout)
        left = max(ends_at - time.monotonic(), SMALLEST_SOCKET_TIMEOUT)
        try:
            return super()._get_conn(left if timeout is None else min(timeout, left))
        except EmptyPoolError:
            raise PassportPoolBusy(self, "no connection to Passport came free within the attempt's time") from None


class BudgetedHTTPConnectionPool(_BudgetedPoolMixin, HTTPConnectionPool):
    ConnectionCls = BudgetedHTTPConnection


class BudgetedHTTPSConnectionPool(_BudgetedPoolMixin, HTTPSConnectionPool):
    ConnectionCls = BudgetedHTTPSConnection


BUDGETED_POOL_CLASSES = {"http": BudgetedHTTPConnectionPool, "https": BudgetedHTTPSConnectionPool}


class BudgetedAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections (direct or through an HTTP proxy) honour ``attempt_budget``."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = BUDGETED_POOL_CLASSES

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS managers bring their own connections
            manager.pool_classes_by_scheme = BUDGETED_POOL_CLASSES
        return manager
