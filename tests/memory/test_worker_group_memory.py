"""`WorkerGroup`: the workers of several agent types in one process (`mesh run A B`,
ADR 052) read their circuits and pause switches through one consumer, yet each type
keeps its own pause; the group is ready only when every worker is, and says which
worker is not."""

from __future__ import annotations

import asyncio

import pytest

from mesh import Agent, Client, TaskContext
from mesh.errors import UsageError
from mesh.runtime.worker_group import WorkerGroup
from mesh.settings import Settings
from mesh.transport.memory import MemoryTransport
from schemas.tasks import TaskStatus
from tests.contract.behaviour_agents import Work
from tests.helpers import eventually

alpha = Agent("alpha")
beta = Agent("beta")


@alpha.task
async def alpha_work(ctx: TaskContext, request: Work) -> dict[str, object]:
    return {"by": "alpha"}


@beta.task
async def beta_work(ctx: TaskContext, request: Work) -> dict[str, object]:
    return {"by": "beta"}


async def test_one_control_reader_for_the_process_and_a_pause_per_type(
    memory_settings: Settings,
) -> None:
    transport = MemoryTransport()
    await transport.start()
    group = WorkerGroup([alpha, beta], transport=transport, settings=memory_settings)
    client = Client(transport, memory_settings)
    await client.start()
    assert (group.not_ready_reason() or "").startswith("worker of 'alpha': joining")
    run = asyncio.create_task(group.run())
    try:
        await eventually(lambda: group.not_ready_reason() is None, timeout=10, what="ready")
        boards = [worker._pause._board for worker in group.workers]
        circuits = [worker._circuit for worker in group.workers]
        readers = {id(follower._reading) for follower in [*boards, *circuits]}
        assert len(readers) == 1, "one consumer reads every worker's control topics"

        await client.pause_agent("alpha", reason="test")
        await eventually(lambda: group.workers[0]._pause.paused, timeout=5, what="the pause")
        held, done = await client.submit("alpha", {}), await client.submit("beta", {})
        assert (await client.wait(done, timeout=5)).result == {"by": "beta"}
        await eventually(
            lambda: "is paused" in (getattr(client.view.tasks.get(held), "held", "") or ""),
            timeout=5,
            what="alpha's task held by its pause",
        )
        assert client.view.tasks[held].status is not TaskStatus.SUCCEEDED
        assert not group.workers[1]._pause.paused
        await client.resume_agent("alpha")
        assert (await client.wait(held, timeout=5)).result == {"by": "alpha"}

        group.workers[1].request_stop()
        await eventually(
            lambda: (group.not_ready_reason() or "").startswith("worker of 'beta': draining"),
            timeout=5,
            what="beta's drain to show",
        )
        assert not run.done(), "alpha's worker runs on"
    finally:
        group.request_stop()
        await run
        await client.stop()
        await transport.stop()
    assert group.control is not None and group.control._reader is None  # stopped


def test_an_agent_type_given_twice_is_refused_by_name(memory_settings: Settings) -> None:
    with pytest.raises(UsageError, match=r"^agent 'alpha' given twice: give each once$"):
        WorkerGroup([alpha, beta, alpha], transport=MemoryTransport(), settings=memory_settings)
