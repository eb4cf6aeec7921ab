"""Handlers far slower than the consumer's poll interval: the worker keeps fetching
while they run, so the group does not rebalance and no effect repeats."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mesh import Client
from mesh.settings import Settings
from schemas.tasks import TaskStatus
from tests.e2e.processes import MeshProcess, wait_until_split
from tests.helpers import eventually

pytestmark = [pytest.mark.broker, pytest.mark.e2e]

SLEEPY = "tests.faults.chaos_agents:sleepy"
POLL_INTERVAL = 2.0
TASKS = 20


@pytest.fixture
def settings(broker_settings: Settings) -> Settings:
    return broker_settings.model_copy(update={"partitions": 2, "max_poll_interval": POLL_INTERVAL})


async def test_slow_handlers_cause_no_rebalance_and_no_repeat(
    settings: Settings, client: Client, tmp_path: Path, ledger: Path
) -> None:
    worker = MeshProcess(SLEEPY, settings, tmp_path, "sleepy-1", {"CHAOS_LEDGER": str(ledger)})
    try:
        await wait_until_split([worker], partitions={SLEEPY: 2})
        await eventually(lambda: "chaos-sleepy" in client.view.agents, timeout=30, what="card")
        ids = [
            await client.submit("chaos-sleepy", {"order_id": f"s{i}", "seconds": 4 * POLL_INTERVAL})
            for i in range(TASKS)
        ]
        states = [await client.wait(task_id, timeout=60) for task_id in ids]
        joins = worker.assigned_counts()
    finally:
        worker.stop()
    assert {s.status for s in states} == {TaskStatus.SUCCEEDED}
    assert len(joins) == 1, f"the group rebalanced: {worker.log()}"
    with sqlite3.connect(ledger) as db:
        runs = db.execute("SELECT COUNT(*), COUNT(DISTINCT task_id) FROM runs").fetchone()
        calls = db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    assert runs == (TASKS, TASKS) and calls == TASKS
