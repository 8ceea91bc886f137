"""Benchmark of passport-bff on one machine, one run (by hand or ``make bench``; never a test).

    .venv/bin/python bench/run.py [--duration 10] [--repetitions 3] [...]   (--help for all)

Starts its own redis-server, Passport emulator, the service under gunicorn with production
settings, and a bare baseline (``bench/baseline_app.py``) under gunicorn with the same worker
class, workers and threads, all on free 127.0.0.1 ports; loads them with ``wrk``; prints a table
with the targets; writes the figures as JSON to ``bench/results/<timestamp>.json``; and stops
every process it started (also on error, Ctrl-C or SIGTERM). What each figure means and how it is
measured: ``bench/README.md``.
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import re
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import requests  # noqa: E402

from tests.support.processes import LOOPBACK, RedisServer, free_port, start_emulator, stop, wait_until  # noqa: E402

BENCH = ROOT / "bench"
IDS_SCRIPT = BENCH / "ids.lua"
RESULTS_DIR = BENCH / "results"
CACHE_KEY_PREFIX = "passport-bff"  # the service's default CACHE_KEY_PREFIX, left as deployed
BASELINE_KEY_PREFIX = "bench-baseline:customer:"
HIT_METRIC = "passport_bff_cache_requests_total"
FOREIGN_LOAD_NOTE_CORES = 0.2
# Frames every request passes through; the printed profile summary leaves them out (the file has all).
PROFILE_PLUMBING = re.compile(
    r"\((threading\.py|concurrent/futures/|<frozen runpy>|gunicorn/(app|arbiter|__main__|workers/))|"
    r"Flask\.(__call__|wsgi_app|full_dispatch_request) "
)
API_KEY_NAME = "bench"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
REQUEST_TIMEOUT = 10.0
START_TIMEOUT = 30.0
STARTUP_POLL_SECONDS = 0.005
WRK_GRACE_SECONDS = 30.0
# The one caller of the benchmark must never be refused, yet the limiter must cost what it costs in
# production. Its cost per request does not depend on the limit (a sliding-window counter: two
# counters per caller; on the fast path, app.web.lookup_limit.FastPathBudget adds local counts to them every
# RATELIMIT_SYNC_SECONDS), so the production period with an amount one load generator never
# reaches measures the production cost. `--rate-limit off`: no limiter at all.
DEFAULT_RATE_LIMIT = "100000000 per minute"
# Variables the service or config/gunicorn.py read; never inherited from the caller's shell.
SERVICE_VARIABLE = re.compile(
    r"^(APP_ENV|PORT|PASSPORT_.*|REDIS_.*|CACHE_.*|AUTH_.*|RATELIMIT_.*|GUNICORN_.*|WEB_CONCURRENCY|LOG_.*|"
    r"FLASK_.*|CORS_.*|TRUSTED_PROXY_HOPS|MAX_REQUEST_BODY_BYTES|PROMETHEUS_MULTIPROC_DIR|BASELINE_.*)$"
)

TARGETS = {
    "hit_ratio_min": 1.2,  # service hit req/s >= 1.2 x baseline hit req/s
    "hit_p99_ms_max": 15.0,
    "miss_added_p50_ms_max": 2.0,  # service miss p50 <= emulator p50 + 2 ms (issue 14: a cheaper miss)
    "bytes_per_customer_max": 1024,
    "startup_seconds_max": 2.0,
    "calls_per_cold_id_max": 1,  # the README's promise: one Passport call per cold customer
}


class BenchError(RuntimeError):
    """A step of the benchmark could not be done; the message says which."""


# --------------------------------------------------------------------------------------------
# Processes and CPU accounting (/proc)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` (all its threads), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # comm may hold spaces: split after the last ")"
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def child_pids(parent: int) -> list[int]:
    """Live processes whose parent is ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(entry.name))
    return sorted(found)


def system_seconds() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine since boot, all cores (/proc/stat).

    Busy is user + nice + system + irq + softirq; steal is time the hypervisor gave our virtual
    CPUs to someone else (a busy host shows up there, not in our processes).
    """
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9])
    return (user + nice + system + irq + softirq) / CLOCK_TICKS, steal / CLOCK_TICKS


def load_average() -> list[float]:
    return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]


SPEED_PROBE = {"ids": list(range(50)), "name": "x" * 200, "nested": {"value": 1.5}}


def speed_probe_us(iterations: int = 5000) -> float:
    """CPU microseconds of a fixed pure-Python task (a JSON round trip of a small object): how fast
    the machine runs at this moment. Here that swings by up to three quarters within minutes, and a
    miss's added latency with it (README "Benchmarks", 2026-12-07 evening); a figure is read beside it."""
    started = time.process_time()
    for _ in range(iterations):
        json.loads(json.dumps(SPEED_PROBE))
    return (time.process_time() - started) / iterations * 1e6


@dataclass
class Server:
    """A gunicorn (or other) process we started, with where it listens."""

    name: str
    process: subprocess.Popen
    base_url: str
    port: int

    def workers(self) -> list[int]:
        return child_pids(self.process.pid)

    def cpu(self) -> dict[int, float]:
        """CPU seconds of each current worker."""
        return {pid: seconds for pid in self.workers() if (seconds := cpu_seconds(pid)) is not None}


class Processes:
    """Every process this run started, stopped in reverse order by ``close()``."""

    def __init__(self) -> None:
        self._items: list[tuple[str, Any]] = []

    def add(self, name: str, item: Any) -> None:
        self._items.append((name, item))

    def remove(self, item: Any) -> None:
        self._items = [(n, i) for n, i in self._items if i is not item]

    def close(self) -> None:
        while self._items:
            name, item = self._items.pop()
            try:
                if isinstance(item, RedisServer):
                    item.stop()
                else:
                    stop(item)  # SIGTERM, then SIGKILL after a wait
            except Exception as exc:  # keep stopping the others
                print(f"warning: stopping {name} failed: {exc!r}", file=sys.stderr)


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not SERVICE_VARIABLE.match(k)}
    env.update(extra)
    return env


def gunicorn_settings(env: dict[str, str]) -> dict[str, Any]:
    """What config/gunicorn.py decides under ``env`` (read by running it in a child process)."""
    scratch = tempfile.mkdtemp(prefix="passport-bff-bench-cfg-")
    code = (
        "import json, runpy; ns = runpy.run_path('config/gunicorn.py'); "
        "print(json.dumps({k: ns.get(k) for k in "
        "('worker_class', 'workers', 'threads', 'worker_connections', 'keepalive', 'timeout')}))"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env={**env, "PROMETHEUS_MULTIPROC_DIR": scratch},
            capture_output=True, text=True, timeout=30, check=True,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def spawn_gunicorn(name: str, argv: list[str], env: dict[str, str], port: int, log_dir: Path,
                   processes: Processes, root: Path = ROOT) -> tuple[Server, float]:
    """Start gunicorn in ``root`` (a checkout); return it and the monotonic time just before it was spawned."""
    stdout = open(log_dir / f"{name}.stdout.log", "ab")
    stderr = open(log_dir / f"{name}.stderr.log", "ab")
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", *argv], cwd=root, env=env, stdout=stdout, stderr=stderr,
    )
    stdout.close()
    stderr.close()
    processes.add(name, process)
    return Server(name, process, f"http://{LOOPBACK}:{port}", port), started


