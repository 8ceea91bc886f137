"""CPU instructions per cached hit (or per miss), counted by valgrind: a figure that does not drift with the machine.

    .venv/bin/python bench/instructions.py [--requests 2000] [--quick] [--tree DIR] [...]   (--help for all)
    .venv/bin/python bench/instructions.py --misses [--requests 500] [--tree DIR]            (one cold id per request)

What it measures: the instructions one ``GET /v1/customers/<id>`` answered from the cache costs,
for the service (``create_app()`` with production settings: caller auth with an API key, the rate
limiter, JSON logs, multi-process metrics, the near cache, the fast path), for the bare Flask +
Redis baseline (``bench/baseline_app.py``) and for gunicorn's floor (``bench/floor_app.py``).

Why: ``bench/run.py``'s wall-clock figures (req/s, CPU µs per hit) move by a third between runs on
this shared machine, and ``perf stat -e instructions`` has no PMU here. valgrind's callgrind
counts the instructions a program executes (``Ir``): the same code on the same inputs, interpreter
and libraries gives the same count however fast the machine is and whatever else runs on it, so two
versions of the service can be compared to a percent, in two runs made days apart.

How: each app is called in-process, the way a WSGI server calls it (an environ per request, a
``start_response`` that keeps status and headers, the body iterated and closed), by a child
Python process run under ``valgrind --tool=callgrind --collect-atstart=no
--toggle-collect=closure_fcn``. The child builds the app, warms it up (``--warmup`` requests),
then runs exactly ``--requests`` requests inside a ctypes callback: ``closure_fcn`` is the C
function through which ctypes enters a Python callback, nothing else in the process calls it, so
callgrind collects the measured loop and nothing else (not the interpreter's start-up, the
imports, the app's construction or the warm-up; nor other threads: the near cache's listener).
The total is read from the callgrind output file (``totals:``) and divided by the number of
requests. Every answer of the loop is checked (200, and ``X-Cache: HIT`` from the service); a
single other answer fails the run.

There are no sockets to the apps (gunicorn's HTTP parsing and socket writes are not counted); the
Redis and the Passport emulator the service needs are real processes on free 127.0.0.1 ports,
started here and stopped at the end, also on an error or Ctrl-C. The cache is filled by one
request (a MISS) of a plain, unmeasured run of the same child before the measured runs.
Results: a table on stdout and ``bench/results/<UTC timestamp>-instructions.json``;
``bench/README.md`` ("Instructions per hit") says how to read them.

``--misses`` measures the services only (the baseline and the floor have no miss): every request
asks for a customer nobody asked for before, so each is a ``MISS`` that reads Redis, calls the
emulator and stores. Passport's own work is in the emulator's process and waiting on sockets costs
no instructions, so the figure is the service's own CPU per miss, as ``bench/run.py``'s "added
latency per miss" is its own time.
"""
from __future__ import annotations

import argparse
import compileall
import ctypes
import hashlib
import io
import json
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS_DIR = BENCH / "results"
VALGRIND = "valgrind"
# The C function of ctypes (Modules/_ctypes/callbacks.c) through which a ctypes callback enters
# Python: callgrind collects only while the child is inside it, i.e. inside the measured loop.
TOGGLE_FUNCTION = "closure_fcn"
DEFAULT_REQUESTS = 2000
QUICK_REQUESTS = 200
DEFAULT_WARMUP = 200
# A miss under valgrind takes ~0.15 s: fewer of them give a count as steady as 2,000 hits.
DEFAULT_MISS_REQUESTS = 500
DEFAULT_MISS_WARMUP = 50
# valgrind runs Python ~50x slower; one child takes well under a minute at the defaults.
CHILD_TIMEOUT_SECONDS = 900.0
PREPARE_TIMEOUT_SECONDS = 120.0
# Wall-clock time the service's child waits (asleep, so not counted) before its warm-up, for the
# near cache's listener thread to subscribe to Redis's invalidations: until then the near cache
# serves nothing.
NEAR_CACHE_SETTLE_SECONDS = 1.0
API_KEY_NAME = "bench"
REMOTE_ADDR = "127.0.0.1"
SERVICE_PACKAGES = ("app", "config")  # all create_app() imports of a checkout (the rest is the venv)
# The limiter adds a caller's local counts to Redis once per RATELIMIT_SYNC_SECONDS of wall-clock
# time (production: 0.1 s). Under valgrind a request takes 50-70 times as long, so the production
# period would sync ~50 times as often per request as production does; its maximum, 5 s (= 0.1 s x
# 50), keeps the syncs per request about as rare as in production. --sync-seconds changes it.
DEFAULT_SYNC_SECONDS = 5.0


