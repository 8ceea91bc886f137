"""The Passport client against a hostile upstream: lies, trickles, cut connections, garbage."""
from __future__ import annotations

import gzip
import json
import socket
import time

import pytest

from app.breaker import CircuitBreaker
from app.passport.client import PassportClient
from app.passport.errors import (
    PassportBadResponse,
    PassportCircuitOpen,
    PassportServerError,
    PassportTimeout,
    PassportUnreachable,
)
from tests.support.scripted_upstream import respond, scripted_upstream

CUSTOMER_ID = "db7e89e7-59d8-4ab1-b675-a2ae52c3339e"
CUSTOMER_PATH = f"/v1/customers/{CUSTOMER_ID}"
OK_BODY = json.dumps({"id": CUSTOMER_ID}).encode()
MAX_BYTES = 4096


def client_for(base_url: str, **overrides) -> PassportClient:
    options = dict(timeout_seconds=0.5, connect_timeout_seconds=0.5, max_response_bytes=MAX_BYTES,
                   breaker=CircuitBreaker("passport", 3, 30), deadline_seconds=2.0, retries=2,
                   retry_backoff_seconds=0.01)
    options.update(overrides)
    return PassportClient(base_url, "id", "secret", **options)


def declared_too_large(sock: socket.socket) -> None:
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\n{")


def chunked_too_large(sock: socket.socket) -> None:
    sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"x" * 1024
    for _ in range(8):
        sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    sock.sendall(b"0\r\n\r\n")


def trickle(sock: socket.socket) -> None:
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
    for _ in range(40):  # bounded: 40 x 0.1 s, far past the client's 2 s deadline
        sock.sendall(b"x")
        time.sleep(0.1)


def cut_mid_body(sock: socket.socket) -> None:
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"id\":")
    sock.close()


def garbage(sock: socket.socket) -> None:
    sock.sendall(b"SSH-2.0-OpenSSH_9.0\r\n")


def test_well_formed_answer_is_decoded():
    with scripted_upstream(respond(200, OK_BODY)) as upstream:
        assert client_for(upstream.base_url).get_record("customer", CUSTOMER_PATH, "t", "r") == {"id": CUSTOMER_ID}


def test_declared_oversized_body_is_refused_unread():
    with scripted_upstream(declared_too_large) as upstream:
        with pytest.raises(PassportBadResponse, match="over the limit"):
            client_for(upstream.base_url).get_record("customer", CUSTOMER_PATH, "t", "r")


def test_oversized_chunked_body_is_refused():
    with scripted_upstream(chunked_too_large) as upstream:
        with pytest.raises(PassportBadResponse, match="size limit"):
            client_for(upstream.base_url).get_record("customer", CUSTOMER_PATH, "t", "r")


def test_trickled_body_hits_the_deadline():
    with scripted_upstream(trickle) as upstream:
        with pytest.raises(PassportTimeout):
            client_for(upstream.base_url, timeout_seconds=1.0).get_record("customer", CUSTOMER_PATH, "t", "r")


def test_connection_cut_mid_body_is_retried_then_unreachable():
    with scripted_upstream(cut_mid_body) as upstream:
        with pytest.raises(PassportUnreachable):
            client_for(upstream.base_url).get_record("customer", CUSTOMER_PATH, "t", "r")
        assert upstream.connections == 3


def test_cut_connection_then_success_is_a_success():
    with scripted_upstream(respond(200, OK_BODY)) as upstream:
        upstream.scripts.append(cut_mid_body)
        assert client_for(upstream.base_url).get_record("customer", CUSTOMER_PATH, "t", "r") == {"id": CUSTOMER_ID}
        assert upstream.connections == 2


def test_a_refused_connection_is_unreachable_not_a_timeout():
    with socket.socket() as closed:  # a port bound on loopback and never listened on: connections are refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        with pytest.raises(PassportUnreachable):
            client_for(f"http://127.0.0.1:{port}", retries=0).get_record("customer", CUSTOMER_PATH, "t", "r")


HOSTILE_HEADS = {
    "more headers than http.client takes": b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(150))
                                           + b"Content-Length: 2\r\n\r\n{}",
    "a header line of 70 kB": b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70_000 + b"\r\nContent-Length: 2\r\n\r\n{}",
    "a four-digit status": b"HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\n{}",
    "a gzip body that is not gzip": b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope",
}


@pytest.mark.parametrize("head", HOSTILE_HEADS.values(), ids=HOSTILE_HEADS.keys())
def test_a_hostile_answer_is_unreachable_not_an_error_of_ours(head):
    with scripted_upstream(lambda sock: sock.sendall(head)) as upstream:
        with pytest.raises(PassportUnreachable):
            client_for(upstream.base_url, retries=0).get_record("customer", CUSTOMER_PATH, "t", "r")


def test_garbage_instead_of_http_is_unreachable():
    with scripted_upstream(garbage) as upstream:
        with pytest.raises(PassportUnreachable):
            client_for(upstream.base_url, retries=0).get_record("customer", CUSTOMER_PATH, "t", "r")


def test_redirects_are_not_followed():
    redirect = respond(302, b"", {"Location": "http://127.0.0.1:1/elsewhere", "Content-Length": "0"})
    with scripted_upstream(redirect) as upstream:
        with pytest.raises(PassportBadResponse):
            client_for(upstream.base_url).get_record("customer", CUSTOMER_PATH, "t", "r")
        assert upstream.connections == 1


@pytest.mark.parametrize(("retry_after", "seconds"), [
    ("999999", 300), ("7", 7), ("-5", 5), ("soon", 5), ("", 5), ("Wed, 21 Oct 2015 07:28:00 GMT", 1)])
