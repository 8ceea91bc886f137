"""OpenTelemetry end to end: gunicorn (gevent) exporting to a real OTLP/HTTP receiver on loopback.

What an operator following one request through the fleet relies on: the gateway's trace is
continued, Passport receives it in ``traceparent``, Redis and Passport calls are child spans,
background refreshes and batch fetches stay in their request's trace, log lines and audit events
carry the trace id, and no span holds a customer id or any personal data. A collector that is
down costs the answers nothing; its dropped spans are counted.
"""
from __future__ import annotations

import json
import time

import pytest

from tests.support.cluster import Cluster, fetch, poll
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.support.processes import free_port

GATEWAY_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
GATEWAY_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{GATEWAY_TRACE}-{GATEWAY_SPAN}-01"
LOOKUP = "GET /v1/customers/<path:customer_id>"
PASSPORT_LOOKUP = "GET /v1/customers/{id}"

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def receiver():
    with OtlpReceiver() as running:
        yield running


@pytest.fixture(scope="module")
def cluster():
    with Cluster() as running:
        yield running


@pytest.fixture(scope="module")
def traced(cluster, receiver, tmp_path_factory):
    """One traced instance (2 gevent workers), its log and audit files."""
    logs = tmp_path_factory.mktemp("traced")
    instance = cluster.start_instance(
        workers=2, log_path=logs / "gunicorn.log", OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY=50, OTEL_SERVICE_NAME="passport-bff-test", LOG_FORMAT="json",
        AUDIT_LOG=f"file:{logs / 'audit.log'}", CACHE_TTL_MIN_SECONDS=1, CACHE_TTL_MAX_SECONDS=1,
        CACHE_TTL_FACTOR=0)
    yield instance, logs
    instance.stop()


@pytest.fixture
def clean(cluster, receiver):
    cluster.emulator.reset()
    cluster.flush_redis()
    receiver.clear()


def in_trace(spans: list[ReceivedSpan], trace_id: str) -> list[ReceivedSpan]:
    return [span for span in spans if span.trace_id == trace_id]


def named(spans: list[ReceivedSpan], name: str) -> list[ReceivedSpan]:
    return [span for span in spans if span.name == name]


def test_a_miss_is_one_trace_from_the_gateway_through_redis_to_passport(traced, receiver, cluster, clean):
    instance, logs = traced
    customer_id = cluster.emulator.customer_ids(1)[0]
    answer = fetch(instance.customer_url(customer_id), headers={"traceparent": TRACEPARENT,
                                                                "X-Request-ID": "trace-test-1"})
    assert (answer.status, answer.x_cache) == (200, "MISS")
    spans = receiver.wait_for(lambda got: named(in_trace(got, GATEWAY_TRACE), PASSPORT_LOOKUP)
                              and named(in_trace(got, GATEWAY_TRACE), LOOKUP))
    trace = in_trace(spans, GATEWAY_TRACE)
    (server,) = named(trace, LOOKUP)
    assert (server.kind, server.parent_span_id) == ("server", GATEWAY_SPAN)
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["passport_bff.cache"] == "MISS"
    assert server.attributes["http.route"] == "/v1/customers/<path:customer_id>"
    assert server.resource["service.name"] == "passport-bff-test"
    (passport,) = named(trace, PASSPORT_LOOKUP)
    assert (passport.kind, passport.parent_span_id) == ("client", server.span_id)
    assert passport.attributes["http.response.status_code"] == 200
    redis = [span for span in trace if span.name.startswith("redis ")]
    assert redis and {span.parent_span_id for span in redis} == {server.span_id}
    assert {span.attributes["db.system.name"] for span in redis} == {"redis"}

    # Passport received our trace: the gateway's trace id, our client span as its parent.
    (sent,) = [call for call in cluster.emulator.trace_headers()
               if call["kind"] == "customer" and call["customer_id"] == customer_id]
    assert sent["traceparent"] == f"00-{GATEWAY_TRACE}-{passport.span_id}-01"

    # The log lines and the audit event of the request name its trace.
    lines = [json.loads(line) for line in (logs / "gunicorn.log").read_text().splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("request_id") == "trace-test-1"]
    assert access and all(line["trace_id"] == GATEWAY_TRACE for line in access)
    audit = [json.loads(line) for line in (logs / "audit.log").read_text().splitlines()]
    assert [event["trace_id"] for event in audit if event["request_id"] == "trace-test-1"] == [GATEWAY_TRACE]


