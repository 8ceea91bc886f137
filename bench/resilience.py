"""Resilience figures for passport-bff, on real processes (run by hand, not a test).

    .venv/bin/python bench/resilience.py

Starts its own redis-server, Passport emulator and gunicorn instances on free loopback ports
(``tests/support/cluster.py``), measures, prints a table, and stops everything (also on error or
Ctrl-C). It takes well under two minutes:

1. Coalescing — 200 concurrent requests (64 threads released together) for one cold id across
   2 instances × 4 workers sharing one Redis, the emulator holding that id's calls for 300 ms;
   repeated over 5 different cold ids: Passport calls per id, and the worst.
2. Redis outage — 4 threads load 2 instances × 4 workers for 10 s; redis-server is SIGKILLed at
   3 s and restarted (same port, empty) at 6 s: answers lost (non-200), how many bypassed the
   cache, and how long after the restart the first HIT came.
3. Breaker fail-fast — one instance (1 worker, so one breaker), Passport slowed to 2 s with a
   0.5 s read timeout: latency of uncached lookups before the breaker opens (they wait out the
   timeout) and of 300 lookups after it opened (503 at once), p50/p99.
4. Cold burst — 1,000 and then 2,000 requests for one cold id, every connection open before any
   request leaves (``tests/support/socket_burst.py``), on 2 instances × 4 workers just booted
   (a fresh cluster per round, so the token is cold too), the emulator holding the id for 300 ms;
   2 rounds per size: customer and token calls, answers that bypassed the cache, p50/p99.
5. Distinct cold ids — 1,000 requests, each for another cold id, every connection open at once,
   on 1 instance x 1 worker (its ``PASSPORT_MAX_CONNECTIONS`` connections toward Passport, the
   rest waiting for one), the emulator answering in 300 ms: customer calls, non-200, p50/p99.
"""
from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.cluster import Cluster, LoadRunner, Tally, burst, clear_faults, fetch, percentile, poll  # noqa: E402
from tests.support.socket_burst import socket_burst  # noqa: E402

BURST_REQUESTS = 200
BURST_CONCURRENCY = 64
BURST_IDS = 5
BURST_LATENCY_MS = 300

LOAD_THREADS = 4
LOAD_SECONDS = 10.0
KILL_AT_SECONDS = 3.0
RESTART_AT_SECONDS = 6.0

BREAKER_FAILURES = 5
READ_TIMEOUT_SECONDS = 0.5
SLOW_LATENCY_MS = 2000
FAIL_FAST_REQUESTS = 300

COLD_BURST_SIZES = (1_000, 2_000)
COLD_BURST_ROUNDS = 2

DISTINCT_IDS = 1_000


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def wait_for_moment(start: float, offset: float) -> None:
    """Sleep until ``start + offset`` (a scheduled moment of the run, not a wait for a condition)."""
    time.sleep(max(0.0, start + offset - time.monotonic()))


def coalescing(cluster: Cluster) -> list[str]:
    instances = cluster.instances[:2]
    emulator = cluster.emulator
    ids = emulator.customer_ids(100)[50:50 + BURST_IDS]
    calls, tokens_before, lost = [], emulator.token_calls(), 0
    for customer_id in ids:
        emulator.fault(customer_id=customer_id, latency_ms=BURST_LATENCY_MS)
        urls = [instances[n % 2].customer_url(customer_id) for n in range(BURST_REQUESTS)]
        answers = burst(urls, BURST_CONCURRENCY)
        lost += sum(1 for answer in answers if not answer.ok)
        calls.append(emulator.customer_calls(customer_id))
    clear_faults(emulator)
    return [
        f"1. coalescing: {BURST_REQUESTS} concurrent requests per cold id, 2 instances x 4 workers",
        "   Passport calls per cold id: " + ", ".join(str(n) for n in calls) + f"   (max {max(calls)})",
        f"   non-200 answers: {lost} of {BURST_REQUESTS * BURST_IDS}; "
        f"token calls: {emulator.token_calls() - tokens_before}",
    ]


def redis_outage(cluster: Cluster) -> list[str]:
    instances = cluster.instances[:2]
    ids = cluster.emulator.customer_ids(20)[:8]
    urls = [instances[n % 2].customer_url(customer_id) for n, customer_id in enumerate(ids)]
    for url in urls:
        fetch(url)
    load = LoadRunner(urls, threads=LOAD_THREADS, max_seconds=LOAD_SECONDS, timeout=5).start()
    try:
        wait_for_moment(load.started, KILL_AT_SECONDS)
        killed_at = time.monotonic()
        cluster.redis.kill()
        wait_for_moment(load.started, RESTART_AT_SECONDS)
        cluster.redis.start()
        back_at = time.monotonic()
        try:
            first_hit = poll(lambda: [a for a in load.answers(since=back_at) if a.x_cache == "HIT"],
                             bool, "a HIT after the restart", timeout=LOAD_SECONDS)
            resumed = f"{first_hit[0].started + first_hit[0].elapsed - back_at:.2f} s"
        except AssertionError:
            resumed = "never (within the load)"
        answers = load.wait()
    finally:
        load.stop()
    lost = [a for a in answers if not a.ok]
    during = [a for a in answers if killed_at <= a.started < back_at]
    return [
        f"2. redis-server SIGKILLed at {KILL_AT_SECONDS:.0f} s, restarted at {RESTART_AT_SECONDS:.0f} s, "
        f"{LOAD_THREADS} threads for {LOAD_SECONDS:.0f} s",
        f"   answers: {len(answers)}; lost (non-200): {len(lost)}",
        f"   while down: {len(during)} answers, {sum(1 for a in during if a.x_cache == 'BYPASS')} BYPASS",
        f"   first HIT after restart: {resumed}",
        f"   by status/X-Cache: {Tally.of(answers)}",
    ]


