"""Hostile HTTP framing against the real server: one request, one answer, and every error a problem.

Raw ``socket`` connections to gunicorn started with ``config/gunicorn.py`` in the production config
(API keys, Redis, a Passport emulator taking non-development credentials), once per worker class
(gevent, gthread) for the whole module. Each hostile request is sent whole, then the connection is
read until the server closes it (every socket operation has a timeout), and the answers on it are
counted: a broken body or a message gunicorn refuses must get exactly one 400/413/414/431/501
``application/problem+json`` with a request id and ``Connection: close`` — never the app's 500,
never a second, unsolicited answer, never a traceback in the server's log (stdout and stderr,
captured to a file). Valid chunked bodies keep working, keep-alive included.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.cluster import Cluster
from tests.support.processes import LOOPBACK, ROOT, free_port, stop, wait_until

LIVE_ID, LIVE_SECRET = "live-id", "live-secret"
API_KEY = "framing-tests-key-0123456789"
CALLER = {"X-API-Key": API_KEY}
JSON_CALLER = {**CALLER, "Content-Type": "application/json"}
BODY_LIMIT_BYTES = 2048
SOCKET_TIMEOUT_SECONDS = 5.0
PROBLEM = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:passport-bff:problem:"
CUSTOMER_ID = "db7e89e7-59d8-4ab1-b675-a2ae52c3339e"  # the emulator's documented customer

HOSTILE_CHUNKED_BODIES = {
    "hex-prefixed-size": b"0x0\r\n\r\n",
    "size-not-hex": b"zz\r\n",
    "bare-lf-after-size": b"3\nabc\r\n0\r\n\r\n",
    "bare-lf-after-data": b"3\r\nabc\n0\r\n\r\n",
    "chunk-longer-than-its-size": b"3\r\nabcdef\r\n0\r\n\r\n",
}
ROUTES = {  # (method, path, headers): a route that reads its body, and three that never do
    "batch": ("POST", "/v1/customers:batchGet", JSON_CALLER),
    "batch-unauthenticated": ("POST", "/v1/customers:batchGet", {"Content-Type": "application/json"}),
    "health": ("GET", "/healthz", {}),
    "lookup": ("GET", f"/v1/customers/{CUSTOMER_ID}", CALLER),
}
MANY_HEADERS = b"".join(b"X-H%d: v\r\n" % n for n in range(101))
GUNICORN_REFUSALS = {  # raw request -> the status gunicorn gives it
    "invalid-request-line": (b"\x16\x03\x01 nonsense\r\n\r\n", 400),
    "invalid-http-version": (b"GET /healthz HTTP/7.1\r\nHost: t\r\n\r\n", 400),
    "space-in-header-name": (b"GET /healthz HTTP/1.1\r\nHost: t\r\nBad Name: 1\r\n\r\n", 400),
    "control-byte-in-header-value": (b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: a\x01b\r\n\r\n", 400),
    "chunked-and-content-length": (b"POST /v1/customers:batchGet HTTP/1.1\r\nHost: t\r\n"
                                   b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400),
    "request-line-too-long": (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
    "too-many-headers": (b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + MANY_HEADERS + b"\r\n", 431),
    "header-too-large": (b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
    "unsupported-transfer-coding": (b"POST /v1/customers:batchGet HTTP/1.1\r\nHost: t\r\n"
                                    b"Transfer-Encoding: br\r\n\r\nx", 501),
}


# --------------------------------------------------------------------------------------------
# The server


@dataclass
class Server:
    """One gunicorn master on a loopback port, its stdout and stderr in ``log``."""

    worker_class: str
    port: int
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with Cluster(emulator_args=["--client-id", LIVE_ID, "--client-secret", LIVE_SECRET]) as cluster:
        yield cluster


@pytest.fixture(scope="module", params=["gevent", "gthread"])
def server(request: pytest.FixtureRequest, cluster: Cluster,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn as deployed (production config, one worker of the given class), stopped afterwards."""
    worker_class = request.param
    port = free_port()
    log = tmp_path_factory.mktemp(f"gunicorn-{worker_class}") / "server.log"
    env = {
        **os.environ,
        "APP_ENV": "production",
        "PASSPORT_BASE_URL": cluster.emulator.base_url,
        "PASSPORT_CLIENT_ID": LIVE_ID,
        "PASSPORT_CLIENT_SECRET": LIVE_SECRET,
        "REDIS_URL": cluster.redis_url,
        "AUTH_API_KEYS": f"framing:{hashlib.sha256(API_KEY.encode()).hexdigest()}",
        "MAX_REQUEST_BODY_BYTES": str(BODY_LIMIT_BYTES),
        "GUNICORN_WORKER_CLASS": worker_class,
        "GUNICORN_BIND": f"{LOOPBACK}:{port}",
        "WEB_CONCURRENCY": "1",
        "DRAIN_SECONDS": "0",
    }
    with log.open("ab") as sink:
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "wsgi:app"],
                                   cwd=ROOT, env=env, stdout=sink, stderr=sink)
    try:
        wait_until(lambda: requests.get(f"http://{LOOPBACK}:{port}/healthz", timeout=1).ok, "gunicorn", process)
        yield Server(worker_class, port, log)
    finally:
        stop(process)


