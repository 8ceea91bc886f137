"""The test OTLP receiver against the real OpenTelemetry SDK and OTLP/HTTP protobuf exporter.

Each test builds its own TracerProvider (never the global one), so tests cannot see each
other's spans and the service's own tracing setup is left alone.
"""
from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator, Sequence

import pytest
import requests
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan, any_value
from tests.support.processes import free_port

SERVICE_NAME = "passport-bff-test"
SCOPE = "tests.otlp_receiver"
# Short enough that a retried 503 gives up within about a second (the first backoff is ~1 s).
EXPORT_TIMEOUT_SECONDS = 1.0
HTTP_TIMEOUT_SECONDS = 5
PROTOBUF = {"Content-Type": "application/x-protobuf"}


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


MakeProvider = Callable[..., TracerProvider]


def new_provider(exporter: SpanExporter, batch: bool = False) -> TracerProvider:
    """A private provider (not the global one) with a service.name, exporting to ``exporter``."""
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}), shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    return provider


@pytest.fixture
def make_provider() -> Iterator[MakeProvider]:
    """``new_provider``, shut down after the test even when it fails (no batch thread outlives it)."""
    providers: list[TracerProvider] = []

    def make(exporter: SpanExporter, batch: bool = False) -> TracerProvider:
        providers.append(new_provider(exporter, batch))
        return providers[-1]

    yield make
    for provider in providers:
        provider.shutdown()


def finished_spans(count: int = 1) -> Sequence[ReadableSpan]:
    """Ended SDK spans, kept in memory, to hand an exporter directly and see its result."""
    memory = InMemorySpanExporter()
    provider = new_provider(memory)
    for number in range(count):
        with provider.get_tracer(SCOPE).start_as_current_span(f"span-{number}"):
            pass
    provider.shutdown()
    return memory.get_finished_spans()


def named(spans: list[ReceivedSpan], name: str) -> ReceivedSpan:
    [span] = [span for span in spans if span.name == name]
    return span


def export_request(*names: str) -> ExportTraceServiceRequest:
    """A hand-built request, for sending what the SDK would not (raw, compressed, broken)."""
    spans = [Span(name=name, trace_id=bytes(range(16)), span_id=bytes(range(8)), kind=Span.SPAN_KIND_CLIENT)
             for name in names]
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])])


# --- decoding -----------------------------------------------------------------------------------
def test_parent_and_child_spans_are_decoded(receiver: OtlpReceiver, make_provider: MakeProvider) -> None:
    provider = make_provider(OTLPSpanExporter(endpoint=receiver.traces_endpoint, timeout=HTTP_TIMEOUT_SECONDS))
    tracer = provider.get_tracer(SCOPE)
    with tracer.start_as_current_span("GET /v1/customers/{id}", kind=SpanKind.SERVER,
                                      attributes={"http.route": "/v1/customers/{id}", "http.status": 200}) as parent:
        with tracer.start_as_current_span("passport.get", kind=SpanKind.CLIENT, attributes={
            "cache.hit": False, "retry.delay": 0.25, "peer.ids": ["a", "b"], "attempts": [1, 2],
        }) as child:
            child.set_status(StatusCode.ERROR, "upstream 503")
        parent.set_status(StatusCode.OK)

    spans = receiver.wait_for(lambda spans: len(spans) == 2)
    server, client = named(spans, "GET /v1/customers/{id}"), named(spans, "passport.get")
    assert server.span_id == format(parent.get_span_context().span_id, "016x")
    assert server.trace_id == format(parent.get_span_context().trace_id, "032x")
    assert server.parent_span_id == "" and client.parent_span_id == server.span_id
    assert client.trace_id == server.trace_id and client.span_id != server.span_id
    assert (server.kind, client.kind) == ("server", "client")
    assert server.attributes == {"http.route": "/v1/customers/{id}", "http.status": 200}
    assert client.attributes == {"cache.hit": False, "retry.delay": 0.25, "peer.ids": ["a", "b"], "attempts": [1, 2]}
    assert (server.status_code, client.status_code, client.status_message) == ("ok", "error", "upstream 503")
    assert client.resource["service.name"] == SERVICE_NAME and client.scope == SCOPE
    assert server.start_ns <= client.start_ns <= client.end_ns <= server.end_ns
    assert receiver.requests_received() == 2  # SimpleSpanProcessor: one export per span


