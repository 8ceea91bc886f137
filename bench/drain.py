"""Reload and stop under load, counted: ``.venv/bin/python bench/drain.py`` (about 1 minute).

Starts its own redis-server, Passport emulator and the service under gunicorn (2 gevent workers,
``DRAIN_SECONDS=5``, ``GUNICORN_GRACEFUL_TIMEOUT=10``) on loopback, and keeps LOAD_THREADS clients
asking for warm customers over keep-alive connections (as a gateway's pool does). Each round:
two SIGHUP reloads, then SIGTERM. It reports the requests sent and failed across the reloads; during
the drain (SIGTERM to the drain's end); and after it (the listener closing: a request then is
either answered or turned away at the socket, for the gateway to send elsewhere — any other
outcome is a failure); how soon ``/readyz`` said ``draining``, and the master's exit code and time.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.cluster import Answer, Cluster, LoadRunner, fetch, poll  # noqa: E402

ROUNDS = 3
LOAD_THREADS = 8
DRAIN_SECONDS = 5.0
GRACEFUL_SECONDS = 10
WORKERS = 2


def turned_away(answer: Answer) -> bool:
    error = answer.error or ""
    return answer.status is None and ("Connection refused" in error or "Connection reset" in error)


def readiness(base_url: str) -> str:
    try:
        return str(requests.get(f"{base_url}/readyz", timeout=2, headers={"Connection": "close"}).json()["status"])
    except (requests.RequestException, ValueError):
        return "unreachable"


def one_round(cluster: Cluster) -> dict[str, object]:
    instance = cluster.start_instance(workers=WORKERS, DRAIN_SECONDS=DRAIN_SECONDS,
                                      GUNICORN_GRACEFUL_TIMEOUT=GRACEFUL_SECONDS)
    urls = [instance.customer_url(customer_id) for customer_id in cluster.emulator.customer_ids(20)]
    for url in urls:
        fetch(url)
    master = instance.process.pid
    with LoadRunner(urls, threads=LOAD_THREADS, max_seconds=60, timeout=10) as load:
        time.sleep(1.0)
        reload_started = time.monotonic()
        for _ in range(2):
            old = set(instance.worker_pids())
            os.kill(master, signal.SIGHUP)
            poll(lambda old=old: set(instance.worker_pids()),
                 lambda pids, old=old: len(pids) == WORKERS and not pids & old, "workers replaced", timeout=30)
            time.sleep(1.0)
        told = time.monotonic()
        os.kill(master, signal.SIGTERM)
        draining_after = poll(lambda: (readiness(instance.base_url), time.monotonic() - told),
                              lambda seen: seen[0] == "draining", "draining", timeout=5)[1]
        exit_code = instance.process.wait(DRAIN_SECONDS + GRACEFUL_SECONDS + 10)
        exited_after = time.monotonic() - told
        answers = load.stop()
    reload = [a for a in answers if reload_started <= a.started < told]
    drain = [a for a in answers if told <= a.started < told + DRAIN_SECONDS]
    after = [a for a in answers if a.started >= told + DRAIN_SECONDS]
    return {
        "reload sent": len(reload), "reload failed": sum(not a.ok for a in reload),
        "drain sent": len(drain), "drain failed": sum(not a.ok for a in drain),
        "after sent": len(after), "after turned away": sum(turned_away(a) for a in after),
        "after failed": sum(not a.ok and not turned_away(a) for a in after),
        "draining after (ms)": round(draining_after * 1000), "exit": exit_code,
        "exited after (s)": round(exited_after, 2),
    }


def main() -> None:
    with Cluster() as cluster:
        rounds = [one_round(cluster) for _ in range(ROUNDS)]
    print(f"{WORKERS} gevent workers, {LOAD_THREADS} keep-alive clients, DRAIN_SECONDS={DRAIN_SECONDS:g}, "
          f"2 SIGHUPs then SIGTERM, {ROUNDS} rounds:")
    names = list(rounds[0])
    print("| " + " | ".join(["round", *names]) + " |")
    print("|" + "---:|" * (len(names) + 1))
    for number, figures in enumerate(rounds, start=1):
        print("| " + " | ".join([str(number), *(str(figures[name]) for name in names)]) + " |")


if __name__ == "__main__":
    main()