def wait_healthy(server: Server, timeout: float = START_TIMEOUT) -> None:
    wait_until(lambda: requests.get(f"{server.base_url}/healthz", timeout=1).status_code == 200,
               f"{server.name} /healthz", server.process, timeout)


# --------------------------------------------------------------------------------------------
# wrk


@dataclass
class WrkResult:
    label: str
    url: str
    connections: int
    duration_s: float
    requests: int
    rps: float
    p50_ms: float | None
    p75_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    non_2xx: int
    socket_errors: dict[str, int]
    ids: dict[str, int] | None = None
    cpu: dict[str, float] = field(default_factory=dict)  # seconds, per process group
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())


UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(label: str, url: str, connections: int, output: str) -> WrkResult:
    def number(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise BenchError(f"wrk output has no {pattern!r}:\n{output}")
        return match

    total = number(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)")
    percentiles: dict[int, float | None] = {}
    for pct in (50, 75, 90, 99):
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
        percentiles[pct] = float(match.group(1)) * UNITS_MS[match.group(2)] if match else None
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    ids = re.search(r"ids-lua: (.*)$", output, re.MULTILINE)
    return WrkResult(
        label=label, url=url, connections=connections,
        duration_s=float(total.group(2)) * UNITS_MS[total.group(3)] / 1000.0,
        requests=int(total.group(1)),
        rps=float(number(r"Requests/sec:\s+([\d.]+)").group(1)),
        p50_ms=percentiles[50], p75_ms=percentiles[75], p90_ms=percentiles[90], p99_ms=percentiles[99],
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=dict(zip(("connect", "read", "write", "timeout"), map(int, sockets.groups()), strict=True))
        if sockets else {},
        ids={k: int(v) for k, v in (pair.split("=") for pair in ids.group(1).split())} if ids else None,
    )


def run_wrk(label: str, url: str, *, duration: float, connections: int, threads: int,
            headers: dict[str, str], ids_file: Path | None = None, watch: dict[str, Any] | None = None,
            pace_ms: int | None = None) -> WrkResult:
    """One bounded wrk run; ``watch`` maps names to Servers or pids whose CPU time is recorded;
    ``pace_ms``: each connection waits that long after an answer before its next request (ids runs)."""
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency", "--timeout", "5s"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    if ids_file is not None:  # url is the base URL; the script adds /v1/customers/<id>
        argv += ["-s", str(IDS_SCRIPT), url, "--", str(ids_file), "/v1/customers/", str(threads)]
    else:
        argv.append(url)
    watch = watch or {}
    before = {name: _cpu_of(item) for name, item in watch.items()}
    busy_before, steal_before = system_seconds()
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = None if pace_ms is None else {**os.environ, "IDS_PACE_MS": str(pace_ms)}
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=duration + WRK_GRACE_SECONDS, env=env)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    self_after = resource.getrusage(resource.RUSAGE_SELF)
    busy_after, steal_after = system_seconds()
    busy, steal = busy_after - busy_before, steal_after - steal_before
    after = {name: _cpu_of(item) for name, item in watch.items()}
    if completed.returncode != 0:
        raise BenchError(f"wrk failed ({completed.returncode}): {completed.stderr or completed.stdout}")
    result = parse_wrk(label, url, connections, completed.stdout)
    cpu: dict[str, float] = {}
    for name in watch:
        common = set(before[name]) & set(after[name])
        if set(before[name]) != set(after[name]):
            result.extra.setdefault("warnings", []).append(f"{name}: processes changed during the run")
        cpu[name] = sum(after[name][pid] - before[name][pid] for pid in common)
    cpu["wrk"] = ((children_after.ru_utime + children_after.ru_stime)
                  - (children_before.ru_utime + children_before.ru_stime))
    cpu["harness"] = (self_after.ru_utime + self_after.ru_stime) - (self_before.ru_utime + self_before.ru_stime)
    cpu["others"] = max(0.0, busy - sum(cpu.values()))
    cpu["machine_busy"] = busy
    cpu["steal"] = steal
    result.cpu = cpu
    result.extra["raw"] = completed.stdout
    return result


def _cpu_of(item: Any) -> dict[int, float]:
    if isinstance(item, Server):
        return item.cpu()
    pids = item if isinstance(item, (list, tuple)) else [item]
    return {pid: seconds for pid in pids if (seconds := cpu_seconds(pid)) is not None}


# --------------------------------------------------------------------------------------------
# Small HTTP helpers


def metric_value(base_url: str, name: str, labels: str) -> float:
    """Sum of the samples of ``name`` whose label set contains ``labels`` (e.g. 'result="hit"')."""
    text = requests.get(f"{base_url}/metrics", timeout=REQUEST_TIMEOUT).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and labels in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def first_200(server: Server, path: str, headers: dict[str, str], started: float) -> requests.Response:
    """Ask ``path`` until it answers 200 (a refused connection is retried after a few ms).

    Once gunicorn has bound its socket a request waits in the backlog until a worker accepts it,
    so the answer comes as soon as a worker can give it, not at the next poll.
    """
    deadline = started + START_TIMEOUT
    while True:
        if server.process.poll() is not None:
            raise BenchError(f"{server.name} exited with {server.process.returncode} (see its stderr log)")
        try:
            response = requests.get(server.base_url + path, headers=headers,
                                    timeout=max(0.1, deadline - time.monotonic()))
            if response.status_code == 200:
                return response
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise BenchError(f"{server.name}: no 200 on {path} within {START_TIMEOUT}s")
        time.sleep(STARTUP_POLL_SECONDS)


