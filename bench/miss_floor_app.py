"""The floor of a miss on this stack: gunicorn (gevent) and urllib3 asking the emulator, nothing else.

A bare WSGI callable that answers ``GET /v1/customers/<id>`` with Passport's body for that id,
fetched for every request through one urllib3 pool kept open toward the emulator
(``MISS_FLOOR_UPSTREAM``, with the bearer token ``MISS_FLOOR_TOKEN``): no framework, no Redis, no
validation, no rendering, no auth, no logs. It takes turns between connections as the service's
workers do (``gevent.sleep(0)``, ``config/gunicorn.py``). ``bench/miss_ab.py --miss-floor`` runs it
beside the services: its "added latency per miss" is what the by-design parts alone (gunicorn,
gevent, urllib3) add to the emulator's own latency, and the distance between it and the service is
what the service's own work on a miss costs (two Redis round trips, validation and rendering,
caller auth, logs, metrics).

It is not part of the service and never deployed.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import urllib3
from turns import take_turns  # type: ignore[import-not-found]  # bench/ is gunicorn's --chdir

TAKE_TURNS = take_turns()
POOL = urllib3.connection_from_url(os.environ["MISS_FLOOR_UPSTREAM"], maxsize=10)
HEADERS = {"Authorization": f"Bearer {os.environ['MISS_FLOOR_TOKEN']}", "Accept": "application/json"}


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    TAKE_TURNS()
    upstream = POOL.urlopen("GET", environ["PATH_INFO"], headers=HEADERS, retries=False, redirect=False)
    body = upstream.data
    start_response(f"{upstream.status} {'OK' if upstream.status == 200 else 'UPSTREAM'}", [
        ("Content-Type", "application/json"), ("Content-Length", str(len(body))), ("X-Cache", "MISS")])
    return [body]
