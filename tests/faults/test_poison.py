"""Poison mixed into a stream of good tasks, against a `mesh run` process: bad bytes,
an unknown type, a future schema version, an oversized record and a handler that
fails every attempt. Every good task completes; every poison record is in the
dead-letter queue with its reason; once the failing handler's cause is fixed,
`mesh dlq replay` completes that task."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from mesh import Client
from mesh.dlq import operate as dlq
from mesh.settings import Settings
from schemas import Envelope, encode_envelope
from schemas.envelope import new_id
from schemas.tasks import TaskStatus
from tests.conftest import ROOT, settings_env
from tests.e2e.processes import MeshProcess, wait_until_split
from tests.helpers import eventually

pytestmark = [pytest.mark.broker, pytest.mark.e2e]

PICKY = "tests.faults.chaos_agents:picky"
GOOD = 200
LIMIT = 64 * 1024  # the worker's MESH_MAX_MESSAGE_BYTES


@pytest.fixture
def settings(broker_settings: Settings) -> Settings:
    return broker_settings.model_copy(update={"partitions": 2})


def _poison(inbox_task: str) -> dict[str, bytes]:
    """The poison records, by the reason the dead-letter queue must give."""

    def request(**fields: object) -> bytes:
        return encode_envelope(Envelope(task_id=new_id(), **fields))

    return {
        "undecodable envelope": b"\xff\x00 not json at all",
        "does not handle 'chaos.unknown'": request(type="chaos.unknown", payload={}),
        "v9 is newer than the newest known v1": request(
            type=inbox_task, version=9, payload={"n": -1}
        ),
        "oversized": request(type=inbox_task, payload={"n": -2, "pad": "x" * (2 * LIMIT)}),
    }


async def test_poison_is_parked_with_reasons_and_a_fixed_task_replays(
    settings: Settings, client: Client, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    broken.write_text("the dependency is down")
    worker = MeshProcess(
        PICKY,
        settings.model_copy(update={"max_message_bytes": LIMIT}),
        tmp_path,
        "picky-1",
        {"PICKY_BROKEN": str(broken)},
    )
    try:
        await wait_until_split([worker], partitions={PICKY: 2})
        await eventually(lambda: "chaos-picky" in client.view.agents, timeout=30, what="card")
        inbox = client.publisher.topics.inbox("chaos-picky")
        good, failing = [], ""
        for n in range(GOOD):
            good.append(await client.submit("chaos-picky", {"n": n}))
            if n % 50 == 25:  # poison in the middle of the stream, fresh each time
                for value in _poison("chaos.pick").values():
                    await client.transport.publish(inbox, value, key=new_id().encode())
            if n == 100:
                failing = await client.submit("chaos-picky", {"n": n, "fail": True})
        states = [await client.wait(task_id, timeout=60) for task_id in good]
        assert {s.status for s in states} == {TaskStatus.SUCCEEDED}
        assert (await client.wait(failing, timeout=60)).status is TaskStatus.DEAD_LETTERED

        letters = await dlq.read_dead_letters(client.transport, settings, "chaos-picky")
        for reason in _poison("chaos.pick"):
            assert sum(reason in letter.reason for letter in letters) == 4, (reason, letters)
        failed = [letter for letter in letters if letter.task_id == failing]
        assert len(failed) == 1 and "failed all 2 attempts" in failed[0].reason
        assert failed[0].attempts == 2 and failed[0].error_type == "ValueError"

        broken.unlink()  # the fix
        replay = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mesh",
            "dlq",
            "replay",
            "chaos-picky",
            "--task",
            failing,
            cwd=ROOT,
            env=settings_env(settings),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(replay.communicate(), timeout=60)
        assert replay.returncode == 0, (out, err)

        def replayed_and_done() -> bool:
            state = client.view.tasks.get(failing)
            return state is not None and state.status is TaskStatus.SUCCEEDED

        await eventually(replayed_and_done, timeout=60, what="the replayed task to succeed")
    finally:
        worker.stop()
