"""Run passport-bff for local development: the Passport emulator (unless PASSPORT_BASE_URL is set),
then the service under gunicorn with one worker, so the in-process cache is shared by every request.

Ctrl-C stops both. Used by ``scripts/run``; all settings come from the environment as usual.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"
EMULATOR_PORT = 8090
START_TIMEOUT_SECONDS = 15.0


def wait_for_port(port: int, process: subprocess.Popen, name: str) -> None:
    """Block until ``port`` accepts connections, or fail if ``process`` died or took too long."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{name} exited with {process.returncode}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{name} did not start listening on {LOOPBACK}:{port}")


def start_emulator() -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "emulator", "--host", LOOPBACK, "--port", str(EMULATOR_PORT)],
                               cwd=ROOT, stdout=subprocess.DEVNULL)
    wait_for_port(EMULATOR_PORT, process, "the Passport emulator")
    return process


def main() -> None:
    # Turn SIGTERM into a normal exit so the children are stopped in ``finally``.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    env = dict(os.environ)
    env.setdefault("APP_ENV", "development")
    port = int(env.get("PORT", "8000"))
    env.setdefault("GUNICORN_BIND", f"{LOOPBACK}:{port}")
    env.setdefault("WEB_CONCURRENCY", "1")
    children: list[subprocess.Popen] = []
    if "PASSPORT_BASE_URL" not in env and env["APP_ENV"] == "development":
        children.append(start_emulator())
        upstream = f"the Passport emulator on http://{LOOPBACK}:{EMULATOR_PORT}"
    else:
        upstream = env.get("PASSPORT_BASE_URL", "PASSPORT_BASE_URL")
    cache = "Redis" if env.get("REDIS_URL") else "an in-process cache (set REDIS_URL for Redis)"
    service = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "wsgi:app"],
                               cwd=ROOT, env=env)
    children.append(service)
    wait_for_port(port, service, "passport-bff")
    print(f"passport-bff listening on http://{LOOPBACK}:{port} (APP_ENV={env['APP_ENV']}, "
          f"upstream: {upstream}, cache: {cache})", flush=True)
    key_hint = "" if "AUTH_API_KEYS" in env else " -H 'X-API-Key: dev-api-key'"
    if "AUTH_API_KEYS" not in env:
        print("development API key (public, refused in production): dev-api-key", flush=True)
    print(f"try: curl -i{key_hint} http://{LOOPBACK}:{port}/v1/customers/db7e89e7-59d8-4ab1-b675-a2ae52c3339e",
          flush=True)
    try:
        service.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
                child.wait(10)


if __name__ == "__main__":
    main()
