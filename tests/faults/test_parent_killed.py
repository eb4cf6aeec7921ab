"""A parent process SIGKILLed after its children started: the replayed parent
re-attaches to them, and no child runs twice."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import pytest

from mesh import Client
from mesh.settings import Settings
from schemas.tasks import TaskStatus
from tests.e2e.processes import MeshProcess, wait_until_split
from tests.helpers import eventually

pytestmark = [pytest.mark.broker, pytest.mark.e2e]

PARENT = "tests.faults.chaos_agents:shop"
CHILD = "tests.faults.chaos_agents:payments"


@pytest.fixture
def settings(broker_settings: Settings) -> Settings:
    return broker_settings.model_copy(update={"partitions": 1})


async def test_a_killed_parent_reattaches_to_its_children(
    settings: Settings, client: Client, tmp_path: Path, ledger: Path
) -> None:
    env = {"CHAOS_LEDGER": str(ledger)}

    def start(spec: str, name: str) -> MeshProcess:
        return MeshProcess(spec, settings, tmp_path, name, env)

    first, payments = start(PARENT, "shop-1"), start(CHILD, "payments-1")
    processes = [first, payments]
    try:
        await wait_until_split(processes, partitions={PARENT: 1, CHILD: 1})
        await eventually(lambda: "chaos-shop" in client.view.agents, timeout=30, what="a card")
        task_id = await client.submit("chaos-shop", {"order_id": "basket", "items": 3})

        def children_done() -> bool:
            state = client.view.tasks.get(task_id)
            children = [client.view.tasks.get(c) for c in (state.children if state else [])]
            return len(children) == 3 and all(c and c.status.is_terminal for c in children)

        await eventually(children_done, timeout=30, what="three charges to succeed")
        # The parent's first run waits after its children end; kill it there.
        first.stop(signal.SIGKILL)
        second = start(PARENT, "shop-2")
        processes.append(second)
        state = await client.wait(task_id, timeout=60)
    finally:
        for process in processes:
            process.stop()

    assert state.status is TaskStatus.SUCCEEDED, state.error
    assert state.instance == "shop-2"
    assert state.result is not None and state.result["runs"] == 2
    assert len(state.children) == 3
    with sqlite3.connect(ledger) as db:
        child_runs = db.execute(
            "SELECT task_id, COUNT(*) FROM runs WHERE agent = 'chaos-payments' GROUP BY task_id"
        ).fetchall()
        charges = db.execute("SELECT COUNT(*) FROM charges").fetchone()[0]
    assert sorted(task for task, _ in child_runs) == sorted(state.children)
    assert all(count == 1 for _, count in child_runs), child_runs
    assert charges == 3