def logged_requests(log_file: Path, start: int, end: int) -> dict[str, Any]:
    """What the service logged for customer lookups between two offsets of its JSON log.

    ``duration_ms`` is the service's own time for a request (from Flask's first hook to its last,
    so neither the wait in gunicorn's queue nor the socket work), ``upstream_ms`` the part of it
    spent waiting on Passport.
    """
    durations: dict[str, list[float]] = {}
    upstream: dict[str, list[float]] = {}
    with open(log_file, "rb") as stream:
        stream.seek(start)
        chunk = stream.read(max(0, end - start))
    for line in chunk.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if (record.get("logger") != "passport_bff.access"
                or not str(record.get("route", "")).startswith("/v1/customers/")):
            continue
        cache = record.get("cache") or "-"
        durations.setdefault(cache, []).append(float(record.get("duration_ms", 0.0)))
        upstream.setdefault(cache, []).append(float(record.get("upstream_ms", 0.0)))
    return {
        cache: {"count": len(values), "duration_p50_ms": percentile(values, 0.5),
                "duration_p99_ms": percentile(values, 0.99), "upstream_p50_ms": percentile(upstream[cache], 0.5)}
        for cache, values in durations.items()
    }


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose p50 is the median of the runs' (the lower middle one of an even number)."""
    ordered = sorted(runs, key=lambda run: run["p50_ms"])
    return ordered[(len(ordered) - 1) // 2]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


# --------------------------------------------------------------------------------------------
# The benchmark


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.processes = Processes()
        self.work = Path(tempfile.mkdtemp(prefix="passport-bff-bench-"))
        self.api_key = secrets.token_urlsafe(24)
        self.client_id = f"bench-client-{secrets.token_hex(4)}"
        self.client_secret = secrets.token_urlsafe(24)
        self.results: dict[str, Any] = {}
        self.notes: list[str] = []
        self.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.service_log = self.work / "service.stdout.log"

    def log_offset(self) -> int:
        return self.service_log.stat().st_size if self.service_log.exists() else 0

    # ---- set-up ------------------------------------------------------------------------

    def start_dependencies(self) -> None:
        self.redis_server = RedisServer(free_port())
        self.processes.add("redis-server", self.redis_server)
        self.redis_server.start()
        self.redis = redis.Redis(host=LOOPBACK, port=self.redis_server.port, socket_timeout=5)
        if self.args.emulator_server == "werkzeug":
            process, self.emulator_url = start_emulator([
                "--customers", str(self.args.customers),
                "--client-id", self.client_id, "--client-secret", self.client_secret,
            ])
            self.processes.add("emulator", process)
            self.emulator: Server | list[int] = [process.pid]
        else:
            self.emulator = self.start_emulator_under_gunicorn()
            self.emulator_url = self.emulator.base_url
        ids = requests.get(f"{self.emulator_url}/_emulator/customers", params={"limit": self.args.customers + 1},
                           timeout=REQUEST_TIMEOUT).json()
        self.ids: list[str] = [i.lower() for i in ids]

    def start_emulator_under_gunicorn(self) -> Server:
        """The emulator in one gthread worker (its state is in memory), keeping connections open
        as Passport does; Werkzeug's server would close each one after a single answer."""
        port = free_port()
        env = clean_env({
            "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1",
            "EMULATOR_CUSTOMERS": str(self.args.customers),
            "EMULATOR_CLIENT_ID": self.client_id, "EMULATOR_CLIENT_SECRET": self.client_secret,
        })
        argv = ["--bind", f"{LOOPBACK}:{port}", "--workers", "1", "--worker-class", "gthread", "--threads", "64",
                "--keep-alive", "30", "--chdir", str(ROOT), "--log-level", "warning", "emulator.wsgi:app"]
        server, _ = spawn_gunicorn("emulator", argv, env, port, self.work, self.processes)
        wait_until(lambda: requests.get(f"{server.base_url}/_emulator/health", timeout=1).ok, "emulator",
                   server.process)
        return server

    def service_env(self, multiproc_dir: Path, port: int) -> dict[str, str]:
        digest = hashlib.sha256(self.api_key.encode()).hexdigest()
        env = {
            # As the Docker image runs it (Dockerfile, service stage).
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "APP_ENV": "production",
            "PASSPORT_BASE_URL": self.emulator_url,
            "PASSPORT_CLIENT_ID": self.client_id,
            "PASSPORT_CLIENT_SECRET": self.client_secret,
            "REDIS_URL": self.redis_server.url,
            "AUTH_API_KEYS": f"{API_KEY_NAME}:{digest}",
            "RATELIMIT_DEFAULT": self.args.rate_limit,
            "GUNICORN_BIND": f"{LOOPBACK}:{port}",
            "WEB_CONCURRENCY": str(self.args.workers),
            "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir),
            "DRAIN_SECONDS": "0",  # the benchmark's stop needs no gateway to notice it
        }
        if self.args.threads is not None:
            env["GUNICORN_THREADS"] = str(self.args.threads)
        if self.args.worker_class is not None:
            env["GUNICORN_WORKER_CLASS"] = self.args.worker_class
        env.update(self.args.service_env)
        return clean_env(env)

    def check_gunicorn_settings(self) -> None:
        env = {"WEB_CONCURRENCY": str(self.args.workers), **self.args.service_env}
        if self.args.threads is not None:
            env["GUNICORN_THREADS"] = str(self.args.threads)
        if self.args.worker_class is not None:
            env["GUNICORN_WORKER_CLASS"] = self.args.worker_class
        settings = gunicorn_settings(clean_env(env))
        if self.args.worker_class is not None and settings["worker_class"] != self.args.worker_class:
            raise BenchError(
                f"--worker-class {self.args.worker_class}: config/gunicorn.py does not honour GUNICORN_WORKER_CLASS "
                f"(it always uses {settings['worker_class']!r}); only its own worker class can be benchmarked"
            )
        if settings["workers"] != self.args.workers:
            raise BenchError(f"config/gunicorn.py did not take WEB_CONCURRENCY={self.args.workers}")
        self.gunicorn = settings

    def start_service(self, name: str = "service", root: Path = ROOT) -> tuple[Server, float]:
        port = free_port()
        multiproc = self.work / f"{name}-metrics"
        env = self.service_env(multiproc, port)
        return spawn_gunicorn(name, ["-c", "config/gunicorn.py", "wsgi:app"], env, port, self.work, self.processes,
                              root)

    def measure_startup(self, name: str, customer_id: str) -> dict[str, Any]:
        """Spawn the service; time to the first 200 on /healthz, then to the first 200 customer."""
        server, started = self.start_service(name)
        first_200(server, "/healthz", {}, started)
        healthz = time.monotonic() - started
        response = first_200(server, f"/v1/customers/{customer_id}", self.service_headers(), started)
        first_customer = time.monotonic() - started
        return {"server": server, "healthz_s": healthz, "first_customer_s": first_customer,
                "x_cache": response.headers.get("X-Cache"), "body": response.content}

    def service_headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}

    def gunicorn_argv(self, port: int, app: str) -> list[str]:
        """gunicorn's command line for a bench/ app, with the worker settings the service gets."""
        return [
            "--bind", f"{LOOPBACK}:{port}", "--workers", str(self.gunicorn["workers"]),
            "--worker-class", self.gunicorn["worker_class"], "--threads", str(self.gunicorn["threads"]),
            "--worker-connections", str(self.gunicorn["worker_connections"]),
            "--keep-alive", str(self.gunicorn["keepalive"]), "--timeout", str(self.gunicorn["timeout"]),
            "--chdir", str(BENCH), "--log-level", "warning", app,
        ]

    def start_baseline(self, body: bytes, customer_id: str) -> Server:
        self.redis.set(BASELINE_KEY_PREFIX + customer_id, body)
        port = free_port()
        env = clean_env({
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "BASELINE_REDIS_URL": self.redis_server.url,
            "BASELINE_KEY_PREFIX": BASELINE_KEY_PREFIX,
        })
        server, _ = spawn_gunicorn("baseline", self.gunicorn_argv(port, "baseline_app:app"), env, port, self.work,
                                   self.processes)
        wait_healthy(server)
        response = requests.get(f"{server.base_url}/v1/customers/{customer_id}", timeout=REQUEST_TIMEOUT)
        if response.status_code != 200 or response.content != body:
            raise BenchError("the baseline does not serve the service's bytes")
        return server

    def start_floor(self, body: bytes) -> Server:
        body_file = self.work / "floor-body.json"
        body_file.write_bytes(body)
        port = free_port()
        env = clean_env({"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", "FLOOR_BODY_FILE": str(body_file)})
        server, _ = spawn_gunicorn("floor", self.gunicorn_argv(port, "floor_app:app"), env, port, self.work,
                                   self.processes)
        wait_until(lambda: requests.get(server.base_url + "/", timeout=1).content == body, "floor", server.process)
        return server

    # ---- phases ------------------------------------------------------------------------

    def hits(self, service: Server, baseline: Server, floor: Server, customer_id: str) -> None:
        args = self.args
        path = f"/v1/customers/{customer_id}"
        headers = self.service_headers()
        redis_pid = self.redis_server.process.pid
        # Warm connection pools and code paths (the near cache, the limiter's script) before measuring.
        for server in (service, baseline, floor):
            run_wrk(f"{server.name}-warmup", server.base_url + path, duration=args.warmup,
                    connections=args.connections, threads=args.wrk_threads, headers=headers)
        runs: dict[str, list[WrkResult]] = {"service": [], "baseline": [], "floor": []}
        for repetition in range(args.repetitions):
            servers = (service, baseline, floor)
            order = servers if repetition % 2 == 0 else servers[::-1]  # ABBA: no order bias
            for server in order:
                counted = server is service
                hits_before = metric_value(service.base_url, HIT_METRIC, 'result="hit"') if counted else 0.0
                log_start = self.log_offset()
                result = run_wrk(
                    f"{server.name}-hit-{repetition + 1}", server.base_url + path, duration=args.duration,
                    connections=args.connections, threads=args.wrk_threads, headers=headers,
                    watch={"workers": server, "master": [server.process.pid], "redis": [redis_pid],
                           "emulator": self.emulator},
                )
                if counted:
                    result.extra["service_hits_counted"] = (
                        metric_value(service.base_url, HIT_METRIC, 'result="hit"') - hits_before)
                    result.extra["logged"] = logged_requests(self.service_log, log_start, self.log_offset())
                runs[server.name].append(result)
                print(f"  {result.label}: {result.rps:.0f} req/s, p50 {fmt(result.p50_ms, 2)} ms, "
                      f"p99 {fmt(result.p99_ms, 2)} ms, "
                      f"errors {result.errors}, other load {result.cpu['others'] / result.duration_s:.2f} cores, "
                      f"steal {result.cpu['steal'] / result.duration_s:.2f} cores",
                      flush=True)
        self.results["hit_runs"] = {name: [self.run_record(r) for r in rs] for name, rs in runs.items()}
        summary = {}
        for name, rs in runs.items():
            summary[name] = {
                "rps": median([r.rps for r in rs]),
                "p50_ms": median([r.p50_ms for r in rs]),
                "p99_ms": median([r.p99_ms for r in rs]),
                "cpu_us_per_request": median([r.cpu["workers"] / r.requests * 1e6 for r in rs]),
                "redis_cpu_us_per_request": median([r.cpu["redis"] / r.requests * 1e6 for r in rs]),
                "wrk_cpu_us_per_request": median([r.cpu["wrk"] / r.requests * 1e6 for r in rs]),
                "other_load_cores": median([r.cpu["others"] / r.duration_s for r in rs]),
                "steal_cores": median([r.cpu["steal"] / r.duration_s for r in rs]),
                "errors": sum(r.errors for r in rs),
            }
        service_runs = runs["service"]
        counted = sum(r.extra["service_hits_counted"] for r in service_runs)
        summary["service"]["hit_share"] = counted / max(1, sum(r.requests for r in service_runs))
        summary["service"]["logged_p50_ms"] = median(
            [r.extra["logged"].get("HIT", {}).get("duration_p50_ms") for r in service_runs])
        summary["service"]["logged_p99_ms"] = median(
            [r.extra["logged"].get("HIT", {}).get("duration_p99_ms") for r in service_runs])
        summary["ratio"] = summary["service"]["rps"] / summary["baseline"]["rps"]
        summary["pair_ratios"] = [s.rps / b.rps for s, b in zip(runs["service"], runs["baseline"], strict=True)]
        self.results["hits"] = summary
        for name in runs:
            if summary[name]["errors"]:
                self.notes.append(f"{name} hit runs had {summary[name]['errors']} errors (non-2xx or socket errors; "
                                  "a 429 means the rate limit was reached: see --rate-limit)")

    def misses(self, service: Server, cold_c32: list[str], cold_c1: list[str]) -> None:
        """Cold ids through the service and straight to the emulator: c32 once each, c1 alternated.

        The c1 runs are the latency figure, a difference of two medians about 3 ms apart on a
        machine whose speed drifts by a third within minutes. So they alternate, service then
        emulator, ``--repetitions`` times, each pair on cold ids of its own, and the figure is the
        median of the pairs' differences: a drift slows both runs of a pair alike.
        """
        args = self.args
        token = requests.post(f"{self.emulator_url}/v1/iam/oauth/tokens", json={
            "client_id": self.client_id, "client_secret": self.client_secret, "grant_type": "client_credentials",
        }, timeout=REQUEST_TIMEOUT).json()["access_token"]
        emulator_headers = {"Authorization": f"Bearer {token}"}
        rounds = max(1, args.repetitions)
        share = len(cold_c1) // rounds
        c1_files = [self.ids_file(f"c1-{n}", cold_c1[n * share:(n + 1) * share]) for n in range(rounds)]
        c32_file = self.ids_file("c32", cold_c32)
        out: dict[str, Any] = {}
        plan = [
            ("service_c32", service.base_url, args.connections, args.miss_duration, self.service_headers(), c32_file),
            ("emulator_c32", self.emulator_url, args.connections, args.miss_duration, emulator_headers, c32_file),
        ]
        for n, c1_file in enumerate(c1_files):
            plan += [
                (f"service_c1#{n}", service.base_url, 1, args.latency_duration, self.service_headers(), c1_file),
                (f"emulator_c1#{n}", self.emulator_url, 1, args.latency_duration, emulator_headers, c1_file),
            ]
        probes: list[float] = []
        for label, base, connections, duration, headers, ids_file in plan:
            if label.startswith("service_c1#"):
                probes.append(speed_probe_us())
            out[label] = self.miss_run(service, label, base, connections, duration, headers, ids_file)
        out["speed_probe_us_c1_pairs"] = probes
        out["service_c32"]["cpu_us_per_request"] = (
            out["service_c32"]["cpu"]["workers"] / max(1, out["service_c32"]["requests"]) * 1e6)
        pairs = [(out.pop(f"service_c1#{n}"), out.pop(f"emulator_c1#{n}")) for n in range(rounds)]
        out["added_p50_ms_c1_pairs"] = [ours["p50_ms"] - theirs["p50_ms"] for ours, theirs in pairs]
        out["added_p50_ms_c1"] = median(out["added_p50_ms_c1_pairs"])
        out["service_c1_runs"] = [service_run for service_run, _ in pairs]
        out["emulator_c1_runs"] = [emulator_run for _, emulator_run in pairs]
        out["service_c1"] = median_run(out["service_c1_runs"])
        out["emulator_c1"] = median_run(out["emulator_c1_runs"])
        out["added_p50_ms_c32"] = out["service_c32"]["p50_ms"] - out["emulator_c32"]["p50_ms"]
        # The emulator alone again, its requests spaced as the service's misses space them: a
        # process asked back to back stays hot; one asked every few milliseconds, as behind the
        # service, answers slower (its caches cooled, its core idled). Shown beside the figure.
        out["pace_ms"] = max(1, round(out["added_p50_ms_c1"]))
        out["emulator_c1_paced"] = self.miss_run(service, "emulator_c1_paced", self.emulator_url, 1,
                                                 args.latency_duration, emulator_headers, c1_files[0],
                                                 pace_ms=out["pace_ms"])
        out["added_p50_ms_c1_paced"] = out["service_c1"]["p50_ms"] - out["emulator_c1_paced"]["p50_ms"]
        self.results["misses"] = out

    def ids_file(self, name: str, ids: list[str]) -> Path:
        path = self.work / f"ids-{name}.txt"
        path.write_text("\n".join(ids) + "\n")
        return path

    def miss_run(self, service: Server, label: str, base: str, connections: int, duration: float,
                 headers: dict[str, str], ids_file: Path, pace_ms: int | None = None) -> dict[str, Any]:
        """One wrk run of cold ids; the service's own log of its misses kept beside wrk's figures."""
        watch = {"workers": service, "redis": [self.redis_server.process.pid], "emulator": self.emulator}
        log_start = self.log_offset()
        result = run_wrk(f"miss-{label}", base, duration=duration, connections=connections,
                         threads=min(self.args.wrk_threads, connections), headers=headers, ids_file=ids_file,
                         watch=watch, pace_ms=pace_ms)
        record = self.run_record(result)
        if label.startswith("service"):
            record["logged"] = logged_requests(self.service_log, log_start, self.log_offset()).get("MISS", {})
        cold = result.ids or {}
        print(f"  {result.label}: {result.rps:.0f} req/s, p50 {fmt(result.p50_ms, 2)} ms, "
              f"p99 {fmt(result.p99_ms, 2)} ms, "
              f"errors {result.errors}, ids {cold}", flush=True)
        if label.startswith("service") and (cold.get("reused") or cold.get("xcache_HIT")):
            self.notes.append(
                f"{label}: {cold.get('reused')} requests reused an id / {cold.get('xcache_HIT')} answered HIT "
                f"(the emulator has too few customers for this duration: raise --customers)")
        return record

    def burst(self, service: Server, cold_ids: list[str]) -> None:
        """``--burst`` concurrent requests for each cold id, Passport slowed for that id."""
        args = self.args
        per_id = []
        for customer_id in cold_ids:
            requests.post(f"{self.emulator_url}/_emulator/faults", json={
                "target": "customers", "customer_id": customer_id, "latency_ms": args.burst_latency_ms,
            }, timeout=REQUEST_TIMEOUT).raise_for_status()
            try:
                before = self.emulator_calls(customer_id)
                answers = concurrent_gets(service.port, f"/v1/customers/{customer_id}", self.service_headers(),
                                          args.burst)
                calls = self.emulator_calls(customer_id) - before
            finally:
                requests.delete(f"{self.emulator_url}/_emulator/faults", timeout=REQUEST_TIMEOUT)
            statuses: dict[str, int] = {}
            for status, cache_status, _ in answers:
                key = f"{status} {cache_status}"
                statuses[key] = statuses.get(key, 0) + 1
            latencies = [seconds * 1000 for *_, seconds in answers]
            per_id.append({"customer_id": customer_id, "passport_calls": calls, "answers": statuses,
                           "p50_ms": percentile(latencies, 0.5), "max_ms": max(latencies)})
            print(f"  burst {customer_id}: {calls} Passport call(s); {statuses}", flush=True)
        self.results["burst"] = {
            "requests_per_id": args.burst, "latency_ms": args.burst_latency_ms, "ids": per_id,
            "max_calls": max(p["passport_calls"] for p in per_id),
            "mean_calls": statistics.mean(p["passport_calls"] for p in per_id),
        }

    def profile(self, service: Server, customer_id: str) -> None:
        """One more hit run, not recorded, with py-spy sampling one worker while it holds the GIL."""
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(py_spy).exists():
            self.notes.append("--profile: py-spy is not installed (.venv/bin/pip install py-spy); no profile taken")
            return
        seconds = max(2, int(self.args.duration))
        raw = self.args.results_dir / f"{self.stamp}-hit-profile.txt"
        raw.parent.mkdir(parents=True, exist_ok=True)
        argv = ["wrk", f"-t{self.args.wrk_threads}", f"-c{self.args.connections}", f"-d{seconds + 2}s"]
        argv += ["-H", f"X-API-Key: {self.api_key}", f"{service.base_url}/v1/customers/{customer_id}"]
        load = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1)
            spy = subprocess.run([py_spy, "record", "-p", str(service.workers()[0]), "-d", str(seconds), "-r", "200",
                                  "--gil", "-f", "raw", "-o", str(raw)],
                                 capture_output=True, text=True, timeout=seconds + WRK_GRACE_SECONDS)
            load.wait(timeout=seconds + WRK_GRACE_SECONDS)
        finally:
            if load.poll() is None:
                load.kill()
                load.wait()
        if spy.returncode != 0 or not raw.exists():
            self.notes.append(f"--profile: py-spy failed: {(spy.stderr or spy.stdout).strip()[-300:]}")
            return
        self.results["profile"] = {"file": str(raw), **fold_profile(raw)}

    def emulator_calls(self, customer_id: str) -> int:
        stats = requests.get(f"{self.emulator_url}/_emulator/stats", timeout=REQUEST_TIMEOUT).json()
        return int(stats["customer_calls"].get(customer_id, 0))

    def memory(self, warm_id: str) -> None:
        prefix = f"{CACHE_KEY_PREFIX}:v1:customer:"
        sizes = []
        for key in self.redis.scan_iter(match=prefix + "{*", count=1000):
            usage = self.redis.memory_usage(key, samples=0)
            if usage is not None:
                sizes.append(usage)
        warm_key = f"{prefix}{{{warm_id}}}"
        value = self.redis.get(warm_key) or b""
        self.results["memory"] = {
            "warm_customer_key": warm_key,
            "warm_customer_bytes": self.redis.memory_usage(warm_key, samples=0),
            "warm_customer_value_bytes": len(value),
            "warm_customer_body_bytes": len(value.partition(b"\n")[2]),
            "customers_cached": len(sizes),
            "median_bytes": statistics.median(sizes) if sizes else None,
            "max_bytes": max(sizes) if sizes else None,
        }

    def startups(self, warm_id: str) -> None:
        runs = []
        for repetition in range(self.args.startup_repetitions):
            measured = self.measure_startup(f"startup-{repetition + 1}", warm_id)
            server = measured.pop("server")
            measured.pop("body")
            stop(server.process)
            self.processes.remove(server.process)
            runs.append(measured)
            print(f"  start-up {repetition + 1}: /healthz {measured['healthz_s']:.2f}s, first customer "
                  f"{measured['first_customer_s']:.2f}s ({measured['x_cache']})", flush=True)
        self.results["startup"]["warm"] = {
            "runs": runs,
            "healthz_s": median([r["healthz_s"] for r in runs]),
            "first_customer_s": median([r["first_customer_s"] for r in runs]),
        }

    @staticmethod
    def run_record(result: WrkResult) -> dict[str, Any]:
        record = asdict(result)
        record["extra"] = {k: v for k, v in result.extra.items() if k != "raw"}
        record["wrk_output"] = result.extra.get("raw", "")
        return record

    # ---- the whole run -----------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        args = self.args
        began = time.monotonic()
        self.results["meta"] = {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "git_head": git_head(),
            "cpus": os.cpu_count(),
            "load_average_before": load_average(),
            "args": vars(args),
        }
        self.check_gunicorn_settings()
        self.results["meta"]["gunicorn"] = self.gunicorn
        print("starting redis-server and the Passport emulator ...", flush=True)
        self.start_dependencies()
        warm_id, rest = self.ids[0], self.ids[1:]
        burst_ids = rest[:args.burst_ids]
        cold_c1 = rest[args.burst_ids:args.burst_ids + args.latency_ids]
        cold_c32 = rest[args.burst_ids + args.latency_ids:]
        if len(cold_c32) < 100:
            raise BenchError(f"--customers {args.customers} leaves too few cold ids; raise it")

        print(f"starting the service (gunicorn {self.gunicorn['worker_class']}, {self.gunicorn['workers']} workers x "
              f"{self.gunicorn['threads']} threads, APP_ENV=production) ...", flush=True)
        cold = self.measure_startup("service", warm_id)
        service: Server = cold.pop("server")
        body = cold.pop("body")
        self.results["startup"] = {"cold": cold}
        print(f"  cold start: /healthz {cold['healthz_s']:.2f}s, first customer {cold['first_customer_s']:.2f}s "
              f"({cold['x_cache']}: token fetch + Passport call)", flush=True)
        again = requests.get(f"{service.base_url}/v1/customers/{warm_id}", headers=self.service_headers(),
                             timeout=REQUEST_TIMEOUT)
        if again.headers.get("X-Cache") != "HIT" or again.content != body:
            raise BenchError(f"the warmed customer is not a HIT: {again.status_code} {again.headers.get('X-Cache')}")

        print("starting the baseline and gunicorn's floor ...", flush=True)
        baseline = self.start_baseline(body, warm_id)
        floor = self.start_floor(body)
        self.results["meta"]["body_bytes"] = len(body)
        self.results["meta"]["service_headers_example"] = dict(again.headers)

        print(f"hits: wrk -t{args.wrk_threads} -c{args.connections} -d{args.duration:g}s x {args.repetitions}, "
              "service, baseline and floor alternately ...", flush=True)
        self.hits(service, baseline, floor, warm_id)
        for server in (baseline, floor):
            stop(server.process)
            self.processes.remove(server.process)
        if args.profile:
            print("profile: one more hit run, py-spy --gil on one worker ...", flush=True)
            self.profile(service, warm_id)

        print("misses: one cold id per request ...", flush=True)
        self.misses(service, cold_c32, cold_c1)

        print(f"burst: {args.burst} concurrent requests per cold id, Passport slowed to {args.burst_latency_ms} ms ...",
              flush=True)
        self.burst(service, burst_ids)

        self.memory(warm_id)
        log_file = self.work / "service.stdout.log"
        self.results["meta"]["service_log_bytes"] = log_file.stat().st_size if log_file.exists() else None

        print("start-up: gunicorn spawned again (customer cached) ...", flush=True)
        self.startups(warm_id)
        self.results["meta"]["load_average_after"] = load_average()
        # Foreign load, measured: CPU of processes we did not start during the hit runs (the load
        # average cannot tell, it counts our own servers and wrk as well).
        hit_runs = [run for runs in self.results["hit_runs"].values() for run in runs]
        foreign = max((run["cpu"]["others"] / run["duration_s"] for run in hit_runs), default=0.0)
        stolen = max((run["cpu"]["steal"] / run["duration_s"] for run in hit_runs), default=0.0)
        if max(foreign, stolen) > FOREIGN_LOAD_NOTE_CORES:
            self.notes.append(f"other processes used up to {foreign:.2f} and the hypervisor took (steal) up to "
                              f"{stolen:.2f} of the {os.cpu_count()} cores during a hit run: "
                              "throughput and latency are depressed and noisy; CPU per request is the steadier "
                              "figure (per-run figures in the JSON)")
        self.results["meta"]["elapsed_s"] = time.monotonic() - began
        return self.results

    def close(self) -> None:
        self.processes.close()
        if self.args.keep_logs:
            print(f"logs kept in {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def concurrent_gets(port: int, path: str, headers: dict[str, str], count: int) -> list[tuple[int, str, float]]:
    """``count`` GETs on their own connections, all released together; (status, Cache-Status, s)."""
    barrier = threading.Barrier(count)
    answers: list[tuple[int, str, float]] = []
    lock = threading.Lock()

    def one() -> None:
        connection = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
        try:
            connection.connect()
            barrier.wait(timeout=30)
            started = time.perf_counter()
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            answer = (response.status, response.headers.get("Cache-Status", "-"), time.perf_counter() - started)
        except Exception as exc:  # counted, not raised: the figure is what the service did
            answer = (0, type(exc).__name__, 0.0)
        finally:
            connection.close()
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=one, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def fold_profile(path: Path, top: int = 80) -> dict[str, Any]:
    """Shares of py-spy raw samples per function: inclusive (on the stack) and self (on top)."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
        total += int(count)
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + int(count)
        own[frames[-1]] = own.get(frames[-1], 0) + int(count)

    def ranked(counts: dict[str, int]) -> list[tuple[float, str]]:
        return [(round(n / total, 4), f) for f, n in sorted(counts.items(), key=lambda kv: -kv[1])[:top]]

    return {"samples": total, "inclusive": ranked(inclusive) if total else [], "self": ranked(own) if total else []}


def git_head() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                             capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "app", "config", "wsgi.py"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10)
        return out.stdout.strip() + ("+uncommitted" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


# --------------------------------------------------------------------------------------------
# Report


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("ok" if ok else "MISSED")


def fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def report(results: dict[str, Any]) -> str:
    meta, hits, misses = results["meta"], results["hits"], results["misses"]
    burst, memory, startup = results["burst"], results["memory"], results["startup"]
    args = meta["args"]
    service, baseline = hits["service"], hits["baseline"]
    gunicorn = meta["gunicorn"]
    rows: list[tuple[str, str, str, str]] = []

    def row(name: str, value: str, target: str = "", ok: bool | None = None) -> None:
        rows.append((name, value, target, verdict(ok) if target else ""))

    row("hit throughput, service (req/s)", fmt(service["rps"], 0))
    row("hit throughput, baseline (req/s)", fmt(baseline["rps"], 0))
    floor = hits.get("floor")
    if floor:
        row("  gunicorn's floor: bytes from memory, no framework (req/s)", fmt(floor["rps"], 0))
    row("  service / baseline", f"{hits['ratio']:.2f}x", f">= {TARGETS['hit_ratio_min']}x",
        hits["ratio"] >= TARGETS["hit_ratio_min"])
    row("hit p50, service / baseline (ms)", f"{fmt(service['p50_ms'], 2)} / {fmt(baseline['p50_ms'], 2)}")
    row("hit p99, service / baseline (ms)", f"{fmt(service['p99_ms'], 2)} / {fmt(baseline['p99_ms'], 2)}",
        f"<= {TARGETS['hit_p99_ms_max']:g} ms (service)", service["p99_ms"] <= TARGETS["hit_p99_ms_max"])
    if floor:
        row("  gunicorn's floor p50 / p99 (ms)", f"{fmt(floor['p50_ms'], 2)} / {fmt(floor['p99_ms'], 2)}")
    row("CPU per hit, workers, service / baseline (us)",
        f"{fmt(service['cpu_us_per_request'], 0)} / {fmt(baseline['cpu_us_per_request'], 0)}")
    if floor:
        row("  gunicorn's floor (us)", fmt(floor["cpu_us_per_request"], 0))
    row("Redis CPU per hit, service / baseline (us)",
        f"{fmt(service['redis_cpu_us_per_request'], 1)} / {fmt(baseline['redis_cpu_us_per_request'], 1)}")
    row("  service's HIT counter / wrk's answers (~100%)", f"{service['hit_share']:.1%}")
    row("  hit time inside the service, p50 / p99 (ms, its log)",
        f"{fmt(service.get('logged_p50_ms'), 2)} / {fmt(service.get('logged_p99_ms'), 2)}")
    row("miss throughput, c32 (req/s)", fmt(misses["service_c32"]["rps"], 0))
    row("  emulator alone, c32 (req/s)", fmt(misses["emulator_c32"]["rps"], 0))
    row("miss p50 / p99, c32 (ms)",
        f"{fmt(misses['service_c32']['p50_ms'], 2)} / {fmt(misses['service_c32']['p99_ms'], 2)}")
    row("  emulator alone p50, c32 (ms)", fmt(misses["emulator_c32"]["p50_ms"], 2))
    row("CPU per miss, workers (us)", fmt(misses["service_c32"]["cpu_us_per_request"], 0))
    row("miss p50, c1: service / emulator (ms)",
        f"{fmt(misses['service_c1']['p50_ms'], 2)} / {fmt(misses['emulator_c1']['p50_ms'], 2)}")
    logged_c1 = misses["service_c1"].get("logged") or {}
    row("  miss c1 inside the service, p50 (ms, its log)",
        f"{fmt(logged_c1.get('duration_p50_ms'), 2)}, "
        f"of which in the Passport call {fmt(logged_c1.get('upstream_p50_ms'), 2)}")
    pairs = misses["added_p50_ms_c1_pairs"]
    row(f"  added latency per miss, c1 (ms, median of {len(pairs)} pairs)", f"+{fmt(misses['added_p50_ms_c1'], 2)}",
        f"<= emulator + {TARGETS['miss_added_p50_ms_max']:g} ms",
        misses["added_p50_ms_c1"] <= TARGETS["miss_added_p50_ms_max"])
    row("    each pair (ms)", ", ".join(f"+{fmt(added, 2)}" for added in pairs))
    probes = misses.get("speed_probe_us_c1_pairs")
    if probes:
        row("    machine speed before each pair (us of a fixed task; lower is faster)",
            ", ".join(fmt(probe, 1) for probe in probes))
    paced = misses.get("emulator_c1_paced")
    if paced:
        row(f"  emulator alone, paced {misses['pace_ms']} ms apart, p50 (ms)", fmt(paced["p50_ms"], 2))
        row("  added latency per miss over the paced emulator, c1 (ms)", f"+{fmt(misses['added_p50_ms_c1_paced'], 2)}")
    row("  added latency per miss, c32 (ms)", f"+{fmt(misses['added_p50_ms_c32'], 2)}")
    row(f"Passport calls per cold id ({burst['requests_per_id']} concurrent, {len(burst['ids'])} ids)",
        f"max {burst['max_calls']}, mean {burst['mean_calls']:.1f}", f"= {TARGETS['calls_per_cold_id_max']}",
        burst["max_calls"] <= TARGETS["calls_per_cold_id_max"])
    row("Redis bytes per customer (MEMORY USAGE)",
        f"{memory['warm_customer_bytes']} (median {fmt(memory['median_bytes'], 0)}, max {memory['max_bytes']}, "
        f"n={memory['customers_cached']})", f"<= {TARGETS['bytes_per_customer_max']} B",
        (memory["max_bytes"] or 0) <= TARGETS["bytes_per_customer_max"])
    warm = startup["warm"]
    row("start-up to /healthz 200 (s)", fmt(warm["healthz_s"], 2))
    row("start-up to first customer 200, cached (s)", fmt(warm["first_customer_s"], 2),
        f"<= {TARGETS['startup_seconds_max']:g} s", warm["first_customer_s"] <= TARGETS["startup_seconds_max"])
    row("start-up to first customer 200, cold (s)", fmt(startup["cold"]["first_customer_s"], 2),
        f"<= {TARGETS['startup_seconds_max']:g} s",
        startup["cold"]["first_customer_s"] <= TARGETS["startup_seconds_max"])

    widths = [max(len(r[i]) for r in rows + [("figure", "measured", "target", "")]) for i in range(4)]
    lines = [
        f"passport-bff benchmark, {meta['started_at']}, git {meta['git_head']}, {meta['cpus']} CPUs, "
        f"load avg before {meta['load_average_before'][0]:.2f}, run took {meta['elapsed_s']:.0f} s",
        f"gunicorn {gunicorn['worker_class']} {gunicorn['workers']} workers x {gunicorn['threads']} threads "
        f"(service and baseline); wrk -t{args['wrk_threads']} -c{args['connections']} -d{args['duration']:g}s, "
        f"medians of {args['repetitions']} alternated runs; body {meta['body_bytes']} B; "
        f"RATELIMIT_DEFAULT={args['rate_limit']!r}"
        + "".join(f"; {name}={value}" for name, value in args["service_env"].items()),
        "",
        "  ".join(h.ljust(w) for h, w in zip(("figure", "measured", "target", ""), widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.append("")
    lines.append(f"other processes' CPU during hit runs (median, cores of {meta['cpus']}): service runs "
                 f"{service['other_load_cores']:.2f}, baseline runs {baseline['other_load_cores']:.2f}; steal (host) "
                 f"{service['steal_cores']:.2f} / {baseline['steal_cores']:.2f}; "
                 f"wrk CPU per request {fmt(service['wrk_cpu_us_per_request'], 0)} / "
                 f"{fmt(baseline['wrk_cpu_us_per_request'], 0)} us; errors (non-2xx, socket) "
                 f"{service['errors']} / {baseline['errors']}")
    if meta.get("service_log_bytes") is not None:
        lines.append(f"service log: {meta['service_log_bytes'] / 1e6:.1f} MB written to stdout (a file) during the run")
    profile = results.get("profile")
    if profile and profile["samples"]:
        lines.append(f"hit-path profile of one worker (py-spy --gil, {profile['samples']} samples, "
                     f"share of its Python CPU; full stacks in {profile['file']}):")
        shown = [(share, frame) for share, frame in profile["inclusive"] if not PROFILE_PLUMBING.search(frame)][:20]
        lines += [f"  {share:6.1%}  {frame}" for share, frame in shown]
    for note in results.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of each hit run (wrk -d)")
    parser.add_argument("--repetitions", type=int, default=3,
                        help="hit runs per server, alternated; also the alternated c1 miss pairs")
    parser.add_argument("--connections", type=int, default=32, help="wrk -c for hit and c32 miss runs")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk -t")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of an unrecorded hit run per server first")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (WEB_CONCURRENCY)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads per worker (GUNICORN_THREADS; default: config/gunicorn.py's)")
    parser.add_argument("--worker-class", default=None,
                        help="gunicorn worker class via GUNICORN_WORKER_CLASS (gevent or gthread; default: "
                             "config/gunicorn.py's)")
    parser.add_argument("--rate-limit", default=DEFAULT_RATE_LIMIT,
                        help="RATELIMIT_DEFAULT of the service ('off' to measure without the limiter)")
    parser.add_argument("--miss-duration", type=float, default=10.0, help="seconds of each c32 miss run")
    parser.add_argument("--latency-duration", type=float, default=5.0, help="seconds of each c1 miss run")
    parser.add_argument("--latency-ids", type=int, default=12000,
                        help="cold ids set aside for the c1 miss runs (shared out among the repetitions)")
    parser.add_argument("--customers", type=int, default=24000,
                        help="customers the emulator generates (cold ids for the miss runs)")
    parser.add_argument("--burst", type=int, default=100, help="concurrent requests per cold id in the burst")
    parser.add_argument("--burst-ids", type=int, default=5, help="cold ids bursted, one after the other")
    parser.add_argument("--burst-latency-ms", type=int, default=200, help="Passport latency injected during a burst")
    parser.add_argument("--startup-repetitions", type=int, default=3, help="extra gunicorn starts timed (warm cache)")
    parser.add_argument("--service-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment of the service, for A/B runs (repeatable), e.g. LOG_LEVEL=WARNING")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where the JSON results go")
    parser.add_argument("--keep-logs", action="store_true", help="keep the service's logs and the id files")
    parser.add_argument("--profile", action="store_true",
                        help="after the hit runs, one more (unrecorded) with py-spy on a worker (needs py-spy)")
    parser.add_argument("--emulator-server", choices=("gunicorn", "werkzeug"), default="gunicorn",
                        help="serve the emulator with keep-alive (gunicorn gthread, as Passport keeps connections "
                             "open) or with Werkzeug's server (python -m emulator: one connection per request)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 s runs, 1 repetition, 1 start-up")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration = args.miss_duration = args.latency_duration = 3.0
        args.warmup = 1.0
        args.repetitions = args.startup_repetitions = 1
    pairs = [item.partition("=") for item in args.service_env]
    if any(not name or not sep for name, sep, _ in pairs):
        parser.error("--service-env takes NAME=VALUE")
    args.service_env = {name: value for name, _, value in pairs}
    if args.repetitions < 1 or args.duration <= 0 or args.connections < 1 or args.workers < 1:
        parser.error("--repetitions, --duration, --connections and --workers must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for binary in ("wrk", "redis-server"):
        if shutil.which(binary) is None:
            print(f"bench/run.py: {binary} is not installed (apt-get install {binary})", file=sys.stderr)
            return 2

    def terminated(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    # Ctrl-C, kill, or the terminal going away: stop everything we started (see Bench.close). SIGINT
    # is set explicitly because a shell starting us in the background leaves it ignored.
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, terminated)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    bench = Bench(args)
    try:
        results = bench.run()
        results["notes"] = bench.notes
    except KeyboardInterrupt:
        print("\ninterrupted; stopping everything", file=sys.stderr)
        return 130
    except (BenchError, TimeoutError, RuntimeError, OSError, subprocess.SubprocessError, requests.RequestException,
            redis.RedisError) as exc:
        print(f"bench/run.py: {exc}", file=sys.stderr)
        return 1
    finally:
        bench.close()
    text = report(results)
    print()
    print(text)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"{bench.stamp}.json"
    results["table"] = text
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nresults: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
