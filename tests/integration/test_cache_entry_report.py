"""``GET /v1/customers/{id}/cache``: what the cache holds for a customer, never the customer itself."""
from __future__ import annotations

import hashlib
import threading
import uuid
from datetime import datetime

from tests.support.cluster import poll
from tests.support.emulator import DOCS_CUSTOMER_ID

ADMIN_KEY, READER_KEY = "ops-key-0123456789", "reader-key-0123456789"
API_KEYS = (f"ops:{hashlib.sha256(ADMIN_KEY.encode()).hexdigest()}:customers.read+customers.purge,"
            f"reader:{hashlib.sha256(READER_KEY.encode()).hexdigest()}")
ADMIN, READER = {"X-API-Key": ADMIN_KEY}, {"X-API-Key": READER_KEY}
ENTRY = f"/v1/customers/{DOCS_CUSTOMER_ID}/cache"


def at(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def test_a_cached_customer_is_described_without_its_data(make_app, emulator):
    client = make_app(AUTH_MODE="enforced", AUTH_API_KEYS=API_KEYS, CACHE_STALE_WHILE_REVALIDATE_SECONDS=60,
                      CACHE_STALE_IF_ERROR_SECONDS=600).test_client()
    customer = client.get(f"/v1/customers/{DOCS_CUSTOMER_ID}", headers=ADMIN)
    report = client.get(ENTRY, headers=ADMIN)
    assert report.status_code == 200 and report.headers["Cache-Control"] == "no-store"
    body = report.get_json()
    assert (body["id"], body["present"], body["kind"], body["fresh"]) == (DOCS_CUSTOMER_ID, True, "customer", True)
    assert body["etag"] == customer.headers["ETag"]
    assert body["updatedAt"].startswith(customer.get_json()["updatedAt"][:19])
    assert at(body["staleWhileRevalidateUntil"]) - at(body["freshUntil"]) == 60
    assert at(body["staleIfErrorUntil"]) - at(body["freshUntil"]) == 600
    assert body["storedBytes"] > len(customer.get_data()) and 0 < body["expiresInSeconds"]
    assert (body["fetchLockHeld"], body["purgedAt"]) == (False, None)
    text = report.get_data(as_text=True)
    assert customer.get_json()["email"] not in text and customer.get_json()["name"] not in text


def test_absent_remembered_404_soft_purged_and_purged_entries(make_app, emulator):
    client = make_app().test_client()
    unknown = str(uuid.uuid4())
    assert client.get(f"/v1/customers/{unknown}/cache").get_json()["present"] is False
    client.get(f"/v1/customers/{unknown}")
    remembered = client.get(f"/v1/customers/{unknown}/cache").get_json()
    assert (remembered["kind"], remembered["etag"], remembered["staleIfErrorUntil"]) == ("not-found", None, None)
    client.get(f"/v1/customers/{DOCS_CUSTOMER_ID}")
    client.delete(f"{ENTRY}?mode=soft")
    soft = client.get(ENTRY).get_json()
    assert (soft["present"], soft["fresh"]) == (True, False) and soft["purgedAt"] is not None
    client.delete(ENTRY)
    hard = client.get(ENTRY).get_json()
    assert (hard["present"], hard["purgedAt"] is not None) == (False, True)


def test_a_fetch_in_flight_shows_as_a_held_lock(make_app, emulator):
    app = make_app()
    customer_id = emulator.customer_ids(2)[1]
    emulator.fault(customer_id=customer_id, latency_ms=1500, times=1)
    thread = threading.Thread(target=lambda: app.test_client().get(f"/v1/customers/{customer_id}"))
    thread.start()
    try:
        poll(lambda: app.test_client().get(f"/v1/customers/{customer_id}/cache").get_json()["fetchLockHeld"],
             lambda held: held, "the fetch's lock", timeout=5)
    finally:
        thread.join(10)
    assert app.test_client().get(f"/v1/customers/{customer_id}/cache").get_json()["fetchLockHeld"] is False


def test_it_needs_the_purge_scope_and_a_valid_id(make_app, emulator):
    client = make_app(AUTH_MODE="enforced", AUTH_API_KEYS=API_KEYS).test_client()
    assert client.get(ENTRY, headers=READER).status_code == 403
    assert client.get(ENTRY).status_code == 401
    assert client.get("/v1/customers/not-a-uuid/cache", headers=ADMIN).status_code == 400
    assert emulator.customer_calls() == 0
