"""How long a Passport call may take, on the wall clock, however its bytes trickle.

Each attempt — connect, send, status line and headers, body — ends by its start plus
``PASSPORT_TIMEOUT_SECONDS`` (``timeout_seconds`` here), and never after the fetch's deadline
(``PASSPORT_DEADLINE_SECONDS``), which covers every attempt and backoff of one fetch. The scripted
upstream sends a byte every 0.2 s or faster: a per-read timeout alone would never fire.

These tests run over real loopback sockets, so they bound elapsed time, with a margin generous
for a loaded machine yet far below what the trickles would take unbounded.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from app.breaker import CircuitBreaker
from app.passport.client import PassportClient
from app.passport.errors import PassportBusy, PassportTimeout, is_passport_failure
from app.passport.upstream_budget import BudgetedAdapter, PassportPoolBusy, attempt_budget
from tests.support.scripted_upstream import (
    Script,
    after,
    keep_alive,
    read_request,
    respond,
    scripted_upstream,
    trickled,
    trickled_tls_handshake,
)

CUSTOMER_ID = "db7e89e7-59d8-4ab1-b675-a2ae52c3339e"
CUSTOMER_PATH = f"/v1/customers/{CUSTOMER_ID}"
OK_BODY = json.dumps({"id": CUSTOMER_ID}).encode()
ATTEMPT_SECONDS = 1.0
DEADLINE_SECONDS = 3.0
MARGIN_SECONDS = 0.5
TRICKLE_INTERVAL = 0.2
# Unbounded, each trickle would take tens of seconds: 100 bytes at 0.2 s.
SLOW_BODY = b"x" * 100
PADDING = {"X-Padding": "p" * 100}


def client_for(base_url: str, **overrides: Any) -> PassportClient:
    options: dict[str, Any] = dict(
        timeout_seconds=ATTEMPT_SECONDS, connect_timeout_seconds=0.5, max_response_bytes=4096,
        breaker=CircuitBreaker("passport", 1000, 30), deadline_seconds=DEADLINE_SECONDS, retries=2,
        retry_backoff_seconds=0.01,
    )
    options.update(overrides)
    return PassportClient(base_url, "id", "secret", **options)


def timed_out_after(call: Callable[[], object]) -> float:
    """Run ``call``, expect a ``PassportTimeout``, and return how long it took to come."""
    started = time.monotonic()
    with pytest.raises(PassportTimeout):
        call()
    return time.monotonic() - started


def test_a_body_trickling_a_byte_at_a_time_is_cut_at_the_attempt_budget():
    with scripted_upstream(trickled(200, SLOW_BODY, body_interval=TRICKLE_INTERVAL)) as upstream:
        client = client_for(upstream.base_url)
        elapsed = timed_out_after(lambda: client.get_record("customer", CUSTOMER_PATH, "t", "r"))
    assert elapsed < ATTEMPT_SECONDS + MARGIN_SECONDS < DEADLINE_SECONDS


def test_headers_trickling_a_byte_at_a_time_are_cut_at_the_attempt_budget():
    slow_head = trickled(200, OK_BODY, head_interval=TRICKLE_INTERVAL, headers=PADDING)
    with scripted_upstream(slow_head) as upstream:
        client = client_for(upstream.base_url)
        elapsed = timed_out_after(lambda: client.get_record("customer", CUSTOMER_PATH, "t", "r"))
    assert elapsed < ATTEMPT_SECONDS + MARGIN_SECONDS < DEADLINE_SECONDS


def test_headers_and_body_share_one_attempt_budget():
    # About 0.6 s of headers, then 0.6 s of body: each within the budget, together over it.
    interval = 0.015
    slow_both = trickled(200, b"x" * 40, head_interval=interval, body_interval=interval)
    with scripted_upstream(slow_both) as upstream:
        client = client_for(upstream.base_url)
        elapsed = timed_out_after(lambda: client.get_record("customer", CUSTOMER_PATH, "t", "r"))
    assert elapsed < ATTEMPT_SECONDS + MARGIN_SECONDS


def test_a_token_answer_that_trickles_is_cut_at_the_attempt_budget():
    slow_head = trickled(200, b'{"access_token": "t"}', head_interval=TRICKLE_INTERVAL, headers=PADDING)
    with scripted_upstream(slow_head) as upstream:
        client = client_for(upstream.base_url)
        elapsed = timed_out_after(client.issue_token)
    assert elapsed < ATTEMPT_SECONDS + MARGIN_SECONDS


def test_a_tls_handshake_that_trickles_is_cut_at_the_attempt_budget():
    # The connect timeout is longer than the attempt: the attempt's end still wins.
    with scripted_upstream(trickled_tls_handshake(TRICKLE_INTERVAL), reads_request=False) as upstream:
        client = client_for(f"https://127.0.0.1:{upstream.server_address[1]}", connect_timeout_seconds=5.0)
        elapsed = timed_out_after(lambda: client.get_record("customer", CUSTOMER_PATH, "t", "r"))
    assert elapsed < ATTEMPT_SECONDS + MARGIN_SECONDS


def test_the_deadline_ends_the_last_of_several_slow_attempts():
    # Two 503s after 0.9 s each (retried), then an answer whose headers trickle: the third attempt
    # starts about 1.8 s in, with its own budget up to about 3.3 s, but the deadline is 2.5 s.
    attempt_seconds, deadline_seconds = 1.5, 2.5
    slow_503 = after(0.9, respond(503, b""))
    endless_head = trickled(200, OK_BODY, head_interval=0.05, headers=PADDING)
    with scripted_upstream(endless_head) as upstream:
        upstream.scripts.extend([slow_503, slow_503])
        client = client_for(upstream.base_url, timeout_seconds=attempt_seconds,
                            deadline_seconds=deadline_seconds, retries=10)
        elapsed = timed_out_after(lambda: client.get_record("customer", CUSTOMER_PATH, "t", "r"))
        assert upstream.connections == 3
    assert elapsed < deadline_seconds + MARGIN_SECONDS


def test_a_fast_answer_is_read_whole_and_its_connection_reused():
    with scripted_upstream(keep_alive(200, OK_BODY)) as upstream:
        client = client_for(upstream.base_url)
        answers = [client.get_record("customer", CUSTOMER_PATH, "t", "r") for _ in range(3)]
        assert upstream.connections == 1
    assert answers == [{"id": CUSTOMER_ID}] * 3


def test_the_connection_of_a_cut_attempt_is_not_reused():
    with scripted_upstream(keep_alive(200, OK_BODY)) as upstream:
        upstream.scripts.append(trickled(200, SLOW_BODY, body_interval=TRICKLE_INTERVAL))
        client = client_for(upstream.base_url)
        timed_out_after(lambda: client.get_record("customer", CUSTOMER_PATH, "t", "r"))
        assert client.get_record("customer", CUSTOMER_PATH, "t", "r") == {"id": CUSTOMER_ID}
        assert upstream.connections == 2


# --------------------------------------------------------------------------------------------
# Connections: at most max_connections per client; more calls wait for one, within their attempt


class InFlight:
    """Counts the requests an upstream is answering at once, and the most it ever answered at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.most = 0

    def __enter__(self) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self.now -= 1


