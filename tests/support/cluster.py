"""A small passport-bff cluster on real processes, and bounded concurrent load against it.

Used by the fault-injection tests (``tests/faults``) and by ``bench/resilience.py``:

- ``Cluster`` owns one redis-server, one Passport emulator and any number of gunicorn instances,
  all on free loopback ports, and stops every one of them in ``close()`` (also as a context
  manager). Each piece can be killed or restarted on its own: ``cluster.redis.kill()`` then
  ``cluster.redis.start()`` (same port), ``cluster.stop_emulator()``, ``instance.kill()``.
- ``burst(urls, concurrency)`` fires requests from ``concurrency`` threads released together by a
  barrier; ``LoadRunner`` keeps a few threads requesting until told to stop or until its time is
  up. Every request has a timeout, every loop a bound in count and time.
- ``poll(...)`` repeats a probe until a condition holds, with a deadline (never a fixed sleep).

Killing an instance (``Instance.kill``) SIGKILLs the gunicorn master first, so that nothing
respawns workers, then SIGKILLs each worker it had (found by scanning ``/proc`` for processes
whose parent is the master, before the master dies). ``start_gunicorn`` starts gunicorn in the
test runner's own process group, so killing the group is not an option.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any, TypeVar

import requests

from tests.support.emulator import EmulatorControl
from tests.support.processes import LOOPBACK, RedisServer, free_port, start_emulator, start_gunicorn, stop

T = TypeVar("T")

REQUEST_TIMEOUT_SECONDS = 20.0
POLL_INTERVAL_SECONDS = 0.05
DEFAULT_POLL_TIMEOUT_SECONDS = 10.0
KILL_WAIT_SECONDS = 10.0
MAX_LOAD_SECONDS = 120.0
MAX_BURST_REQUESTS = 10_000


# --------------------------------------------------------------------------------------------
# Processes


def child_pids(parent: int) -> list[int]:
    """Pids of the live processes whose parent is ``parent`` (from ``/proc/<pid>/stat``)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ..." — comm may hold spaces or parentheses: split after the last ")".
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) >= 2 and int(fields[1]) == parent:
            children.append(int(entry.name))
    return children


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


@dataclass
class Instance:
    """One gunicorn master (and its workers) serving passport-bff."""

    process: subprocess.Popen
    base_url: str
    env: dict[str, str]

    def url(self, path: str) -> str:
        return self.base_url + path

    def customer_url(self, customer_id: str) -> str:
        return self.url(f"/v1/customers/{customer_id}")

    def worker_pids(self) -> list[int]:
        return child_pids(self.process.pid)

    def kill(self) -> list[int]:
        """SIGKILL the master, then every worker it had; return the workers' pids.

        Workers are listed before the master dies (afterwards they are re-parented). The master
        goes first so that it cannot respawn a worker; then each worker, which may be in the
        middle of a request, dies at once without finishing it or releasing anything it holds.
        """
        workers = self.worker_pids()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(KILL_WAIT_SECONDS)
        for pid in workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + KILL_WAIT_SECONDS
        while any(pid_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL_SECONDS)
        return workers

    def stop(self) -> None:
        stop(self.process)