# --------------------------------------------------------------------------------------------
# Raw HTTP


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def raw_request(method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None,
                chunked: bool = False) -> bytes:
    """An HTTP/1.1 request, byte for byte: ``body`` is sent as given (already chunked if ``chunked``)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {LOOPBACK}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    elif body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def chunked(payload: bytes, piece: int = 7) -> bytes:
    """``payload`` in valid chunks of ``piece`` bytes, with the last chunk."""
    chunks = [payload[i:i + piece] for i in range(0, len(payload), piece)]
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"


def connect(server: Server) -> socket.socket:
    return socket.create_connection((LOOPBACK, server.port), timeout=SOCKET_TIMEOUT_SECONDS)


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a timeout fails the test)."""
    received = bytearray()
    while True:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"the server kept the connection open after {bytes(received[:300])!r}") from None
        except ConnectionResetError:
            break
        if not data:
            return bytes(received)
        received += data
    return bytes(received)


def parse_answers(data: bytes) -> list[Answer]:
    """Split what a connection carried into its HTTP answers (framed by Content-Length)."""
    answers = []
    while data:
        head, separator, rest = data.partition(b"\r\n\r\n")
        assert separator, f"an incomplete answer: {data[:300]!r}"
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        assert status_line.startswith("HTTP/1."), f"not an HTTP answer: {data[:300]!r}"
        headers = {name.strip().lower(): value.strip()
                   for name, value in (line.split(":", 1) for line in header_lines)}
        length = int(headers.get("content-length", "0"))
        answers.append(Answer(int(status_line.split()[1]), headers, rest[:length]))
        data = rest[length:]
    return answers


def exchange(server: Server, request: bytes) -> list[Answer]:
    """Send ``request`` on a new connection; every answer it got before the server closed it."""
    with connect(server) as sock:
        sock.sendall(request)
        return parse_answers(read_until_closed(sock))


