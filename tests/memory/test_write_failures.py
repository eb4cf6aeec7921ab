"""A write the broker refuses is never a silent stall: bounded retries, then a visible
failure (the worker stops with `WorkerFailed`, a metric counts it, its record stays
uncommitted for the next owner); an outcome no retry can write is dead-lettered."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY as METRICS

from mesh import Agent, TaskContext
from mesh.errors import WorkerFailed
from mesh.runtime.worker import Worker
from mesh.settings import Settings
from mesh.testing import TestMesh
from mesh.topics import Topics
from schemas.tasks import TaskStatus
from tests.contract.behaviour_agents import Work, worker_agent
from tests.doubles import FailingPublishTransport
from tests.helpers import eventually, eventually_true, read_all


def _failures(agent: str, write: str) -> float:
    labels = {"agent": agent, "write": write}
    return METRICS.get_sample_value("mesh_worker_write_failures_total", labels) or 0.0


@pytest.fixture
def settings(memory_settings: Settings) -> Settings:
    return memory_settings.model_copy(
        update={"partitions": 1, "write_attempts": 3, "write_backoff": 0.01}
    )


async def _stopped(worker: Worker) -> WorkerFailed:
    task = worker._run_task
    assert task is not None
    await eventually(task.done, timeout=10, what="the worker to stop")
    with pytest.raises(WorkerFailed) as failed:
        await worker.stop()
    return failed.value


async def test_a_dead_letter_the_broker_refuses_stops_the_worker_uncommitted(
    settings: Settings,
) -> None:
    topics = Topics(settings.namespace)
    transport = FailingPublishTransport(topics.dead_letters("worker"))
    before = _failures("worker", "dead_letter")
    async with TestMesh(worker_agent, transport=transport, settings=settings) as mesh:
        [worker] = mesh.workers_of("worker")
        await transport.publish(topics.inbox("worker"), b"not an envelope", key=b"k")
        failed = await _stopped(worker)
        assert "dead_letter" in str(failed) and "refuses writes" in str(failed)
        assert transport.refused == 3  # MESH_WRITE_ATTEMPTS
        assert _failures("worker", "dead_letter") == before + 1
        [offsets] = await transport.offsets([topics.inbox("worker")], group="worker")
        assert offsets.committed is None or offsets.committed < offsets.end  # not lost

        transport.failures_left = 0  # the broker is back: the next worker parks the record
        await mesh.add_worker(worker_agent)

        async def parked() -> bool:
            return bool(await read_all(transport, [topics.dead_letters("worker")]))

        await eventually_true(parked, timeout=10, what="the record to be dead-lettered")


async def test_an_outcome_refused_a_few_times_is_written_by_a_rerun(settings: Settings) -> None:
    transport = FailingPublishTransport(Topics(settings.namespace).task_state, failures=0)
    async with TestMesh(worker_agent, transport=transport, settings=settings) as mesh:
        task_id = await mesh.client.submit("worker", {"label": "refused twice", "seconds": 0.2})
        transport.failures_left = 2  # the held start and the outcome go together
        state = await mesh.client.wait(task_id, timeout=20)
    assert state.status is TaskStatus.SUCCEEDED
    assert transport.refused == 2


async def test_an_outcome_the_broker_keeps_refusing_stops_the_worker(settings: Settings) -> None:
    transport = FailingPublishTransport(Topics(settings.namespace).task_state, failures=0)
    before = _failures("worker", "outcome")
    async with TestMesh(worker_agent, transport=transport, settings=settings) as mesh:
        [worker] = mesh.workers_of("worker")
        await mesh.client.submit("worker", {"label": "refused"})
        transport.failures_left = -1
        failed = await _stopped(worker)
        transport.failures_left = 0
    assert "recording the outcome" in str(failed)
    assert transport.refused == 3
    assert _failures("worker", "outcome") == before + 1


odd = Agent("odd")


@odd.task
async def odd_result(ctx: TaskContext, request: Work) -> dict[str, object]:
    if request.label == "a set":
        return {"tags": {"a", "b"}}  # not JSON: the outcome can never be written
    return {"label": request.label}


async def test_an_outcome_that_can_never_be_written_is_dead_lettered(settings: Settings) -> None:
    """A bug no re-run fixes ends the task `dead_lettered` with the reason; the worker
    goes on with the next task."""
    async with TestMesh(odd, settings=settings) as mesh:
        bad = await mesh.client.submit("odd", {"label": "a set"})
        state = await mesh.client.wait(bad, timeout=20)
        assert state.status is TaskStatus.DEAD_LETTERED
        assert state.error is not None and "TypeError" in state.error.message
        good = await mesh.client.submit("odd", {"label": "fine"})
        assert (await mesh.client.wait(good, timeout=20)).status is TaskStatus.SUCCEEDED
