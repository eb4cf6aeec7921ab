"""OpenTelemetry traces across Kafka hops: one trace per task tree.

A worker handling a request opens a CONSUMER span whose parent is the W3C trace
context the request carries (`Envelope.traceparent`/`tracestate`, mirrored in the
Kafka headers); every record published inside it gets a PRODUCER span and carries
that span's context on. So a task, its delegations, retries, supervisor redispatches
(which re-send the request) and the gateway request that submitted it form one trace.

`MESH_TRACE_EXPORTER` picks where spans go: `none` (the default: no SDK provider, so
spans cost next to nothing), `console`, `file` (JSON lines in `MESH_TRACE_FILE`),
`otlp-http` or `otlp-grpc` (to `MESH_OTLP_ENDPOINT`). Attributes follow the
OpenTelemetry messaging conventions, plus `mesh.task_id`, `mesh.correlation_id` and
`mesh.agent`; never payloads.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import IO, Any

import orjson
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from mesh.settings import Settings
from schemas import Envelope

_propagator = TraceContextTextMapPropagator()
_tracer: Tracer = trace.NoOpTracer()
_provider: TracerProvider | None = None


def configure_tracing(settings: Settings, service: str) -> None:
    """Send this process's spans where the settings say (nothing by default)."""
    exporter = _exporter(settings)
    if exporter is None:
        return
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": service, "service.instance.id": settings.instance_id}
        )
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    use_provider(provider)


def use_provider(provider: TracerProvider | None) -> None:
    """Trace through `provider` (None: stop tracing). Tests pass one with an in-memory
    exporter; the global provider is left alone, so libraries' spans stay off."""
    global _tracer, _provider
    if _provider is not None and _provider is not provider:
        _provider.shutdown()  # flushes what it holds
    _provider = provider
    _tracer = provider.get_tracer("mesh") if provider is not None else trace.NoOpTracer()


def shutdown_tracing() -> None:
    use_provider(None)


def _exporter(settings: Settings) -> SpanExporter | None:
    kind = settings.trace_exporter
    if kind == "none":
        return None
    if kind == "console":
        return ConsoleSpanExporter()
    if kind == "file":
        assert settings.trace_file is not None  # Settings refuses `file` without one
        return JsonLinesExporter(open(settings.trace_file, "a", encoding="utf-8"))
    if kind == "otlp-http":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=settings.otlp_endpoint)
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter as GrpcSpanExporter,
    )

    return GrpcSpanExporter(endpoint=settings.otlp_endpoint)


class JsonLinesExporter(SpanExporter):
    """Each finished span as one compact JSON line (the dev file exporter). Written with
    orjson from the span's fields: the SDK's `to_json` costs about five times as much,
    and the export thread shares the worker's interpreter."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._lock = threading.Lock()

    def export(self, spans: Any) -> SpanExportResult:
        lines = b"".join(orjson.dumps(_span_record(span)) + b"\n" for span in spans)
        with self._lock:
            self._out.write(lines.decode())
            self._out.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._out.close()


def _span_record(span: ReadableSpan) -> dict[str, Any]:
    context, parent = span.context, span.parent
    return {
        "name": span.name,
        "trace_id": format(context.trace_id, "032x") if context else None,
        "span_id": format(context.span_id, "016x") if context else None,
        "parent_id": format(parent.span_id, "016x") if parent else None,
        "kind": span.kind.name,
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
        "service": span.resource.attributes.get("service.name"),
    }


def tracing_on() -> bool:
    return _provider is not None


@contextlib.contextmanager
def consumer_span(request: Envelope, topic: str, agent: str) -> Iterator[None]:
    """The span of handling `request` (a task) read from `topic`, child of its sender."""
    if _provider is None:
        yield
        return
    parent = _propagator.extract(_carrier(request))
    with _tracer.start_as_current_span(
        f"{topic} process",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={
            **_messaging(topic, request, "process"),
            "mesh.agent": agent,
            "mesh.attempt": request.attempt,
        },
    ):
        yield


@contextlib.contextmanager
def server_span(name: str, headers: dict[str, str]) -> Iterator[trace.Span | None]:
    """An incoming HTTP request's span (None when tracing is off), child of the
    caller's `traceparent` if it sent one."""
    if _provider is None:
        yield None
        return
    parent = _propagator.extract(headers)
    with _tracer.start_as_current_span(name, context=parent, kind=SpanKind.SERVER) as span:
        yield span


def traced_for_send(topic: str, envelope: Envelope) -> tuple[Envelope, Any]:
    """`envelope` carrying a new PRODUCER span's context, and that span (to end once
    sent); unchanged with no span when tracing is off or nothing is being traced."""
    if _provider is None or not trace.get_current_span().get_span_context().is_valid:
        return envelope, None
    span = _tracer.start_span(
        f"{topic} send",
        kind=SpanKind.PRODUCER,
        attributes=_messaging(topic, envelope, "send"),
    )
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context=trace.set_span_in_context(span))
    traced = envelope.model_copy(
        update={"traceparent": carrier.get("traceparent"), "tracestate": carrier.get("tracestate")}
    )
    return traced, span


def current_trace_id() -> str | None:
    span = trace.get_current_span().get_span_context()
    return format(span.trace_id, "032x") if span.is_valid else None


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id in a W3C `traceparent` (version-traceid-spanid-flags)."""
    parts = (traceparent or "").split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


def _carrier(envelope: Envelope) -> dict[str, str]:
    carrier = {}
    if envelope.traceparent:
        carrier["traceparent"] = envelope.traceparent
    if envelope.tracestate:
        carrier["tracestate"] = envelope.tracestate
    return carrier


def _messaging(topic: str, envelope: Envelope, operation: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "messaging.system": "kafka",
        "messaging.destination.name": topic,
        "messaging.operation.type": operation,
        "messaging.message.id": envelope.id,
        "mesh.message_type": envelope.type,
    }
    if envelope.task_id:
        attributes["mesh.task_id"] = envelope.task_id
    if envelope.correlation_id:
        attributes["mesh.correlation_id"] = envelope.correlation_id
    return attributes
