"""Serving the emulator over a real socket: in a background thread or until SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import sys
import threading
from typing import TextIO

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from emulator.app import create_app
from emulator.settings import EmulatorSettings

LISTENING_PREFIX = "Passport emulator listening on "
STOP_POLL_SECONDS = 0.5
STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler without the one-line-per-request access log."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


def base_url(server: BaseWSGIServer) -> str:
    """`http://host:port` of a bound server (IPv6 hosts in brackets)."""
    host = server.host
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{server.server_port}"


def make_emulator_server(settings: EmulatorSettings, app: Flask | None = None) -> BaseWSGIServer:
    """A bound, not yet serving, threaded Werkzeug server for the emulator."""
    handler = WSGIRequestHandler if settings.verbose else QuietRequestHandler
    return make_server(
        settings.host,
        settings.port,
        app or create_app(settings),
        threaded=True,
        request_handler=handler,
    )


def serve_in_thread(settings: EmulatorSettings | None = None,
                    app: Flask | None = None) -> tuple[BaseWSGIServer, str]:
    """Serve in a daemon thread; returns (server, base_url). Stop with `stop_server(server)`.

    Use `EmulatorSettings(port=0)` (the default here) for a free port.
    """
    settings = settings or EmulatorSettings(port=0)
    server = make_emulator_server(settings, app)
    thread = threading.Thread(target=server.serve_forever, name="passport-emulator", daemon=True)
    thread.start()
    return server, base_url(server)


def stop_server(server: BaseWSGIServer) -> None:
    """Stop a server started by `serve_in_thread` and release its socket."""
    server.shutdown()
    server.server_close()


def run_until_signalled(settings: EmulatorSettings, out: TextIO = sys.stdout) -> None:
    """Serve until SIGTERM or SIGINT, announcing the bound address with one stdout line."""
    stop = threading.Event()
    for number in STOP_SIGNALS:
        signal.signal(number, lambda _signum, _frame: stop.set())
    server, url = serve_in_thread(settings)
    out.write(f"{LISTENING_PREFIX}{url}\n")
    out.flush()
    try:
        while not stop.wait(STOP_POLL_SECONDS):
            pass
    finally:
        stop_server(server)