class InstructionsError(RuntimeError):
    """A step of the measurement could not be done; the message says which."""


# --------------------------------------------------------------------------------------------
# The child: builds one app and calls it (runs under valgrind; imports only what it measures)


def request_environ(customer_id: str, api_key: str) -> dict[str, Any]:
    """What gunicorn hands an app for ``GET /v1/customers/<id>`` with wrk's headers (Host, X-API-Key)."""
    path = f"/v1/customers/{customer_id}"
    return {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": path, "RAW_URI": path, "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": REMOTE_ADDR, "SERVER_PORT": "8000",
        "REMOTE_ADDR": REMOTE_ADDR, "REMOTE_PORT": "40000",
        "HTTP_HOST": f"{REMOTE_ADDR}:8000", "HTTP_X_API_KEY": api_key,
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
        "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.input_terminated": True,
    }


Answer = tuple[str, list[tuple[str, str]], bytes]


def wsgi_caller(app: Callable[..., Iterable[bytes]], template: Mapping[str, Any]) -> Callable[[], Answer]:
    """One request to ``app`` per call, as a server makes it: a fresh environ and body stream, status and
    headers kept by ``start_response``, the body iterated and closed."""

    def call() -> Answer:
        environ = dict(template)
        environ["wsgi.input"] = io.BytesIO(b"")
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
            started[:] = (status, headers)
            return lambda data: None

        body = app(environ, start_response)
        try:
            chunks = [bytes(chunk) for chunk in body]
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        return started[0], started[1], b"".join(chunks)

    return call


def is_ok(answer: Answer) -> bool:
    return answer[0] == "200 OK"


def is_cached_hit(answer: Answer) -> bool:
    return answer[0] == "200 OK" and ("X-Cache", "HIT") in answer[1]


def is_miss(answer: Answer) -> bool:
    return answer[0] == "200 OK" and ("X-Cache", "MISS") in answer[1]


def import_from(path: Path, name: str) -> Any:
    """Import the module file ``path`` as ``name`` (bench/ is no package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InstructionsError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def build_app(spec: Mapping[str, Any]) -> tuple[Callable[..., Iterable[bytes]], Callable[[Answer], bool]]:
    """The WSGI app the spec names and the check each of its measured answers must pass."""
    kind = spec["kind"]
    if kind == "service":
        sys.path.insert(0, spec["tree"])  # this tree's app and config packages, before anything else
        from app import create_app

        module_file = Path(sys.modules["app"].__file__ or "")
        if not module_file.is_relative_to(spec["tree"]):
            raise InstructionsError(f"imported app from {module_file}, not from {spec['tree']}")
        service = create_app(environ=spec["settings"])
        # What config/gunicorn.py's post_worker_init does to every worker once the app is loaded.
        import gc

        gc.freeze()
        return service, is_cached_hit
    if kind == "baseline":
        return import_from(Path(spec["bench"]) / "baseline_app.py", "baseline_app").app, is_ok
    if kind == "floor":
        return import_from(Path(spec["bench"]) / "floor_app.py", "floor_app").app, is_ok
    raise InstructionsError(f"unknown app kind {kind!r}")


@dataclass
class LoopOutcome:
    """What a loop of requests answered: how many failed the check, and the first that did."""

    requests: int = 0
    failures: int = 0
    first_failure: Answer | None = None


def serve(calls: Iterable[Callable[[], Answer]], check: Callable[[Answer], bool], outcome: LoopOutcome) -> None:
    """One request per call; each answer checked (cheaply: the failure path only runs on a failure)."""
    count = 0
    for call in calls:
        count += 1
        answer = call()
        if not check(answer):
            outcome.failures += 1
            if outcome.first_failure is None:
                outcome.first_failure = answer
    outcome.requests += count


def run_collected(loop: Callable[[], None]) -> None:
    """Run ``loop`` as a ctypes callback, i.e. inside ``closure_fcn``: the only code callgrind collects.

    ctypes swallows a callback's exception (it prints it and returns), so it is carried out here.
    """
    raised: list[BaseException] = []

    def guarded() -> None:
        try:
            loop()
        except BaseException as exc:  # noqa: B036 — re-raised below, outside the callback
            raised.append(exc)

    ctypes.CFUNCTYPE(None)(guarded)()
    if raised:
        raise raised[0]


class RedisCommands:
    """Counts Redis's calls per command (``INFO commandstats``) on a connection of its own, opened
    before the first count so that only its INFO calls are its own."""

    def __init__(self, url: str) -> None:
        import redis

        self._client = redis.Redis.from_url(url, socket_timeout=5, single_connection_client=True)
        self._client.ping()

    def counts(self) -> dict[str, int]:
        stats = self._client.info("commandstats")
        return {name.removeprefix("cmdstat_"): int(values["calls"]) for name, values in stats.items()}

    def since(self, before: dict[str, int]) -> dict[str, int]:
        """Calls made since ``before`` was counted, without that count's own INFO."""
        calls = {name: count - before.get(name, 0) for name, count in self.counts().items()}
        calls["info"] = calls.get("info", 0) - 1
        return {name: count for name, count in sorted(calls.items()) if count}

    def close(self) -> None:
        self._client.close()


