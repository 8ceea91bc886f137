"""The customer overview, warm and cold, against the four calls it replaces: ``.venv/bin/python bench/overview.py``.

Starts its own redis-server, the Passport emulator (under gunicorn, one gthread worker, keeping
connections open as Passport does) and the service under gunicorn (2 gevent workers, the testing
config — no caller auth, no rate limit, so only the work is measured — with production's near
cache), all on loopback, then, one
request at a time (keep-alive sessions), for ``--customers`` customers each:

- **cold overview**: the customer's first ``GET /v1/customers/{id}/overview`` (nothing cached:
  the customer fetched and the three lists followed, concurrently);
- **warm overview**: the same page asked again at once (every part fresh: one Redis round trip,
  or none from the near cache), ``--warm`` times;
- **four separate cold calls**, for other customers: what a frontend makes without the overview —
  the customer through passport-bff (cold) and the accounts, keys and recipients lists straight
  from Passport (the emulator), one after the other.

Prints medians and 90th percentiles (ms) and the ratio of the four calls to a warm overview (the
issue's target: at least 5x), and writes ``bench/results/<UTC timestamp>-overview.json``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.run import LOOPBACK, clean_env  # noqa: E402
from tests.support.emulator import EmulatorControl  # noqa: E402
from tests.support.processes import RedisServer, free_port, start_gunicorn, stop, wait_until  # noqa: E402

RESULTS_DIR = ROOT / "bench" / "results"
TIMEOUT_SECONDS = 30
CLIENT = ("bench-client", "bench-secret-0123456789")
PARTS = ("accounts", "keys", "recipients")


def timed(call: Any) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def start_emulator(customers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = clean_env({"EMULATOR_CUSTOMERS": str(customers), "EMULATOR_CLIENT_ID": CLIENT[0],
                     "EMULATOR_CLIENT_SECRET": CLIENT[1], "PYTHONDONTWRITEBYTECODE": "1"})
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"{LOOPBACK}:{port}", "--workers", "1", "--worker-class",
         "gthread", "--threads", "16", "--keep-alive", "30", "--log-level", "warning", "emulator.wsgi:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://{LOOPBACK}:{port}"
    wait_until(lambda: requests.get(f"{url}/_emulator/health", timeout=1).ok, "emulator", process)
    return process, url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=30, help="customers measured cold (and as many for the "
                                                                   "four separate calls)")
    parser.add_argument("--warm", type=int, default=20, help="warm overviews per customer")
    args = parser.parse_args(argv)
    redis_server = RedisServer(free_port()).start()
    emulator, emulator_url = start_emulator(args.customers * 2 + 10)
    service = None
    try:
        ids = EmulatorControl(emulator_url).customer_ids(args.customers * 2 + 2)[2:]
        service, base = start_gunicorn({"APP_ENV": "testing", "PASSPORT_BASE_URL": emulator_url,
                                        "PASSPORT_CLIENT_ID": CLIENT[0], "PASSPORT_CLIENT_SECRET": CLIENT[1],
                                        "REDIS_URL": redis_server.url,
                                        # production's near cache (testing has none): a warm page reads no Redis
                                        "CACHE_NEAR_MAX_ENTRIES": "10000"}, workers=2)
        ours, passport = requests.Session(), requests.Session()
        token = passport.post(f"{emulator_url}/v1/iam/oauth/tokens", json={
            "client_id": CLIENT[0], "client_secret": CLIENT[1], "grant_type": "client_credentials"},
            timeout=TIMEOUT_SECONDS).json()["access_token"]
        passport.headers["Authorization"] = f"Bearer {token}"
        ours.get(f"{base}/v1/customers/{ids[-1]}", timeout=TIMEOUT_SECONDS)  # the service's token, fetched once

        def overview(customer_id: str) -> None:
            answer = ours.get(f"{base}/v1/customers/{customer_id}/overview", timeout=TIMEOUT_SECONDS)
            assert answer.ok and answer.json()["failed"] == [], answer.text[:300]

        def four_calls(customer_id: str) -> None:
            assert ours.get(f"{base}/v1/customers/{customer_id}", timeout=TIMEOUT_SECONDS).ok
            for part in PARTS:
                answer = passport.get(f"{emulator_url}/v1/{part}", params={"customer_id": customer_id},
                                      timeout=TIMEOUT_SECONDS)
                assert answer.ok, answer.text[:300]

        cold, warm, separate = [], [], []
        for customer_id in ids[:args.customers]:
            cold.append(timed(lambda customer_id=customer_id: overview(customer_id)))
            warm += [timed(lambda customer_id=customer_id: overview(customer_id)) for _ in range(args.warm)]
        for customer_id in ids[args.customers:args.customers * 2]:
            separate.append(timed(lambda customer_id=customer_id: four_calls(customer_id)))
    finally:
        if service is not None:
            stop(service)
        stop(emulator)
        redis_server.stop()
    figures = {name: {"p50_ms": statistics.median(values), "p90_ms": percentile(values, 0.9), "count": len(values)}
               for name, values in (("cold overview", cold), ("warm overview", warm),
                                    ("four separate cold calls", separate))}
    ratio = figures["four separate cold calls"]["p50_ms"] / figures["warm overview"]["p50_ms"]
    print(f"one request at a time, {args.customers} customers, {args.warm} warm overviews each (ms):")
    for name, figure in figures.items():
        print(f"  {name:26s} p50 {figure['p50_ms']:7.2f}   p90 {figure['p90_ms']:7.2f}   n={figure['count']}")
    print(f"  four separate cold calls / warm overview: {ratio:.1f}x (target: at least 5x)")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{stamp}-overview.json"
    path.write_text(json.dumps({"args": vars(args), "figures": figures, "ratio": ratio}, indent=2) + "\n")
    print(f"results: {path.relative_to(ROOT)}")
    return 0 if ratio >= 5 else 1


if __name__ == "__main__":
    sys.exit(main())
