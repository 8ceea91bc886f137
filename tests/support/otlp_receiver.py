"""A real OTLP/HTTP trace receiver on loopback: what the service's span exporter talks to in tests.

It speaks the protobuf flavour of OTLP/HTTP (``POST /v1/traces``, ``application/x-protobuf``,
optionally gzip- or deflate-compressed), decodes every ``ExportTraceServiceRequest`` with the
official ``opentelemetry-proto`` classes and keeps each span as a plain ``ReceivedSpan``, so a
test asserts on names, ids and attributes without touching protobuf. Decoding the real wire
format (not a mock exporter) is the point: it proves the service's spans survive export.

Usage::

    with OtlpReceiver() as receiver:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}  # the exporter adds /v1/traces
        ...
        spans = receiver.wait_for(lambda spans: any(s.kind == "server" for s in spans))

``set_status(503)`` / ``fail_next(n)`` make it answer errors, to drive the exporter's
failure and retry paths; an endpoint where nothing listens is ``tests.support.processes.free_port()``.
"""
from __future__ import annotations

import gzip
import socketserver
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from google.protobuf.message import DecodeError
from google.rpc import code_pb2
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.proto.trace.v1.trace_pb2 import Status as SpanStatus

LOOPBACK = "127.0.0.1"
TRACES_PATH = "/v1/traces"
PROTOBUF_CONTENT_TYPE = "application/x-protobuf"
DEFAULT_WAIT_SECONDS = 10.0
CLOSE_TIMEOUT_SECONDS = 5.0
SERVE_POLL_SECONDS = 0.05
# Far above any test's batch, yet bounded: a runaway client cannot make the test process swell.
MAX_BODY_BYTES = 16 * 1024 * 1024
# google.rpc.Status carries a gRPC code, not the HTTP status; unlisted statuses are UNKNOWN.
GRPC_CODES: dict[HTTPStatus, int] = {
    HTTPStatus.BAD_REQUEST: code_pb2.INVALID_ARGUMENT,
    HTTPStatus.NOT_FOUND: code_pb2.NOT_FOUND,
    HTTPStatus.METHOD_NOT_ALLOWED: code_pb2.UNIMPLEMENTED,
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE: code_pb2.UNIMPLEMENTED,
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: code_pb2.RESOURCE_EXHAUSTED,
    HTTPStatus.TOO_MANY_REQUESTS: code_pb2.RESOURCE_EXHAUSTED,
    HTTPStatus.SERVICE_UNAVAILABLE: code_pb2.UNAVAILABLE,
    HTTPStatus.GATEWAY_TIMEOUT: code_pb2.DEADLINE_EXCEEDED,
}
SPAN_KIND_PREFIX = "SPAN_KIND_"
STATUS_CODE_PREFIX = "STATUS_CODE_"

AttributeValue = Any  # str | int | float | bool | bytes | list[AttributeValue] | dict[str, AttributeValue]


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as the receiver decoded it: ids in lowercase hex, enums as lowercase words.

    ``kind`` is "internal", "server", "client", "producer", "consumer" or "unspecified";
    ``status_code`` is "unset", "ok" or "error". ``scope`` is the instrumentation scope name
    (which tracer made the span); ``resource`` holds the resource attributes (service.name...).
    """

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: str
    attributes: dict[str, AttributeValue]
    status_code: str
    resource: dict[str, AttributeValue]
    start_ns: int
    end_ns: int
    status_message: str = ""
    scope: str = ""


# --- decoding ---------------------------------------------------------------------------------
def any_value(value: AnyValue) -> AttributeValue:
    """The Python value of an OTLP AnyValue (arrays as lists, key-value lists as dicts, unset as None)."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if which == "kvlist_value":
        return key_values(value.kvlist_value.values)
    return getattr(value, which)


def key_values(pairs: Iterable[KeyValue]) -> dict[str, AttributeValue]:
    return {pair.key: any_value(pair.value) for pair in pairs}


