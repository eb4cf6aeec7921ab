"""OpenTelemetry traces across Kafka hops: one trace per task tree.

A worker handling a request opens a CONSUMER span whose parent is the W3C trace
context the request carries (`Envelope.traceparent`/`tracestate`, mirrored in the
Kafka headers); every record published inside it gets a PRODUCER span and carries
that span's context on. So a task, its delegations, retries, supervisor redispatches
(which re-send the request) and the gateway request that submitted it form one trace.

`MESH_TRACE_EXPORTER` picks where spans go: `none` (the default: no SDK provider, so
spans cost next to nothing), `console`, `file` (JSON lines in `MESH_TRACE_FILE`),
`otlp-http` or `otlp-grpc` (to `MESH_OTLP_ENDPOINT`). `MESH_TRACE_SAMPLE_RATIO` keeps
that share of task trees, each whole (a hop follows its sender's sampling flag).
Attributes follow the OpenTelemetry messaging conventions, plus `mesh.task_id`,
`mesh.correlation_id` and `mesh.agent`; never payloads.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson
from opentelemetry import context, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import (
    Event,
    ReadableSpan,
    SpanProcessor,
    TracerProvider,
)
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, TraceIdRatioBased
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from mesh.settings import Settings
from schemas import Envelope

_propagator = TraceContextTextMapPropagator()
_SCOPE = InstrumentationScope("mesh")
_UNSET = Status(StatusCode.UNSET)


@dataclass(frozen=True)
class _Pipeline:
    """Where this process's spans go: the SDK provider (producer and server spans) and
    its processor, which also takes the consumer spans built here (`consumer_span`)."""

    provider: TracerProvider
    tracer: Tracer
    processor: SpanProcessor
    sample_ratio: float


_pipeline: _Pipeline | None = None


def configure_tracing(settings: Settings, service: str) -> None:
    """Send this process's spans where the settings say (nothing by default)."""
    exporter = _exporter(settings)
    if exporter is None:
        return
    use_exporter(
        exporter,
        service=service,
        instance=settings.instance_id,
        sample_ratio=settings.trace_sample_ratio,
    )


def use_exporter(
    exporter: SpanExporter | None,
    *,
    service: str = "mesh",
    instance: str | None = None,
    sample_ratio: float = 1.0,
    batch: bool = True,
) -> None:
    """Trace to `exporter` (None: stop tracing), in batches off the event loop, or
    each span as it ends with `batch=False` (tests, with the SDK's in-memory exporter).
    The global provider is left alone, so libraries' spans stay off."""
    global _pipeline
    if _pipeline is not None:
        _pipeline.provider.shutdown()  # flushes what it holds
        _pipeline = None
    if exporter is None:
        return
    resource = {"service.name": service}
    if instance is not None:
        resource["service.instance.id"] = instance
    provider = TracerProvider(
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
        resource=Resource.create(resource),
    )
    processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    _pipeline = _Pipeline(provider, provider.get_tracer("mesh"), processor, sample_ratio)


def shutdown_tracing() -> None:
    use_exporter(None)


def _exporter(settings: Settings) -> SpanExporter | None:
    kind = settings.trace_exporter
    if kind == "none":
        return None
    if kind == "console":
        return ConsoleSpanExporter()
    if kind == "file":
        assert settings.trace_file is not None  # Settings refuses `file` without one
        return JsonLinesExporter(open(settings.trace_file, "ab"))
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

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._lock = threading.Lock()

    def export(self, spans: Any) -> SpanExportResult:
        lines = b"".join(orjson.dumps(_span_record(span)) + b"\n" for span in spans)
        with self._lock:
            self._out.write(lines)
            self._out.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._out.close()


def _span_record(span: ReadableSpan) -> dict[str, Any]:
    own, parent = span.context, span.parent
    return {
        "name": span.name,
        "trace_id": format(own.trace_id, "032x") if own else None,
        "span_id": format(own.span_id, "016x") if own else None,
        "parent_id": format(parent.span_id, "016x") if parent else None,
        "kind": span.kind.name,
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
        "service": span.resource.attributes.get("service.name"),
    }


def tracing_on() -> bool:
    return _pipeline is not None


class _Untraced:
    """The span of an untraced run: one shared object whose `__enter__`/`__exit__` are
    static, so a `with` around a waiting handler holds no bound method (ADR 049)."""

    @staticmethod
    def __enter__() -> None:
        return None

    @staticmethod
    def __exit__(*exc_info: object) -> None:
        return None


_UNTRACED = _Untraced()  # one shared object: see `consumer_span`


