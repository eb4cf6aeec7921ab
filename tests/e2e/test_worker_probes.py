"""A `mesh run` worker's `/healthz` and `/readyz` (the Kubernetes probes of
deploy/k8s): ready once it joined its group and writes, not ready while it drains on
SIGTERM, alive all along, so Kubernetes lets it finish its tasks."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import httpx
import pytest

from mesh import Client
from mesh.settings import Settings
from schemas.tasks import TaskStatus
from tests.e2e.processes import MeshProcess
from tests.helpers import eventually, eventually_true

pytestmark = [pytest.mark.broker, pytest.mark.e2e]

SLEEPER = "tests.e2e.sample_agents:sleeper"
_METRICS_AT = re.compile(r"serves metrics at http://127\.0\.0\.1:(\d+)/metrics")


@pytest.fixture
def settings(broker_settings: Settings) -> Settings:
    return broker_settings.model_copy(update={"partitions": 1, "shutdown_grace": 30.0})


async def test_ready_once_joined_not_ready_while_draining_alive_throughout(
    settings: Settings, client: Client, tmp_path: Path
) -> None:
    worker = MeshProcess(SLEEPER, settings.model_copy(update={"metrics_port": 0}), tmp_path, "w1")
    answers: list[tuple[str, int, str]] = []  # (path, status, detail) as probed
    try:
        await eventually(
            lambda: _METRICS_AT.search(worker.log()) is not None, timeout=30, what="the port"
        )
        port = int(_METRICS_AT.search(worker.log()).group(1))  # type: ignore[union-attr]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:

            async def probed(path: str, status: int, detail: str = "") -> bool:
                try:
                    answer = await http.get(path, timeout=10)
                except httpx.TransportError:
                    return False  # not serving yet, or exited
                said = answer.json().get("detail", answer.json().get("status"))
                answers.append((path, answer.status_code, said))
                return answer.status_code == status and detail in said

            await eventually_true(lambda: probed("/readyz", 200), timeout=30, what="ready")
            assert await probed("/healthz", 200, "ok")

            task_id = await client.submit("sleeper", {"seconds": 2.0, "label": "long"})
            await eventually(
                lambda: (
                    task_id in client.view.tasks
                    and client.view.tasks[task_id].status is TaskStatus.RUNNING
                ),
                timeout=15,
                what="the long task to run",
            )
            worker.proc.send_signal(signal.SIGTERM)
            await eventually_true(
                lambda: probed("/readyz", 503, "draining"), timeout=5, what="not ready"
            )
            assert await probed("/healthz", 200, "ok"), "killed while draining: " + str(answers)

        state = await client.wait(task_id, timeout=30)
        assert state.status is TaskStatus.SUCCEEDED, "the drain let the task finish"
        assert worker.proc.wait(timeout=30) == 0
    finally:
        worker.stop()
    assert ("/readyz", 503, "draining: the worker stops and hands back its tasks") in answers
