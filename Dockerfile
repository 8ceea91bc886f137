# syntax=docker/dockerfile:1
# Build stage: install the pinned dependencies into a virtualenv (build tools stay here).
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install -r /tmp/requirements.txt

# The Passport emulator, for local full-stack runs (docker compose); never deployed.
FROM python:3.11-slim AS emulator
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN useradd --system --uid 10002 --no-create-home passport-emulator
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv/emulator
COPY emulator ./emulator
USER 10002
EXPOSE 8090
CMD ["python", "-m", "emulator", "--host", "0.0.0.0", "--port", "8090"]

# Runtime stage (the default target): the virtualenv and the service, run by an unprivileged user.
FROM python:3.11-slim AS service
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 APP_ENV=production PORT=8000
RUN useradd --system --uid 10001 --no-create-home passport-bff
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv/passport-bff
COPY --chown=root:root app ./app
COPY --chown=root:root config ./config
COPY --chown=root:root wsgi.py ./
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz\", timeout=2)"]
# exec form: gunicorn is PID 1 and receives SIGTERM for a graceful shutdown.
CMD ["gunicorn", "-c", "config/gunicorn.py", "wsgi:app"]
