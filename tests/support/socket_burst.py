"""A burst of truly concurrent HTTP requests from one thread: every connection open before any request.

Why: a burst from threads (``tests.support.cluster.burst``) is as concurrent as the test runner's
GIL lets it be, a few dozen requests at a time. The promise under test here — one Passport call per
cold customer at 1,000 concurrent requests — is about a server holding 1,000 requests at once, so
this opens every connection first (non-blocking connects, waited for together), then writes every
request in one pass, then reads every answer as it comes (``selectors``). Each request says
``Connection: close``: an answer ends when the server closes. Bounded in count and in time.
"""
from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

MAX_CONNECTIONS = 5_000
READ_SIZE = 65_536


@dataclass
class RawAnswer:
    """One answer as bytes, parsed just enough; ``error`` says why there is none."""

    target: tuple[str, int, str]
    started: float
    raw: bytearray = field(default_factory=bytearray)
    finished: float | None = None
    error: str | None = None

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def status(self) -> int | None:
        line = bytes(self.raw).split(b"\r\n", 1)[0].split(b" ")
        return int(line[1]) if len(line) > 1 and line[1].isdigit() else None

    @property
    def headers(self) -> dict[str, str]:
        head = bytes(self.raw).split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
        return {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in head)}

    @property
    def body(self) -> bytes:
        return bytes(self.raw).split(b"\r\n\r\n", 1)[-1]

    def __repr__(self) -> str:
        return (f"<RawAnswer {self.status} {self.headers.get('cache-status', '')} "
                f"{self.elapsed * 1000:.0f}ms {self.error or ''}>")


def request_bytes(host: str, port: int, path: str, headers: dict[str, str] | None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def socket_burst(targets: Sequence[tuple[str, int, str]], timeout: float = 20.0,
                 headers: dict[str, str] | None = None) -> list[RawAnswer]:
    """GET every ``(host, port, path)`` at once; answers in ``targets`` order, each within ``timeout``."""
    if not 0 < len(targets) <= MAX_CONNECTIONS:
        raise ValueError(f"a socket burst holds 1..{MAX_CONNECTIONS} requests")
    deadline = time.monotonic() + timeout
    selector = selectors.DefaultSelector()
    answers = [RawAnswer(target, time.monotonic()) for target in targets]
    sockets = []
    try:
        for answer in answers:
            host, port, _ = answer.target
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.connect_ex((host, port))
            sockets.append(sock)
            selector.register(sock, selectors.EVENT_WRITE, answer)
        wait_until_connected(selector, len(answers), deadline)
        start = time.monotonic()
        for sock, answer in zip(sockets, answers, strict=True):
            host, port, path = answer.target
            answer.started = start
            if answer.error is None:
                sock.sendall(request_bytes(host, port, path, headers))  # small: fits the socket buffer
                selector.register(sock, selectors.EVENT_READ, answer)
        read_until_closed(selector, deadline)
    finally:
        for sock in sockets:
            sock.close()
        selector.close()
    for answer in answers:
        if answer.finished is None and answer.error is None:
            answer.error = "timed out"
    return answers


def wait_until_connected(selector: selectors.BaseSelector, count: int, deadline: float) -> None:
    """Every connect done (or failed) before any request leaves: the burst starts together."""
    pending = count
    while pending and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=max(0.0, deadline - time.monotonic())):
            answer: RawAnswer = key.data
            error = key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)  # type: ignore[union-attr]
            if error:
                answer.error = f"connect failed: {error}"
            selector.unregister(key.fileobj)  # a connected socket waits for the send pass
            pending -= 1
    for key in list(selector.get_map().values()):
        key.data.error = "connect timed out"
        selector.unregister(key.fileobj)


def read_until_closed(selector: selectors.BaseSelector, deadline: float) -> None:
    while selector.get_map() and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=max(0.0, deadline - time.monotonic())):
            answer: RawAnswer = key.data
            try:
                chunk = key.fileobj.recv(READ_SIZE)  # type: ignore[union-attr]
            except OSError as exc:
                chunk, answer.error = b"", f"{type(exc).__name__}: {exc}"
            if chunk:
                answer.raw += chunk
            else:
                answer.finished = time.monotonic()
                selector.unregister(key.fileobj)
