"""Negative caching: Passport's 404 is remembered for CACHE_NOT_FOUND_SECONDS, cluster-wide."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.cluster import Cluster, fetch, poll, problem
from tests.support.emulator import DOCS_CUSTOMER_ID

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
OTHER_UNKNOWN_ID = "00000000-0000-4000-8000-000000000001"
SHORT_NOT_FOUND_SECONDS = 1


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with Cluster() as cluster:
        cluster.start_instance(workers=2)
        cluster.start_instance(workers=1, CACHE_NOT_FOUND_SECONDS=SHORT_NOT_FOUND_SECONDS)
        yield cluster


def test_unknown_id_twice_is_two_404_problems_and_one_passport_call(cluster):
    instance = cluster.instances[0]
    first = fetch(instance.customer_url(UNKNOWN_ID))
    second = fetch(instance.customer_url(UNKNOWN_ID))
    for answer in (first, second):
        assert problem(answer, 404)["type"].endswith(":customer-not-found")
    assert second.x_cache == "HIT"
    assert cluster.emulator.customer_calls(UNKNOWN_ID) == 1


def test_a_customer_created_after_a_404_is_found_once_the_404_expires(cluster):
    instance = cluster.instances[1]
    problem(fetch(instance.customer_url(OTHER_UNKNOWN_ID)), 404)
    record = cluster.emulator.touch_customer(DOCS_CUSTOMER_ID)
    cluster.emulator.put_customer(OTHER_UNKNOWN_ID, {**record, "id": OTHER_UNKNOWN_ID})
    found = poll(lambda: fetch(instance.customer_url(OTHER_UNKNOWN_ID)), lambda answer: answer.status != 404,
                 "the remembered 404 expiring", timeout=SHORT_NOT_FOUND_SECONDS + 5, interval=0.2)
    assert found.status == 200, found
    assert found.json()["id"] == OTHER_UNKNOWN_ID