def consumer_span(
    request: Envelope, topic: str, agent: str
) -> contextlib.AbstractContextManager[None]:
    """The span of handling `request` (a task) read from `topic`, child of its sender.

    Untraced, one shared no-op: a waiting task holds no span machinery (ADR 033)."""
    pipeline = _pipeline
    if pipeline is None:
        return _UNTRACED
    return _consumer_span(pipeline, request, topic, agent)


@contextlib.contextmanager
def _consumer_span(
    pipeline: _Pipeline, request: Envelope, topic: str, agent: str
) -> Iterator[None]:
    """The span of handling `request` (a task) read from `topic`, child of its sender.

    Built here, not by the SDK's tracer: this span is on every hop, and the SDK's span
    object (locks, attribute validation, contexts) cost ~40 µs a hop, which with the
    collection of its garbage was most of the hop's tracing overhead (ADR 014). It is
    the `ReadableSpan` an ended SDK span hands to its processors, and sampling follows
    the provider's sampler: the sender's flag, or `MESH_TRACE_SAMPLE_RATIO` for a new
    trace."""
    parent = _remote_parent(request.traceparent, request.tracestate)
    if parent is not None:
        trace_id, flags = parent.trace_id, parent.trace_flags
    else:
        trace_id = random.getrandbits(128)
        sampled = _sampled_root(pipeline, trace_id)
        flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    own = SpanContext(
        trace_id,
        random.getrandbits(64),
        is_remote=False,
        trace_flags=flags,
        trace_state=parent.trace_state if parent is not None else None,
    )
    token = context.attach(trace.set_span_in_context(NonRecordingSpan(own)))
    start = time.time_ns()
    status, events = _UNSET, tuple[Event, ...]()
    try:
        yield
    except BaseException as exc:
        status = Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}")
        events = (_exception_event(exc),)
        raise
    finally:
        context.detach(token)
        if flags.sampled:
            attributes = _messaging(topic, request, "process")
            attributes["mesh.agent"] = agent
            attributes["mesh.attempt"] = request.attempt
            pipeline.processor.on_end(
                ReadableSpan(
                    name=f"{topic} process",
                    context=own,
                    parent=parent,
                    resource=pipeline.provider.resource,
                    attributes=attributes,
                    events=events,
                    kind=SpanKind.CONSUMER,
                    status=status,
                    start_time=start,
                    end_time=time.time_ns(),
                    instrumentation_scope=_SCOPE,
                )
            )


def _remote_parent(traceparent: str | None, tracestate: str | None) -> SpanContext | None:
    """The sender's span context in a W3C `traceparent` (None: absent or malformed)."""
    if not traceparent:
        return None
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    parent = trace.get_current_span(_propagator.extract(carrier)).get_span_context()
    return parent if parent.is_valid else None


def _sampled_root(pipeline: _Pipeline, trace_id: int) -> bool:
    """What the provider's sampler decides for a new trace (a ratio of trace ids)."""
    if pipeline.sample_ratio >= 1.0:
        return True
    result = pipeline.provider.sampler.should_sample(None, trace_id, "consumer")
    return result.decision is Decision.RECORD_AND_SAMPLE


def _exception_event(exc: BaseException) -> Event:
    return Event(
        "exception",
        {"exception.type": type(exc).__name__, "exception.message": str(exc)},
    )


@contextlib.contextmanager
def server_span(name: str, headers: dict[str, str]) -> Iterator[trace.Span | None]:
    """An incoming HTTP request's span (None when tracing is off), child of the
    caller's `traceparent` if it sent one."""
    pipeline = _pipeline
    if pipeline is None:
        yield None
        return
    parent = _propagator.extract(headers)
    with pipeline.tracer.start_as_current_span(name, context=parent, kind=SpanKind.SERVER) as span:
        yield span


def traced_for_send(topic: str, envelope: Envelope) -> tuple[Envelope, Any]:
    """`envelope` carrying a new PRODUCER span's context, and that span (to end once
    sent); unchanged with no span when tracing is off or nothing is being traced."""
    pipeline = _pipeline
    if pipeline is None or not trace.get_current_span().get_span_context().is_valid:
        return envelope, None
    span = pipeline.tracer.start_span(
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
    """The trace id of the mesh span current here; None when this process does not
    trace (then no mesh span is ever current, and the context lookup, ~4 us on every
    hop, is skipped: ADR 037)."""
    if _pipeline is None:
        return None
    span = trace.get_current_span().get_span_context()
    return format(span.trace_id, "032x") if span.is_valid else None


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id in a W3C `traceparent` (version-traceid-spanid-flags)."""
    parts = (traceparent or "").split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


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