def test_no_span_holds_a_customer_id_or_personal_data(traced, receiver, cluster, clean):
    instance, _ = traced
    ids = cluster.emulator.customer_ids(3)
    bodies = [fetch(instance.customer_url(customer_id)).json() for customer_id in ids]
    fetch(instance.url("/v1/customers?pageSize=5"))
    spans = receiver.wait_for(lambda got: len(named(got, PASSPORT_LOOKUP)) >= 3)
    time.sleep(0.3)  # let the last batch of the listing arrive too
    spans = receiver.spans()
    secrets = {*ids, *(body["email"] for body in bodies), *(body["mobilePhone"] for body in bodies),
               *(body["identification"]["number"] for body in bodies), "dev-client-secret"}
    text = repr([(span.name, span.attributes) for span in spans])
    assert not [secret for secret in secrets if secret in text]


def test_a_malformed_traceparent_starts_a_new_trace_and_is_never_an_error(traced, receiver, cluster, clean):
    instance, _ = traced
    customer_id = cluster.emulator.customer_ids(1)[0]
    for hostile in ("00-zzzz", f"ff-{GATEWAY_TRACE}-{GATEWAY_SPAN}-01", "x" * 4000, f"00-{'0' * 32}-{GATEWAY_SPAN}-01"):
        answer = fetch(instance.customer_url(customer_id), headers={"traceparent": hostile,
                                                                    "tracestate": "k=" + "v" * 600})
        assert answer.status == 200, (hostile[:20], answer)
    spans = receiver.wait_for(lambda got: len(named(got, LOOKUP)) >= 4)
    servers = named(spans, LOOKUP)
    assert all(span.parent_span_id == "" and span.trace_id != GATEWAY_TRACE for span in servers)
    assert len({span.trace_id for span in servers}) == len(servers)


def test_a_tracestate_beyond_the_w3c_limits_is_dropped_and_a_sane_one_goes_to_passport(traced, cluster, clean):
    instance, _ = traced
    first, second = cluster.emulator.customer_ids(2)
    too_many = ",".join(f"k{n}=v{n}" for n in range(40))
    fetch(instance.customer_url(first), headers={"traceparent": TRACEPARENT, "tracestate": too_many})
    fetch(instance.customer_url(second), headers={"traceparent": TRACEPARENT, "tracestate": "vendor=abc"})
    sent = {call["customer_id"]: call for call in cluster.emulator.trace_headers() if call["kind"] == "customer"}
    assert sent[first]["tracestate"] is None
    assert sent[second]["tracestate"] == "vendor=abc"


def test_background_refreshes_and_batch_fetches_stay_in_their_requests_trace(traced, receiver, cluster, clean):
    instance, _ = traced
    stale_id, cold_a, cold_b = cluster.emulator.customer_ids(3)
    assert fetch(instance.customer_url(stale_id)).x_cache == "MISS"
    time.sleep(1.2)  # the entry's freshness (1 s) runs out: the next lookup serves it stale
    refresh_trace = "5" * 32
    answer = fetch(instance.customer_url(stale_id), headers={"traceparent": f"00-{refresh_trace}-{GATEWAY_SPAN}-01"})
    assert answer.x_cache == "STALE"
    receiver.wait_for(lambda got: named(in_trace(got, refresh_trace), PASSPORT_LOOKUP))

    batch_trace = "6" * 32
    batch = fetch_batch(instance, [cold_a, cold_b], f"00-{batch_trace}-{GATEWAY_SPAN}-01")
    assert batch == 200
    spans = receiver.wait_for(lambda got: len(named(in_trace(got, batch_trace), PASSPORT_LOOKUP)) == 2)
    (server,) = named(in_trace(spans, batch_trace), "POST /v1/customers:batchGet")
    assert {span.parent_span_id for span in named(in_trace(spans, batch_trace), PASSPORT_LOOKUP)} == {server.span_id}


def fetch_batch(instance, ids: list[str], traceparent: str) -> int:
    import requests

    answer = requests.post(instance.url("/v1/customers:batchGet"), json={"ids": ids}, timeout=10,
                           headers={"traceparent": traceparent})
    return answer.status_code


def test_a_collector_that_is_down_costs_the_answers_nothing_and_drops_are_counted(cluster, clean):
    instance = cluster.start_instance(workers=1, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{free_port()}",
                                      OTEL_BSP_SCHEDULE_DELAY=50, OTEL_EXPORTER_OTLP_TIMEOUT=300)
    try:
        customer_id = cluster.emulator.customer_ids(1)[0]
        answers = [fetch(instance.customer_url(customer_id)) for _ in range(20)]
        assert [answer.status for answer in answers] == [200] * 20
        poll(lambda: dropped(instance), lambda count: count > 0, "dropped spans counted", timeout=15)
    finally:
        instance.stop()


def dropped(instance) -> float:
    text = fetch(instance.url("/metrics")).body.decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("passport_bff_trace_spans_dropped_total{"))