class Cluster:
    """redis-server + emulator + gunicorn instances, all on loopback, all stopped by ``close``."""

    def __init__(self, emulator_args: Sequence[str] | None = None, with_redis: bool = True,
                 **settings: Any) -> None:
        self.redis: RedisServer | None = None
        self.emulator_process: subprocess.Popen | None = None
        self.instances: list[Instance] = []
        self.settings = {name: str(value) for name, value in settings.items()}
        try:
            if with_redis:
                self.redis = RedisServer(free_port()).start()
            self.emulator_process, emulator_url = start_emulator(list(emulator_args or []))
            self.emulator = EmulatorControl(emulator_url)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def redis_url(self) -> str:
        if self.redis is None:
            raise RuntimeError("this cluster runs without redis-server")
        return self.redis.url

    def env(self, **settings: Any) -> dict[str, str]:
        """Environment of an instance: testing config on this emulator and Redis, plus settings."""
        env = {"APP_ENV": "testing", "PASSPORT_BASE_URL": self.emulator.base_url}
        if self.redis is not None:
            env["REDIS_URL"] = self.redis.url
        env.update(self.settings)
        env.update({name: str(value) for name, value in settings.items()})
        return env

    def start_instance(self, workers: int = 1, env: Mapping[str, str] | None = None,
                       log_path: Path | None = None, **settings: Any) -> Instance:
        """Start one gunicorn instance with ``workers`` workers (``env`` replaces ``self.env``;
        its output goes to ``log_path`` when given)."""
        full_env = dict(env) if env is not None else self.env(**settings)
        process, base_url = start_gunicorn(full_env, workers=workers, log_path=log_path)
        instance = Instance(process, base_url, full_env)
        self.instances.append(instance)
        return instance

    def stop_emulator(self) -> None:
        """Stop the emulator for good (its port then refuses connections)."""
        if self.emulator_process is not None:
            stop(self.emulator_process)

    def flush_redis(self) -> None:
        import redis

        client = redis.Redis.from_url(self.redis_url, socket_timeout=2)
        try:
            client.flushall()
        finally:
            client.close()

    def close(self) -> None:
        """Stop everything this cluster started; safe to call twice and after partial failure."""
        errors: list[BaseException] = []
        for instance in self.instances:
            try:
                if instance.process.poll() is None:
                    instance.stop()
            except BaseException as exc:  # keep stopping the others
                errors.append(exc)
        self.instances = []
        if self.emulator_process is not None:
            try:
                stop(self.emulator_process)
            except BaseException as exc:
                errors.append(exc)
        if self.redis is not None and self.redis.process is not None:
            try:
                if self.redis.process.poll() is None:
                    # A frozen (SIGSTOPped) redis-server would never honour SIGTERM.
                    self.redis.process.send_signal(signal.SIGCONT)
                self.redis.stop()
            except BaseException as exc:
                errors.append(exc)
        if errors:
            raise errors[0]


# --------------------------------------------------------------------------------------------
# Requests and load


@dataclass(frozen=True)
class Answer:
    """One HTTP answer (or the error that stood in for it), with when it was asked and how long it took."""

    url: str
    status: int | None
    headers: Mapping[str, str]
    body: bytes
    started: float
    elapsed: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def x_cache(self) -> str | None:
        return self.headers.get("X-Cache")

    def json(self) -> Any:
        import json

        return json.loads(self.body)

    def __repr__(self) -> str:  # short enough for assertion messages
        cache = self.headers.get("X-Cache")
        return f"<Answer {self.status} X-Cache={cache} {self.elapsed * 1000:.0f}ms {self.error or ''}>"


def fetch(url: str, session: requests.Session | None = None,
          timeout: float = REQUEST_TIMEOUT_SECONDS, headers: Mapping[str, str] | None = None) -> Answer:
    """GET ``url``; a connection error or timeout becomes an Answer with ``status=None``."""
    started = time.monotonic()
    try:
        response = (session or requests).get(url, timeout=timeout, headers=headers)
    except requests.RequestException as exc:
        return Answer(url, None, {}, b"", started, time.monotonic() - started, f"{type(exc).__name__}: {exc}")
    return Answer(url, response.status_code, response.headers, response.content, started,
                  time.monotonic() - started)


def burst(urls: Sequence[str], concurrency: int, timeout: float = REQUEST_TIMEOUT_SECONDS) -> list[Answer]:
    """GET every url from ``concurrency`` threads that start together; answers in ``urls`` order.

    Each thread opens its own connections and takes every ``concurrency``-th url, so the first
    ``concurrency`` requests leave at the same moment (released by one barrier).
    """
    if not 0 < len(urls) <= MAX_BURST_REQUESTS:
        raise ValueError(f"a burst holds 1..{MAX_BURST_REQUESTS} requests")
    concurrency = max(1, min(concurrency, len(urls)))
    answers: list[Answer | None] = [None] * len(urls)
    barrier = threading.Barrier(concurrency, timeout=timeout)

    def run(offset: int) -> None:
        with requests.Session() as session:
            barrier.wait()
            for index in range(offset, len(urls), concurrency):
                answers[index] = fetch(urls[index], session, timeout)

    threads = [threading.Thread(target=run, args=(offset,), daemon=True) for offset in range(concurrency)]
    for thread in threads:
        thread.start()
    per_thread = -(-len(urls) // concurrency)
    deadline = time.monotonic() + timeout * (per_thread + 1) + 5
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    if any(thread.is_alive() for thread in threads):
        raise TimeoutError("burst threads did not finish")
    return [answer for answer in answers if answer is not None]


class LoadRunner:
    """A few threads GETting ``urls`` round-robin until ``stop()`` or ``max_seconds`` have passed.

    ``answers()`` is a snapshot of every answer so far; ``stop()`` waits for the threads (each
    finishes its request in flight, bounded by ``timeout``).
    """

    def __init__(self, urls: Sequence[str], threads: int = 3, max_seconds: float = 10.0,
                 timeout: float = 5.0, pause: float = 0.0) -> None:
        if not urls:
            raise ValueError("no urls to load")
        self.urls = list(urls)
        self.max_seconds = min(max_seconds, MAX_LOAD_SECONDS)
        self.timeout = timeout
        self.pause = pause
        self._answers: list[Answer] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]
        self.started = 0.0

    def __enter__(self) -> LoadRunner:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> LoadRunner:
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def _run(self, offset: int) -> None:
        deadline = self.started + self.max_seconds
        index = offset
        with requests.Session() as session:
            while not self._stop.is_set() and time.monotonic() < deadline:
                answer = fetch(self.urls[index % len(self.urls)], session, self.timeout)
                with self._lock:
                    self._answers.append(answer)
                index += 1
                if self.pause:
                    self._stop.wait(self.pause)

    def answers(self, since: float | None = None) -> list[Answer]:
        with self._lock:
            answers = list(self._answers)
        return answers if since is None else [a for a in answers if a.started >= since]

    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def wait(self) -> list[Answer]:
        """Wait for the load to run out of time by itself, then return every answer."""
        for thread in self._threads:
            thread.join(self.max_seconds + self.timeout + 5)
        return self.stop()

    def stop(self) -> list[Answer]:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)
        if self.running():
            raise TimeoutError("load threads did not stop")
        return self.answers()


