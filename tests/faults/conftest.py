"""Fault-injection tests: real redis-server, emulator and gunicorn processes, broken on purpose.

Each test module starts its own processes through ``tests.support.cluster.Cluster`` (never the
session-wide Redis or emulator of ``tests/conftest.py``), so it can kill, freeze or stop them
without disturbing the rest of the suite; the fixtures that start them also stop them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.cluster import Cluster


@pytest.fixture
def make_cluster() -> Iterator[Callable[..., Cluster]]:
    """Build clusters for one test (``Cluster`` arguments); all of them are closed afterwards."""
    clusters: list[Cluster] = []

    def build(**kwargs: Any) -> Cluster:
        cluster = Cluster(**kwargs)
        clusters.append(cluster)
        return cluster

    yield build
    for cluster in clusters:
        cluster.close()
