"""`mesh run A B`: two agent types in one process (ADR 052), each in its own consumer
group. Both take tasks; the process is ready only once both workers are; SIGTERM
drains both (their running tasks finish) before the process exits."""

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

TYPES = ["tests.e2e.sample_agents:sleeper", "tests.e2e.sample_agents:napper"]
_METRICS_AT = re.compile(r"serves metrics at http://127\.0\.0\.1:(\d+)/metrics")


@pytest.fixture
def settings(broker_settings: Settings) -> Settings:
    return broker_settings.model_copy(update={"partitions": 1, "shutdown_grace": 30.0})


async def test_two_agent_types_in_one_process_take_tasks_and_drain_on_sigterm(
    settings: Settings, client: Client, tmp_path: Path
) -> None:
    with_metrics = settings.model_copy(update={"metrics_port": 0})
    process = MeshProcess("", with_metrics, tmp_path, "both", command=["run", *TYPES])
    try:
        await eventually(
            lambda: _METRICS_AT.search(process.log()) is not None, timeout=30, what="the port"
        )
        port = int(_METRICS_AT.search(process.log()).group(1))  # type: ignore[union-attr]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:

            async def readiness() -> tuple[int, str]:
                try:
                    answer = await http.get("/readyz", timeout=10)
                except httpx.TransportError:
                    return 0, ""  # not serving yet, or exited
                return answer.status_code, answer.json().get("detail", "")

            async def ready() -> bool:
                return (await readiness())[0] == 200

            await eventually_true(ready, timeout=30, what="both workers ready")
            quick = {
                a: await client.submit(a, {"seconds": 0, "label": a}) for a in ("sleeper", "napper")
            }
            for agent, task_id in quick.items():
                state = await client.wait(task_id, timeout=15)
                assert state.status is TaskStatus.SUCCEEDED and state.instance == "both", agent

            slow = [await client.submit(a, {"seconds": 1.5}) for a in ("sleeper", "napper")]
            await eventually(
                lambda: all(
                    t in client.view.tasks and client.view.tasks[t].status is TaskStatus.RUNNING
                    for t in slow
                ),
                timeout=15,
                what="a task of each type to run",
            )
            process.proc.send_signal(signal.SIGTERM)

            async def draining() -> bool:
                status, detail = await readiness()
                return status == 503 and detail.startswith("worker of 'sleeper': draining")

            await eventually_true(draining, timeout=5, what="not ready, naming the worker")
        for task_id in slow:
            state = await client.wait(task_id, timeout=30)
            assert state.status is TaskStatus.SUCCEEDED, "the drain let both types' tasks finish"
        assert process.proc.wait(timeout=30) == 0
    finally:
        process.stop()
    log = process.log()
    assert "worker both of 'sleeper' stopped" in log and "worker both of 'napper' stopped" in log
