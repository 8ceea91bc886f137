"""Fixtures shared by the whole suite: a real redis-server, the Passport emulator, app factories."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from flask import Flask

from app import create_app
from tests.support.emulator import EmulatorControl
from tests.support.environ import as_environ
from tests.support.processes import RedisServer, free_port, start_emulator, stop


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One throwaway redis-server for the session, on a free loopback port."""
    server = RedisServer(free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client on an empty database (restarting the server if a fault test stopped it)."""
    if redis_server.process is None or redis_server.process.poll() is not None:
        redis_server.start()
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="session")
def emulator_process() -> Iterator[str]:
    process, base_url = start_emulator()
    yield base_url
    stop(process)


@pytest.fixture
def emulator(emulator_process: str) -> EmulatorControl:
    """The Passport emulator over a real socket, reset to its seed data and counters."""
    control = EmulatorControl(emulator_process)
    control.reset()
    return control


@pytest.fixture
def make_app(redis_server: RedisServer, redis_client: redis.Redis, emulator: EmulatorControl) -> Callable[..., Flask]:
    """Build a testing app on the real Redis and emulator; keyword arguments are environment variables
    (any value; it is written as a deployment would: ``True`` as ``true``, a tuple comma-separated),
    read and validated like any deployment's. ``None`` unsets one."""

    def build(**overrides: Any) -> Flask:
        settings = {"APP_ENV": "testing", "PASSPORT_BASE_URL": emulator.base_url, "REDIS_URL": redis_server.url,
                    **overrides}
        return create_app(environ=as_environ(settings))

    return build


@pytest.fixture
def client(make_app: Callable[..., Flask]):
    """A test client of the default testing app."""
    return make_app().test_client()
