"""Taking turns between connections, as ``config/gunicorn.py`` makes the service's gevent workers do,
for the bench/ apps that stand beside the service (``floor_app``, ``miss_floor_app``)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any


def take_turns() -> Callable[[], Any]:
    """``gevent.sleep(0)`` in a gevent worker (gunicorn patched the socket module), else nothing."""
    try:
        import gevent
        from gevent import monkey
    except ImportError:
        return lambda: None
    return (lambda: gevent.sleep(0)) if monkey.is_module_patched("socket") else (lambda: None)
