"""The dev file exporter and the tracing settings."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from mesh.errors import SettingsError
from mesh.settings import Settings, load_settings
from mesh.tracing import configure_tracing, consumer_span, shutdown_tracing
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
