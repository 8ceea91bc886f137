"""A miss's latency, this checkout against others, side by side: ``.venv/bin/python bench/miss_ab.py --tree DIR``.

    .venv/bin/python bench/miss_ab.py --tree /tmp/before [--tree ...] [--rounds 6] [--duration 3] [--idle-instances N]
    .venv/bin/python bench/miss_ab.py --miss-floor [--tree ...]     (and the floor of a miss on this stack)

Why: ``bench/run.py``'s "added latency per miss" is a difference of two medians about 3 ms apart,
on a machine whose speed drifts by a third within minutes (and by half within the hour): two runs
of it made minutes apart can disagree more than the change being measured. Here every checkout's
service runs at once, on one Redis and one emulator, and their runs are interleaved, so a drift
slows every checkout alike.

What it does: starts redis-server, the Passport emulator (under gunicorn, keeping connections
open) and one service per checkout (``gunicorn -c config/gunicorn.py wsgi:app`` in that checkout,
production settings as ``bench/run.py`` gives them; each with a ``CACHE_KEY_PREFIX`` of its own, so
that no near cache hears another's writes), all on free 127.0.0.1 ports. Then ``--rounds`` times:
a ``wrk -c1`` run of ``--duration`` seconds at each service (in an order rotated every round), then
one at the emulator alone, each over cold ids nobody asked for before (``bench/ids.lua``). Per
checkout: the median over rounds of its p50, of its p50 minus the same round's emulator p50 (the
"added latency per miss" of ``bench/run.py``), and of its workers' CPU per miss. Every run is
bounded in time; everything started is stopped at the end, also on an error or Ctrl-C.

``--miss-floor`` adds ``bench/miss_floor_app.py`` to the rounds: gunicorn with the service's worker
settings and one urllib3 GET to the emulator per request, nothing else — what the by-design parts
alone add to a miss (``--tree`` may then be left out).

``--idle-instances N`` starts, beside each checkout's service, N more of its instances on the same
keys that are asked nothing: the rest of a fleet, whose near caches hear of the misses stored (in
broadcast tracking every one of their workers woke for each; in opt-in tracking none does). Their
workers' CPU per miss of the loaded service is shown too: what each miss costs the rest of the fleet.

Results: a table on stdout and ``bench/results/<UTC timestamp>-miss-ab.json``.
"""
from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from bench.instructions import git_state  # noqa: E402
from bench.run import (  # noqa: E402
    RESULTS_DIR,
    Bench,
    BenchError,
    Server,
    clean_env,
    fmt,
    parse_args,
    run_wrk,
    spawn_gunicorn,
    wait_healthy,
)
from tests.support.processes import free_port, wait_until  # noqa: E402

DEFAULT_ROUNDS = 6
DEFAULT_DURATION = 3.0
# A miss takes 2-5 ms here: a 3 s run at one connection asks for at most ~1,500 ids.
IDS_PER_RUN = 2500
MISS_FLOOR = "miss-floor"


def measure(args: argparse.Namespace) -> dict[str, Any]:
    trees = [ROOT, *args.tree]
    runs_needed = args.rounds * (len(trees) + 1 + int(args.miss_floor))
    bench = Bench(parse_args(["--customers", str(runs_needed * IDS_PER_RUN + 10)]))
    try:
        print("starting redis-server, the emulator and one service per checkout ...", flush=True)
        bench.start_dependencies()
        bench.check_gunicorn_settings()
        services: list[Server] = []
        idle_workers: dict[int, list[int]] = {}  # per checkout: the pids of its idle instances' workers
        for number, tree in enumerate(trees):
            bench.args.service_env = {"CACHE_KEY_PREFIX": f"miss-ab-{number}"}
            service, _ = bench.start_service(f"service-{number}", tree)
            wait_healthy(service)
            services.append(service)
            idle_workers[number] = []
            for idle in range(args.idle_instances):  # the rest of a fleet on the same keys, asked nothing
                instance = bench.start_service(f"idle-{number}-{idle}", tree)[0]
                wait_healthy(instance)
                idle_workers[number] += instance.workers()
        ids = iter(bench.ids[1:])
        for service in services:  # each fetches its Passport token on a first, unmeasured miss
            requests.get(f"{service.base_url}/v1/customers/{next(ids)}", headers=bench.service_headers(),
                         timeout=10).raise_for_status()
        token = requests.post(f"{bench.emulator_url}/v1/iam/oauth/tokens", json={
            "client_id": bench.client_id, "client_secret": bench.client_secret, "grant_type": "client_credentials",
        }, timeout=10).json()["access_token"]
        targets = [(f"service-{n}", service.base_url, bench.service_headers(), service, idle_workers[n])
                   for n, service in enumerate(services)]
        if args.miss_floor:
            floor = start_miss_floor(bench, token)
            targets.append((MISS_FLOOR, floor.base_url, {}, floor, []))
        emulator = ("emulator", bench.emulator_url, {"Authorization": f"Bearer {token}"}, None, [])
        rounds: list[dict[str, dict[str, float]]] = []
        for number in range(args.rounds):
            shift = number % len(targets)
            order = [*targets[shift:], *targets[:shift], emulator]
            results: dict[str, dict[str, float]] = {}
            for label, base, headers, service, idle in order:
                ids_file = bench.ids_file(f"ab-{number}-{label}", [next(ids) for _ in range(IDS_PER_RUN)])
                watch: dict[str, Any] = {"workers": service} if service is not None else {}
                if idle:
                    watch["idle"] = idle
                run = run_wrk(f"{label}#{number}", base, duration=args.duration, connections=1, threads=1,
                              headers=headers, ids_file=ids_file, watch=watch)
                answered = run.ids or {}
                warm = label.startswith("service") and bool(answered.get("reused") or answered.get("xcache_HIT"))
                if run.errors or warm:  # the emulator and the miss floor cache nothing: reused ids are cold to them
                    raise BenchError(f"{label} round {number}: errors or warm ids: {run.ids}")
                results[label] = {"p50_ms": run.p50_ms or 0.0, "requests": run.requests,
                                  "cpu_us": run.cpu.get("workers", 0.0) / max(1, run.requests) * 1e6,
                                  "idle_cpu_us": run.cpu.get("idle", 0.0) / max(1, run.requests) * 1e6}
            rounds.append(results)
            print(f"  round {number + 1}: " + ", ".join(
                f"{label} p50 {fmt(result['p50_ms'], 2)} ms" for label, result in results.items()), flush=True)
        return summarize(trees, rounds, args.idle_instances)
    finally:
        bench.close()


