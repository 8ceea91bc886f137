"""Deployment files: the Dockerfile passes hadolint and is built as promised; Procfile and gunicorn agree."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import requests

from tests.support.processes import start_gunicorn, stop

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or str(Path(__file__).resolve().parents[2] / ".venv/bin/hadolint")
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_gunicorn_as_pid_1_as_a_non_root_user_with_a_healthcheck():
    service_stage = DOCKERFILE.split("AS service", 1)[1]
    assert re.search(r'^CMD \["gunicorn", "-c", "config/gunicorn.py", "wsgi:app"\]', service_stage, re.M)
    assert re.search(r"^USER 10001", service_stage, re.M)
    assert "HEALTHCHECK" in service_stage and "/healthz" in service_stage
    assert "COPY emulator" not in service_stage and "tests" not in service_stage


def test_procfile_runs_the_same_command():
    assert (ROOT / "Procfile").read_text().strip() == "web: gunicorn -c config/gunicorn.py wsgi:app"


def test_wsgi_is_the_two_line_factory_call():
    code = [line for line in (ROOT / "wsgi.py").read_text().splitlines() if line.strip()]
    assert code == ["from app import create_app", "app = create_app()"]


def test_production_settings_start_under_gunicorn_and_serve_healthz(redis_server, redis_client, emulator):
    env = {"APP_ENV": "production", "PASSPORT_BASE_URL": emulator.base_url, "PASSPORT_CLIENT_ID": "live-id",
           "PASSPORT_CLIENT_SECRET": "live-secret", "REDIS_URL": redis_server.url,
           "AUTH_API_KEYS": "web:" + "a" * 64}
    process, base_url = start_gunicorn(env, workers=2)
    try:
        assert requests.get(f"{base_url}/healthz", timeout=5).json() == {"status": "ok"}
        assert requests.get(f"{base_url}/v1/customers/db7e89e7-59d8-4ab1-b675-a2ae52c3339e",
                            timeout=5).status_code == 401
    finally:
        stop(process)
