"""A worker stops accepting records once max_inflight plus one fetch are waiting."""

from __future__ import annotations

from mesh import Agent, TaskContext
from mesh.settings import Settings
from mesh.testing import TestMesh
from schemas.tasks import TaskStatus
from tests.contract.behaviour_agents import Work
from tests.helpers import eventually

narrow = Agent("narrow", max_inflight=2)


@narrow.task
async def slow(ctx: TaskContext, request: Work) -> None:
    await ctx.next_steer(timeout=request.seconds)


async def test_fetching_pauses_at_the_accept_bound(memory_settings: Settings) -> None:
    settings = memory_settings.model_copy(update={"partitions": 1, "fetch_max_records": 1})
    async with TestMesh(narrow, settings=settings) as mesh:
        worker = mesh.workers[0]
        ids = [await mesh.client.submit("narrow", {"seconds": 0.5}) for _ in range(10)]
        await eventually(lambda: worker._paused, timeout=5, what="fetching to pause")
        peak = len(worker.running)
        assert peak == 3  # max_inflight 2 running + one fetch waiting for a slot

        def all_done() -> bool:
            nonlocal peak
            peak = max(peak, len(worker.running))
            return all(mesh.client.view.tasks[i].status is TaskStatus.SUCCEEDED for i in ids)

        await eventually(all_done, timeout=20, interval=0.01, what="every task to finish")
        assert peak == 3
        assert not worker._paused
