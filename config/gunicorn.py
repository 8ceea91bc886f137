"""Gunicorn settings for passport-bff, driven by the environment (``gunicorn -c config/gunicorn.py wsgi:app``).

- ``GUNICORN_BIND`` (default ``0.0.0.0:$PORT``, ``PORT`` default 8000): where to listen.
- ``WEB_CONCURRENCY`` (default 2): worker processes; about one per core, since the hit path is
  CPU-bound Python and the rest waits on sockets.
- ``GUNICORN_WORKER_CLASS`` (default ``gevent``): chosen by measurement (``bench/run.py``, README
  "Benchmarks"). A cache hit is CPU-bound Python and everything else waits on sockets, so what
  matters is the cost of switching between waiting requests: gevent's greenlets switch in user
  space, where ``gthread``'s OS threads fight over the GIL (erratic throughput, a long p99 tail).
  ``gthread`` stays available for platforms where gevent's monkey-patching is unwelcome.
- ``GUNICORN_WORKER_CONNECTIONS`` (default 1000): concurrent connections per gevent worker.
- ``GUNICORN_THREADS`` (default 8): threads per worker with ``gthread``, so a worker waiting on
  Passport or on a token fetch keeps serving cache hits.
- ``GUNICORN_TIMEOUT`` (default 30) / ``GUNICORN_GRACEFUL_TIMEOUT`` (default 20): a worker silent
  longer than the first is restarted; on stopping, workers get the second to finish requests.
- ``DRAIN_SECONDS`` (default 10 in production, 0 elsewhere): on SIGTERM the instance first drains
  (``app.drain``): ``/readyz`` answers 503 at once, every request is still served, keep-alive
  connections close after their answer; then the graceful stop above, and exit 0. SIGHUP reloads
  the workers without a failed request (new workers start before the old ones stop; the listening
  socket stays open throughout).

No ``preload_app``: each worker builds its own app after the fork, so no Redis or HTTP connection
is ever shared across processes.
"""
from __future__ import annotations

import gc
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from typing import Any

from gunicorn.workers import SUPPORTED_WORKERS

from app.drain import DrainBeforeStop, close_while_draining
from config import ConfigError, load_server_settings

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

try:
    server = load_server_settings()
except ConfigError as error:  # a bad setting stops the start, naming the variable
    raise SystemExit(f"passport-bff: {error}") from None
bind = server.bind
workers = server.workers
worker_class = server.worker_class
# Each short name loads our subclass of that gunicorn worker, which answers gunicorn's own errors
# as problem+json (app/web/server_errors.py). The setting keeps the short name that the hooks below,
# bench/run.py and the tests compare against.
SUPPORTED_WORKERS.update(gevent="app.web.server_errors.GeventWorker", gthread="app.web.server_errors.ThreadWorker")
worker_connections = server.worker_connections
threads = server.threads if worker_class == "gthread" else 1
timeout = server.timeout_seconds
graceful_timeout = server.graceful_timeout_seconds
keepalive = 5
preload_app = False
# Gunicorn's control socket sits at one fixed path per user, so several instances on one host
# (tests, local clusters) would fight over it; operations here go through signals instead.
control_socket_disable = True
# The app writes one log line per request itself; gunicorn's own access log would repeat it.
accesslog = None
errorlog = "-"
loglevel = server.log_level

# prometheus_client multi-process mode: every worker writes its samples under this directory and
# /metrics adds them up. It must be set before a worker imports prometheus_client. gunicorn runs
# this file again on every SIGHUP, so it only makes sure the directory exists; emptying it (so that
# a previous run's dead workers are not counted) happens once per master, in ``on_starting``.
# Without PROMETHEUS_MULTIPROC_DIR a temporary directory is made, and removed when the master exits
# (``on_exit``): every start used to leave one behind in /tmp. The note names the master that made
# it (this file runs again on a reload, in the same process, and workers inherit the environment).
MADE_METRICS_DIR = "PASSPORT_BFF_MADE_METRICS_DIR"  # "<master pid>:<directory>"
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="passport-bff-metrics-")
    os.environ[MADE_METRICS_DIR] = f"{os.getpid()}:{os.environ['PROMETHEUS_MULTIPROC_DIR']}"
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)


def on_starting(server: Any) -> None:
    """Start a fresh master's counters from zero; reloads and worker restarts keep them."""
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory, exist_ok=True)


def on_exit(server: Any) -> None:
    """Remove the temporary metrics directory this master made (none when one was configured)."""
    made = os.environ.get(MADE_METRICS_DIR, "")
    pid, _, directory = made.partition(":")
    if pid == str(os.getpid()) and directory == os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shutil.rmtree(directory, ignore_errors=True)


def pre_exec(server: Any) -> None:
    """A new master started by SIGUSR2 (a binary upgrade) takes the metrics directory over; the
    old one must not remove it when it exits, and the new one did not make it: it stays."""
    os.environ.pop(MADE_METRICS_DIR, None)


def when_ready(arbiter: Any) -> None:
    """Drain on SIGTERM before gunicorn's graceful stop (``DRAIN_SECONDS``)."""
    DrainBeforeStop(arbiter, server.drain_seconds).install()


def pre_request(worker: Any, req: Any) -> None:
    """While draining, close each connection after its answer, so that clients reconnect elsewhere."""
    close_while_draining(req)


def child_exit(server: Any, worker: Any) -> None:
    """Forget a dead worker's live gauges (its counters stay counted)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker: Any) -> None:
    """Tune the worker once the app is loaded: a fair turn for every connection, a cheap GC."""
    if worker_class == "gevent":
        worker.wsgi = _yielding_first(worker.wsgi)
    # A worker holds ~70,000 long-lived objects (Flask, marshmallow, apispec, redis-py, gevent); a
    # full collection walks them all, ~25 ms of a stalled worker each time. gc.freeze() (what
    # Instagram described for forked web workers) leaves the collector what requests allocate.
    gc.freeze()


def _yielding_first(app: WSGIApp) -> WSGIApp:
    """Let every other ready connection go first before a request is handled.

    Why: a gevent worker switches greenlets only when one waits. A busy worker finishing an
    answer often finds the same keep-alive connection's next request already in its socket, so
    it serves that connection again and again while the others wait: wrk at 32 connections saw a
    mean latency four times what the throughput allows, and a p99 of ~100 ms. ``gevent.sleep(0)``
    (one greenlet switch) puts each request at the back of the queue: round-robin between
    connections (p99 ~35 ms, and more answers per second; README "Benchmarks").
    """
    import gevent

    def app_after_others(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        gevent.sleep(0)
        return app(environ, start_response)

    return app_after_others
