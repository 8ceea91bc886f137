"""OpenTelemetry traces: a span per request, per Passport call and per Redis command — off by default.

``configure`` (called by ``create_app``, so once per gunicorn worker, after the fork: a batch
processor's thread started in the master would not survive it) builds a tracer provider from
``config.tracing`` when ``OTEL_*`` asks for traces. Then:

- every request is a SERVER span named by its method and route template, the child of the
  gateway's W3C ``traceparent`` when that is well formed (a malformed one starts a new trace; a
  ``tracestate`` beyond the W3C limits is dropped — both by OpenTelemetry's own W3C propagator);
  its attributes are the route, the status and the cache result;
- every Passport attempt is a CLIENT span (method, Passport's route template, status), and carries
  ``traceparent``/``tracestate`` to Passport, so that its traces join ours;
- every Redis command group (a read, a store-and-unlock script, a pipeline) is a CLIENT span;
- the trace id is written in log lines and audit events.

No span attribute holds a customer id, a key, a URL path, a header value or a token: routes are
templates, Redis spans name the operation and never the key.

Spans leave through a batch processor: a request only appends to its queue and never waits on the
collector; a full queue drops spans, and an export that fails drops its batch — both counted in
``passport_bff_trace_spans_dropped_total`` and logged at most once a minute. Context reaches
background refreshes and batch fetch threads because their executors run each task in a copy of
the submitter's context (``ContextExecutor``).

When tracing is off every function here returns after one module-global check: no span object, no
context switch, nothing on a hit's path but that check (``bench/instructions.py`` measures it).
"""
from __future__ import annotations

import contextvars
import logging
import re
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from app import metrics
from app.failure_report import FailureReport
from config.settings import TracingSettings

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

PROPAGATOR = TraceContextTextMapPropagator()  # W3C trace context only: baggage could carry personal data
INSTRUMENTATION = "passport_bff"
UUID_SEGMENT = re.compile(r"/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?=/|$)")

_tracer: trace.Tracer | None = None


# OpenTelemetry's W3C parsing warns about a bad tracestate quoting it: a caller's header in our logs.
QUIET_LOGGERS = ("opentelemetry.trace.span", "opentelemetry.trace.propagation.tracecontext")
# The SDK logs a line per dropped span and per failed export; FailureReport says it once a minute.
SDK_LOGGERS = ("opentelemetry.sdk._shared_internal", "opentelemetry.exporter.otlp.proto.http.trace_exporter",
               "opentelemetry.exporter.otlp.proto.http")


def configure(settings: TracingSettings) -> None:
    """Trace this process as ``settings`` say (the last app built in a process decides, as in tests)."""
    global _tracer
    _tracer = build_tracer(settings) if settings.enabled else None
    for name in (*QUIET_LOGGERS, *SDK_LOGGERS) if settings.enabled else ():
        logging.getLogger(name).setLevel(logging.CRITICAL)


def active() -> bool:
    return _tracer is not None


# --- requests ------------------------------------------------------------------------------------

class EnvironGetter(Getter[Mapping[str, Any]]):
    """Read W3C headers from a WSGI environ (``traceparent`` is ``HTTP_TRACEPARENT``)."""

    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        value = carrier.get("HTTP_" + key.upper().replace("-", "_"))
        return [value] if isinstance(value, str) else None

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return [name[5:].lower().replace("_", "-") for name in carrier if name.startswith("HTTP_")]


ENVIRON = EnvironGetter()


@dataclass(slots=True)
class RequestSpan:
    span: trace.Span
    token: object  # the context token to detach when the request ends


def begin_request(method: str, route: str, environ: Mapping[str, Any]) -> RequestSpan | None:
    """Start the request's SERVER span (child of the gateway's ``traceparent``) and make it current."""
    tracer = _tracer
    if tracer is None:
        return None
    parent = PROPAGATOR.extract(environ, getter=ENVIRON)
    span = tracer.start_span(f"{method} {route}", context=parent, kind=SpanKind.SERVER,
                             attributes={"http.request.method": method, "http.route": route})
    return RequestSpan(span, otel_context.attach(trace.set_span_in_context(span, parent)))


def end_request(request: RequestSpan | None, status: int, cache: str | None, route: str | None = None,
                method: str | None = None) -> None:
    """Say how the request ended and end its span; ``route`` renames it once Flask matched one."""
    if request is None:
        return
    span = request.span
    if route is not None and method is not None:
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if cache:
        span.set_attribute("passport_bff.cache", cache)
    if status >= 500:
        span.set_status(StatusCode.ERROR)
    span.end()
    otel_context.detach(request.token)  # type: ignore[arg-type]


# --- calls to Passport and Redis -----------------------------------------------------------------

def begin_client_span(name: str, attributes: Mapping[str, str | int]) -> trace.Span | None:
    """A CLIENT span, child of whatever is current (None when tracing is off)."""
    tracer = _tracer
    if tracer is None:
        return None
    return tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)