def received_span(span: Span, resource: dict[str, AttributeValue], scope: str) -> ReceivedSpan:
    return ReceivedSpan(
        name=span.name,
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex(),
        kind=Span.SpanKind.Name(span.kind).removeprefix(SPAN_KIND_PREFIX).lower(),
        attributes=key_values(span.attributes),
        status_code=SpanStatus.StatusCode.Name(span.status.code).removeprefix(STATUS_CODE_PREFIX).lower(),
        resource=resource,
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        status_message=span.status.message,
        scope=scope,
    )


def decode_spans(request: ExportTraceServiceRequest) -> list[ReceivedSpan]:
    """Flatten resource -> scope -> span into one list, each span carrying its resource."""
    spans = []
    for resource_spans in request.resource_spans:
        resource = key_values(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            spans += [received_span(span, dict(resource), scope_spans.scope.name) for span in scope_spans.spans]
    return spans


def decompress(body: bytes, encoding: str) -> bytes:
    """Undo the Content-Encoding the exporter may apply (OTEL_EXPORTER_OTLP_COMPRESSION)."""
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    raise LookupError(encoding)


# --- HTTP -------------------------------------------------------------------------------------
class RequestProblem(Exception):
    """A request the receiver refuses (or an injected failure), with the status it answers."""

    def __init__(self, status: HTTPStatus, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        self.server.receiver._count_request()
        try:
            body = self._read_body()
            self.server.receiver._raise_injected_failure()
            spans = decode_spans(self._export_request(body))
        except RequestProblem as problem:
            self._answer_status(problem.status, str(problem), problem.retry_after)
            return
        self.server.receiver._store(spans)
        self._answer(HTTPStatus.OK, ExportTraceServiceResponse().SerializeToString())

    def do_GET(self) -> None:
        self.server.receiver._count_request()
        self._answer_status(self._wrong_method_status(), "only POST /v1/traces is served")

    do_PUT = do_DELETE = do_PATCH = do_GET

    def _wrong_method_status(self) -> HTTPStatus:
        return HTTPStatus.METHOD_NOT_ALLOWED if self._path() == TRACES_PATH else HTTPStatus.NOT_FOUND

    def _path(self) -> str:
        return self.path.split("?", 1)[0]

    def _read_body(self) -> bytes:
        """The raw body of a request to the traces path.

        Read before the path is judged: closing on an unread body can reset the connection
        before the client reads the answer.
        """
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            raise RequestProblem(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required")
        if int(length) > MAX_BODY_BYTES:
            raise RequestProblem(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")
        body = self.rfile.read(int(length))
        if self._path() != TRACES_PATH:
            raise RequestProblem(HTTPStatus.NOT_FOUND, f"no such path: {self._path()}")
        return body

    def _export_request(self, body: bytes) -> ExportTraceServiceRequest:
        content_type = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if content_type != PROTOBUF_CONTENT_TYPE:
            raise RequestProblem(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"only {PROTOBUF_CONTENT_TYPE} is served")
        encoding = self.headers.get("Content-Encoding", "").strip().lower()
        try:
            return ExportTraceServiceRequest.FromString(decompress(body, encoding))
        except LookupError as error:
            raise RequestProblem(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"unknown Content-Encoding {error}") from None
        except (OSError, EOFError, zlib.error, DecodeError) as error:
            raise RequestProblem(HTTPStatus.BAD_REQUEST, f"undecodable body: {error}") from None

    def _answer_status(self, status: HTTPStatus, message: str, retry_after: float | None = None) -> None:
        """An error as OTLP/HTTP specifies it: a protobuf google.rpc.Status body."""
        body = Status(code=GRPC_CODES.get(status, code_pb2.UNKNOWN), message=message).SerializeToString()
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        self._answer(status, body, headers)

    def _answer(self, status: HTTPStatus, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", PROTOBUF_CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: pytest output stays about the test, not about each export."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, receiver: OtlpReceiver) -> None:
        self.receiver = receiver
        super().__init__((LOOPBACK, 0), _Handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup of the address: loopback needs no name."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = LOOPBACK, self.server_address[1]


# --- the receiver -----------------------------------------------------------------------------
@dataclass
class _Failure:
    """An error answer to give: to the next ``remaining`` requests (fail_next), or to all (set_status)."""

    status: HTTPStatus
    retry_after: float | None
    remaining: int = 0


class OtlpReceiver:
    """An OTLP/HTTP trace collector on a free loopback port, serving from a daemon thread.

    It starts on construction and stops on ``close()`` (or leaving the ``with`` block).
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._spans: list[ReceivedSpan] = []
        self._requests = 0
        self._next_failure: _Failure | None = None
        self._standing_failure: _Failure | None = None
        self._closed = False
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": SERVE_POLL_SECONDS},
            name=f"otlp-receiver-{self.port}", daemon=True,
        )
        self._thread.start()

    # --- addresses
    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def endpoint(self) -> str:
        """The base URL, for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces)."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def traces_endpoint(self) -> str:
        """The full URL, for OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or ``OTLPSpanExporter(endpoint=...)``."""
        return self.endpoint + TRACES_PATH

    # --- what was received
    def spans(self) -> list[ReceivedSpan]:
        """Every span accepted so far, in arrival order (a copy)."""
        with self._changed:
            return list(self._spans)

    def requests_received(self) -> int:
        """Every HTTP request answered so far, refused and failed ones included (retries count)."""
        with self._changed:
            return self._requests

    def wait_for(self, predicate: Callable[[list[ReceivedSpan]], bool],
                 timeout: float = DEFAULT_WAIT_SECONDS) -> list[ReceivedSpan]:
        """Block until ``predicate(spans)`` holds and return those spans; AssertionError on timeout.

        Export is asynchronous (a batch processor flushes when it likes), so tests wait for the
        spans they expect rather than sleep; every arrival wakes the wait up.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                spans = list(self._spans)
                if predicate(spans):
                    return spans
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"spans not as expected after {timeout}s; {summary(spans)}")
                self._changed.wait(remaining)

    def clear(self) -> None:
        """Forget the spans and the request count (the failure settings stay)."""
        with self._changed:
            self._spans.clear()
            self._requests = 0

    # --- failure controls
    def fail_next(self, n: int, status: int = HTTPStatus.SERVICE_UNAVAILABLE,
                  retry_after: float | None = None) -> None:
        """Answer the next ``n`` requests with ``status``, dropping their spans; replaces an earlier call.

        As the OTLP exporter does: 429, 502, 503 and 504 are retried, after a backoff of a second
        or more, or after ``retry_after`` seconds when given (a ``Retry-After`` header;
        ``retry_after=0`` retries at once, for fast tests); any other error fails the export.
        """
        with self._changed:
            self._next_failure = _Failure(HTTPStatus(status), retry_after, n) if n > 0 else None

    def set_status(self, status: int, retry_after: float | None = None) -> None:
        """Answer every request with ``status`` from now on (after any ``fail_next``); 200 restores service."""
        with self._changed:
            failing = status != HTTPStatus.OK
            self._standing_failure = _Failure(HTTPStatus(status), retry_after) if failing else None

    # --- lifecycle
    def close(self) -> None:
        """Stop serving and free the port; idempotent, bounded (the thread is a daemon anyway)."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(CLOSE_TIMEOUT_SECONDS)

    def __enter__(self) -> OtlpReceiver:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    # --- called by the handler threads
    def _count_request(self) -> None:
        with self._changed:
            self._requests += 1
            self._changed.notify_all()

    def _raise_injected_failure(self) -> None:
        """Raise the error a test asked for, if any, using up one of a ``fail_next``."""
        with self._changed:
            failure = self._next_failure or self._standing_failure
            if failure is self._next_failure and failure is not None:
                failure.remaining -= 1
                self._next_failure = failure if failure.remaining > 0 else None
        if failure is not None:
            raise RequestProblem(failure.status, "injected failure", failure.retry_after)

    def _store(self, spans: list[ReceivedSpan]) -> None:
        with self._changed:
            self._spans += spans
            self._changed.notify_all()


def summary(spans: list[ReceivedSpan]) -> str:
    """What arrived, for a failure message: the count and each span's name and kind."""
    names = ", ".join(f"{span.name} ({span.kind})" for span in spans) or "none"
    return f"{len(spans)} span(s) received: {names}"
