"""The service as deployed: gunicorn with config/gunicorn.py, several workers, real Redis."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from config import load_config
from tests.support.cluster import child_pids, poll
from tests.support.emulator import DOCS_CUSTOMER_ID
from tests.support.processes import ROOT, start_gunicorn, stop

REQUESTS_PER_ID = 4
TIMEOUT_SECONDS = 10


@pytest.fixture
def gunicorn_master(redis_server, redis_client, emulator):
    env = {"APP_ENV": "testing", "PASSPORT_BASE_URL": emulator.base_url, "REDIS_URL": redis_server.url}
    process, base_url = start_gunicorn(env, workers=3)
    yield process, base_url
    stop(process)


@pytest.fixture
def service(gunicorn_master):
    return gunicorn_master[1]


def test_gunicorn_serves_health_and_a_customer(service, emulator):
    assert requests.get(f"{service}/healthz", timeout=TIMEOUT_SECONDS).json() == {"status": "ok"}
    response = requests.get(f"{service}/v1/customers/{DOCS_CUSTOMER_ID}", timeout=TIMEOUT_SECONDS)
    assert response.status_code == 200
    assert response.json()["id"] == DOCS_CUSTOMER_ID


def test_workers_share_one_token_and_one_cache(service, emulator):
    ids = emulator.customer_ids(10)
    urls = [f"{service}/v1/customers/{customer_id}" for customer_id in ids for _ in range(REQUESTS_PER_ID)]
    # Sequential warm-up per id, then parallel requests spread over the workers.
    for customer_id in ids:
        assert requests.get(f"{service}/v1/customers/{customer_id}", timeout=TIMEOUT_SECONDS).status_code == 200
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda u: requests.get(u, timeout=TIMEOUT_SECONDS), urls))
    assert all(answer.status_code == 200 for answer in answers)
    assert {answer.headers["X-Cache"] for answer in answers} == {"HIT"}
    assert emulator.token_calls() == 1
    assert emulator.stats()["customer_calls_total"] == len(ids)


def http_requests_counted(base_url: str, route: str | None = None) -> float:
    """``passport_bff_http_requests_total`` as /metrics adds it up, for one route or all."""
    text = requests.get(f"{base_url}/metrics", timeout=TIMEOUT_SECONDS).text
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == "passport_bff_http_requests_total"
               and (route is None or sample.labels.get("route") == route))


def test_metrics_add_up_every_worker(service, emulator):
    for _ in range(12):
        requests.get(f"{service}/v1/customers/{DOCS_CUSTOMER_ID}", timeout=TIMEOUT_SECONDS)
    assert http_requests_counted(service, "/v1/customers/<path:customer_id>") == 12


def test_server_header_carries_no_version(service):
    server = requests.get(f"{service}/healthz", timeout=TIMEOUT_SECONDS).headers.get("Server", "")
    assert not any(character.isdigit() for character in server)


def gunicorn_settings(**env: str) -> subprocess.CompletedProcess:
    code = ("import json, runpy; ns = runpy.run_path('config/gunicorn.py'); "
            "print(json.dumps({k: ns[k] for k in ('worker_class', 'threads', 'worker_connections')}))")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin", **env})


def test_workers_are_gevent_unless_configured_otherwise(tmp_path):
    metrics = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    assert json.loads(gunicorn_settings(**metrics).stdout)["worker_class"] == "gevent"
    chosen = json.loads(gunicorn_settings(GUNICORN_WORKER_CLASS="gthread", GUNICORN_THREADS="4", **metrics).stdout)
    assert (chosen["worker_class"], chosen["threads"]) == ("gthread", 4)


def test_the_redis_pool_of_a_worker_is_sized_to_the_requests_it_serves_at_once(tmp_path):
    metrics = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    testing = {"APP_ENV": "testing"}
    gevent = json.loads(gunicorn_settings(**metrics).stdout)
    assert load_config(testing).redis.max_connections == gevent["worker_connections"]
    threads = {"GUNICORN_WORKER_CLASS": "gthread", "GUNICORN_THREADS": "4"}
    gthread = json.loads(gunicorn_settings(**threads, **metrics).stdout)
    assert load_config({**testing, **threads}).redis.max_connections == gthread["threads"] == 4
    assert load_config({**testing, "REDIS_MAX_CONNECTIONS": "50"}).redis.max_connections == 50


def test_an_unknown_worker_class_is_refused_by_name(tmp_path):
    refused = gunicorn_settings(GUNICORN_WORKER_CLASS="tornado", PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    assert refused.returncode != 0
    assert "GUNICORN_WORKER_CLASS" in refused.stderr


def test_counters_survive_a_reload(gunicorn_master):
    master, service = gunicorn_master[0].pid, gunicorn_master[1]
    for _ in range(10):
        requests.get(f"{service}/v1/customers/{DOCS_CUSTOMER_ID}", timeout=TIMEOUT_SECONDS)
    before = http_requests_counted(service)
    old_workers = set(child_pids(master))
    os.kill(master, signal.SIGHUP)
    poll(lambda: set(child_pids(master)), lambda pids: len(pids) == 3 and not pids & old_workers,
         "every worker replaced after SIGHUP")
    assert http_requests_counted(service) >= before >= 10


def test_a_metrics_directory_made_for_want_of_one_goes_with_the_master(redis_server, emulator, tmp_path):
    """Without PROMETHEUS_MULTIPROC_DIR the master makes a temporary one; it is gone once the master
    stopped (every start used to leave one in /tmp), and it survives a reload meanwhile."""
    env = {"APP_ENV": "testing", "PASSPORT_BASE_URL": emulator.base_url, "REDIS_URL": redis_server.url,
           "PROMETHEUS_MULTIPROC_DIR": "", "TMPDIR": str(tmp_path)}
    process, service = start_gunicorn(env, workers=1)
    try:
        [made] = tmp_path.glob("passport-bff-metrics-*")
        requests.get(f"{service}/v1/customers/{DOCS_CUSTOMER_ID}", timeout=TIMEOUT_SECONDS)
        old_workers = set(child_pids(process.pid))
        os.kill(process.pid, signal.SIGHUP)
        poll(lambda: set(child_pids(process.pid)), lambda pids: len(pids) == 1 and not pids & old_workers,
             "the worker replaced after SIGHUP")
        assert made.is_dir() and list(tmp_path.glob("passport-bff-metrics-*")) == [made]
    finally:
        stop(process)
    assert process.returncode == 0
    assert not made.exists()


def test_a_configured_metrics_directory_stays(redis_server, emulator, tmp_path):
    metrics = tmp_path / "metrics"
    env = {"APP_ENV": "testing", "PASSPORT_BASE_URL": emulator.base_url, "REDIS_URL": redis_server.url,
           "PROMETHEUS_MULTIPROC_DIR": str(metrics)}
    process, service = start_gunicorn(env, workers=1)
    requests.get(f"{service}/v1/customers/{DOCS_CUSTOMER_ID}", timeout=TIMEOUT_SECONDS)
    stop(process)
    assert metrics.is_dir()
