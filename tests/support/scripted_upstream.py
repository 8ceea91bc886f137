"""A loopback HTTP server that answers with scripted raw bytes: the hostile Passport.

Each connection pops the next script (a callable given the socket) so a test can send a lying
Content-Length, trickle a body, close mid-answer or speak garbage — what no well-behaved
server (the emulator included) will do.
"""
from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Script = Callable[[socket.socket], None]


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(5)
        try:
            if self.server.reads_request:  # type: ignore[attr-defined]
                self.server.received.append(read_request(self.request))  # type: ignore[attr-defined]
            script = self.server.scripts.pop(0) if self.server.scripts else self.server.default  # type: ignore[attr-defined]
            self.server.connections += 1  # type: ignore[attr-defined]
            script(self.request)
        except OSError:
            pass


def read_request(sock: socket.socket) -> bytes:
    """Read one whole HTTP request: the head, then as many body bytes as it announces."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].lower()
    length = 0
    for line in head.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(data.split(b"\r\n\r\n", 1)[1]) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


class ScriptedUpstream(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, default: Script, *, reads_request: bool = True) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.scripts: list[Script] = []
        self.default = default
        # False: scripts get the connection as it opens, e.g. to answer a TLS ClientHello.
        self.reads_request = reads_request
        self.connections = 0
        self.received: list[bytes] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def scripted_upstream(default: Script, *, reads_request: bool = True) -> Iterator[ScriptedUpstream]:
    server = ScriptedUpstream(default, reads_request=reads_request)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def respond(status: int, body: bytes, headers: dict[str, str] | None = None) -> Script:
    """A well-formed answer (Content-Length set from the body unless given)."""
    def script(sock: socket.socket) -> None:
        lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
        if not headers or "Content-Length" not in headers:
            lines.append(f"Content-Length: {len(body)}")
        sock.sendall(("\r\n".join(lines + ["Connection: close", "", ""])).encode() + body)
    return script


def _head(status: int, body: bytes, headers: dict[str, str] | None, connection: str) -> bytes:
    """The status line and headers of an answer, Content-Length set from the body."""
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines += [f"Content-Length: {len(body)}", f"Connection: {connection}", "", ""]
    return "\r\n".join(lines).encode()


def _send_slowly(sock: socket.socket, data: bytes, interval: float) -> None:
    """Send ``data`` one byte every ``interval`` seconds (all at once if 0)."""
    if not interval:
        sock.sendall(data)
        return
    for byte in data:
        sock.sendall(bytes([byte]))
        time.sleep(interval)


def trickled(
    status: int, body: bytes, *, head_interval: float = 0.0, body_interval: float = 0.0,
    headers: dict[str, str] | None = None,
) -> Script:
    """A well-formed answer sent slowly: the status line at once, then each byte of the headers
    ``head_interval`` seconds apart and each byte of the body ``body_interval`` apart (0: at once).

    Every gap stays below any sane per-read timeout, so only a bound on the whole answer stops it;
    the script ends by itself once all bytes are sent (or when the client hangs up).
    """
    head = _head(status, body, headers, "close")
    status_line, rest = head.split(b"\r\n", 1)

    def script(sock: socket.socket) -> None:
        sock.sendall(status_line + b"\r\n")
        _send_slowly(sock, rest, head_interval)
        _send_slowly(sock, body, body_interval)
    return script


def after(seconds: float, script: Script) -> Script:
    """Run ``script`` after ``seconds`` of silence: an upstream slow to start answering."""
    def delayed(sock: socket.socket) -> None:
        time.sleep(seconds)
        script(sock)
    return delayed


def keep_alive(status: int, body: bytes) -> Script:
    """Answer every request on the connection alike and leave it open (HTTP/1.1 persistence).

    ``ScriptedUpstream.connections`` then counts the connections a client opened, so a test can
    see it reuse one.
    """
    answer = _head(status, body, None, "keep-alive") + body

    def script(sock: socket.socket) -> None:
        sock.sendall(answer)
        while read_request(sock):
            sock.sendall(answer)
    return script


def trickled_tls_handshake(interval: float, byte_count: int = 200) -> Script:
    """Answer a TLS ClientHello with the header of a 16 KiB handshake record, then one byte of it
    every ``interval`` seconds, ``byte_count`` of them: a handshake that never completes, yet never
    goes quiet.

    Use with ``reads_request=False`` and an ``https://`` URL on the server's port. No certificate
    is needed: the client waits for the record forever, as far as each read can tell.
    """
    def script(sock: socket.socket) -> None:
        sock.recv(65536)  # the ClientHello
        sock.sendall(b"\x16\x03\x03\x40\x00")  # handshake record, TLS 1.2, 16384 bytes
        _send_slowly(sock, b"\x02" * byte_count, interval)
    return script
