"""The pause switch (ADR 039) on the real broker: agents in-process, the supervisor as
`mesh supervisor run`. Every wait is on a condition the mesh reports."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesh.errors import TransportError
from mesh.settings import Settings
from mesh.testing import TestMesh
from mesh.transport.kafka.adapter import KafkaTransport
from schemas import decode_envelope
from schemas.supervision import SupervisorStatus
from schemas.tasks import TaskStatus
from tests.e2e.processes import MeshProcess
from tests.e2e.sample_agents import fanout, sleeper
from tests.helpers import eventually, eventually_true, eventually_value, read_all

pytestmark = [pytest.mark.broker, pytest.mark.e2e]


@pytest.fixture
def settings(broker_settings: Settings) -> Settings:
    return broker_settings.model_copy(
        update={
            "liveness_interval": 0.5,
            "supervisor_check_interval": 0.5,
            "supervision_policies": {"default": {"park_after": 1}},
            # The embedded broker numbers a group's first generation 0, for which
            # aiokafka sends no LeaveGroup: a stopped worker's partitions move once its
            # session expires. A short one keeps the test short.
            "session_timeout": 3.0,
            "rebalance_grace": 1.0,
        }
    )


@pytest.fixture
def supervisor(settings: Settings, tmp_path: Path) -> Iterator[MeshProcess]:
    process = MeshProcess(
        "supervisor", settings, tmp_path, "supervisor-1", command=["supervisor", "run"]
    )
    yield process
    process.stop()


async def test_a_paused_type_starts_nothing_new_finishes_what_runs_and_is_no_fault(
    settings: Settings, supervisor: MeshProcess
) -> None:
    transport = KafkaTransport(settings)
    async with TestMesh(transport=transport, settings=settings) as m:
        client = m.client
        # Each worker its own instance id, as processes have: the supervisor keys them by
        # it. They join their groups together (each join takes seconds here).
        first, _ = await asyncio.gather(
            m.add_worker(fanout, _instance(settings, "fanout-1")),
            m.add_worker(sleeper, _instance(settings, "sleeper-1")),
        )
        running = await client.submit("fanout", {"children": 2, "seconds": 1.0})
        await eventually(
            lambda: client.view.tasks[running].status is TaskStatus.RUNNING,
            timeout=20,
            what="the first task to start",
        )
        await client.pause_agent("fanout", reason="maintenance")
        # The switch takes effect as each worker reads it, from its own topic: a task
        # that reaches the worker first starts (no order holds across two topics).
        await eventually(lambda: first._pause.paused, timeout=20, what="the worker to read it")
        held = await client.submit("fanout", {"children": 1, "seconds": 0.1})

        def held_because_paused() -> bool:
            return "paused (maintenance)" in (client.view.tasks[held].held or "")

        await eventually(held_because_paused, timeout=20, what="the new task to be held")
        # In flight, it finishes: its children's outcomes reach it while its type is paused.
        finished = await client.wait(running, timeout=30)
        assert finished.status is TaskStatus.SUCCEEDED, finished.error
        assert client.view.tasks[held].status is TaskStatus.SUBMITTED

        # No fanout worker left: for a running type the supervisor would park the task.
        await first.stop()
        submitted = client.view.tasks[held].created_at.timestamp()

        async def status() -> SupervisorStatus | None:
            try:
                records = await read_all(transport, [client.publisher.topics.supervisor_status])
            except TransportError:  # the supervisor has not made its topic yet
                return None
            reports = [
                SupervisorStatus.model_validate(decode_envelope(r.value or b"").payload)
                for r in records
            ]
            return reports[-1] if reports else None

        def judged_after_park_time(report: SupervisorStatus | None) -> bool:
            return (
                report is not None
                and report.paused == ["fanout"]
                and report.live_by_agent.get("fanout") == 0
                and report.at > submitted + 3.0  # park_after 1 s, checks every 0.5 s
            )

        report = await eventually_value(
            status, judged_after_park_time, timeout=60, what="the supervisor to judge the wait"
        )
        assert report is not None
        assert all(r.task_id != held for r in report.at_risk), report.at_risk
        assert all(a.task_id != held for a in report.recent_actions), report.recent_actions

        # A worker that starts while its type is paused holds the task too.
        await m.add_worker(fanout, _instance(settings, "fanout-2"))

        async def held_again() -> bool:
            return (await _kinds(m, held)).count("held") >= 2

        await eventually_true(held_again, timeout=30, what="the new worker to hold it too")
        assert client.view.tasks[held].status is TaskStatus.SUBMITTED
        assert "parked" not in await _kinds(m, held)

        await client.resume_agent("fanout")
        resumed = await client.wait(held, timeout=30)
        assert resumed.status is TaskStatus.SUCCEEDED, resumed.error


def _instance(settings: Settings, instance: str) -> Settings:
    return settings.model_copy(update={"instance_id": instance})


async def _kinds(m: TestMesh, task_id: str) -> list[str]:
    records = await read_all(m.transport, [m.client.publisher.topics.task_events])
    return [
        str(decode_envelope(r.value or b"").payload["kind"])
        for r in records
        if r.key == task_id.encode()
    ]
