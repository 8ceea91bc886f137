"""A worker's calls to Passport are capped in flight (``PASSPORT_MAX_IN_FLIGHT``) and its retries
budgeted (``PASSPORT_RETRY_BUDGET``): a slow or failing Passport is not made slower by us."""
from __future__ import annotations

import threading

from tests.support.cluster import poll


def test_a_call_past_the_in_flight_cap_is_a_fast_503(make_app, emulator):
    app = make_app(PASSPORT_MAX_IN_FLIGHT=1)
    slow, other = emulator.customer_ids(2)
    app.test_client().get("/v1/customers/" + other)  # the token, fetched before the cap matters
    emulator.fault(customer_id=slow, latency_ms=1500, times=1)
    thread = threading.Thread(target=lambda: app.test_client().get(f"/v1/customers/{slow}"))
    thread.start()
    try:
        poll(lambda: emulator.customer_calls(slow), lambda calls: calls == 1, "the slow call in flight", timeout=5)
        refused = app.test_client().get(f"/v1/customers/{emulator.customer_ids(3)[2]}")
    finally:
        thread.join(10)
    assert (refused.status_code, refused.headers["Retry-After"]) == (503, "1")
    assert refused.get_json()["type"].endswith(":upstream-busy")


def test_retries_stay_within_the_budget_while_passport_fails(make_app, emulator):
    client = make_app(PASSPORT_RETRIES=2, PASSPORT_RETRY_BACKOFF_SECONDS=0, PASSPORT_BREAKER_FAILURES=1000,
                      PASSPORT_RETRY_BUDGET=0.1).test_client()
    client.get(f"/v1/customers/{emulator.customer_ids(1)[0]}")  # the token
    emulator.fault(status=503)
    ids = emulator.customer_ids(41)[1:]
    before = emulator.customer_calls()
    answers = [client.get(f"/v1/customers/{customer_id}") for customer_id in ids]
    assert {answer.status_code for answer in answers} == {502}
    retries = emulator.customer_calls() - before - len(ids)
    assert retries <= max(3, 0.1 * (len(ids) + 1)) + 1  # without the budget: 2 per lookup, 80
