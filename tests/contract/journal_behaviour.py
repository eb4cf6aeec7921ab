"""What the task journal must guarantee on every transport: a re-delivered request of
an ended run is skipped; a re-run task replays its completed steps and re-attaches
to the children it started; a retry replays steps too; a step's result has a size
limit; a task's inbox, retry and journal partitions have one owner.

Subclasses provide `transport_factory` and `settings`, as for `RuntimeBehaviour`.
"""

from __future__ import annotations

import uuid

from mesh.runtime.worker import Worker
from mesh.settings import Settings
from mesh.testing import TestMesh
from mesh.topics import Topics
from schemas import decode_envelope
from schemas.tasks import RESULT, TaskStatus
from tests.contract.behaviour_agents import (
    DURABLE_RUNS,
    EFFECTS,
    WORK_RUNS,
    durable,
    worker_agent,
)
from tests.contract.config import Factory
from tests.helpers import eventually, eventually_true, read_all


def _key() -> str:
    return uuid.uuid4().hex


class JournalBehaviour:
    async def test_a_redelivered_request_of_an_ended_task_is_skipped(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        key = _key()
        agents = (durable, worker_agent)
        async with TestMesh(*agents, transport=transport_factory(), settings=settings) as m:
            task_id = await m.client.submit("durable", {"key": key})
            assert (await m.client.wait(task_id, timeout=20)).status is TaskStatus.SUCCEEDED
            inbox = m.workers_of("durable")[0].inbox
            request = next(
                r
                for r in await read_all(m.transport, [inbox])
                if r.key == task_id.encode()
                and decode_envelope(r.value or b"").type == "test.durable"
            )
            # The very record again, as a broker re-delivers it after a crash.
            await m.transport.publish(
                inbox, request.value or b"", key=request.key, headers=request.headers
            )
            worker = m.workers_of("durable")[0]
            await eventually(lambda: worker.duplicates_skipped == 1, timeout=20, what="the skip")
            events = await read_all(m.transport, [m.client.publisher.topics.task_events])
        kinds = [
            decode_envelope(r.value or b"").payload["kind"]
            for r in events
            if r.key == task_id.encode()
        ]
        assert kinds.count("started") == 1 and kinds.count("succeeded") == 1, kinds
        assert EFFECTS[key] == 1 and DURABLE_RUNS[key] == 1 and WORK_RUNS[key] == 1

    async def test_a_rerun_replays_its_steps_and_reattaches_to_its_children(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        """The first run does its step, starts a child and is handed back uncommitted
        (its worker stops with no grace); the second worker's run replays the step
        from the journal and gets the child's outcome without starting it again."""
        key = _key()
        async with TestMesh(worker_agent, transport=transport_factory(), settings=settings) as m:
            first = await m.add_worker(
                durable, settings.model_copy(update={"shutdown_grace": 0, "instance_id": "a"})
            )
            task_id = await m.client.submit("durable", {"key": key, "hold": True})
            await eventually(lambda: bool(_child_of(m, task_id)), timeout=20, what="a child")
            child = _child_of(m, task_id)
            assert child is not None
            await m.client.wait(child, timeout=20)
            await eventually(
                lambda: _outcome_journaled(first, task_id, child),
                timeout=20,
                what="the child's outcome in the parent's journal",
            )
            await first.stop()
            m.workers.remove(first)
            await m.add_worker(durable, settings.model_copy(update={"instance_id": "b"}))
            state = await m.client.wait(task_id, timeout=30)
        assert state.status is TaskStatus.SUCCEEDED, state.error
        assert state.result == {"row": 1, "child": key, "runs": 2}
        assert state.instance == "b"
        assert EFFECTS[key] == 1, "the step ran again instead of replaying"
        assert WORK_RUNS[key] == 1, "the child ran twice"

    async def test_a_rerun_reads_a_childs_outcome_that_came_while_no_one_owned_it(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        """The parent's first run is handed back before its child ends, so the child's
        outcome waits in the inbox behind the parent's request. The next owner reads
        both in one fetch: the outcome is in its journal memory before the parent's
        re-run looks for the child (it must not wait for a result already read)."""
        key = _key()
        async with TestMesh(transport=transport_factory(), settings=settings) as m:
            first = await m.add_worker(
                durable, settings.model_copy(update={"shutdown_grace": 0, "instance_id": "a"})
            )
            task_id = await m.client.submit("durable", {"key": key, "hold": True})
            await eventually(lambda: bool(_child_of(m, task_id)), timeout=20, what="a child")
            child = _child_of(m, task_id)
            assert child is not None
            await first.stop()  # no worker of `worker` yet: the child has not run
            m.workers.remove(first)
            await m.add_worker(worker_agent)
            await m.client.wait(child, timeout=20)
            inbox = Topics(settings.namespace).inbox("durable")

            async def outcome_waits() -> bool:
                records = await read_all(m.transport, [inbox])
                return any(decode_envelope(r.value or b"").type == RESULT for r in records)

            await eventually_true(outcome_waits, timeout=20, what="the outcome in the inbox")
            await m.add_worker(durable, settings.model_copy(update={"instance_id": "b"}))
            state = await m.client.wait(task_id, timeout=30)
        assert state.status is TaskStatus.SUCCEEDED, state.error
        assert state.result == {"row": 1, "child": key, "runs": 2}
        assert WORK_RUNS[key] == 1, "the child ran twice"

    async def test_a_retry_replays_the_steps_of_the_failed_attempt(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        key = _key()
        agents = (durable, worker_agent)
        async with TestMesh(*agents, transport=transport_factory(), settings=settings) as m:
            task_id = await m.client.submit("durable", {"key": key, "fail_first_attempt": True})
            state = await m.client.wait(task_id, timeout=30)
        assert state.status is TaskStatus.SUCCEEDED, state.error
        assert state.attempt == 2 and DURABLE_RUNS[key] == 2
        assert EFFECTS[key] == 1

    async def test_a_step_result_over_the_limit_dead_letters_the_task(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        key = _key()
        small = settings.model_copy(update={"max_step_bytes": 1024})
        agents = (durable, worker_agent)
        async with TestMesh(*agents, transport=transport_factory(), settings=small) as m:
            task_id = await m.client.submit("durable", {"key": key, "step_bytes": 2000})
            state = await m.client.wait(task_id, timeout=20)
        assert state.status is TaskStatus.DEAD_LETTERED
        assert state.error is not None and "MESH_MAX_STEP_BYTES=1024" in state.error.message

    async def test_inbox_and_retry_partitions_of_a_number_have_one_owner(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        async with TestMesh(worker_agent, transport=transport_factory(), settings=settings) as m:
            second = await m.add_worker(
                worker_agent, settings.model_copy(update={"instance_id": "b"})
            )
            workers = m.workers_of("worker")
            await eventually(
                lambda: all(w.assignment() for w in workers), timeout=30, what="two owners"
            )
            await eventually(
                lambda: (
                    sum(len(w.assignment()) for w in workers)
                    == settings.partitions * (1 + len(settings.retry_tiers))
                ),
                timeout=30,
                what="the whole split",
            )
            for w in (m.workers[0], second):
                by_topic: dict[str, set[int]] = {}
                for tp in w.assignment():
                    by_topic.setdefault(tp.topic, set()).add(tp.partition)
                assert len({frozenset(p) for p in by_topic.values()}) == 1, by_topic
                assert w.journal.partitions() == by_topic[w.inbox]


def _child_of(m: TestMesh, task_id: str) -> str | None:
    state = m.client.view.tasks.get(task_id)
    return state.children[0] if state is not None and state.children else None


def _outcome_journaled(worker: Worker, task_id: str, child: str) -> bool:
    for partition in worker.journal.partitions():
        entries = worker.journal.entries(partition, task_id)
        entry = entries.children.get(child) if entries is not None else None
        if entry is not None and entry.outcome is not None:
            return True
    return False
