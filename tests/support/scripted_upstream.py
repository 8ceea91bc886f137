"""A loopback HTTP server that answers with scripted raw bytes: the hostile Passport.

Each connection pops the next script (a callable given the socket) so a test can send a lying
Content-Length, trickle a body, close mid-answer or speak garbage — what no well-behaved
server (the emulator included) will do.
"""
from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Script = Callable[[socket.socket], None]


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(5)
        try:
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

    def __init__(self, default: Script) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.scripts: list[Script] = []
        self.default = default
        self.connections = 0
        self.received: list[bytes] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def scripted_upstream(default: Script) -> Iterator[ScriptedUpstream]:
    server = ScriptedUpstream(default)
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
