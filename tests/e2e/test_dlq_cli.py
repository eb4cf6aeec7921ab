"""`mesh dlq` as an operator runs it: a separate process against the real broker.

The agent runs in-process (`TestMesh` on the Kafka transport); each command is a
`python -m mesh dlq ...` child with the test's settings as MESH_* variables.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass

import pytest

from mesh.settings import Settings
from mesh.testing import TestMesh
from mesh.transport.kafka.adapter import KafkaTransport
from schemas.tasks import TaskStatus
from tests.conftest import ROOT, settings_env
from tests.contract.dlq_behaviour import fixable, park_rejected_and_poison
from tests.helpers import eventually

pytestmark = [pytest.mark.broker, pytest.mark.e2e]


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


async def mesh_cli(settings: Settings, *args: str) -> Run:
    """Run `mesh <args>` without blocking the loop (the in-process worker keeps going)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mesh",
        *args,
        cwd=ROOT,
        env=settings_env(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


async def test_list_show_replay_and_bad_input(broker_settings: Settings) -> None:
    settings = broker_settings.model_copy(update={"partitions": 1})  # ids 0:0, 0:1
    async with TestMesh(fixable, transport=KafkaTransport(settings), settings=settings) as m:
        rejected, poison = await park_rejected_and_poison(m)
        task_id = rejected.task_id
        assert task_id is not None
        listing, unknown_id, unknown_agent, no_selection = await asyncio.gather(
            mesh_cli(settings, "dlq", "list", "fixable"),
            mesh_cli(settings, "dlq", "show", "fixable", "7:7"),
            mesh_cli(settings, "dlq", "list", "nosuch"),
            mesh_cli(settings, "dlq", "replay", "fixable"),
        )
        replayed = await mesh_cli(settings, "dlq", "replay", "fixable", rejected.id, poison.id)
        await eventually(
            lambda: m.client.view.tasks[task_id].status is TaskStatus.SUCCEEDED,
            timeout=20,
            what="the replayed task to succeed",
        )

    assert listing.code == 0, listing.err
    header, *rows = listing.out.splitlines()
    assert header.split()[:3] == ["ID", "TASK", "TYPE"]
    assert rows[0].split()[:4] == ["0:0", task_id, "test.fixable", "1"]
    assert "Reject is permanent: not fixed yet (a)" in rows[0]
    assert rows[1].split()[:3] == ["0:1", "-", "-"] and "undecodable" in rows[1]

    for bad, message in [
        (unknown_id, "mesh: no dead letter 7:7"),
        (unknown_agent, "mesh: unknown agent 'nosuch'; registered agents: fixable"),
        (no_selection, "mesh: dlq replay: name the dead letters"),
    ]:
        assert bad.code == 2 and bad.out == "", bad
        assert bad.err.startswith(message) and bad.err.count("\n") == 1, bad.err

    assert replayed.code == 1, replayed.err  # one of the two could not be replayed
    sent, skipped = replayed.out.splitlines()
    assert sent.split() == ["replayed", "0:0", "task", task_id, "(replay", "1)"]
    assert skipped.split()[:2] == ["skipped", "0:1"] and "not an envelope" in skipped
