"""Exactly-once model calls across a crash (issue 15, guarantee 1; ADR 020): a `mesh
run` worker SIGKILLed between two model calls of a task, and the task finished by
another process, cost one request per logical call at the provider (the model
double, in this process, over real HTTP)."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesh import Client
from mesh.settings import Settings
from schemas.tasks import TaskStatus
from tests.e2e.processes import MeshProcess
from tests.faults.model_agents import Draft, part_label
from tests.helpers import eventually
from tests.model_double import ModelDouble, Reply

pytestmark = [pytest.mark.broker, pytest.mark.e2e]

WRITER = "tests.faults.model_agents:writer"
PARTS = 4
PAUSE_BEFORE = 2  # parts 0 and 1 are answered (and journaled) before the kill


@pytest.fixture
def settings(broker_settings: Settings) -> Settings:
    # Half the test profile's session: the failover waits for it, then half of it again
    # (the embedded broker holds a re-join that long).
    fast_failover = {"session_timeout": 3.0, "heartbeat_interval": 0.5, "rebalance_grace": 1.0}
    return broker_settings.model_copy(update={"partitions": 1, **fast_failover})


@pytest.fixture
def double() -> Iterator[ModelDouble]:
    with ModelDouble() as double:
        yield double


def one_owner(processes: list[MeshProcess]) -> bool:
    """Every process has joined the group, and one of them owns its one partition."""
    latest = []
    for p in processes:
        if p.proc.poll() is not None:
            raise AssertionError(f"{p.instance} exited early:\n{p.log()}")
        counts = p.assigned_counts()
        if not counts:
            return False
        latest.append(counts[-1])
    return sum(latest) == 1


async def test_a_worker_killed_between_model_calls_pays_each_call_once(
    settings: Settings, client: Client, double: ModelDouble, tmp_path: Path
) -> None:
    topic = f"story-{uuid.uuid4().hex[:8]}"
    double.script(*(Reply(content=f"answer {part}") for part in range(PARTS)))
    env = {"MESH_MODEL_ENDPOINT": double.url, "MESH_MODEL_NAME": "double-model"}
    gate = tmp_path / "gate"
    gate.mkdir()
    # Two workers from the start: the one that gets the partition runs the task and is
    # killed at the gate; the other, already up, takes the partition over (the
    # failover waits on the session timeout either way, not on a process start).
    processes = {
        name: MeshProcess(WRITER, settings, tmp_path, name, env) for name in ("w-1", "w-2")
    }

    def paused() -> list[str]:
        """The workers whose run of the task reached the gate."""
        return [n for n in processes if (gate / f"paused-{n}").exists()]

    try:
        await eventually(lambda: one_owner([*processes.values()]), timeout=30, what="the group")
        await eventually(lambda: "fault-writer" in client.view.agents, timeout=30, what="a card")
        draft = Draft(topic=topic, parts=PARTS, pause_before=PAUSE_BEFORE, gate=str(gate))
        task_id = await client.submit("fault-writer", draft)

        def paused_after_its_calls() -> bool:
            return bool(paused()) and double.calls_with(topic) == PAUSE_BEFORE

        await eventually(paused_after_its_calls, timeout=30, what="the first run to pause")
        victims = paused()
        assert len(victims) == 1, f"more than one run reached the gate: {victims}"
        victim = victims[0]
        processes[victim].stop(signal.SIGKILL)
        (gate / "resume").touch()
        state = await client.wait(task_id, timeout=60)
    finally:
        for process in processes.values():
            process.stop()

    assert state.status is TaskStatus.SUCCEEDED, state.error
    assert state.result is not None
    [survivor] = [n for n in processes if n != victim]
    assert state.result["instance"] == survivor
    assert sorted(paused()) == sorted(processes)  # the second run went through parts 0, 1
    # Parts 0 and 1 were replayed from the journal (no request, the same answers: the
    # prompts built on them matched); parts 2 and 3 were asked by the second run, once.
    per_part = [double.calls_with(part_label(topic, part)) for part in range(PARTS)]
    assert per_part == [1] * PARTS, per_part
    assert double.calls_with(topic) == PARTS
    assert state.result["answers"] == [f"answer {part}" for part in range(PARTS)]
