"""The dev file exporter and the tracing settings."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from mesh.errors import SettingsError
from mesh.observability.tracing import (
    configure_tracing,
    consumer_span,
    shutdown_tracing,
    traced_for_send,
    use_exporter,
)
from mesh.settings import Settings, load_settings
from schemas import Envelope


def test_the_file_exporter_writes_one_json_line_per_span(tmp_path: Path) -> None:
    spans = tmp_path / "spans.jsonl"
    settings = Settings(trace_exporter="file", trace_file=str(spans), instance_id="w-1")
    configure_tracing(settings, "triage")
    try:
        request = Envelope(type="t.request", task_id="task-1", correlation_id="corr-1")
        with consumer_span(request, "mesh.agent.triage", "triage"):
            pass
    finally:
        shutdown_tracing()  # flushes the batch
    [line] = spans.read_text().splitlines()
    span = orjson.loads(line)
    assert (span["name"], span["kind"], span["service"]) == (
        "mesh.agent.triage process",
        "CONSUMER",
        "triage",
    )
    assert span["attributes"]["mesh.task_id"] == "task-1"
    assert span["attributes"]["messaging.system"] == "kafka"
    assert len(span["trace_id"]) == 32 and span["parent_id"] is None


def test_a_file_exporter_without_a_file_fails_at_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MESH_TRACE_EXPORTER", "file")
    with pytest.raises(SettingsError, match="MESH_TRACE_EXPORTER=file needs MESH_TRACE_FILE"):
        load_settings()


def test_a_sampled_out_task_tree_records_no_span_and_its_children_follow(
    tmp_path: Path,
) -> None:
    spans = tmp_path / "spans.jsonl"
    settings = Settings(trace_exporter="file", trace_file=str(spans), trace_sample_ratio=0.0)
    configure_tracing(settings, "triage")
    try:
        root = Envelope(type="t.request", task_id="root")
        with consumer_span(root, "mesh.agent.triage", "triage"):
            child, span = traced_for_send("mesh.agent.orders", Envelope(type="t.child"))
        # The child carries the decision: a worker honouring its flag records nothing,
        # even where the ratio would keep it.
        assert span is None or not span.is_recording()
        assert child.traceparent is not None
        assert int(child.traceparent[-2:], 16) & 1 == 0  # the W3C `sampled` flag
    finally:
        shutdown_tracing()
    assert spans.read_text() == ""


def test_a_sample_ratio_outside_zero_to_one_fails_at_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MESH_TRACE_SAMPLE_RATIO", "1.5")
    with pytest.raises(
        SettingsError,
        match="MESH_TRACE_SAMPLE_RATIO: Input should be less than or equal to 1",
    ):
        load_settings()


def test_a_consumer_span_follows_its_senders_sampling_flag_and_records_a_failure() -> None:
    exported = InMemorySpanExporter()
    use_exporter(exported, batch=False, sample_ratio=0.0)  # no new trace is kept...
    sender = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    try:
        request = Envelope(type="t.request", task_id="task-1", traceparent=sender)
        with pytest.raises(RuntimeError), consumer_span(request, "mesh.agent.x", "x"):
            raise RuntimeError("the handler broke")
    finally:
        use_exporter(None)
    [span] = exported.get_finished_spans()  # ...but a sampled sender's trace is
    assert format(span.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert span.parent is not None and format(span.parent.span_id, "016x") == sender[36:52]
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "RuntimeError: the handler broke"
    assert [e.name for e in span.events] == ["exception"]
