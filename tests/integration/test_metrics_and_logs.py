"""Prometheus metrics and JSON request logs, observed from outside the code that makes them."""
from __future__ import annotations

import hashlib
import logging
import os

from prometheus_client.parser import text_string_to_metric_families

from tests.support.emulator import DOCS_CUSTOMER_ID
from tests.support.request_lines import request_lines

URL = f"/v1/customers/{DOCS_CUSTOMER_ID}"


def samples(client) -> dict[tuple[str, tuple], float]:
    text = client.get("/metrics").get_data(as_text=True)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(snapshot, name: str, **labels) -> float:
    return snapshot.get((name, tuple(sorted(labels.items()))), 0.0)


class TestMetrics:
    def test_cache_results_upstream_calls_and_tokens_are_counted(self, client, emulator):
        before = samples(client)
        client.get(URL)
        client.get(URL)
        after = samples(client)
        delta = lambda name, **labels: value(after, name, **labels) - value(before, name, **labels)  # noqa: E731
        assert delta("passport_bff_cache_requests_total", result="miss", resource="customer") == 1
        assert delta("passport_bff_cache_requests_total", result="hit", resource="customer") == 1
        assert delta("passport_bff_upstream_requests_total", endpoint="customer", outcome="ok") == 1
        assert delta("passport_bff_upstream_request_duration_seconds_count", endpoint="customer") == 1
        assert delta("passport_bff_token_fetches_total", outcome="ok") == 1
        assert delta("passport_bff_http_requests_total", route="/v1/customers/<path:customer_id>",
                     method="GET", status="200") == 2

    def test_upstream_failures_and_breaker_state_are_visible(self, make_app, emulator):
        client = make_app(PASSPORT_BREAKER_FAILURES=1, PASSPORT_RETRIES=0).test_client()
        client.get("/v1/customers/" + emulator.customer_ids(2)[1])  # a token first
        emulator.fault(status=500)
        before = samples(client)
        client.get(URL)
        after = samples(client)
        assert value(after, "passport_bff_upstream_requests_total", endpoint="customer", outcome="server_error") \
            - value(before, "passport_bff_upstream_requests_total", endpoint="customer", outcome="server_error") == 1
        assert value(after, "passport_bff_breaker_state", dependency="passport") == 2

    def test_no_customer_id_or_caller_key_in_any_label(self, make_app, emulator):
        client = make_app(AUTH_MODE="enforced",
                          AUTH_API_KEYS=(f"web:{hashlib.sha256(b'k').hexdigest()}")).test_client()
        client.get(URL, headers={"X-API-Key": "k"})
        client.get("/v1/customers/not-a-uuid", headers={"X-API-Key": "k"})
        client.open(URL, method="BREW", headers={"X-API-Key": "k"})
        text = client.get("/metrics").get_data(as_text=True)
        assert DOCS_CUSTOMER_ID not in text and "not-a-uuid" not in text
        assert 'method="BREW"' not in text

    def test_metrics_need_no_credentials(self, make_app, emulator):
        client = make_app(AUTH_MODE="enforced", AUTH_API_KEYS=(f"web:{'a' * 64}")).test_client()
        response = client.get("/metrics")
        assert response.status_code == 200
        assert response.content_type.startswith("text/plain")


def test_each_request_is_one_json_line_with_the_operational_fields(make_app, emulator, capsys):
    make_app(LOG_FORMAT="json").test_client().get(URL, headers={"X-Request-ID": "gw-json-1"})
    out = capsys.readouterr().out
    access = request_lines(out)
    assert len(access) == 1
    line = access[0]
    assert list(line)[:5] == ["time", "level", "logger", "request_id", "message"]  # as every other log line
    assert line["request_id"] == "gw-json-1" and line["level"] == "INFO"
    assert line["route"] == "/v1/customers/<path:customer_id>"
    assert line["status"] == 200 and line["cache"] == "MISS" and line["method"] == "GET"
    assert line["upstream_ms"] > 0 and line["duration_ms"] >= line["upstream_ms"]
    assert {"client", "caller"} <= set(line)
    assert "eAqpUh6u" not in out


def test_no_request_line_above_info(make_app, emulator, capsys):
    make_app(LOG_LEVEL="WARNING", AUDIT_LOG="off").test_client().get(URL)
    assert "passport_bff.access" not in capsys.readouterr().out


def test_gunicorns_own_log_lines_still_format_in_a_worker(client):
    """The app's logging knobs must leave what gunicorn's format prints (its worker logs too)."""
    from gunicorn.glogging import CONFIG_DEFAULTS

    record = logging.getLogger("gunicorn.error").makeRecord(
        "gunicorn.error", logging.INFO, __file__, 1, "Worker exiting (pid: %s)", (123,), None)
    gunicorn_format = CONFIG_DEFAULTS["formatters"]["generic"]["format"]
    assert f"[{os.getpid()}]" in logging.Formatter(gunicorn_format).format(record)


def test_every_customer_answer_is_counted_once_by_cache_result_whichever_route_gives_it(client, emulator):
    ids = emulator.customer_ids(2)
    before = cache_results(client)
    client.get(f"/v1/customers/{ids[0]}")  # miss
    client.get(f"/v1/customers/{ids[0]}")  # hit
    client.post("/v1/customers:batchGet", json={"ids": [ids[0], ids[1]]})  # hit, miss
    client.delete(f"/v1/customers/{ids[1]}/cache?refresh=true")  # a refetch nobody is given: not a lookup
    after = cache_results(client)
    assert (after["hit"] - before["hit"], after["miss"] - before["miss"]) == (2, 2)


def cache_results(client) -> dict[str, float]:
    counts = {"hit": 0.0, "miss": 0.0}
    for line in client.get("/metrics").get_data(as_text=True).splitlines():
        for result in counts:
            labels = line.partition("{")[2].partition("}")[0].split(",")
            if line.startswith("passport_bff_cache_requests_total{") and sorted(labels) == [
                'resource="customer"', f'result="{result}"'
            ]:
                counts[result] = float(line.rsplit(" ", 1)[1])
    return counts