# --------------------------------------------------------------------------------------------
# Polling and figures


class PollTimeout(AssertionError):
    """A polled condition never held; carries the last value seen."""

    def __init__(self, what: str, last: Any, timeout: float) -> None:
        super().__init__(f"{what}: not true within {timeout}s; last value: {last!r}")
        self.last = last


def poll(probe: Callable[[], T], until: Callable[[T], bool], what: str,
         timeout: float = DEFAULT_POLL_TIMEOUT_SECONDS, interval: float = POLL_INTERVAL_SECONDS) -> T:
    """Call ``probe()`` until ``until(value)`` holds; return that value, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if until(last):
            return last
        if time.monotonic() >= deadline:
            raise PollTimeout(what, last, timeout)
        time.sleep(interval)


def percentile(values: Iterable[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in 0..1) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = max(1, min(len(ordered), int(-(-fraction * len(ordered) // 1))))
    return ordered[rank - 1]


@dataclass
class Tally:
    """Counts of answers by (status, X-Cache)."""

    counts: dict[tuple[int | None, str | None], int] = field(default_factory=dict)

    @classmethod
    def of(cls, answers: Iterable[Answer]) -> Tally:
        tally = cls()
        for answer in answers:
            key = (answer.status, answer.x_cache)
            tally.counts[key] = tally.counts.get(key, 0) + 1
        return tally

    def __str__(self) -> str:
        return ", ".join(f"{status}/{cache}: {n}" for (status, cache), n in sorted(
            self.counts.items(), key=lambda item: (str(item[0][0]), str(item[0][1]))))




# --------------------------------------------------------------------------------------------
# Assertions and emulator conveniences shared by the fault tests and the bench


def problem(answer: Answer, status: int) -> dict[str, Any]:
    """Check ``answer`` is an RFC 9457 problem with ``status``; return its body."""
    assert answer.status == status, f"expected a {status} problem, got {answer!r}: {answer.body[:300]!r}"
    content_type = answer.headers.get("Content-Type", "")
    assert content_type.startswith("application/problem+json"), content_type
    body = answer.json()
    assert body["status"] == status, body
    for member in ("type", "title", "detail", "request_id"):
        assert member in body, f"problem without {member}: {body}"
    return body


def clear_faults(emulator: EmulatorControl) -> None:
    """Drop every injected fault, keeping the call counters."""
    requests.delete(f"{emulator.base_url}/_emulator/faults", timeout=5).raise_for_status()


def iso_utc(seconds_ago: float) -> str:
    """An ISO 8601 UTC timestamp with milliseconds and ``Z``, ``seconds_ago`` before now."""
    from datetime import datetime, timedelta

    moment = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


__all__ = [
    "Answer",
    "Cluster",
    "Instance",
    "LOOPBACK",
    "LoadRunner",
    "PollTimeout",
    "Tally",
    "burst",
    "child_pids",
    "clear_faults",
    "fetch",
    "iso_utc",
    "percentile",
    "pid_alive",
    "poll",
    "problem",
]