def start_miss_floor(bench: Bench, token: str) -> Server:
    """bench/miss_floor_app.py under gunicorn with the service's worker settings, on a free port."""
    port = free_port()
    env = clean_env({"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1",
                     "MISS_FLOOR_UPSTREAM": bench.emulator_url, "MISS_FLOOR_TOKEN": token})
    floor, _ = spawn_gunicorn("miss-floor", bench.gunicorn_argv(port, "miss_floor_app:app"), env, port, bench.work,
                              bench.processes)
    wait_until(lambda: requests.get(f"{floor.base_url}/v1/customers/{bench.ids[0]}", timeout=1).ok, "miss floor",
               floor.process)
    return floor


def summary_of(label: str, rounds: list[dict[str, dict[str, float]]]) -> dict[str, float]:
    """Medians over the rounds of one target's p50, its p50 over the same round's emulator's, its CPU."""
    return {
        "p50_ms": statistics.median(r[label]["p50_ms"] for r in rounds),
        "added_ms": statistics.median(r[label]["p50_ms"] - r["emulator"]["p50_ms"] for r in rounds),
        "cpu_us_per_miss": statistics.median(r[label]["cpu_us"] for r in rounds),
        "idle_cpu_us_per_miss": statistics.median(r[label].get("idle_cpu_us", 0.0) for r in rounds),
    }


def summarize(trees: list[Path], rounds: list[dict[str, dict[str, float]]], idle_instances: int) -> dict[str, Any]:
    checkouts = []
    for number, tree in enumerate(trees):
        label = f"service-{number}"
        checkouts.append({"tree": str(tree), "commit": git_state(tree), **summary_of(label, rounds)})
    return {"started_at": datetime.now(UTC).isoformat(timespec="seconds"), "checkouts": checkouts,
            "idle_instances": idle_instances,
            "miss_floor": summary_of(MISS_FLOOR, rounds) if MISS_FLOOR in rounds[0] else None,
            "emulator_p50_ms": statistics.median(r["emulator"]["p50_ms"] for r in rounds), "rounds": rounds}


def report(results: dict[str, Any]) -> str:
    idle = results.get("idle_instances")
    lines = [f"misses at one connection, {len(results['rounds'])} interleaved rounds (medians)"
             f"{f'; {idle} idle instance(s) beside each' if idle else ''}; "
             f"the emulator alone: p50 {fmt(results['emulator_p50_ms'], 2)} ms", "",
             f"{'checkout':<28} {'p50 (ms)':>9} {'added (ms)':>11} {'CPU per miss (µs)':>18}"
             + (f" {'idle instances CPU per miss (µs)':>33}" if idle else "")]
    floor = results.get("miss_floor")
    named = [(f"{c['commit'] or '?'} {Path(c['tree']).name}", c) for c in results["checkouts"]]
    for name, checkout in named + ([("miss floor (gunicorn+urllib3)", floor)] if floor else []):
        lines.append(f"{name:<28} {fmt(checkout['p50_ms'], 2):>9} {'+' + fmt(checkout['added_ms'], 2):>11} "
                     f"{fmt(checkout['cpu_us_per_miss'], 0):>18}"
                     + (f" {fmt(checkout['idle_cpu_us_per_miss'], 0):>33}" if idle else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--tree", type=Path, action="append", default=[], metavar="DIR",
                        help="another checkout whose service runs beside this one's (repeatable)")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="interleaved rounds")
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION, help="seconds of each wrk run")
    parser.add_argument("--miss-floor", action="store_true",
                        help="also run bench/miss_floor_app.py (gunicorn and urllib3 asking the emulator, nothing "
                             "else): the floor of a miss on this stack")
    parser.add_argument("--idle-instances", type=int, default=0, metavar="N",
                        help="per checkout, N more instances on its keys and Redis that are asked nothing: the "
                             "rest of a fleet, whose near caches hear (or not) of each miss stored")
    args = parser.parse_args(argv)

    def terminated(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, terminated)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        results = measure(args)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping everything", file=sys.stderr)
        return 130
    except (BenchError, OSError, subprocess.SubprocessError, requests.RequestException) as exc:
        print(f"bench/miss_ab.py: {exc}", file=sys.stderr)
        return 1
    text = report(results)
    print()
    print(text)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-miss-ab.json"
    path.write_text(json.dumps({**results, "table": text}, indent=2) + "\n")
    print(f"\nresults: {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