def near_cache_hits() -> float | None:
    """The service's near-cache hit counter in this process, if its version has one."""
    try:
        from app import metrics

        return float(metrics.NEAR_CACHE_HITS._value.get())
    except Exception:  # noqa: BLE001 — a diagnostic only; older trees may not count it
        return None


def answer_record(answer: Answer) -> dict[str, Any]:
    status, headers, body = answer
    return {"status": status, "headers": headers, "body_bytes": len(body)}


def outcome_record(outcome: LoopOutcome) -> dict[str, Any]:
    first_failure = answer_record(outcome.first_failure) if outcome.first_failure else None
    return {"requests": outcome.requests, "failures": outcome.failures, "first_failure": first_failure}


def child_main(spec_file: str) -> int:
    """Build the app, warm it up, then the measured requests (collected); results to the spec's file."""
    spec = json.loads(Path(spec_file).read_text())
    app, check = build_app(spec)
    call = wsgi_caller(app, request_environ(spec["customer_id"], spec["api_key"]))
    first = call()
    if spec["kind"] == "service":
        time.sleep(NEAR_CACHE_SETTLE_SECONDS)
    if spec.get("body_file"):
        Path(spec["body_file"]).write_bytes(call()[2])
    if spec.get("miss_ids"):  # one caller per cold id, built before anything is counted
        check = is_miss
        cold = [wsgi_caller(app, request_environ(customer_id, spec["api_key"])) for customer_id in spec["miss_ids"]]
        warmup_calls, measured_calls = cold[:spec["warmup"]], cold[spec["warmup"]:]
    else:
        warmup_calls, measured_calls = [call] * spec["warmup"], [call] * spec["requests"]
    warmup, measured = LoopOutcome(), LoopOutcome()
    serve(warmup_calls, check, warmup)
    commands = RedisCommands(spec["redis_url"])
    redis_before, near_before = commands.counts(), near_cache_hits()
    started = time.monotonic()
    run_collected(lambda: serve(measured_calls, check, measured))
    seconds = time.monotonic() - started
    redis_calls, near_after = commands.since(redis_before), near_cache_hits()
    commands.close()
    last = call()
    result = {
        "first": answer_record(first),
        "last": answer_record(last),
        "warmup": outcome_record(warmup),
        "measured": outcome_record(measured) | {"wall_seconds": seconds},
        "redis_commands": redis_calls,
        "near_cache_hits": None if near_before is None or near_after is None else near_after - near_before,
        "python": sys.version,
        "app_module": getattr(sys.modules.get("app"), "__file__", None),
    }
    Path(spec["result_file"]).write_text(json.dumps(result, indent=2) + "\n")
    return 0 if measured.failures == 0 and warmup.failures == 0 else 3


# --------------------------------------------------------------------------------------------
# The parent: Redis, the emulator, snapshots of the trees, one valgrind run per app


@dataclass
class Target:
    """One app to measure: a service of some checkout, the baseline or the floor."""

    name: str
    kind: str
    tree: Path | None = None  # the snapshot of the checkout's packages (services)
    source: Path | None = None  # the checkout it was taken from
    commit: str | None = None
    digest: str | None = None  # sha256 of the snapshot's .py files: exactly which code was measured