def end_client_span(span: trace.Span | None, status: int | None = None, error: BaseException | None = None) -> None:
    if span is None:
        return
    if status is not None:
        span.set_attribute("http.response.status_code", status)
    if error is not None or (status is not None and status >= 500):
        span.set_status(StatusCode.ERROR)
        if error is not None:
            span.set_attribute("error.type", type(error).__name__)  # the class only: messages may hold data
    span.end()


def passport_route(path: str) -> str:
    """Passport's route template for ``path``: no query, ids replaced (never a customer id in a span)."""
    return UUID_SEGMENT.sub("/{id}", path.partition("?")[0])


def inject(span: trace.Span | None, headers: MutableMapping[str, str]) -> None:
    """Add ``traceparent`` (and ``tracestate``) naming ``span`` to an outgoing request's headers."""
    if span is not None:
        PROPAGATOR.inject(headers, context=trace.set_span_in_context(span))


def current_trace_id() -> str | None:
    """The current trace id (32 hex digits) for log lines and audit events, or None."""
    if _tracer is None:
        return None
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


# --- background work -----------------------------------------------------------------------------

class ContextExecutor(ThreadPoolExecutor):
    """A thread pool whose tasks run in a copy of the submitter's context (its span, its request).

    Why: a background refresh or a batch's fetch belongs to the request that caused it; context
    variables do not cross into pool threads (nor gevent greenlets) by themselves.
    """

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        context = contextvars.copy_context()
        return super().submit(context.run, fn, *args, **kwargs)  # type: ignore[arg-type]


# --- the provider --------------------------------------------------------------------------------

def build_tracer(settings: TracingSettings) -> trace.Tracer:
    """A tracer provider of this app's own (not the global one), exporting in batches."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    resource = Resource.create({**dict(settings.resource_attributes), "service.name": settings.service_name})
    provider = TracerProvider(resource=resource, sampler=sampler_for(settings))
    provider.add_span_processor(counting_batch_processor(settings, exporter_for(settings)))
    return provider.get_tracer(INSTRUMENTATION)


def sampler_for(settings: TracingSettings) -> Any:
    from opentelemetry.sdk.trace import sampling

    root: sampling.Sampler
    if settings.sampler.endswith("always_on"):
        root = sampling.ALWAYS_ON
    elif settings.sampler.endswith("always_off"):
        root = sampling.ALWAYS_OFF
    else:
        root = sampling.TraceIdRatioBased(settings.sampler_ratio)
    return sampling.ParentBased(root) if settings.sampler.startswith("parentbased_") else root


def exporter_for(settings: TracingSettings) -> Any:
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    if settings.exporter == "console":
        return CountingExporter(ConsoleSpanExporter())
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return CountingExporter(OTLPSpanExporter(
        endpoint=settings.endpoint, headers=dict(settings.headers), timeout=settings.timeout_seconds,
        compression=Compression.Gzip if settings.compression == "gzip" else Compression.NoCompression,
    ))


class CountingExporter:
    """The exporter, with the spans it failed to deliver counted (and said once a minute)."""

    def __init__(self, exporter: Any) -> None:
        self._exporter = exporter
        self._report = FailureReport(log, "could not export %d spans (%s); dropped spans are counted in "
                                          "passport_bff_trace_spans_dropped_total")

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        try:
            result = self._exporter.export(spans)
        except Exception as error:  # noqa: BLE001 — a broken collector must never reach a request
            result, reason = SpanExportResult.FAILURE, type(error).__name__
        else:
            reason = "collector refused or unreachable"
        if result is SpanExportResult.SUCCESS:
            metrics.TRACE_SPANS_EXPORTED.inc(len(spans))
        else:
            metrics.TRACE_SPANS_DROPPED.labels("export-failed").inc(len(spans))
            self._report(len(spans), reason)
        return result

    def shutdown(self) -> None:
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return bool(self._exporter.force_flush(timeout_millis))


def counting_batch_processor(settings: TracingSettings, exporter: Any) -> Any:
    """OpenTelemetry's batch processor, with the spans a full queue drops counted."""
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    report = FailureReport(log, "the span queue is full (%d spans): dropping spans; the collector is slow or down")

    class CountingBatchSpanProcessor(BatchSpanProcessor):
        def on_end(self, span: Any) -> None:
            queue = self._batch_processor._queue  # SDK 1.45 (pinned): the deque that drops its oldest when full
            if len(queue) >= settings.max_queue_size:
                metrics.TRACE_SPANS_DROPPED.labels("queue-full").inc()
                report(settings.max_queue_size)
            super().on_end(span)

    return CountingBatchSpanProcessor(exporter, max_queue_size=settings.max_queue_size,
                                      schedule_delay_millis=settings.schedule_delay_millis,
                                      max_export_batch_size=min(settings.max_export_batch_size,
                                                                settings.max_queue_size))
