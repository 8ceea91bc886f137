"""Hypothesis profiles for the fuzz tests, chosen with ``HYPOTHESIS_PROFILE`` (default ``ci``).

- ``ci``: 300 examples per pure-function property (the HTTP properties run a fraction of that,
  see ``tests/fuzz/strategies.py``), so that ``tests/fuzz`` stays well under a minute.
- ``deep``: 5000 examples per pure property, for a nightly or pre-release run:
  ``HYPOTHESIS_PROFILE=deep .venv/bin/python -m pytest tests/fuzz -p no:cacheprovider``.

No example database is written (``database=None``): nothing lands in the working tree. A failure
prints its ``@reproduce_failure`` blob (``print_blob``) to replay it exactly.

The ``client`` here is the app as served (``tests.support.server_answers``): a request whose body
cannot be read is answered as gunicorn with our workers answers it, not raised into the test.
"""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from tests.support.server_answers import as_served

settings.register_profile(
    "ci", max_examples=300, deadline=None, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "deep", max_examples=5000, deadline=None, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def client(make_app):
    """A test client of the default testing app, with the server's answers in front of it."""
    return as_served(make_app()).test_client()