@dataclass
class Measurement:
    name: str
    kind: str
    source: str | None
    commit: str | None
    digest: str | None
    runs: list[dict[str, Any]] = field(default_factory=list)

    def per_hit(self) -> float:
        return statistics.median(run["instructions_per_hit"] for run in self.runs)

    def spread(self) -> float:
        values = [run["instructions_per_hit"] for run in self.runs]
        return (max(values) - min(values)) / statistics.median(values)


def git_state(directory: Path) -> str | None:
    """``<short sha>`` of the checkout, ``+uncommitted`` when its app or config differ from it."""
    try:
        head = subprocess.run(["git", "-C", str(directory), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(directory), "status", "--porcelain", *SERVICE_PACKAGES],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+uncommitted" if dirty else "")


def snapshot(source: Path, destination: Path) -> str:
    """Copy the checkout's service packages (so edits made during the run change nothing measured),
    compile them (the children then load bytecode), and return a digest of their sources."""
    digest = hashlib.sha256()
    for package in SERVICE_PACKAGES:
        if not (source / package / "__init__.py").is_file():
            raise InstructionsError(f"{source} has no {package}/ package: not a checkout of passport-bff")
        shutil.copytree(source / package, destination / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for path in sorted(destination.rglob("*.py")):
        digest.update(str(path.relative_to(destination)).encode() + b"\0" + path.read_bytes() + b"\0")
    compileall.compile_dir(str(destination), quiet=1)
    return digest.hexdigest()


def callgrind_total(path: Path) -> int:
    """The run's collected instructions: the ``totals:`` (or ``summary:``) line of a callgrind file."""
    text = path.read_text(errors="replace")
    match = re.search(r"^totals:\s+(\d+)", text, re.MULTILINE) or re.search(r"^summary:\s+(\d+)", text, re.MULTILINE)
    if match is None:
        raise InstructionsError(f"{path}: no totals line")
    return int(match.group(1))


def failures(result: Mapping[str, Any]) -> str:
    """What the child's loops answered that they should not have, one line each."""
    lines = []
    for loop in ("warmup", "measured"):
        outcome = result[loop]
        if outcome["failures"]:
            first = outcome["first_failure"]
            lines.append(f"{loop}: {outcome['failures']} of {outcome['requests']} answers failed the check (200, and "
                         f"X-Cache: HIT from a service); first: {first['status']}, headers {dict(first['headers'])}")
    return "\n".join(lines)


def tail(path: Path, characters: int = 2000) -> str:
    return path.read_text(errors="replace")[-characters:] if path.exists() else ""


class Session:
    """Everything one measurement run starts, and stops in ``close()``."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="passport-bff-instructions-"))
        self.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.api_key = secrets.token_urlsafe(24)
        self.client_id = f"bench-client-{secrets.token_hex(4)}"
        self.client_secret = secrets.token_hex(16)
        self.processes: list[Any] = []  # RedisServer or Popen, stopped in reverse order
        self.body_file = self.work / "body.json"  # the warm customer's body, as the service serves it

    # ---- dependencies ------------------------------------------------------------------

    def start_dependencies(self) -> None:
        from tests.support.processes import RedisServer, free_port, start_emulator

        self.redis_server = RedisServer(free_port())
        self.processes.append(self.redis_server)
        self.redis_server.start()
        customers = 3 + self.cold_ids_needed()
        if self.args.misses:
            self.start_emulator_keeping_connections(customers)
            return
        emulator, self.emulator_url = start_emulator(
            # NAME=VALUE: a value starting with "-" would otherwise read as an option.
            ["--customers", str(customers), f"--client-id={self.client_id}", f"--client-secret={self.client_secret}"])
        self.processes.append(emulator)

    def start_emulator_keeping_connections(self, customers: int) -> None:
        """For misses: the emulator as ``bench/run.py`` serves it, under gunicorn, keeping connections
        open as Passport does (Werkzeug's server closes each after one answer, and a new connection
        per miss would be counted as the service's)."""
        import requests

        from bench.run import LOOPBACK, clean_env
        from tests.support.processes import free_port, wait_until

        port = free_port()
        env = clean_env({"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1",
                         "EMULATOR_CUSTOMERS": str(customers), "EMULATOR_CLIENT_ID": self.client_id,
                         "EMULATOR_CLIENT_SECRET": self.client_secret})
        argv = [sys.executable, "-m", "gunicorn", "--bind", f"{LOOPBACK}:{port}", "--workers", "1",
                "--worker-class", "gthread", "--threads", "8", "--keep-alive", "30", "--chdir", str(ROOT),
                "--log-level", "warning", "emulator.wsgi:app"]
        with open(self.work / "emulator.log", "wb") as log:
            process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=log)
        self.processes.append(process)
        self.emulator_url = f"http://{LOOPBACK}:{port}"
        wait_until(lambda: requests.get(f"{self.emulator_url}/_emulator/health", timeout=1).ok, "emulator", process)

    def cold_ids_needed(self) -> int:
        """With ``--misses``: one cold id per request of every run of every service."""
        if not self.args.misses:
            return 0
        return (1 + len(self.args.tree)) * self.args.repetitions * (self.args.warmup + self.args.requests)

    def customer_id(self) -> str:
        """The warm customer; with ``--misses`` the others are set aside, each to be asked for once."""
        import requests

        limit = 1 + self.cold_ids_needed()
        ids = requests.get(f"{self.emulator_url}/_emulator/customers", params={"limit": limit}, timeout=10).json()
        if len(ids) < limit:
            raise InstructionsError(f"the emulator listed {len(ids)} customers, not {limit}")
        self.cold_ids = [str(customer_id).lower() for customer_id in ids[1:]]
        return str(ids[0]).lower()

    def take_cold_ids(self, count: int) -> list[str]:
        taken, self.cold_ids = self.cold_ids[:count], self.cold_ids[count:]
        return taken

    def close(self) -> None:
        from tests.support.processes import RedisServer, stop

        while self.processes:
            item = self.processes.pop()
            try:
                if isinstance(item, RedisServer):
                    item.stop()
                else:
                    stop(item)  # SIGTERM, then SIGKILL after a wait
            except Exception as exc:  # noqa: BLE001 — keep stopping the others
                print(f"warning: stopping {item!r} failed: {exc!r}", file=sys.stderr)
        if self.args.keep_work:
            print(f"work directory kept: {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    # ---- what each child gets ----------------------------------------------------------

    def service_settings(self) -> dict[str, str]:
        """The service's environment as bench/run.py (and the Docker image) give it, minus gunicorn's."""
        digest = hashlib.sha256(self.api_key.encode()).hexdigest()
        settings = {
            "APP_ENV": "production",
            "PASSPORT_BASE_URL": self.emulator_url,
            "PASSPORT_CLIENT_ID": self.client_id,
            "PASSPORT_CLIENT_SECRET": self.client_secret,
            "REDIS_URL": self.redis_server.url,
            "AUTH_API_KEYS": f"{API_KEY_NAME}:{digest}",
            "RATELIMIT_DEFAULT": self.args.rate_limit,
            "RATELIMIT_SYNC_SECONDS": f"{self.args.sync_seconds:g}",
        }
        settings.update(self.args.service_env)
        return settings

    def child_env(self, target: Target, name: str) -> dict[str, str]:
        from bench.run import clean_env

        extra = {"PYTHONHASHSEED": "0", "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        if target.kind == "service":
            metrics_dir = self.work / f"{name}-metrics"
            metrics_dir.mkdir()
            extra |= self.service_settings() | {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
        elif target.kind == "baseline":
            from bench.run import BASELINE_KEY_PREFIX

            extra |= {"BASELINE_REDIS_URL": self.redis_server.url, "BASELINE_KEY_PREFIX": BASELINE_KEY_PREFIX}
        else:
            extra["FLOOR_BODY_FILE"] = str(self.body_file)
        return clean_env(extra)

    def write_spec(self, target: Target, name: str, customer_id: str, warmup: int, requests: int,
                   body_file: Path | None = None, miss_ids: list[str] | None = None) -> Path:
        spec = {
            "miss_ids": miss_ids,
            "kind": target.kind, "tree": str(target.tree) if target.tree else None, "bench": str(BENCH),
            "settings": self.service_settings() if target.kind == "service" else None,
            "customer_id": customer_id, "api_key": self.api_key,
            "redis_url": self.redis_server.url, "warmup": warmup, "requests": requests,
            "result_file": str(self.work / f"{name}.result.json"),
            "body_file": str(body_file) if body_file else None,
        }
        path = self.work / f"{name}.spec.json"
        path.write_text(json.dumps(spec, indent=2) + "\n")
        return path

    def run_child(self, target: Target, name: str, spec: Path, prefix: list[str], timeout: float) -> dict[str, Any]:
        """Run the child (under ``prefix``, e.g. valgrind); its result, or an error with its output."""
        stdout, stderr = self.work / f"{name}.stdout.log", self.work / f"{name}.stderr.log"
        argv = [*prefix, sys.executable, str(Path(__file__).resolve()), "--child", str(spec)]
        with open(stdout, "wb") as out, open(stderr, "wb") as err:
            completed = subprocess.run(argv, cwd=self.work, env=self.child_env(target, name), stdout=out,
                                       stderr=err, timeout=timeout)
        result_file = self.work / f"{name}.result.json"
        result = json.loads(result_file.read_text()) if result_file.exists() else None
        if completed.returncode != 0 or result is None:
            detail = failures(result) if result else tail(stderr)
            raise InstructionsError(f"{name}: the child failed (exit {completed.returncode}):\n{detail}")
        return result

    # ---- the measurement ---------------------------------------------------------------

    def fill_cache(self, service: Target, customer_id: str) -> bytes:
        """One plain (unmeasured) run of the service: its first request is the MISS that fills the cache;
        the next ones must be hits. Returns the body, for the baseline and the floor."""
        name = f"fill-{service.tree.name if service.tree else service.name}"
        spec = self.write_spec(service, name, customer_id, warmup=2, requests=2, body_file=self.body_file)
        result = self.run_child(service, name, spec, [], PREPARE_TIMEOUT_SECONDS)
        headers = dict(result["first"]["headers"])
        if result["first"]["status"] != "200 OK":
            raise InstructionsError(f"the first request was not answered 200: {result['first']}")
        print(f"  cache filled: first request {result['first']['status']} X-Cache {headers.get('X-Cache')}, "
              f"then {result['warmup']['requests'] + result['measured']['requests']} hits", flush=True)
        return self.body_file.read_bytes()

    def measure(self, target: Target, customer_id: str, body: bytes, repetition: int) -> dict[str, Any]:
        name = f"{target.name}-{repetition}".replace("/", "_").replace("@", "_")
        out_file = self.work / f"{name}.callgrind"
        miss_ids = self.take_cold_ids(self.args.warmup + self.args.requests) if self.args.misses else None
        spec = self.write_spec(target, name, customer_id, self.args.warmup, self.args.requests, miss_ids=miss_ids)
        prefix = [VALGRIND, "--tool=callgrind", "--collect-atstart=no", f"--toggle-collect={TOGGLE_FUNCTION}",
                  f"--callgrind-out-file={out_file}", f"--log-file={self.work / f'{name}.valgrind.log'}"]
        started = time.monotonic()
        result = self.run_child(target, name, spec, prefix, CHILD_TIMEOUT_SECONDS)
        elapsed = time.monotonic() - started
        total = callgrind_total(out_file)
        requests = result["measured"]["requests"]
        if total <= 0 or requests != self.args.requests:
            raise InstructionsError(f"{name}: {total} instructions over {requests} requests: nothing was collected "
                                    f"(is {TOGGLE_FUNCTION} still ctypes' callback entry?)")
        if result["last"]["body_bytes"] != len(body):
            raise InstructionsError(f"{name} answered {result['last']['body_bytes']} bytes, not the service's "
                                    f"{len(body)}")
        if self.args.keep_callgrind:
            kept = self.args.results_dir / f"{self.stamp}-callgrind" / f"{name}.callgrind"
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out_file, kept)
            result["callgrind_file"] = str(kept)
        run = {"instructions": total, "requests": requests, "instructions_per_hit": total / requests,
               "wall_seconds": elapsed, **result}
        print(f"  {target.name} #{repetition}: {total / requests:,.0f} instructions per {self.unit} "
              f"({total:,} over {requests}; Redis commands {result['redis_commands'] or '{}'}; "
              f"{elapsed:.0f} s)", flush=True)
        return run

    def run(self) -> dict[str, Any]:
        args = self.args
        began = time.monotonic()
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        targets = self.service_targets()
        if not args.misses:
            targets += [Target("baseline", "baseline"), Target("floor", "floor")]
        print("starting redis-server and the Passport emulator ...", flush=True)
        self.start_dependencies()
        customer_id = self.customer_id()
        bodies = {}
        for target in self.service_targets_of(targets):
            print(f"{target.name}: filling the cache (one plain run) ...", flush=True)
            bodies[target.name] = self.fill_cache(target, customer_id)
        if len(set(bodies.values())) != 1:
            raise InstructionsError(f"the services serve different bodies: {sorted(bodies)}")
        body = bodies["service"]
        self.body_file.write_bytes(body)
        from bench.run import BASELINE_KEY_PREFIX

        self.redis_client().set(BASELINE_KEY_PREFIX + customer_id, body)
        measurements = [Measurement(t.name, t.kind, str(t.source) if t.source else None, t.commit, t.digest)
                        for t in targets]
        print(f"measuring: valgrind callgrind, {args.warmup} warm-up + {args.requests} measured requests per app, "
              f"{args.repetitions} run(s) each ...", flush=True)
        for repetition in range(1, args.repetitions + 1):
            order = targets if repetition % 2 else targets[::-1]
            for target in order:
                measurement = next(m for m in measurements if m.name == target.name)
                measurement.runs.append(self.measure(target, customer_id, body, repetition))
        return {
            "meta": {
                "started_at": started_at, "elapsed_s": time.monotonic() - began, "git_head": targets[0].commit,
                "python": sys.version, "valgrind": valgrind_version(), "args": {
                    k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                "service_settings": {k: v for k, v in self.service_settings().items()
                                     if not k.startswith(("PASSPORT_CLIENT", "AUTH_"))},
                "customer_id": customer_id, "body_bytes": len(body),
                "toggle_function": TOGGLE_FUNCTION, "measured": self.unit,
            },
            "servers": [asdict(m) | {"instructions_per_hit": m.per_hit(), "spread": m.spread()} for m in measurements],
        }

    @property
    def unit(self) -> str:
        return "miss" if self.args.misses else "hit"

    @staticmethod
    def service_targets_of(targets: list[Target]) -> list[Target]:
        return [target for target in targets if target.kind == "service"]

    def service_targets(self) -> list[Target]:
        trees = [ROOT, *self.args.tree]
        targets = []
        for index, source in enumerate(trees):
            commit = git_state(source)
            # The directory's name too: two trees of one commit, each with its own changes, are told apart.
            name = "service" if index == 0 else f"service@{commit or '?'}:{source.name}"
            destination = self.work / f"tree-{index}"
            digest = snapshot(source, destination)
            targets.append(Target(name, "service", destination, source, commit, digest))
        return targets

    def redis_client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.redis_server.url, socket_timeout=5)


def valgrind_version() -> str | None:
    try:
        return subprocess.run([VALGRIND, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


# --------------------------------------------------------------------------------------------
# Report


def report(results: Mapping[str, Any]) -> str:
    servers = {s["name"]: s for s in results["servers"]}
    meta = results["meta"]
    args = meta["args"]
    unit = meta.get("measured", "hit")
    references = [(name, servers[name]["instructions_per_hit"]) for name in ("baseline", "floor") if name in servers]
    rows = [("server", f"instructions per {unit}", *(f"/ {name}" for name, _ in references), "spread",
             f"Redis commands per {unit}")]
    for server in results["servers"]:
        per_hit = server["instructions_per_hit"]
        commit = server["commit"]
        label = server["name"] + (f" ({commit})" if commit and commit not in server["name"] else "")
        commands = statistics.median(sum(run["redis_commands"].values()) / run["requests"] for run in server["runs"])
        rows.append((label, f"{per_hit:,.0f}", *(f"{per_hit / reference:.2f}x" for _, reference in references),
                     f"{server['spread']:.2%}" if len(server["runs"]) > 1 else "-", f"{commands:.3f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        f"passport-bff instructions per {'cached hit' if unit == 'hit' else 'miss (one cold id per request)'} "
        f"(valgrind callgrind Ir, in-process WSGI call), "
        f"{meta['started_at']}, git {meta['git_head']}, run took {meta['elapsed_s']:.0f} s",
        f"{args['requests']} measured requests after {args['warmup']} warm-up per app, median of "
        f"{args['repetitions']} run(s); RATELIMIT_DEFAULT={args['rate_limit']!r}, "
        f"RATELIMIT_SYNC_SECONDS={args['sync_seconds']:g}; body {meta['body_bytes']} B"
        + "".join(f"; {name}={value}" for name, value in args["service_env"].items()),
        "",
    ]
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(row, widths, strict=True))))
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    if references:
        lines.append("(ratios are of instructions: below 1x is cheaper; the floor is mostly this harness's own WSGI "
                     "call)")
    lines.append("(Redis commands as INFO commandstats counts them: a script's EVALSHA and every command it runs)")
    for server in results["servers"]:
        hits = [run["near_cache_hits"] for run in server["runs"] if run.get("near_cache_hits") is not None]
        if server["kind"] == "service" and hits:
            lines.append(f"{server['name']}: near-cache hits {min(hits):.0f} of {args['requests']} measured requests")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from bench.run import DEFAULT_RATE_LIMIT

    parser = argparse.ArgumentParser(prog="bench/instructions.py", description=(__doc__ or "").split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS, help="measured requests per app")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help="unmeasured requests before them")
    parser.add_argument("--repetitions", type=int, default=1,
                        help="valgrind runs per app (alternated); the table shows medians and their spread")
    parser.add_argument("--tree", type=Path, action="append", default=[], metavar="DIR",
                        help="also measure the service of another checkout of this repository at DIR (e.g. a git "
                             "worktree of an older commit); repeatable. Baseline and floor are this checkout's")
    parser.add_argument("--rate-limit", default=DEFAULT_RATE_LIMIT,
                        help="RATELIMIT_DEFAULT of the service ('off': no limiter)")
    parser.add_argument("--sync-seconds", type=float, default=DEFAULT_SYNC_SECONDS,
                        help="RATELIMIT_SYNC_SECONDS of the service (see DEFAULT_SYNC_SECONDS in the source)")
    parser.add_argument("--service-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra service setting for A/B runs (repeatable), e.g. HIT_FAST_PATH=false")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where the JSON goes")
    parser.add_argument("--keep-callgrind", action="store_true",
                        help="keep each run's callgrind file under the results directory (callgrind_annotate)")
    parser.add_argument("--keep-work", action="store_true", help="keep the work directory (logs, specs, snapshots)")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_REQUESTS} measured requests")
    parser.add_argument("--misses", action="store_true",
                        help=f"measure misses instead of hits, services only, one cold id per request (defaults: "
                             f"{DEFAULT_MISS_REQUESTS} measured after {DEFAULT_MISS_WARMUP} warm-up)")
    args = parser.parse_args(argv)
    if args.misses:
        explicit = set(argv or sys.argv[1:])
        if not any(arg.startswith("--requests") for arg in explicit):
            args.requests = DEFAULT_MISS_REQUESTS
        if not any(arg.startswith("--warmup") for arg in explicit):
            args.warmup = DEFAULT_MISS_WARMUP
    if args.quick:
        args.requests = QUICK_REQUESTS
    if args.requests < 1 or args.warmup < 0 or args.repetitions < 1:
        parser.error("--requests and --repetitions must be positive, --warmup not negative")
    pairs = [item.partition("=") for item in args.service_env]
    if any(not name or not sep for name, sep, _ in pairs):
        parser.error("--service-env takes NAME=VALUE")
    args.service_env = {name: value for name, _, value in pairs}
    args.tree = [tree.resolve() for tree in args.tree]
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child_main(argv[1])
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    args = parse_args(argv)
    for binary in (VALGRIND, "redis-server"):
        if shutil.which(binary) is None:
            print(f"bench/instructions.py: {binary} is not installed (apt-get install {binary})", file=sys.stderr)
            return 2

    def terminated(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, terminated)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    session = Session(args)
    try:
        results = session.run()
    except KeyboardInterrupt:
        print("\ninterrupted; stopping everything", file=sys.stderr)
        return 130
    except (InstructionsError, TimeoutError, RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"bench/instructions.py: {exc}", file=sys.stderr)
        return 1
    finally:
        session.close()
    text = report(results)
    print()
    print(text)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"{session.stamp}-instructions.json"
    results["table"] = text
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nresults: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
