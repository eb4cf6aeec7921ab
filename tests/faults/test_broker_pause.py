"""The broker hangs (SIGSTOP) for 10 s in the middle of a run, then resumes
(SIGCONT): no task is lost and no effect is repeated."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from collections import Counter
from pathlib import Path

import psutil
import pytest

from mesh import Client
from mesh.settings import Settings
from schemas.tasks import TaskStatus
from tests.e2e.processes import MeshProcess, wait_until_split
from tests.helpers import eventually

pytestmark = [pytest.mark.broker, pytest.mark.e2e]

ORDERS = "tests.faults.chaos_agents:orders"
PAYMENTS = "tests.faults.chaos_agents:payments"
TASKS = 300
PAUSE = 10.0


@pytest.fixture
def settings(broker_settings: Settings) -> Settings:
    return broker_settings.model_copy(update={"partitions": 2})


def broker_process(bootstrap_servers: str) -> psutil.Process:
    """The local broker serving `bootstrap_servers` (the embedded one), or skip."""
    port = bootstrap_servers.rsplit(":", 1)[-1]
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if "tansu" in (process.info["name"] or "") and f":{port}" in cmdline:
            return process
    pytest.skip(f"no local broker process serves {bootstrap_servers}; cannot pause it")


@pytest.mark.timeout(300)
async def test_a_hung_broker_loses_nothing_and_repeats_nothing(
    settings: Settings, client: Client, tmp_path: Path, ledger: Path
) -> None:
    broker = broker_process(settings.bootstrap_servers)
    env = {"CHAOS_LEDGER": str(ledger)}
    processes = [
        MeshProcess(spec, settings, tmp_path, f"{spec.rsplit(':', 1)[1]}-{i}", env)
        for i, spec in enumerate((ORDERS, PAYMENTS))
    ]
    try:
        await wait_until_split(processes, partitions={ORDERS: 2, PAYMENTS: 2})
        await eventually(
            lambda: {"chaos-orders", "chaos-payments"} <= set(client.view.agents),
            timeout=30,
            what="both agent cards",
        )

        async def submit_all() -> list[str]:
            ids = []
            for i in range(TASKS):
                ids.append(await client.submit("chaos-orders", {"order_id": f"p{i}"}))
                await asyncio.sleep(0.02)
            return ids

        submitting = asyncio.create_task(submit_all())

        def running_on_both() -> bool:
            under_way = {TaskStatus.RUNNING, TaskStatus.WAITING}
            agents = Counter(s.agent for s in client.view.tasks.values() if s.status in under_way)
            return min(agents["chaos-orders"], agents["chaos-payments"]) >= 5

        await eventually(running_on_both, timeout=30, what="tasks in flight on both agents")
        os.kill(broker.pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(PAUSE)
        finally:
            os.kill(broker.pid, signal.SIGCONT)
        order_ids = await submitting

        def all_ended() -> bool:
            states = (client.view.tasks.get(i) for i in order_ids)
            return all(s is not None and s.status.is_terminal for s in states)

        await eventually(all_ended, timeout=180, interval=0.5, what="every order to end")
    finally:
        for process in processes:
            process.stop()

    states = [client.view.tasks[i] for i in order_ids]
    assert Counter(s.status for s in states) == {TaskStatus.SUCCEEDED: TASKS}
    with sqlite3.connect(ledger) as db:
        charges = db.execute("SELECT COUNT(*), COUNT(DISTINCT order_id) FROM charges").fetchone()
    assert charges == (TASKS, TASKS)
