"""`/healthz` and `/readyz` beside `/metrics` (mesh/observability/probes.py): liveness
asks the service's event loop to answer, readiness runs the service's check on it."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from mesh.observability.metrics_server import serve_metrics
from mesh.observability.probes import Probes
from mesh.settings import Settings


@pytest.fixture
def loop_in_thread() -> Iterator[asyncio.AbstractEventLoop]:
    """A service's event loop, running in its own thread as in a real process."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.close()


def get(port: int, path: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        assert refused.headers["Content-Type"] == "application/problem+json"
        return refused.code, json.loads(refused.read())


def test_a_starting_process_is_alive_and_not_ready() -> None:
    probes = Probes()
    port = serve_metrics(Settings(metrics_port=0), "test", probes=probes)
    assert port is not None
    assert get(port, "/healthz") == (200, {"status": "ok"})
    status, problem = get(port, "/readyz")
    assert status == 503
    assert problem["detail"] == "starting: not connected to the broker yet"


def test_readiness_is_the_services_answer_on_its_loop(
    loop_in_thread: asyncio.AbstractEventLoop,
) -> None:
    probes = Probes()
    port = serve_metrics(Settings(metrics_port=0), "test", probes=probes)
    assert port is not None
    asked_on: list[threading.Thread] = []
    reason: list[str | None] = ["draining: the worker stops"]

    def not_ready_reason() -> str | None:
        asked_on.append(threading.current_thread())
        return reason[0]

    probes.follow(loop_in_thread, not_ready_reason)
    status, problem = get(port, "/readyz")
    assert (status, problem["detail"]) == (503, "draining: the worker stops")
    reason[0] = None
    assert get(port, "/readyz") == (200, {"status": "ready"})
    assert asked_on and all(t is not threading.current_thread() for t in asked_on)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as metrics:
        assert "# HELP mesh_" in metrics.read().decode()


def test_a_blocked_loop_is_not_alive(loop_in_thread: asyncio.AbstractEventLoop) -> None:
    probes = Probes(loop_answer=0.2)
    probes.follow(loop_in_thread, lambda: None)
    assert probes.liveness().ok
    release = threading.Event()
    loop_in_thread.call_soon_threadsafe(release.wait)  # a handler calling blocking I/O
    try:
        answer = probes.liveness()
        assert answer.reason == "the event loop did not answer within 0.2 s: something blocks it"
        assert not probes.readiness().ok
    finally:
        release.set()
    assert probes.liveness().ok


def test_a_closed_loop_is_not_alive() -> None:
    loop = asyncio.new_event_loop()
    loop.close()
    probes = Probes()
    probes.follow(loop, lambda: None)
    assert probes.liveness().reason == "the event loop is closed: the service stopped"


def test_a_failing_check_is_reported_not_lost(loop_in_thread: asyncio.AbstractEventLoop) -> None:
    def broken() -> str | None:
        raise LookupError("no such partition")

    probes = Probes()
    probes.follow(loop_in_thread, broken)
    answer = probes.readiness()
    assert answer.reason == "the readiness check failed: LookupError: no such partition"