def read_one_answer(sock: socket.socket) -> Answer:
    """Exactly one answer from a connection the server keeps open."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536) or pytest.fail(f"closed before an answer: {received!r}")
    head = received.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    length = int(next(line.split(":", 1)[1] for line in head.split("\r\n") if line.startswith("content-length:")))
    while len(received.split(b"\r\n\r\n", 1)[1]) < length:
        received += sock.recv(65536) or pytest.fail(f"closed inside an answer: {received!r}")
    (answer,) = parse_answers(received)
    return answer


def the_only_problem(answers: list[Answer], status: int) -> dict[str, Any]:
    """Check the connection carried one problem+json answer with ``status``, then closed; its body."""
    assert [a.status for a in answers] == [status], [(a.status, a.body[:200]) for a in answers]
    (answer,) = answers
    assert answer.headers.get("content-type", "").startswith(PROBLEM), answer.headers
    assert answer.headers.get("connection", "").lower() == "close", answer.headers
    assert answer.headers.get("x-content-type-options") == "nosniff", answer.headers
    body = answer.json()
    assert body["status"] == status, body
    assert body["type"].startswith(PROBLEM_TYPE_PREFIX), body
    assert body["title"] and body["detail"], body
    assert body["request_id"] and body["request_id"] == answer.headers.get("x-request-id"), (body, answer.headers)
    return body


def assert_no_traceback(server: Server) -> None:
    log = server.log_text()
    assert "Traceback" not in log, log[-3000:]


# --------------------------------------------------------------------------------------------
# Broken request bodies: the application's side


@pytest.mark.parametrize("body", HOSTILE_CHUNKED_BODIES.values(), ids=HOSTILE_CHUNKED_BODIES.keys())
@pytest.mark.parametrize("route", ROUTES.values(), ids=ROUTES.keys())
def test_a_broken_chunked_body_gets_one_400_problem_and_a_closed_connection(server, route, body):
    method, path, headers = route
    answers = exchange(server, raw_request(method, path, headers, body, chunked=True))
    problem = the_only_problem(answers, 400)
    assert problem["type"] == PROBLEM_TYPE_PREFIX + "invalid-body-framing", problem
    assert_no_traceback(server)


def test_a_framing_error_is_one_warning_with_the_gateways_request_id(server):
    request_id = f"gw-framing-{server.worker_class}"
    headers = {**JSON_CALLER, "X-Request-ID": request_id}
    answers = exchange(server, raw_request("POST", "/v1/customers:batchGet", headers, b"0x0\r\n\r\n", chunked=True))
    assert the_only_problem(answers, 400)["request_id"] == request_id
    lines = [line for line in server.log_text().splitlines() if request_id in line]
    assert len(lines) == 1 and "WARNING" in lines[0], lines
    assert_no_traceback(server)


TRUNCATED_REQUESTS = {  # the client stops sending in the middle of the body
    "inside-a-chunk": raw_request("POST", "/v1/customers:batchGet", JSON_CALLER, b"ff\r\nabc", chunked=True),
    "short-of-its-length": raw_request("POST", "/v1/customers:batchGet", JSON_CALLER, b"x" * 100)[:-40],
}


@pytest.mark.parametrize("request_bytes", TRUNCATED_REQUESTS.values(), ids=TRUNCATED_REQUESTS.keys())
def test_a_truncated_body_gets_one_400_problem(server, request_bytes):
    with connect(server) as sock:
        sock.sendall(request_bytes)
        sock.shutdown(socket.SHUT_WR)
        answers = parse_answers(read_until_closed(sock))
    problem = the_only_problem(answers, 400)
    assert problem["type"] == PROBLEM_TYPE_PREFIX + "invalid-body-framing", problem
    assert_no_traceback(server)


def test_a_chunked_body_over_the_limit_gets_one_413_problem(server):
    body = chunked(json.dumps({"ids": [CUSTOMER_ID] * 100}).encode(), piece=512)
    answers = exchange(server, raw_request("POST", "/v1/customers:batchGet", JSON_CALLER, body, chunked=True))
    problem = the_only_problem(answers, 413)
    assert problem["type"] == PROBLEM_TYPE_PREFIX + "request-entity-too-large", problem
    assert_no_traceback(server)


def test_a_valid_chunked_batch_body_is_served(server):
    body = chunked(json.dumps({"ids": [CUSTOMER_ID]}).encode())
    headers = {**JSON_CALLER, "Connection": "close"}
    answers = exchange(server, raw_request("POST", "/v1/customers:batchGet", headers, body, chunked=True))
    assert [a.status for a in answers] == [200], answers
    assert [customer["id"] for customer in answers[0].json()["customers"]] == [CUSTOMER_ID]


def test_a_valid_chunked_get_gets_one_answer_and_keeps_the_connection(server):
    with connect(server) as sock:
        sock.sendall(raw_request("GET", "/healthz", body=chunked(b'{"ignored": true}'), chunked=True))
        first = read_one_answer(sock)
        assert first.status == 200 and first.headers.get("connection", "").lower() == "keep-alive", first
        sock.sendall(raw_request("GET", "/healthz", {"Connection": "close"}))
        rest = parse_answers(read_until_closed(sock))
    assert [a.status for a in rest] == [200], rest
    assert_no_traceback(server)


# --------------------------------------------------------------------------------------------
# Messages gunicorn refuses before the application runs


@pytest.mark.parametrize("request_bytes, status", GUNICORN_REFUSALS.values(), ids=GUNICORN_REFUSALS.keys())
def test_a_message_gunicorn_refuses_gets_one_problem_and_a_closed_connection(server, request_bytes, status):
    the_only_problem(exchange(server, request_bytes), status)
    assert_no_traceback(server)


# --------------------------------------------------------------------------------------------
# The rendering, without a server


def test_an_unexpected_server_error_is_a_500_problem():
    from app.web import server_errors

    answers = parse_answers(server_errors.problem_answer(server_errors.problem_for(RuntimeError("boom")), "rid-1"))
    problem = the_only_problem(answers, 500)
    assert problem["type"] == PROBLEM_TYPE_PREFIX + "internal-error" and "boom" not in json.dumps(problem)


def test_a_bad_response_header_from_the_app_is_a_500_problem_not_a_client_error():
    from gunicorn.http.errors import InvalidResponseHeader

    from app.web import server_errors

    assert server_errors.problem_for(InvalidResponseHeader("X-Bad")).status == 500


def test_every_server_problem_is_in_the_one_catalogue():
    from app.web import problems, server_errors

    assert set(server_errors.SERVER_PROBLEMS.values()) <= set(problems.CATALOGUE)
    assert all(problem.detail for problem in server_errors.SERVER_PROBLEMS.values())
    assert server_errors.problem_for(RuntimeError()) is problems.INTERNAL_ERROR


def test_a_bodiless_request_reaches_the_app_untouched():
    from app.web.framing import BodyFraming

    class Unreadable:
        def read(self, *args: object) -> bytes:
            raise AssertionError("a bodiless request's input was read")

    seen: list[dict[str, Any]] = []
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/healthz", "wsgi.input": Unreadable()}
    BodyFraming(lambda env, start: seen.append(env) or [b""], BODY_LIMIT_BYTES)(environ, lambda *a: None)
    assert seen == [environ] and isinstance(environ["wsgi.input"], Unreadable)


# --------------------------------------------------------------------------------------------
# Request targets: only the canonical spelling is served (README "Errors")

HEX_D_ENCODED = CUSTOMER_ID.replace("d", "%64", 1)  # 'd' is unreserved: %64 is a non-canonical spelling
NON_CANONICAL_TARGETS = {
    "double-slash-at-start": f"//v1/customers/{CUSTOMER_ID}",
    "double-slash-inside": f"/v1//customers/{CUSTOMER_ID}",
    "encoded-slash": f"/v1/customers%2F{CUSTOMER_ID}",
    "encoded-slash-lower-case": f"/v1%2fcustomers/{CUSTOMER_ID}",
    "encoded-hex-digit-in-id": f"/v1/customers/{HEX_D_ENCODED}",
    "encoded-colon-in-batch-route": "/v1/customers%3AbatchGet",
    "dot-segment": f"/v1/./customers/{CUSTOMER_ID}",
    "dot-dot-segment": f"/v1/x/../customers/{CUSTOMER_ID}",
    "absolute-form-encoded-hex": f"http://{LOOPBACK}/v1/customers/{HEX_D_ENCODED}",
}


@pytest.mark.parametrize("target", NON_CANONICAL_TARGETS.values(), ids=NON_CANONICAL_TARGETS.keys())
def test_a_non_canonical_path_spelling_is_a_404_problem_never_the_customer(server, target):
    method = "POST" if "batchGet" in target else "GET"
    body = json.dumps({"ids": [CUSTOMER_ID]}).encode() if method == "POST" else None
    answers = exchange(server, raw_request(method, target, {**JSON_CALLER, "Connection": "close"}, body))
    assert [a.status for a in answers] == [404], [(a.status, a.body[:200]) for a in answers]
    problem = answers[0].json()
    assert problem["type"] == PROBLEM_TYPE_PREFIX + "non-canonical-path", problem
    assert problem["request_id"] == answers[0].headers.get("x-request-id"), problem
    assert CUSTOMER_ID not in answers[0].body.decode(), "the non-canonical spelling must not reach the customer"
    assert_no_traceback(server)


CANONICAL_TARGETS = {
    "lookup": f"/v1/customers/{CUSTOMER_ID}",
    "lookup-upper-case-id": f"/v1/customers/{CUSTOMER_ID.upper()}",
    "lookup-with-query": f"/v1/customers/{CUSTOMER_ID}?fields=all",
    "absolute-form": f"http://{LOOPBACK}/v1/customers/{CUSTOMER_ID}",
}


@pytest.mark.parametrize("target", CANONICAL_TARGETS.values(), ids=CANONICAL_TARGETS.keys())
def test_the_canonical_spelling_is_served(server, target):
    answers = exchange(server, raw_request("GET", target, {**CALLER, "Connection": "close"}))
    assert [a.status for a in answers] == [200], [(a.status, a.body[:200]) for a in answers]
    assert answers[0].json()["id"] == CUSTOMER_ID


def test_a_needed_percent_encoding_is_canonical_and_judged_by_the_route(server):
    """``%20`` must stay encoded: the path is canonical, and the id it spells is simply not a UUID."""
    answers = exchange(server, raw_request("GET", "/v1/customers/not%20a%20uuid", {**CALLER, "Connection": "close"}))
    assert [a.status for a in answers] == [400], [(a.status, a.body[:200]) for a in answers]
    assert answers[0].json()["type"] == PROBLEM_TYPE_PREFIX + "invalid-customer-id"
