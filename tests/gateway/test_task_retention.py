"""Ended tasks leave the gateway's view a retention after they ended (ADR 031): a read
of one gets 410 naming the setting, an unknown id 404; tasks that have not ended, and
the children of a parent still in the view, stay. On the in-memory transport; the
tasks' records carry end times in the past, so nothing waits on the clock."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from mesh.gateway._index import TaskFilter
from mesh.runtime.publisher import Publisher
from mesh.settings import Settings, SettingsError, load_settings
from schemas import Envelope
from schemas.envelope import new_id, utc_now
from schemas.tasks import TASK_EVENT, TASK_STATE, EventKind, TaskEvent, TaskState, TaskStatus
from tests.gateway.memory_support import MemoryGateway, memory_gateway
from tests.helpers import eventually

RETENTION = 60.0
LONG_AGO = timedelta(hours=1)  # ended before the retention: due to leave at once


def task(
    status: TaskStatus, ended: datetime | None, *, parent: str | None = None, key: str = ""
) -> TaskState:
    at = ended or utc_now()
    return TaskState(
        task_id=new_id(),
        agent="retained",
        type="retained.task",
        status=status,
        parent_task_id=parent,
        correlation_id="flow-1",
        idempotency_key=key or None,
        created_at=at - timedelta(seconds=1),
        updated_at=at,
        finished_at=ended,
    )


async def publish(mesh: MemoryGateway, *states: TaskState) -> None:
    """Each state with an event, as the runtime writes them; returns once applied."""
    publisher: Publisher = mesh.gateway.client.publisher
    for state in states:
        event = TaskEvent(
            kind=EventKind.STARTED, agent=state.agent, status=state.status, at=state.updated_at
        )
        for topic, type_, payload in (
            (publisher.topics.task_events, TASK_EVENT, event),
            (publisher.topics.task_state, TASK_STATE, state),
        ):
            envelope = Envelope(
                type=type_, task_id=state.task_id, payload=payload.model_dump(mode="json")
            )
            await publisher.send(topic, envelope, key=state.task_id)
    await mesh.gateway.view.catch_up()


def retained(retention: float = RETENTION) -> Settings:
    return Settings(gateway_task_retention=retention)


async def test_an_ended_task_leaves_after_the_retention_and_reads_410() -> None:
    async with memory_gateway(settings=retained()) as mesh:
        view = mesh.gateway.view
        ended = task(TaskStatus.SUCCEEDED, utc_now() - LONG_AGO, key="k-1")
        await publish(mesh, ended)
        await eventually(lambda: ended.task_id not in view.tasks, timeout=10, what="eviction")

        gone = await mesh.http.get(f"/v1/tasks/{ended.task_id}")
        assert gone.status_code == 410
        assert gone.headers["content-type"] == "application/problem+json"
        assert "MESH_GATEWAY_TASK_RETENTION=60 s" in gone.json()["detail"]
        assert (await mesh.http.get(f"/v1/tasks/{ended.task_id}/events")).status_code == 410
        # Nothing keeps it: events, idempotency key, every index.
        assert ended.task_id not in view.events
        assert ("retained", "k-1") not in view.by_idempotency_key
        assert len(view.index) == 0
        assert view.page(TaskFilter(correlation="flow-1"), before=None, limit=9) == []
        listed = (await mesh.http.get("/v1/tasks?agent=retained")).json()
        assert listed["tasks"] == []


async def test_an_unknown_id_reads_404_naming_the_retention() -> None:
    async with memory_gateway(settings=retained()) as mesh:
        missing = await mesh.http.get(f"/v1/tasks/{new_id()}")
        assert missing.status_code == 404
        assert "MESH_GATEWAY_TASK_RETENTION" in missing.json()["detail"]


async def test_running_and_recently_ended_tasks_and_children_of_a_running_parent_stay() -> None:
    async with memory_gateway(settings=retained()) as mesh:
        view = mesh.gateway.view
        long_ago = utc_now() - LONG_AGO
        running = task(TaskStatus.RUNNING, None)
        child = task(TaskStatus.SUCCEEDED, long_ago, parent=running.task_id)
        recent = task(TaskStatus.FAILED, utc_now())
        evicted = task(TaskStatus.CANCELLED, long_ago)
        await publish(mesh, running, child, recent, evicted)
        await eventually(lambda: evicted.task_id not in view.tasks, timeout=10, what="eviction")
        for kept in (running, child, recent):
            assert (await mesh.http.get(f"/v1/tasks/{kept.task_id}")).status_code == 200

        # The parent ends (long ago too): it leaves, and its child with it.
        ended_parent = running.model_copy(
            update={
                "status": TaskStatus.SUCCEEDED,
                "finished_at": long_ago,
                "children": [child.task_id],
            }
        )
        await publish(mesh, ended_parent)
        await eventually(lambda: running.task_id not in view.tasks, timeout=10, what="parent")
        await eventually(lambda: child.task_id not in view.tasks, timeout=10, what="child")
        assert view.page(TaskFilter(), before=None, limit=9) == [recent]


def test_a_retention_below_one_second_is_refused_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="MESH_GATEWAY_TASK_RETENTION") as refused:
        load_settings(gateway_task_retention=0)
    assert "greater than or equal to 1" in str(refused.value)