def held_keep_alive(seconds: float, in_flight: InFlight) -> Script:
    """Answer every request on the connection after holding it ``seconds``, and keep the connection."""
    answer = (f"HTTP/1.1 200 OK\r\nContent-Length: {len(OK_BODY)}\r\nConnection: keep-alive\r\n\r\n").encode()

    def script(sock: socket.socket) -> None:
        while True:
            with in_flight:
                time.sleep(seconds)
                sock.sendall(answer + OK_BODY)
            if not read_request(sock):
                return
    return script


def test_calls_beyond_max_connections_wait_for_a_connection_and_reuse_it():
    in_flight = InFlight()
    with scripted_upstream(held_keep_alive(0.1, in_flight)) as upstream:
        client = client_for(upstream.base_url, max_connections=2)
        with ThreadPoolExecutor(8) as threads:
            answers = list(threads.map(lambda _: client.get_record("customer", CUSTOMER_PATH, "t", "r"), range(8)))
        assert upstream.connections == 2, "every call past the second waited for a connection, none was discarded"
    assert answers == [{"id": CUSTOMER_ID}] * 8
    assert in_flight.most == 2


def test_a_wait_for_a_free_connection_ends_with_the_attempt():
    with scripted_upstream(keep_alive(200, OK_BODY)) as upstream:
        session = requests.Session()
        session.mount(upstream.base_url, BudgetedAdapter(pool_maxsize=1, pool_block=True))
        with session.get(upstream.base_url + "/held", stream=True):  # holds the only connection
            started = time.monotonic()
            with pytest.raises(PassportPoolBusy), attempt_budget(started + ATTEMPT_SECONDS):
                session.get(upstream.base_url + "/waits")
            elapsed = time.monotonic() - started
    assert ATTEMPT_SECONDS <= elapsed < ATTEMPT_SECONDS + MARGIN_SECONDS


def test_a_call_that_found_no_free_connection_is_a_timeout_not_counted_against_passport():
    with scripted_upstream(keep_alive(200, OK_BODY)) as upstream:
        client = client_for(upstream.base_url, max_connections=1, retries=0)
        # The client's only connection, held by a response left open (the seam issue 12 makes public).
        with client._session.get(upstream.base_url + "/held", stream=True):
            started = time.monotonic()
            with pytest.raises(PassportBusy):
                client.get_record("customer", CUSTOMER_PATH, "t", "r")
            elapsed = time.monotonic() - started
    assert ATTEMPT_SECONDS <= elapsed < ATTEMPT_SECONDS + MARGIN_SECONDS
    assert not is_passport_failure(PassportBusy("busy"))
