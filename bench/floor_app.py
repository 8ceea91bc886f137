"""gunicorn's own floor for the benchmark: the cheapest answer gunicorn can give, for scale.

A bare WSGI callable answering every request with the warm customer's bytes from memory: no
framework, no Redis, no auth, no logs. ``bench/run.py`` runs it under gunicorn with the service's
worker class, workers and connections, and loads it like the other two servers. Under gevent it
takes turns between connections exactly as ``config/gunicorn.py`` makes the service's workers do
(one ``gevent.sleep(0)`` per request): without that a gevent worker serves a few keep-alive
connections over and over while the others wait (p99 in the tens of ms even for this callable),
and the floor would not be the ceiling of the service's own setup. Whatever it cannot do (its
req/s, its p99) no WSGI application under this gunicorn on this machine can do either; the
distance between it and the service is what the service's own work costs.

It is not part of the service and never deployed.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from turns import take_turns  # type: ignore[import-not-found]  # bench/ is gunicorn's --chdir

BODY = Path(os.environ["FLOOR_BODY_FILE"]).read_bytes()
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]
TAKE_TURNS = take_turns()


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    TAKE_TURNS()
    start_response("200 OK", list(HEADERS))
    return [BODY]
