"""The service on a real 3-master Redis Cluster and on a Sentinel-managed master."""
from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from redis.cluster import RedisCluster

from tests.support.emulator import DOCS_CUSTOMER_ID
from tests.support.redis_topologies import redis_cluster, redis_sentinel

LOOPBACK = "127.0.0.1"


def url(customer_id: str = DOCS_CUSTOMER_ID) -> str:
    return f"/v1/customers/{customer_id}"


@pytest.fixture(scope="module")
def cluster_ports():
    with redis_cluster() as ports:
        yield ports


@pytest.fixture
def cluster_app(make_app, cluster_ports):
    RedisCluster(host=LOOPBACK, port=cluster_ports[0]).flushall()
    return make_app(REDIS_URL=f"redis://{LOOPBACK}:{cluster_ports[0]}/0", REDIS_CLUSTER=True)


class TestCluster:
    def test_miss_then_hit_across_app_instances(self, cluster_app, make_app, cluster_ports, emulator):
        assert cluster_app.test_client().get(url()).headers["X-Cache"] == "MISS"
        other = make_app(REDIS_URL=f"redis://{LOOPBACK}:{cluster_ports[1]}/0", REDIS_CLUSTER=True)
        assert other.test_client().get(url()).headers["X-Cache"] == "HIT"
        assert emulator.customer_calls(DOCS_CUSTOMER_ID) == 1

    def test_customers_spread_over_the_masters(self, cluster_app, cluster_ports, emulator):
        client = cluster_app.test_client()
        for customer_id in emulator.customer_ids(30):
            assert client.get(url(customer_id)).status_code == 200
        holding = [redis.Redis(host=LOOPBACK, port=port).dbsize() for port in cluster_ports]
        assert sum(1 for count in holding if count) >= 2

    def test_coalescing_lock_and_purge_work_in_one_slot(self, cluster_app, emulator):
        emulator.fault(latency_ms=300, customer_id=DOCS_CUSTOMER_ID)
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: cluster_app.test_client().get(url()), range(8)))
        assert {a.status_code for a in answers} == {200}
        assert emulator.customer_calls(DOCS_CUSTOMER_ID) == 1
        assert cluster_app.test_client().delete(url() + "/cache").status_code == 204

    def test_listing_tags_and_purges_span_the_slots(self, cluster_app, emulator):
        """Pages and their customers' tag sets live in different slots; a purge reaches them all."""
        client = cluster_app.test_client()
        pages = ["/v1/customers?pageSize=20", "/v1/customers?pageSize=21"]
        customer_id = client.get(pages[0]).get_json()["customers"][0]["id"]
        client.get(pages[1])
        assert {client.get(page).headers["X-Cache"] for page in pages} == {"HIT"}
        for mode in ("soft", "hard"):
            assert client.delete(f"{url(customer_id)}/cache?mode={mode}").status_code == 204
            assert {client.get(page).headers["X-Cache"] for page in pages} == {"MISS"}
        # Pages fetched again while a fetch begun before the purge may still run are not kept, nor
        # is their copy of the purged customer.
        report = client.get(f"{url(customer_id)}/cache").get_json()
        assert (report["present"], report["purgedAt"] is not None) == (False, True)
        assert client.get(pages[0]).headers["X-Cache"] == "MISS"

    def test_rate_limits_and_tokens_use_the_cluster(self, make_app, cluster_ports, emulator):
        keys = f"web:{hashlib.sha256(b'k').hexdigest()}"
        app = make_app(REDIS_URL=f"redis://{LOOPBACK}:{cluster_ports[0]}/0", REDIS_CLUSTER=True,
                       AUTH_MODE="enforced", AUTH_API_KEYS=keys, RATELIMIT_DEFAULT="2 per minute")
        client = app.test_client()
        statuses = [client.get(url(), headers={"X-API-Key": "k"}).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        assert client.get("/readyz").get_json()["checks"]["redis"] == "ok"


def test_sentinel_managed_master(make_app, emulator):
    with redis_sentinel("passport-bff") as (master_port, sentinel_port):
        app = make_app(REDIS_URL=None, REDIS_SENTINELS=f"{LOOPBACK}:{sentinel_port}",
                       REDIS_SENTINEL_MASTER="passport-bff")
        client = app.test_client()
        assert client.get(url()).headers["X-Cache"] == "MISS"
        assert client.get(url()).headers["X-Cache"] == "HIT"
        assert redis.Redis(host=LOOPBACK, port=master_port).dbsize() >= 1
        assert client.get("/readyz").get_json()["checks"]["redis"] == "ok"
