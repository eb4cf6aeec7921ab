"""What the agent runtime must do on every transport.

Subclasses provide `transport_factory` (a fresh, unstarted transport per call) and
`settings` (a fresh namespace per test).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from mesh.observability.tracing import use_exporter
from mesh.settings import Settings
from mesh.testing import TestMesh
from mesh.topics import Topics
from schemas import Envelope, decode_envelope, encode_envelope, header_names
from schemas.envelope import new_id
from schemas.supervision import CIRCUIT_STATE, CircuitState
from schemas.tasks import CANCEL, REDISPATCH, Cancel, Redispatch, TaskStatus
from tests.contract.behaviour_agents import (
    WORK_RUNS,
    Noticed,
    boss,
    chief,
    listener,
    worker_agent,
)
from tests.contract.config import Factory
from tests.helpers import (
    eventually,
    eventually_true,
    eventually_value,
    most_at_once,
    read_all,
    running_intervals,
)


class RuntimeBehaviour:
    async def test_a_task_succeeds_with_its_result(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        async with TestMesh(worker_agent, transport=transport_factory(), settings=settings) as m:
            task_id = await m.client.submit("worker", {"label": "hello"})
            state = await m.client.wait(task_id, timeout=20)
        assert state.status is TaskStatus.SUCCEEDED
        assert state.result == {"label": "hello"}
        assert state.started_at is not None and state.finished_at is not None
        assert state.root_task_id == task_id and state.parent_task_id is None

    async def test_a_short_task_writes_its_start_with_its_outcome(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        """Started is held until the next record (or `start_record_delay`), so a short
        task writes one state record fewer; a quiet long one still shows `running`."""
        async with TestMesh(worker_agent, transport=transport_factory(), settings=settings) as m:
            short = await m.client.submit("worker", {"label": "short"})
            quiet = await m.client.submit("worker", {"seconds": 1.0})
            for task_id in (short, quiet):
                await m.client.wait(task_id, timeout=20)
            topics = Topics(settings.namespace)
            records = await read_all(m.transport, [topics.task_events, topics.task_state])

        def history(task_id: str, topic: str, field: str) -> list[str]:
            mine = [r for r in records if r.key == task_id.encode() and r.topic == topic]
            return [decode_envelope(r.value or b"").payload[field] for r in mine]

        lifecycle = ["submitted", "started", "succeeded"]
        assert history(short, topics.task_events, "kind") == lifecycle
        assert history(short, topics.task_state, "status") == ["submitted", "succeeded"]
        assert history(quiet, topics.task_events, "kind") == lifecycle
        assert history(quiet, topics.task_state, "status") == ["submitted", "running", "succeeded"]

    async def test_children_run_in_parallel_and_are_listed(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        agents = (boss, worker_agent)
        async with TestMesh(*agents, transport=transport_factory(), settings=settings) as m:
            task_id = await m.client.submit("boss", {"children": 10, "seconds": 0.2, "meet": True})
            state = await m.client.wait(task_id, timeout=40)
            children = [await m.client.get(c) for c in state.children]
        assert state.status is TaskStatus.SUCCEEDED, state.error
        assert sorted(state.result["labels"], key=int) == [str(i) for i in range(10)]  # type: ignore[index]
        assert len(children) == 10
        peak = most_at_once(children)
        assert peak == 10, f"at most {peak} at once: {running_intervals(children)}"
        assert all(c.parent_task_id == task_id and c.root_task_id == task_id for c in children)

    async def test_a_child_failure_reaches_the_parent_as_an_exception(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        agents = (boss, worker_agent)
        async with TestMesh(*agents, transport=transport_factory(), settings=settings) as m:
            task_id = await m.client.submit("boss", {"children": 2, "fail_child": True})
            state = await m.client.wait(task_id, timeout=20)
        assert state.status is TaskStatus.SUCCEEDED
        # Both children fail; whichever fails first is the error the parent sees.
        assert state.result in (
            {"fallback": True, "error": f"ValueError: asked to fail ({i}) (failed all 3 attempts)"}
            for i in (0, 1)
        )

    async def test_a_failing_task_is_retried_until_it_succeeds(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        async with TestMesh(worker_agent, transport=transport_factory(), settings=settings) as m:
            task_id = await m.client.submit("worker", {"fail_before_attempt": 3})
            state = await m.client.wait(task_id, timeout=20)
            events = await self._events_of(m, task_id)
        assert state.status is TaskStatus.SUCCEEDED and state.attempt == 3
        retries = [e for e in events if e["kind"] == "retry_scheduled"]
        assert [e["attempt"] for e in retries] == [2, 3]
        assert [e["error"]["message"] for e in retries] == ["attempt 1 fails", "attempt 2 fails"]

    async def test_rejected_and_exhausted_tasks_are_dead_lettered_with_provenance(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        async with TestMesh(worker_agent, transport=transport_factory(), settings=settings) as m:
            rejected = await m.client.submit("worker", {"reject": True, "label": "r"})
            exhausted = await m.client.submit("worker", {"fail": True, "label": "x"})
            states = [await m.client.wait(t, timeout=20) for t in (rejected, exhausted)]
            dlq = m.client.publisher.topics.dead_letters("worker")
            parked = await read_all(m.transport, [dlq])
        assert [s.status for s in states] == [TaskStatus.DEAD_LETTERED] * 2
        assert states[0].error is not None
        assert states[0].error.message == "Reject is permanent: rejected (r)"
        headers = {r.key: r.headers for r in parked}
        reject, exhaust = headers[rejected.encode()], headers[exhausted.encode()]
        assert (reject[header_names.DLQ_ATTEMPTS], reject[header_names.DLQ_ERROR_TYPE]) == (
            b"1",
            b"Reject",
        )
        assert exhaust[header_names.DLQ_ATTEMPTS] == b"3"
        assert (
            exhaust[header_names.DLQ_REASON]
            == b"ValueError: asked to fail (x) (failed all 3 attempts)"
        )
        assert exhaust[header_names.DLQ_ORIGINAL_TOPIC].startswith(
            f"{settings.namespace}.".encode()
        )
        assert b"in work" in exhaust[header_names.DLQ_TRACEBACK_DIGEST]  # the raising function
        first = exhaust[header_names.DLQ_FIRST_FAILURE]
        assert (
            first < exhaust[header_names.DLQ_LAST_FAILURE]
        )  # ISO times: first attempt's is earlier

    async def test_a_waiting_retry_does_not_hold_up_its_partition(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        one_partition = settings.model_copy(update={"partitions": 1})
        mesh = TestMesh(worker_agent, transport=transport_factory(), settings=one_partition)
        async with mesh as m:
            later = await m.client.submit("worker", {"retry_after": 30.0})
            await eventually(
                lambda: m.client.view.tasks[later].status is TaskStatus.RETRYING,
                timeout=10,
                what="the retry to be scheduled",
            )
            quick = [await m.client.submit("worker", {"label": str(i)}) for i in range(10)]
            for task_id in quick:
                assert (await m.client.wait(task_id, timeout=20)).status is TaskStatus.SUCCEEDED
            assert m.client.view.tasks[later].status is TaskStatus.RETRYING
            events = await self._events_of(m, later)
        (retry,) = [e for e in events if e["kind"] == "retry_scheduled"]
        delay = datetime.fromisoformat(retry["retry_at"]) - datetime.fromisoformat(retry["at"])
        assert timedelta(seconds=29) < delay <= timedelta(seconds=30)  # the handler's hint

    @staticmethod
    async def _events_of(m: TestMesh, task_id: str) -> list[dict[str, Any]]:
        topic = m.client.publisher.topics.task_events
        records = await read_all(m.transport, [topic])
        mine = [r for r in records if r.key == task_id.encode()]
        return [decode_envelope(r.value or b"").payload for r in mine]

    async def test_progress_shows_while_the_task_runs(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        async with TestMesh(worker_agent, transport=transport_factory(), settings=settings) as m:
            task_id = await m.client.submit("worker", {"progress_steps": 3, "seconds": 2})
            await eventually(
                lambda: (
                    len(m.client.view.tasks[task_id].progress) == 3
                    and m.client.view.tasks[task_id].status is TaskStatus.RUNNING
                ),
                timeout=10,
                what="three progress entries while running",
            )
            state = await m.client.wait(task_id, timeout=20)
        assert [p.data["step"] for p in state.progress] == [0, 1, 2]

    async def test_steering_reaches_a_running_task(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        async with TestMesh(worker_agent, transport=transport_factory(), settings=settings) as m:
            task_id = await m.client.submit("worker", {"wait_for_steer": True})
            await m.client.view.wait_for(task_id, terminal=False, timeout=10)
            await eventually(
                lambda: m.client.view.tasks[task_id].status is TaskStatus.RUNNING,
                timeout=10,
                what="the task to run",
            )
            await m.client.steer(task_id, "shorter, please")
            state = await m.client.wait(task_id, timeout=20)
        assert state.result == {"steered": "shorter, please"}

    async def test_cancelling_a_parent_cancels_its_children(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        agents = (boss, worker_agent)
        async with TestMesh(*agents, transport=transport_factory(), settings=settings) as m:
            parent = await m.client.submit("boss", {"children": 2, "seconds": 60})

            def children_running() -> bool:
                state = m.client.view.tasks.get(parent)
                return (
                    state is not None
                    and len(state.children) == 2
                    and all(
                        (c := m.client.view.tasks.get(child)) is not None
                        and c.status is TaskStatus.RUNNING
                        for child in state.children
                    )
                )

            await eventually(children_running, timeout=15, what="two running children")
            await m.client.cancel(parent, "no longer needed")
            state = await m.client.wait(parent, timeout=15)
            children = [await m.client.wait(c, timeout=15) for c in state.children]
        assert state.status is TaskStatus.CANCELLED
        assert state.error is not None and state.error.message == "no longer needed"
        assert {c.status for c in children} == {TaskStatus.CANCELLED}

    async def test_a_long_task_does_not_hold_up_its_partition(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        one_partition = settings.model_copy(update={"partitions": 1})
        mesh = TestMesh(worker_agent, transport=transport_factory(), settings=one_partition)
        async with mesh as m:
            slow = await m.client.submit("worker", {"seconds": 60})
            await eventually(
                lambda: m.client.view.tasks[slow].status is TaskStatus.RUNNING,
                timeout=10,
                what="the slow task to run",
            )
            quick = [await m.client.submit("worker", {"label": str(i)}) for i in range(20)]
            for task_id in quick:
                assert (await m.client.wait(task_id, timeout=20)).status is TaskStatus.SUCCEEDED
            assert (await m.client.get(slow)).status is TaskStatus.RUNNING
            await m.client.cancel(slow)
            assert (await m.client.wait(slow, timeout=10)).status is TaskStatus.CANCELLED

    async def test_bad_records_are_parked_and_the_worker_moves_on(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        async with TestMesh(worker_agent, transport=transport_factory(), settings=settings) as m:
            inbox = m.client.publisher.topics.inbox("worker")
            await m.transport.publish(inbox, b"{not json", key=b"x")
            bad_input_id = new_id()
            bad = Envelope(type="test.work", task_id=bad_input_id, payload={"seconds": "soon"})
            await m.transport.publish(inbox, encode_envelope(bad), key=bad_input_id.encode())
            after = await m.client.submit("worker", {"label": "after"})
            assert (await m.client.wait(after, timeout=20)).status is TaskStatus.SUCCEEDED
            failed = await m.client.wait(bad_input_id, timeout=20)
            dlq = m.client.publisher.topics.dead_letters("worker")
            parked = await eventually_value(
                lambda: read_all(m.transport, [dlq]),
                lambda records: len(records) >= 2,
                timeout=10,
                what="both records parked",
            )
        assert failed.status is TaskStatus.DEAD_LETTERED
        assert failed.error is not None and "invalid input" in failed.error.message
        by_key = {r.key: r.headers for r in parked}
        assert len(parked) == 2 and set(by_key) == {b"x", bad_input_id.encode()}
        assert b"undecodable" in by_key[b"x"][header_names.DLQ_REASON]
        assert by_key[b"x"][header_names.DLQ_ORIGINAL_TOPIC] == inbox.encode()
        assert b"invalid input" in by_key[bad_input_id.encode()][header_names.DLQ_REASON]
        assert by_key[bad_input_id.encode()][header_names.DLQ_ERROR_TYPE] == b"ValidationError"

    async def test_a_domain_event_is_adopted_and_can_emit(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        async with TestMesh(listener, transport=transport_factory(), settings=settings) as m:
            await m.client.publish(Noticed(item_id="item-7"), key="item-7")
            await eventually(
                lambda: any(
                    s.agent == "listener" and s.status is TaskStatus.SUCCEEDED
                    for s in m.client.view.tasks.values()
                ),
                timeout=20,
                what="the adopted event task",
            )
            reader = m.transport.consumer(
                [m.client.publisher.topics.domain("test.echoed")], group=None
            )
            await reader.start()
            echoed = await eventually_value(
                lambda: reader.fetch(timeout=0.2, max_records=10),
                bool,
                timeout=10,
                interval=0,
                what="the emitted event",
            )
            await reader.stop()
        assert len(echoed) == 1 and echoed[0].key == b"item-7"

    async def test_an_event_read_again_leaves_its_ended_task_as_it_is(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        """An upstream re-send (or a re-read after a crash) of an adopted event is not
        submitted again: its task neither runs twice nor goes back to `submitted`."""
        async with TestMesh(listener, transport=transport_factory(), settings=settings) as m:
            event = Envelope(type="test.noticed", payload={"item_id": "item-8"})
            await m.client.publisher.send_event(event, key="item-8")

            def ended() -> list[str]:
                return [
                    s.task_id
                    for s in m.client.view.tasks.values()
                    if s.agent == "listener" and s.status is TaskStatus.SUCCEEDED
                ]

            await eventually(lambda: bool(ended()), timeout=20, what="the adopted event task")
            [task_id] = ended()
            await m.client.publisher.send_event(event, key="item-8")  # the same event again
            topics = m.client.publisher.topics

            async def all_read() -> bool:
                done = await m.transport.offsets(
                    [topics.domain("test.noticed")], group=topics.group("listener")
                )
                return all(o.committed is not None and o.committed >= o.end for o in done if o.end)

            await eventually_true(all_read, timeout=20, what="the second copy to be read")
            await m.client.view.catch_up()
            state = await m.client.get(task_id)
        assert state.status is TaskStatus.SUCCEEDED, state

    async def test_an_idempotency_key_returns_the_same_task(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        async with TestMesh(worker_agent, transport=transport_factory(), settings=settings) as m:
            first = await m.client.submit("worker", {}, idempotency_key="order-1")
            again = await m.client.submit("worker", {}, idempotency_key="order-1")
            other = await m.client.submit("worker", {}, idempotency_key="order-2")
        assert first == again != other

    async def test_a_remaining_worker_takes_over(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        mesh = TestMesh(worker_agent, transport=transport_factory(), settings=settings)
        async with mesh as m:
            inbox = m.workers[0].inbox
            second = await m.add_worker(
                worker_agent, settings.model_copy(update={"instance_id": "b"})
            )
            await eventually(
                lambda: bool(m.workers[0].assignment()) and bool(second.assignment()),
                timeout=30,
                what="both workers to own partitions",
            )
            await second.stop()
            m.workers.remove(second)
            await eventually(
                lambda: (
                    sum(tp.topic == inbox for tp in m.workers[0].assignment())
                    == settings.partitions
                ),
                timeout=30,
                what="the first worker to own every partition",
            )
            ids = [await m.client.submit("worker", {"label": str(i)}) for i in range(12)]
            states = [await m.client.wait(i, timeout=20) for i in ids]
        assert {s.status for s in states} == {TaskStatus.SUCCEEDED}
        assert {s.instance for s in states} == {settings.instance_id}

    async def test_a_redispatched_task_runs_again_and_its_old_attempt_is_fenced(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        """What the supervisor does to a stuck task: a new attempt replaces the run; the
        old attempt's late result is noted in the history and applied nowhere."""
        async with TestMesh(worker_agent, transport=transport_factory(), settings=settings) as m:
            task_id = await m.client.submit("worker", {"hang_first_attempt": True, "label": "2"})
            await eventually(lambda: bool(m.workers[0].running), timeout=20, what="attempt 1")
            order = Envelope(
                type=REDISPATCH,
                task_id=task_id,
                payload=Redispatch(attempt=2, reason="stuck (test)").model_dump(),
            )
            await m.client.publisher.send(m.workers[0].inbox, order, key=task_id)
            state = await m.client.wait(task_id, timeout=20)
            events_topic = Topics(settings.namespace).task_events

            async def kinds_of_task() -> list[str]:
                records = await read_all(m.transport, [events_topic])
                return [
                    decode_envelope(r.value or b"").payload["kind"]
                    for r in records
                    if r.key == task_id.encode()
                ]

            # The late attempt notes itself about 0.2 s after its cancel.
            kinds = await eventually_value(
                kinds_of_task, lambda k: "superseded" in k, timeout=10, what="the superseded note"
            )
        assert state.status is TaskStatus.SUCCEEDED and state.attempt == 2
        assert state.result == {"label": "2"}
        assert kinds.count("succeeded") == 1 and "superseded" in kinds, kinds

    async def test_a_cancel_that_fails_the_task_ends_it_failed_with_the_reason(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        """What the supervisor sends when a policy says `when_exhausted="fail"`."""
        async with TestMesh(worker_agent, transport=transport_factory(), settings=settings) as m:
            task_id = await m.client.submit("worker", {"seconds": 30})
            await eventually(lambda: bool(m.workers[0].running), timeout=20, what="it runs")
            order = Envelope(
                type=CANCEL,
                task_id=task_id,
                payload=Cancel(reason="fail: stuck too often", fail=True).model_dump(),
            )
            await m.client.publisher.send(m.workers[0].inbox, order, key=task_id)
            state = await m.client.wait(task_id, timeout=20)
        assert state.status is TaskStatus.FAILED, state
        assert state.error is not None
        assert (state.error.type, state.error.message) == (
            "SupervisorGaveUp",
            "fail: stuck too often",
        )

    async def test_two_levels_of_delegation_and_a_retry_form_one_trace(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        exported = InMemorySpanExporter()  # the SDK's own exporter, keeping spans in memory
        use_exporter(exported, batch=False)
        try:
            agents = (chief, boss, worker_agent)
            async with TestMesh(*agents, transport=transport_factory(), settings=settings) as m:
                request = {"children": 2, "child_fail_before_attempt": 2}  # each retried once
                task_id = await m.client.submit("chief", request)
                state = await m.client.wait(task_id, timeout=30)
                [boss_id] = state.children
                workers = m.client.view.tasks[boss_id].children
        finally:
            use_exporter(None)
        assert state.status is TaskStatus.SUCCEEDED, state.error
        spans = exported.get_finished_spans()
        assert {s.context.trace_id for s in spans} == {int(state.trace_id or "0", 16)}
        by_id = {s.context.span_id: s for s in spans}
        orphans = [s.name for s in spans if s.parent and s.parent.span_id not in by_id]
        assert not orphans, orphans  # every link points at a span of this trace
        handled: dict[str, list[Any]] = {}
        for s in sorted(spans, key=lambda s: s.start_time or 0):
            if s.kind is SpanKind.CONSUMER:
                handled.setdefault(str(s.attributes["mesh.task_id"]), []).append(s)
        [root] = handled[task_id]
        assert root.parent is None  # submitted from outside any trace: the trace starts here

        def sent_by(span: Any) -> Any:
            """The span whose work sent the record `span` handles (via its PRODUCER)."""
            producer = by_id[span.parent.span_id]
            assert producer.kind is SpanKind.PRODUCER
            assert producer.attributes["messaging.system"] == "kafka"
            return by_id[producer.parent.span_id]

        [boss_span] = handled[boss_id]
        assert sent_by(boss_span) is root
        for worker in workers:
            first, second = handled[worker]  # attempt 1 failed, attempt 2 succeeded
            assert (first.attributes["mesh.attempt"], second.attributes["mesh.attempt"]) == (1, 2)
            assert sent_by(first) is boss_span
            assert sent_by(second) is first  # the retry was sent by the failed attempt

    async def test_waiting_tasks_start_highest_priority_first(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        one_slot = settings.model_copy(update={"max_inflight": 1})
        async with TestMesh(worker_agent, transport=transport_factory(), settings=one_slot) as m:
            [worker] = m.workers
            blocker = await m.client.submit("worker", {"wait_for_steer": True, "seconds": 30})
            await eventually(lambda: blocker in worker.running, timeout=20, what="the blocker")
            low = await m.client.submit("worker", {"label": "low"}, priority=1)
            high = await m.client.submit("worker", {"label": "high"}, priority=9)
            await eventually(lambda: len(worker.running) == 3, timeout=20, what="two waiting")
            await m.client.steer(blocker, "done")  # frees the one slot
            states = [await m.client.wait(t, timeout=20) for t in (low, high)]
        started = {s.task_id: s.started_at for s in states}
        assert started[high] and started[low] and started[high] < started[low], started
        assert states[1].priority == 9

    async def test_a_task_waiting_for_a_slot_says_so_until_it_starts(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        one_slot = settings.model_copy(update={"max_inflight": 1})
        async with TestMesh(worker_agent, transport=transport_factory(), settings=one_slot) as m:
            [worker] = m.workers
            blocker = await m.client.submit("worker", {"wait_for_steer": True, "seconds": 30})
            await eventually(lambda: blocker in worker.running, timeout=20, what="the blocker")
            waiting = await m.client.submit("worker", {"label": "waits"})

            def held() -> bool:
                state = m.client.view.tasks.get(waiting)
                return state is not None and state.held is not None

            await eventually(held, timeout=20, what="the waiting task to say why")
            state = await m.client.get(waiting)
            assert state.status is TaskStatus.SUBMITTED
            assert state.held is not None and "max_inflight" in state.held, state.held
            await m.client.steer(blocker, "done")
            done = await m.client.wait(waiting, timeout=20)
            topics = Topics(settings.namespace)
            events = await read_all(m.transport, [topics.task_events])
        assert done.status is TaskStatus.SUCCEEDED and done.held is None
        kinds = [
            decode_envelope(r.value or b"").payload["kind"]
            for r in events
            if r.key == waiting.encode()
        ]
        assert kinds == ["submitted", "held", "started", "succeeded"], kinds

    async def test_a_task_held_by_an_open_circuit_says_so_and_runs_once_it_closes(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        topics = Topics(settings.namespace)

        async def circuit(state: str) -> None:
            decided = CircuitState(agent="worker", state=state, since=0.0, reason="3 of 4 failed")
            envelope = Envelope(type=CIRCUIT_STATE, payload=decided.model_dump(mode="json"))
            await m.transport.publish(topics.circuits, encode_envelope(envelope), key=b"worker")

        async with TestMesh(worker_agent, transport=transport_factory(), settings=settings) as m:
            [worker] = m.workers
            await circuit("open")
            await eventually(lambda: worker._circuit.name == "open", timeout=20, what="open")
            task_id = await m.client.submit("worker", {"label": "held"})

            def held() -> bool:
                state = m.client.view.tasks.get(task_id)
                return state is not None and state.held is not None

            await eventually(held, timeout=20, what="the task to say why it waits")
            state = await m.client.get(task_id)
            assert state.held is not None and "circuit of 'worker' is open" in state.held
            assert "3 of 4 failed" in state.held
            await circuit("closed")
            done = await m.client.wait(task_id, timeout=20)
        assert done.status is TaskStatus.SUCCEEDED and done.held is None

    async def test_a_task_past_its_deadline_fails_and_cancels_its_children(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        agents = (boss, worker_agent)
        async with TestMesh(*agents, transport=transport_factory(), settings=settings) as m:
            deadline = datetime.now(UTC) + timedelta(seconds=1.5)
            task_id = await m.client.submit(
                "boss", {"children": 3, "seconds": 30}, deadline=deadline
            )
            state = await m.client.wait(task_id, timeout=20)
            children = [await m.client.wait(c, timeout=20) for c in state.children]
        assert state.status is TaskStatus.FAILED
        assert state.error is not None and state.error.type == "DeadlineExceeded"
        assert len(children) == 3
        assert {c.status for c in children} <= {TaskStatus.CANCELLED, TaskStatus.FAILED}

    async def test_a_cancel_read_in_the_same_fetch_as_its_request_ends_the_task(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        async with TestMesh(worker_agent, transport=transport_factory(), settings=settings) as m:
            [first] = m.workers_of("worker")
            await first.stop()  # its agent card stays: the client can submit
            task_id = await m.client.submit("worker", {"seconds": 30})
            await m.client.cancel(task_id, "changed my mind")
            await m.add_worker(worker_agent)  # reads the request and the cancel together
            state = await m.client.wait(task_id, timeout=20)
        assert state.status is TaskStatus.CANCELLED, state
        assert state.error is not None and state.error.message == "changed my mind"

    async def test_a_handlers_own_timeout_is_an_ordinary_failure_and_retried(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        """Only the task's deadline scope is its deadline: a `TimeoutError` from the
        handler's own `asyncio.timeout` goes to the retry policy."""
        async with TestMesh(worker_agent, transport=transport_factory(), settings=settings) as m:
            task_id = await m.client.submit("worker", {"own_timeout_first_attempt": True})
            state = await m.client.wait(task_id, timeout=20)
        assert state.status is TaskStatus.SUCCEEDED, state.error
        assert state.attempt == 2

    async def test_a_task_whose_deadline_passed_before_it_started_fails_unrun(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        async with TestMesh(worker_agent, transport=transport_factory(), settings=settings) as m:
            [first] = m.workers_of("worker")
            await first.stop()
            deadline = datetime.now(UTC) + timedelta(seconds=0.2)
            label = new_id()
            task_id = await m.client.submit("worker", {"label": label}, deadline=deadline)
            await eventually(
                lambda: datetime.now(UTC) > deadline, timeout=5, what="the deadline to pass"
            )
            await m.add_worker(worker_agent)
            state = await m.client.wait(task_id, timeout=20)
        assert state.status is TaskStatus.FAILED, state
        assert state.error is not None and state.error.type == "DeadlineExceeded"
        assert WORK_RUNS[label] == 0

    async def test_a_parent_handles_a_child_that_timed_out(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        agents = (boss, worker_agent)
        async with TestMesh(*agents, transport=transport_factory(), settings=settings) as m:
            request = {"children": 2, "seconds": 30, "child_deadline": 0.5}
            task_id = await m.client.submit("boss", request)
            state = await m.client.wait(task_id, timeout=20)
        assert state.status is TaskStatus.SUCCEEDED, state.error
        assert state.result is not None and state.result["timed_out"] in state.children

    async def test_an_escalated_task_waits_for_a_human_and_resumes(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        async with TestMesh(worker_agent, transport=transport_factory(), settings=settings) as m:
            task_id = await m.client.submit("worker", {"ask_human": "refund 500 EUR?"})

            def waiting() -> bool:
                state = m.client.view.tasks.get(task_id)
                return state is not None and state.status is TaskStatus.WAITING

            await eventually(waiting, timeout=20, what="the task to wait for a human")
            state = await m.client.get(task_id)
            assert state.waiting_for == "refund 500 EUR?"
            await m.client.resume(task_id, "approved")
            state = await m.client.wait(task_id, timeout=20)
        assert state.status is TaskStatus.SUCCEEDED and state.result == {"answer": "approved"}
        assert state.waiting_for is None

    async def test_a_result_too_large_to_publish_dead_letters_the_task(
        self, transport_factory: Factory, settings: Settings
    ) -> None:
        small = settings.model_copy(update={"max_message_bytes": 4096})
        async with TestMesh(worker_agent, transport=transport_factory(), settings=small) as m:
            task_id = await m.client.submit("worker", {"result_bytes": 3000})
            state = await m.client.wait(task_id, timeout=20)
        assert state.status is TaskStatus.DEAD_LETTERED
        assert state.error is not None and "MESH_MAX_MESSAGE_BYTES=4096" in state.error.message
