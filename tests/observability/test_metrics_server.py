"""`MESH_METRICS_PORT`: 0 takes a free port (several workers on one host), -1 none, and
a taken port fails at start-up saying which setting to change."""

from __future__ import annotations

import socket
import urllib.request

import pytest

from mesh.errors import SetupError
from mesh.observability.metrics_server import serve_metrics
from mesh.settings import Settings


def test_port_zero_serves_on_a_free_port_each_time() -> None:
    first = serve_metrics(Settings(metrics_port=0), "test")
    second = serve_metrics(Settings(metrics_port=0), "test")
    assert first and second and first != second
    with urllib.request.urlopen(f"http://127.0.0.1:{first}/metrics", timeout=5) as answer:
        body = answer.read().decode()
    assert "# HELP mesh_task_transitions_total" in body
    assert "process_resident_memory_bytes" in body  # prometheus-client's process collector


def test_minus_one_serves_nothing() -> None:
    assert serve_metrics(Settings(metrics_port=-1), "test") is None


def test_a_taken_port_names_the_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SetupError, match="MESH_METRICS_PORT"):
            serve_metrics(Settings(metrics_port=port), "test")
