"""Start and stop the real processes tests talk to: redis-server, the emulator, gunicorn.

Every server binds 127.0.0.1 on a free port, is waited for by polling its socket (never a
fixed sleep), and is stopped by the fixture that started it (terminate, then kill).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
START_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 0.02


def free_port() -> int:
    """Ask the kernel for a port nobody uses on the loopback interface."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Stop ``process`` politely, then firmly."""
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT_SECONDS)


def wait_until(check, what: str, process: subprocess.Popen | None = None,
               timeout: float = START_TIMEOUT_SECONDS) -> None:
    """Poll ``check()`` until it is true; fail with ``what`` if it never is or the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {process.returncode}")
        try:
            if check():
                return
        except (OSError, redis.RedisError, requests.RequestException):
            pass
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"{what} not ready after {timeout}s")


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def start(self) -> RedisServer:
        """Start (or restart, on the same port) a throwaway redis-server without persistence."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run scripts/test, which installs it")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no",
             "--dir", tempfile.gettempdir(), "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(host=LOOPBACK, port=self.port, socket_timeout=1)
        wait_until(client.ping, "redis-server", self.process)
        client.close()
        return self

    def kill(self) -> None:
        if self.process is not None:
            stop(self.process, signal.SIGKILL)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)


def start_emulator(extra_args: list[str] | None = None) -> tuple[subprocess.Popen, str]:
    """Run ``python -m emulator --port 0`` and return it with the base URL it announced."""
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--host", LOOPBACK, "--port", "0", *(extra_args or [])],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    line = process.stdout.readline() if process.stdout else ""
    if "listening on " not in line:
        stop(process)
        raise RuntimeError(f"the emulator did not start: {line!r}")
    base_url = line.rsplit("listening on ", 1)[1].strip()
    wait_until(lambda: requests.get(f"{base_url}/_emulator/health", timeout=1).ok, "emulator", process)
    return process, base_url


def start_gunicorn(env: Mapping[str, str], workers: int = 2, port: int | None = None,
                   log_path: Path | None = None) -> tuple[subprocess.Popen, str]:
    """Run the service as deployed: gunicorn with ``config/gunicorn.py`` on a loopback port
    (its output, logs included, to ``log_path`` when given)."""
    port = port or free_port()
    # A test stops its instance with SIGTERM: no drain, unless the test is about draining.
    full_env = {**os.environ, "DRAIN_SECONDS": "0", **env, "GUNICORN_BIND": f"{LOOPBACK}:{port}",
                "WEB_CONCURRENCY": str(workers)}
    with (log_path.open("ab") if log_path else open(os.devnull, "wb")) as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "wsgi:app"],
            cwd=ROOT, env=full_env, stdout=output, stderr=output,
        )
    base_url = f"http://{LOOPBACK}:{port}"
    wait_until(lambda: requests.get(f"{base_url}/healthz", timeout=1).ok, "gunicorn", process)
    return process, base_url