def test_retry_after_of_a_429_is_read_and_clamped_to_the_configured_maximum(retry_after, seconds):
    """PASSPORT_MAX_RETRY_AFTER_SECONDS (300 by default) bounds a huge one; junk, negative and
    missing get 5 s; an HTTP date already past, 1 s."""
    from app.passport.errors import PassportRateLimited
    with scripted_upstream(respond(429, b"", {"Retry-After": retry_after, "Content-Length": "0"})) as upstream:
        with pytest.raises(PassportRateLimited) as excinfo:
            client_for(upstream.base_url).get_record("customer", CUSTOMER_PATH, "t", "r")
    assert excinfo.value.retry_after == seconds


def test_server_errors_open_the_breaker_and_then_nothing_is_sent():
    with scripted_upstream(respond(500, b"oops")) as upstream:
        client = client_for(upstream.base_url)
        for _ in range(3):
            with pytest.raises(PassportServerError):
                client.get_record("customer", CUSTOMER_PATH, "t", "r")
        with pytest.raises(PassportCircuitOpen):
            client.get_record("customer", CUSTOMER_PATH, "t", "r")
        assert upstream.connections == 3


@pytest.mark.parametrize(
    "body",
    [b"{}", b'{"access_token": ""}', b'{"access_token": "has space"}', b'{"access_token": 42}',
     b'{"access_token": "t", "expires_in": "soon"}', b"[]", b"<html>"],
)
def test_unusable_token_answers_are_bad_responses(body):
    with scripted_upstream(respond(200, body)) as upstream:
        with pytest.raises(PassportBadResponse):
            client_for(upstream.base_url).issue_token()


def test_token_answer_with_extra_fields_is_accepted():
    body = json.dumps({"access_token": "abc.def", "token_type": "Bearer", "expires_in": 86400,
                       "scopes": ["paas.core.entity_customers.get"], "roles": []}).encode()
    with scripted_upstream(respond(200, body)) as upstream:
        grant = client_for(upstream.base_url).issue_token()
    assert (grant.access_token, grant.expires_in) == ("abc.def", 86400)


def test_credentials_travel_in_the_json_body_not_basic_auth():
    with scripted_upstream(respond(200, b'{"access_token": "t"}')) as upstream:
        client_for(upstream.base_url).issue_token()
    head, _, body = upstream.received[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v1/iam/oauth/tokens ")
    assert b"application/json" in head.lower()
    assert b"authorization" not in head.lower()
    assert json.loads(body) == {"client_id": "id", "client_secret": "secret", "grant_type": "client_credentials"}


def test_customer_request_carries_bearer_token_and_request_id():
    with scripted_upstream(respond(200, OK_BODY)) as upstream:
        client_for(upstream.base_url).get_record("customer", CUSTOMER_PATH, "tok123", "req-9")
    head = upstream.received[0].split(b"\r\n\r\n")[0]
    assert head.startswith(f"GET /v1/customers/{CUSTOMER_ID} ".encode())
    assert b"Authorization: Bearer tok123" in head
    assert b"X-Request-ID: req-9" in head


def test_a_base_url_with_a_path_keeps_it_before_every_call():
    with scripted_upstream(respond(200, OK_BODY)) as upstream:
        client_for(upstream.base_url + "/passport/").get_record("customer", CUSTOMER_PATH, "t", "r")
    assert upstream.received[0].startswith(f"GET /passport/v1/customers/{CUSTOMER_ID} ".encode())


def test_a_gzip_answer_is_decoded():
    headers = {"Content-Encoding": "gzip"}
    with scripted_upstream(respond(200, gzip.compress(OK_BODY), headers)) as upstream:
        assert client_for(upstream.base_url).get_record("customer", CUSTOMER_PATH, "t", "r") == {"id": CUSTOMER_ID}
    assert b"accept-encoding: gzip" in upstream.received[0].lower()


def test_a_gzip_answer_is_bounded_by_its_decoded_size():
    bomb = gzip.compress(b" " * (MAX_BYTES * 64) + OK_BODY)  # a few hundred bytes on the wire
    with scripted_upstream(respond(200, bomb, {"Content-Encoding": "gzip"})) as upstream:
        with pytest.raises(PassportBadResponse, match="size limit"):
            client_for(upstream.base_url).get_record("customer", CUSTOMER_PATH, "t", "r")


def test_the_proxy_named_in_the_environment_at_start_is_used_for_good(monkeypatch):
    """Proxy (and CA) settings are read once, when the client is built, not again per call."""
    with scripted_upstream(respond(200, b'{"access_token": "t"}')) as proxy:
        for name in ("NO_PROXY", "no_proxy", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.base_url)
        client = client_for("http://127.0.0.1:9")  # nothing listens there: only the proxy can answer
        monkeypatch.delenv("HTTP_PROXY")
        client.issue_token()
    assert proxy.received[0].startswith(b"POST http://127.0.0.1:9/v1/iam/oauth/tokens ")


def test_a_proxy_set_after_start_is_ignored(monkeypatch):
    with scripted_upstream(respond(200, b'{"access_token": "t"}')) as upstream:
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        client = client_for(upstream.base_url)
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # discard port: would fail if used
        assert client.issue_token().access_token == "t"


@pytest.mark.parametrize("body", [
    json.dumps({"id": CUSTOMER_ID}).encode("utf-16"),       # json.loads(bytes) would guess UTF-16
    b'{"id": "%s", "score": NaN}' % CUSTOMER_ID.encode(),
    b'{"id": "other", "id": "%s"}' % CUSTOMER_ID.encode(),  # the last member would win
])
def test_a_body_that_is_not_i_json_is_a_bad_response(body):
    with scripted_upstream(respond(200, body)) as upstream:
        with pytest.raises(PassportBadResponse):
            client_for(upstream.base_url).get_record("customer", CUSTOMER_PATH, "token", None)
