"""Batch lookup against single lookups: ``.venv/bin/python bench/batch.py`` (about 30 s).

Starts its own redis-server, Passport emulator and the service under gunicorn (2 workers, the
testing config: no caller auth, no rate limit, so only the lookups are measured) on loopback, then
times, for 100 ids: one cold batch, one warm batch, 100 sequential cold single lookups and 100
sequential warm single lookups (median of REPETITIONS rounds, fresh ids for every cold round).
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.emulator import EmulatorControl  # noqa: E402
from tests.support.processes import RedisServer, free_port, start_emulator, start_gunicorn, stop  # noqa: E402

IDS_PER_ROUND = 100
REPETITIONS = 3
TIMEOUT_SECONDS = 30


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    redis_server = RedisServer(free_port()).start()
    emulator_process, emulator_url = start_emulator(["--customers", str(IDS_PER_ROUND * REPETITIONS * 2)])
    service = None
    try:
        ids = EmulatorControl(emulator_url).customer_ids(IDS_PER_ROUND * REPETITIONS * 2 + 1)[1:]
        service, base = start_gunicorn({"APP_ENV": "testing", "PASSPORT_BASE_URL": emulator_url,
                                        "REDIS_URL": redis_server.url}, workers=2)
        session = requests.Session()
        session.get(f"{base}/v1/customers/{ids[-1]}", timeout=TIMEOUT_SECONDS)  # token fetched once

        def batch(chunk):
            answer = session.post(f"{base}/v1/customers:batchGet", json={"ids": chunk}, timeout=TIMEOUT_SECONDS)
            assert len(answer.json()["customers"]) == len(chunk), answer.text[:200]

        def singles(chunk):
            for customer_id in chunk:
                assert session.get(f"{base}/v1/customers/{customer_id}", timeout=TIMEOUT_SECONDS).ok

        results = {"batch cold": [], "batch warm": [], "singles cold": [], "singles warm": []}
        for round_number in range(REPETITIONS):
            first = ids[round_number * 2 * IDS_PER_ROUND:][:IDS_PER_ROUND]
            second = ids[(round_number * 2 + 1) * IDS_PER_ROUND:][:IDS_PER_ROUND]
            results["batch cold"].append(timed(lambda first=first: batch(first)))
            results["batch warm"].append(timed(lambda first=first: batch(first)))
            results["singles cold"].append(timed(lambda second=second: singles(second)))
            results["singles warm"].append(timed(lambda second=second: singles(second)))
        print(f"{IDS_PER_ROUND} ids, median of {REPETITIONS} rounds (ms), emulator on loopback (no added latency):")
        for name, values in results.items():
            print(f"  {name:<13} {statistics.median(values):8.1f}   (rounds: {', '.join(f'{v:.1f}' for v in values)})")
    finally:
        if service is not None:
            stop(service)
        stop(emulator_process)
        redis_server.stop()


if __name__ == "__main__":
    main()
