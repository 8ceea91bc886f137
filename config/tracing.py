"""OpenTelemetry's standard ``OTEL_*`` variables, read once and validated like every other setting.

Tracing is off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``,
or ``OTEL_TRACES_EXPORTER``) asks for it, and ``OTEL_SDK_DISABLED=true`` turns it off whatever else
is set. The variables keep the meaning the OpenTelemetry specification gives them (SDK environment
variables and OTLP exporter configuration), so an operator's usual settings work unchanged; they
are read here rather than by the SDK itself so that a bad value stops the start naming the
variable, and so that ``create_app(environ)`` is configured by the environment it is given.

Only what this service ships is accepted: the OTLP/HTTP protobuf exporter (``otlp``) or
``console``; W3C trace context. ``OTEL_PROPAGATORS`` may list ``baggage`` (the specification's
default), but baggage is neither read nor sent on: it is free-form, and could carry personal data
to Passport.
"""
from __future__ import annotations

from urllib.parse import unquote

from config.readers import ConfigError, EnvReader
from config.settings import TracingSettings

DEFAULT_OTLP_ENDPOINT = "http://localhost:4318"
TRACES_PATH = "/v1/traces"
EXPORTERS = ("otlp", "console", "none")
SAMPLERS = ("always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off",
            "parentbased_traceidratio")
PROPAGATORS = ("tracecontext", "baggage")


def read_tracing(env: EnvReader) -> TracingSettings:
    """The tracing settings; ``exporter`` is ``none`` unless something asks for traces."""
    exporter = read_exporter(env)
    env.names("OTEL_PROPAGATORS", PROPAGATORS)
    sampler = (env.raw("OTEL_TRACES_SAMPLER") or "parentbased_always_on").lower()
    if sampler not in SAMPLERS:
        raise ConfigError(f"OTEL_TRACES_SAMPLER={sampler!r} is not one of: {', '.join(SAMPLERS)}")
    return TracingSettings(
        exporter=exporter,
        endpoint=read_traces_endpoint(env) if exporter == "otlp" else None,
        headers=parse_headers("OTEL_EXPORTER_OTLP_HEADERS", env.secret("OTEL_EXPORTER_OTLP_TRACES_HEADERS", None)
                              or env.secret("OTEL_EXPORTER_OTLP_HEADERS", None)),
        timeout_seconds=read_millis(env, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT", 10_000),
        compression=read_compression(env),
        service_name=env.text("OTEL_SERVICE_NAME", None) or "passport-bff",
        resource_attributes=parse_pairs("OTEL_RESOURCE_ATTRIBUTES", env.raw("OTEL_RESOURCE_ATTRIBUTES")),
        sampler=sampler,
        sampler_ratio=env.number("OTEL_TRACES_SAMPLER_ARG", 1.0, minimum=0.0, maximum=1.0),
        max_queue_size=env.integer("OTEL_BSP_MAX_QUEUE_SIZE", 2048, minimum=1),
        max_export_batch_size=env.integer("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512, minimum=1),
        schedule_delay_millis=env.integer("OTEL_BSP_SCHEDULE_DELAY", 5000, minimum=1),
    )


def read_exporter(env: EnvReader) -> str:
    if env.boolean("OTEL_SDK_DISABLED", False):
        return "none"
    asked = env.raw("OTEL_TRACES_EXPORTER")
    if asked is None:
        endpoint_set = env.raw("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.raw("OTEL_EXPORTER_OTLP_ENDPOINT")
        return "otlp" if endpoint_set else "none"
    if asked.lower() not in EXPORTERS:
        raise ConfigError(f"OTEL_TRACES_EXPORTER={asked!r} is not one of: {', '.join(EXPORTERS)}")
    return asked.lower()


def read_traces_endpoint(env: EnvReader) -> str:
    """The URL spans are posted to: the traces endpoint as given, else the base endpoint + /v1/traces."""
    for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        protocol = env.raw(name)
        if protocol is not None and protocol != "http/protobuf":
            raise ConfigError(f"{name}={protocol!r}: this service exports with OTLP over HTTP only (http/protobuf)")
    traces = env.url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", None)
    if traces is not None:
        return traces
    return (env.url("OTEL_EXPORTER_OTLP_ENDPOINT", None) or DEFAULT_OTLP_ENDPOINT) + TRACES_PATH


def read_millis(env: EnvReader, name: str, fallback: str, default: int) -> float:
    """A timeout given in milliseconds (as the specification says), in seconds."""
    chosen = name if env.raw(name) is not None else fallback
    return env.integer(chosen, default, minimum=1, maximum=600_000) / 1000


def read_compression(env: EnvReader) -> str | None:
    for name in ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"):
        value = env.raw(name)
        if value is not None:
            if value.lower() not in ("gzip", "none"):
                raise ConfigError(f"{name}={value!r} is not one of: gzip, none")
            return None if value.lower() == "none" else "gzip"
    return None


def parse_headers(name: str, value: str | None) -> tuple[tuple[str, str], ...]:
    """``key=value`` pairs sent with every export (often a credential: never echoed in errors)."""
    try:
        return parse_pairs(name, value)
    except ConfigError:
        raise ConfigError(f"{name} must be comma-separated key=value pairs") from None


def parse_pairs(name: str, value: str | None) -> tuple[tuple[str, str], ...]:
    """W3C-baggage-style ``key=value,key=value`` with percent-encoded values."""
    if not value:
        return ()
    pairs = []
    for item in (part.strip() for part in value.split(",") if part.strip()):
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{name} entry {item!r} must be key=value")
        pairs.append((key.strip(), unquote(raw.strip())))
    return tuple(pairs)
