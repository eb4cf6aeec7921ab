"""SIGKILL chaos: orders and payments agents, two `mesh run` processes each, while a
loop kills a random one every few seconds and starts a replacement.

Invariants, not timings: every order and every charge reaches `succeeded`, each
task's terminal transition is recorded once (one terminal event id per task; a
re-run of the same request after a crash re-writes the same id), and the ledger
has exactly one charge per order.

The kills and the agents' pauses are seeded (the `chaos_seed` fixture): a failure
names its seed, and MESH_CHAOS_SEED=<seed> replays the same choices.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import signal
import sqlite3
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from mesh import Client
from mesh.settings import Settings
from schemas import decode_envelope
from schemas.tasks import TaskStatus
from tests.e2e.processes import MeshProcess, wait_until_split
from tests.helpers import eventually, read_all

pytestmark = [pytest.mark.broker, pytest.mark.e2e]

ORDERS = "tests.faults.chaos_agents:orders"
PAYMENTS = "tests.faults.chaos_agents:payments"
TASKS = 1_000
CHAOS_SECONDS = 12.0
TERMINAL = {"succeeded", "failed", "cancelled", "dead_lettered"}


@pytest.fixture
def settings(broker_settings: Settings) -> Settings:
    return broker_settings.model_copy(update={"partitions": 4, "max_inflight": 500})


class Fleet:
    """The agent processes, replaced as the chaos loop kills them."""

    def __init__(self, settings: Settings, log_dir: Path, ledger: Path, *, seed: int) -> None:
        self._settings = settings
        self._log_dir = log_dir
        self._env = {"CHAOS_LEDGER": str(ledger), "CHAOS_SEED": str(seed)}
        self._rng = random.Random(seed)
        self._names = itertools.count()
        self.live: list[MeshProcess] = []
        self.everyone: list[MeshProcess] = []
        self.kills = 0

    def start(self, spec: str) -> MeshProcess:
        name = f"{spec.rsplit(':', 1)[1]}-{next(self._names)}"
        process = MeshProcess(spec, self._settings, self._log_dir, name, self._env)
        self.live.append(process)
        self.everyone.append(process)
        return process

    def kill_one(self) -> None:
        victim = self._rng.choice(self.live)
        victim.stop(signal.SIGKILL)
        self.live.remove(victim)
        self.kills += 1
        self.start(victim.spec)

    async def kill_every_few_seconds(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            await asyncio.sleep(self._rng.uniform(3.0, 6.0))
            self.kill_one()

    def stop(self) -> None:
        for process in self.everyone:
            process.stop()


@pytest.mark.timeout(480)
async def test_sigkill_chaos_loses_no_task_and_repeats_no_effect(
    settings: Settings, client: Client, tmp_path: Path, ledger: Path, chaos_seed: int
) -> None:
    replay = f"(replay with MESH_CHAOS_SEED={chaos_seed})"
    fleet = Fleet(settings, tmp_path, ledger, seed=chaos_seed)
    try:
        for spec in (ORDERS, ORDERS, PAYMENTS, PAYMENTS):
            fleet.start(spec)
        await wait_until_split(fleet.live, partitions={ORDERS: 4, PAYMENTS: 4}, timeout=60)
        await eventually(
            lambda: {"chaos-orders", "chaos-payments"} <= set(client.view.agents),
            timeout=30,
            what="both agent cards",
        )
        chaos = asyncio.create_task(fleet.kill_every_few_seconds(CHAOS_SECONDS))
        order_ids = []
        for i in range(TASKS):  # paced over the chaos, so kills find tasks in flight
            order_ids.append(await client.submit("chaos-orders", {"order_id": f"o{i}"}))
            if i % 50 == 49:
                await asyncio.sleep(CHAOS_SECONDS * 0.8 * 50 / TASKS)
        await chaos

        def all_ended() -> bool:
            states = [client.view.tasks.get(i) for i in order_ids]
            ended = sum(s is not None and s.status.is_terminal for s in states)
            if time.monotonic() - last_report[0] > 10:
                last_report[0] = time.monotonic()
                print(f"chaos: {ended}/{TASKS} orders ended", flush=True)
            return ended == TASKS

        last_report = [time.monotonic()]
        await eventually(all_ended, timeout=240, interval=0.5, what=f"every order to end {replay}")
    finally:
        fleet.stop()

    states = [client.view.tasks[i] for i in order_ids]
    statuses = Counter(s.status for s in states)
    assert statuses == {TaskStatus.SUCCEEDED: TASKS}, f"{statuses} {replay}"
    charge_ids = [s.children[0] for s in states]
    assert all(len(s.children) == 1 for s in states), f"an order delegated twice {replay}"

    events = await read_all(client.transport, [client.publisher.topics.task_events])
    terminal_ids: dict[str, set[str]] = defaultdict(set)
    terminal_records = 0
    for record in events:
        envelope = decode_envelope(record.value or b"")
        if envelope.task_id is not None and envelope.payload.get("kind") in TERMINAL:
            terminal_ids[envelope.task_id].add(envelope.id)
            terminal_records += 1
    for task_id in [*order_ids, *charge_ids]:
        assert len(terminal_ids[task_id]) == 1, f"{task_id}: {terminal_ids[task_id]} {replay}"

    with sqlite3.connect(ledger) as db:
        charges = db.execute("SELECT COUNT(*), COUNT(DISTINCT order_id) FROM charges").fetchone()
        calls = db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
        reruns = db.execute(
            "SELECT COUNT(*) FROM (SELECT task_id FROM runs GROUP BY task_id HAVING COUNT(*) > 1)"
        ).fetchone()[0]
    assert charges == (TASKS, TASKS), f"charges, distinct orders: {charges} {replay}"
    print(
        f"\nchaos (seed {chaos_seed}): {fleet.kills} SIGKILLs; {reruns} tasks ran more than once; "
        f"{calls - TASKS} charge calls repeated (not replayed from the journal); "
        f"{terminal_records - 2 * TASKS} terminal events re-written under the same id"
    )
