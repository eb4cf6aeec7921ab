"""An idle worker's loops sleep and still keep their guarantees (ADR 054): its commit
loop waits for a record instead of going round every `commit_interval`, yet commits
an offset that finishes after it fell asleep; the workers of one process share one
liveness tick, yet each beats as its own record on its own interval."""

from __future__ import annotations

import asyncio

from mesh import Agent, Client, TaskContext
from mesh.runtime.worker_group import WorkerGroup
from mesh.settings import Settings
from mesh.testing import TestMesh
from mesh.topics import Topics
from mesh.transport.base import Delivery
from mesh.transport.memory import MemoryTransport
from mesh.views.follower import TopicFollower
from schemas import decode_envelope
from schemas.supervision import Heartbeat
from schemas.tasks import TaskStatus
from tests.contract.behaviour_agents import Work
from tests.helpers import eventually, eventually_true

gated = Agent("gated")
idle = Agent("idle")
_gate: dict[str, asyncio.Event] = {}  # the running test's, made on its loop


@gated.task
async def wait_for_the_gate(ctx: TaskContext, request: Work) -> dict[str, object]:
    await _gate["open"].wait()
    return {"through": True}


@idle.task
async def never_asked(ctx: TaskContext, request: Work) -> dict[str, object]:
    return {}


async def test_a_sleeping_commit_loop_commits_an_offset_that_finishes_later(
    memory_settings: Settings,
) -> None:
    _gate["open"] = asyncio.Event()
    async with TestMesh(gated, settings=memory_settings) as mesh:
        commits = mesh.workers[0]._commits
        await eventually(
            lambda: commits.sleeps >= 1 and commits.idle(), timeout=10, what="an idle loop"
        )
        task_id = await mesh.client.submit("gated", {})
        view = mesh.client.view
        await eventually(
            lambda: getattr(view.tasks.get(task_id), "status", None) is TaskStatus.RUNNING,
            timeout=10,
            what="the task to run",
        )
        asleep = commits.sleeps
        _gate["open"].set()
        assert (await mesh.client.wait(task_id, timeout=10)).result == {"through": True}
        topics = mesh.client.publisher.topics

        async def committed_past_the_task() -> bool:
            inbox = await mesh.transport.offsets(
                [topics.inbox("gated")], group=topics.group("gated")
            )
            return all(o.committed is not None and o.committed >= o.end for o in inbox if o.end)

        await eventually_true(committed_past_the_task, timeout=10, what="the task's commit")
        await eventually(lambda: commits.sleeps > asleep, timeout=10, what="asleep again")


class _Beats(TopicFollower):
    def __init__(self, transport: MemoryTransport, topic: str) -> None:
        super().__init__(transport, [topic], name="beats")
        self.seen: list[Heartbeat] = []

    def _on_record(self, record: Delivery) -> None:
        self.seen.append(Heartbeat.model_validate(decode_envelope(record.value or b"").payload))

    def of(self, agent: str) -> list[Heartbeat]:
        return [beat for beat in self.seen if beat.agent == agent]


async def test_workers_of_one_process_share_a_tick_and_beat_each_on_its_interval(
    memory_settings: Settings,
) -> None:
    # A 20 ms tick, and an idle interval no test outlasts: the idle worker's first beat
    # is its only one until it stops, however many ticks pass.
    settings = memory_settings.model_copy(
        update={"liveness_interval": 0.02, "liveness_idle_interval": 600.0}
    )
    _gate["open"] = asyncio.Event()
    transport = MemoryTransport()
    await transport.start()
    group = WorkerGroup([gated, idle], transport=transport, settings=settings)
    assert all(worker._liveness is group.liveness is not None for worker in group.workers)
    client = Client(transport, settings)
    beats = _Beats(transport, Topics(settings.namespace).heartbeats)
    run = asyncio.create_task(group.run())
    try:
        await eventually(lambda: group.not_ready_reason() is None, timeout=10, what="ready")
        await beats.start()
        await client.start()
        task_id = await client.submit("gated", {})

        def busy_beats() -> list[Heartbeat]:
            return [b for b in beats.of("gated") if b.inflight == 1]

        await eventually(lambda: len(busy_beats()) >= 4, timeout=10, what="busy beats")
        assert all(b.interval == 0.02 for b in busy_beats())
        assert [(b.inflight, b.interval) for b in beats.of("idle")] == [(0, 600.0)]
        _gate["open"].set()
        await client.wait(task_id, timeout=10)
    finally:
        _gate["open"].set()
        group.request_stop()
        await run
        await client.stop()
    await beats.catch_up()
    await beats.stop()
    await transport.stop()
    for agent in ("gated", "idle"):
        last = beats.of(agent)[-1]
        assert last.stopping and last.instance == settings.instance_id
    assert len(beats.of("idle")) == 2  # its first beat and its last: nothing between