def test_unset_status_and_internal_kind(receiver: OtlpReceiver, make_provider: MakeProvider) -> None:
    provider = make_provider(OTLPSpanExporter(endpoint=receiver.traces_endpoint, timeout=HTTP_TIMEOUT_SECONDS))
    with provider.get_tracer(SCOPE).start_as_current_span("work"):
        pass
    [span] = receiver.wait_for(lambda spans: len(spans) == 1)
    assert (span.kind, span.status_code, span.attributes) == ("internal", "unset", {})
    assert len(span.trace_id) == 32 and len(span.span_id) == 16 and span.trace_id == span.trace_id.lower()


def test_any_value_decodes_every_kind() -> None:
    nested = KeyValueList(values=[KeyValue(key="k", value=AnyValue(int_value=7))])
    array = ArrayValue(values=[AnyValue(string_value="x"), AnyValue(bool_value=True)])
    assert any_value(AnyValue(kvlist_value=nested)) == {"k": 7}
    assert any_value(AnyValue(array_value=array)) == ["x", True]
    assert any_value(AnyValue(bytes_value=b"\x00")) == b"\x00"
    assert any_value(AnyValue(double_value=1.5)) == 1.5
    assert any_value(AnyValue()) is None


# --- transport ----------------------------------------------------------------------------------
def test_batch_export_through_the_environment_with_gzip(receiver: OtlpReceiver, make_provider: MakeProvider,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Configured as the service will be: base endpoint and compression from the environment.

    The spans arriving at all shows the exporter appended /v1/traces: other paths get 404.
    """
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    provider = make_provider(OTLPSpanExporter(timeout=HTTP_TIMEOUT_SECONDS), batch=True)
    for number in range(3):
        with provider.get_tracer(SCOPE).start_as_current_span(f"batched-{number}"):
            pass
    assert provider.force_flush(timeout_millis=HTTP_TIMEOUT_SECONDS * 1000)
    spans = receiver.wait_for(lambda spans: len(spans) == 3)
    assert sorted(span.name for span in spans) == ["batched-0", "batched-1", "batched-2"]


def test_deflate_compression_is_decoded(receiver: OtlpReceiver, make_provider: MakeProvider) -> None:
    exporter = OTLPSpanExporter(endpoint=receiver.traces_endpoint, timeout=HTTP_TIMEOUT_SECONDS,
                                compression=Compression.Deflate)
    with make_provider(exporter).get_tracer(SCOPE).start_as_current_span("deflated"):
        pass
    assert [span.name for span in receiver.wait_for(lambda spans: len(spans) == 1)] == ["deflated"]


@pytest.mark.parametrize("encoding, compress", [("gzip", gzip.compress), ("identity", bytes)])
def test_raw_request_gets_an_empty_protobuf_response(receiver: OtlpReceiver, encoding: str,
                                                     compress: Callable[[bytes], bytes]) -> None:
    body = compress(export_request("raw").SerializeToString())
    headers = {**PROTOBUF, "Content-Encoding": encoding}
    response = requests.post(receiver.traces_endpoint, data=body, headers=headers, timeout=HTTP_TIMEOUT_SECONDS)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/x-protobuf"
    assert ExportTraceServiceResponse.FromString(response.content) == ExportTraceServiceResponse()
    [span] = receiver.spans()
    assert (span.name, span.kind, span.trace_id) == ("raw", "client", bytes(range(16)).hex())


@pytest.mark.parametrize("method, path, headers, body, status", [
    ("POST", "/v1/metrics", PROTOBUF, b"", 404),
    ("GET", "/v1/traces", {}, b"", 405),
    ("GET", "/", {}, b"", 404),
    ("POST", "/v1/traces", {"Content-Type": "application/json"}, b"{}", 415),
    ("POST", "/v1/traces", {**PROTOBUF, "Content-Encoding": "br"}, b"x", 415),
    ("POST", "/v1/traces", {**PROTOBUF, "Content-Encoding": "gzip"}, b"not gzip", 400),
    ("POST", "/v1/traces", PROTOBUF, b"\xff\xff\xff", 400),
])
def test_refuses_what_is_not_otlp_protobuf(receiver: OtlpReceiver, method: str, path: str,
                                           headers: dict[str, str], body: bytes, status: int) -> None:
    response = requests.request(method, receiver.endpoint + path, data=body, headers=headers,
                                timeout=HTTP_TIMEOUT_SECONDS)
    assert response.status_code == status
    assert Status.FromString(response.content).message  # OTLP's error body: a google.rpc.Status
    assert receiver.spans() == [] and receiver.requests_received() == 1


# --- failure controls ---------------------------------------------------------------------------
def test_export_fails_while_the_receiver_answers_503(receiver: OtlpReceiver) -> None:
    spans = finished_spans()
    exporter = OTLPSpanExporter(endpoint=receiver.traces_endpoint, timeout=EXPORT_TIMEOUT_SECONDS)
    receiver.set_status(503)
    assert exporter.export(spans) is SpanExportResult.FAILURE
    assert receiver.requests_received() >= 1 and receiver.spans() == []
    receiver.set_status(200)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert [span.name for span in receiver.spans()] == ["span-0"]
    exporter.shutdown()


def test_fail_next_is_retried_then_accepted(receiver: OtlpReceiver) -> None:
    exporter = OTLPSpanExporter(endpoint=receiver.traces_endpoint, timeout=HTTP_TIMEOUT_SECONDS)
    receiver.fail_next(2, 503, retry_after=0)
    assert exporter.export(finished_spans()) is SpanExportResult.SUCCESS
    assert receiver.requests_received() == 3 and len(receiver.spans()) == 1
    exporter.shutdown()


def test_a_non_retryable_error_fails_the_export_at_once(receiver: OtlpReceiver) -> None:
    exporter = OTLPSpanExporter(endpoint=receiver.traces_endpoint, timeout=HTTP_TIMEOUT_SECONDS)
    receiver.fail_next(1, 400)
    assert exporter.export(finished_spans()) is SpanExportResult.FAILURE
    assert receiver.requests_received() == 1
    assert exporter.export(finished_spans()) is SpanExportResult.SUCCESS
    exporter.shutdown()


def test_export_to_a_port_nobody_listens_on_fails() -> None:
    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{free_port()}/v1/traces", timeout=EXPORT_TIMEOUT_SECONDS)
    assert exporter.export(finished_spans()) is SpanExportResult.FAILURE
    exporter.shutdown()


# --- waiting and lifecycle ----------------------------------------------------------------------
def test_wait_for_times_out_with_a_summary(receiver: OtlpReceiver) -> None:
    requests.post(receiver.traces_endpoint, data=export_request("seen").SerializeToString(), headers=PROTOBUF,
                  timeout=HTTP_TIMEOUT_SECONDS)
    with pytest.raises(AssertionError, match=r"1 span\(s\) received: seen \(client\)"):
        receiver.wait_for(lambda spans: len(spans) > 1, timeout=0.1)


def test_clear_forgets_spans_and_requests(receiver: OtlpReceiver) -> None:
    requests.post(receiver.traces_endpoint, data=export_request("a", "b").SerializeToString(), headers=PROTOBUF,
                  timeout=HTTP_TIMEOUT_SECONDS)
    assert len(receiver.spans()) == 2
    receiver.clear()
    assert receiver.spans() == [] and receiver.requests_received() == 0


def test_close_frees_the_port_and_is_idempotent() -> None:
    receiver = OtlpReceiver()
    assert receiver.endpoint == f"http://127.0.0.1:{receiver.port}"
    receiver.close()
    receiver.close()
    with pytest.raises(requests.ConnectionError):
        requests.post(receiver.traces_endpoint, data=b"", headers=PROTOBUF, timeout=HTTP_TIMEOUT_SECONDS)
