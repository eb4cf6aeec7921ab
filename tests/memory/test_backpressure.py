"""Back-pressure: tasks beyond max_inflight wait in a backlog; fetching pauses only
when the backlog is full, so control messages behind waiting tasks still arrive."""

from __future__ import annotations

from collections import Counter

from mesh import Agent, TaskContext
from mesh.settings import Settings
from mesh.testing import TestMesh
from mesh.topics import Topics
from schemas import decode_envelope
from schemas.tasks import TaskStatus
from tests.contract.behaviour_agents import Work
from tests.helpers import eventually, eventually_true, read_all

narrow = Agent("narrow", max_inflight=2)


@narrow.task
async def slow(ctx: TaskContext, request: Work) -> dict[str, object]:
    steer = await ctx.next_steer(timeout=request.seconds)
    return {"steered": steer.text if steer else None}


async def test_fetching_pauses_when_the_backlog_is_full(memory_settings: Settings) -> None:
    settings = memory_settings.model_copy(
        update={"partitions": 1, "fetch_max_records": 1, "max_backlog": 3}
    )
    async with TestMesh(narrow, settings=settings) as mesh:
        worker = mesh.workers[0]
        ids = [await mesh.client.submit("narrow", {"seconds": 0.5}) for _ in range(10)]
        await eventually(lambda: worker._fetching.paused, timeout=5, what="fetching to pause")
        peak = len(worker.running)
        assert peak == 5  # max_inflight 2 running + a backlog of 3

        def all_done() -> bool:
            nonlocal peak
            peak = max(peak, len(worker.running))
            return all(mesh.client.view.tasks[i].status is TaskStatus.SUCCEEDED for i in ids)

        await eventually(all_done, timeout=20, interval=0.01, what="every task to finish")
        assert peak == 5
        assert not worker._fetching.paused


async def test_steering_reaches_running_tasks_past_the_backlog(memory_settings: Settings) -> None:
    settings = memory_settings.model_copy(update={"partitions": 1, "fetch_max_records": 1})
    async with TestMesh(narrow, settings=settings) as mesh:
        view = mesh.client.view
        running = [await mesh.client.submit("narrow", {"seconds": 60}) for _ in range(2)]
        waiting = [await mesh.client.submit("narrow", {"seconds": 60}) for _ in range(20)]
        await eventually(
            lambda: all(view.tasks[i].status is TaskStatus.RUNNING for i in running),
            timeout=5,
            what="two running tasks",
        )
        for task_id in running + waiting:  # each steer sits behind the 20 waiting tasks
            await mesh.client.steer(task_id, "go")
        for task_id in running + waiting:
            state = await mesh.client.wait(task_id, timeout=10)
            assert state.status is TaskStatus.SUCCEEDED
            assert state.result == {"steered": "go"}
        # A steer is recorded in the background: its event may land after the state.
        expected = {task_id.encode(): 1 for task_id in running + waiting}
        steered: Counter[bytes] = Counter()

        async def all_steered() -> bool:
            nonlocal steered
            events = await read_all(mesh.transport, [Topics(settings.namespace).task_events])
            steered = Counter(
                r.key
                for r in events
                if decode_envelope(r.value or b"").payload["kind"] == "steered"
            )
            return steered == expected

        await eventually_true(all_steered, timeout=10, what="every steer's event")
    assert steered == {task_id.encode(): 1 for task_id in running + waiting}