def breaker_fail_fast(cluster: Cluster) -> list[str]:
    instance = cluster.start_instance(
        workers=1, PASSPORT_TIMEOUT_SECONDS=READ_TIMEOUT_SECONDS, PASSPORT_BREAKER_FAILURES=BREAKER_FAILURES,
        PASSPORT_BREAKER_RESET_SECONDS=120,
    )
    cluster.emulator.fault(latency_ms=SLOW_LATENCY_MS)

    def uncached() -> str:
        return instance.customer_url(str(uuid.uuid4()))

    before = [fetch(uncached()) for _ in range(BREAKER_FAILURES)]
    after = [fetch(uncached()) for _ in range(FAIL_FAST_REQUESTS)]
    clear_faults(cluster.emulator)
    before_ms = [a.elapsed for a in before]
    after_ms = [a.elapsed for a in after]
    return [
        f"3. breaker: Passport slowed to {SLOW_LATENCY_MS} ms, read timeout {READ_TIMEOUT_SECONDS} s, "
        f"opens after {BREAKER_FAILURES} failures",
        f"   before it opened ({len(before)} uncached lookups, {Tally.of(before)}): "
        f"p50 {ms(percentile(before_ms, 0.5))} ms",
        f"   once open ({len(after)} uncached lookups, {Tally.of(after)}): "
        f"p50 {ms(percentile(after_ms, 0.5))} ms, p99 {ms(percentile(after_ms, 0.99))} ms",
    ]


def cold_burst_round(size: int) -> str:
    with Cluster() as cluster:
        instances = [urlsplit(cluster.start_instance(workers=4).base_url) for _ in range(2)]
        customer_id = cluster.emulator.customer_ids(10)[7]
        cluster.emulator.fault(customer_id=customer_id, latency_ms=BURST_LATENCY_MS)
        targets = [(instances[n % 2].hostname or "", instances[n % 2].port or 0, f"/v1/customers/{customer_id}")
                   for n in range(size)]
        answers = socket_burst(targets, timeout=30.0)
        elapsed = [answer.elapsed for answer in answers if answer.status is not None]
        bypassed = sum(1 for answer in answers if "bypass" in answer.headers.get("cache-status", ""))
        not_200 = sum(1 for answer in answers if answer.status != 200)
        return (f"   {size} requests: customer calls {cluster.emulator.customer_calls(customer_id)}, token calls "
                f"{cluster.emulator.token_calls()}, bypassed {bypassed}, non-200 {not_200}, "
                f"p50 {ms(percentile(elapsed, 0.5))} ms, p99 {ms(percentile(elapsed, 0.99))} ms")


def cold_burst() -> list[str]:
    lines = ["4. cold burst: one cold id, every connection open at once, 2 instances x 4 workers just booted"]
    for size in COLD_BURST_SIZES:
        lines += [cold_burst_round(size) for _ in range(COLD_BURST_ROUNDS)]
    return lines


def distinct_cold_ids() -> list[str]:
    with Cluster(emulator_args=["--customers", str(DISTINCT_IDS)]) as cluster:
        instance = urlsplit(cluster.start_instance(workers=1).base_url)
        ids = cluster.emulator.customer_ids(DISTINCT_IDS)
        cluster.emulator.fault(latency_ms=BURST_LATENCY_MS)
        answers = socket_burst([(instance.hostname or "", instance.port or 0, f"/v1/customers/{customer_id}")
                                for customer_id in ids], timeout=30.0)
        elapsed = [answer.elapsed for answer in answers if answer.status is not None]
        not_200 = sum(1 for answer in answers if answer.status != 200)
        return ["5. distinct cold ids: every connection open at once, 1 instance x 1 worker, Passport at 300 ms",
                f"   {len(ids)} ids: customer calls {cluster.emulator.customer_calls()}, non-200 {not_200}, "
                f"p50 {ms(percentile(elapsed, 0.5))} ms, p99 {ms(percentile(elapsed, 0.99))} ms"]


def main() -> int:
    started = time.monotonic()
    lines: list[str] = []
    with Cluster() as cluster:
        for _ in range(2):
            cluster.start_instance(workers=4)
        lines += coalescing(cluster)
        lines += redis_outage(cluster)
        lines += breaker_fail_fast(cluster)
    lines += cold_burst()
    lines += distinct_cold_ids()
    print("passport-bff resilience figures (loopback, real processes)")
    print("-" * 72)
    print("\n".join(lines))
    print("-" * 72)
    print(f"run time {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
