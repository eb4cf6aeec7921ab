"""`Worker`: one process's membership in an agent type's consumer group.

It consumes the agent's inbox (tasks, steering, cancel, child outcomes) and the
domain events the agent subscribes to, runs many tasks concurrently (a slow task
never holds up its partition), and commits each partition only below its lowest
offset still in flight (`mesh.runtime.offsets`).

Re-delivery is normal (a crash, a rebalance): the task journal (mesh/runtime/journal.py) of
the partitions this worker owns recognises requests of runs that already ended, and
the effect fence (mesh/runtime/fence.py) keeps tasks of a partition being given up from
writing while its next owner starts.

A domain event is *adopted* as a task before it is handled: the worker republishes
it to its own inbox under a task id derived from the event id. Then every handler
run is a task with an id, a lifecycle and an inbox partition that its children's
outcomes come back to.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import heapq
import itertools
import logging
import uuid
from datetime import datetime

import orjson
from pydantic import ValidationError

from mesh.agent import Agent
from mesh.dlq.write import Failure, dead_letter
from mesh.errors import InvalidInput, TransportError
from mesh.observability.metrics import (
    MESSAGES_CONSUMED,
    TASKS_INFLIGHT,
    TASKS_RUNNING,
    Children,
)
from mesh.retry import NOT_BEFORE
from mesh.runtime.background import BackgroundWrites, Write, first_then
from mesh.runtime.circuit import CircuitWatch
from mesh.runtime.fence import EffectFence
from mesh.runtime.ingress import event_type_of, read_domain_event
from mesh.runtime.journal import Journal
from mesh.runtime.lifecycle import TaskRecorder, submit_task, submitted_state
from mesh.runtime.liveness import heartbeat, send_heartbeats
from mesh.runtime.offsets import OffsetTracker
from mesh.runtime.publisher import Publisher
from mesh.runtime.runner import RunningTask, TaskRunner
from mesh.settings import Settings
from mesh.topics import agent_topics, domain_topic, runtime_topics
from mesh.transport.base import Consumer, Delivery, TopicPartition, Transport
from schemas import Envelope, Source, decode_envelope
from schemas.envelope import new_id, utc_now
from schemas.supervision import CircuitState, Heartbeat
from schemas.tasks import (
    AGENT_CARD,
    CANCEL,
    REDISPATCH,
    RESULT,
    STEER,
    AgentCard,
    Cancel,
    EventKind,
    Redispatch,
    Steer,
    TaskError,
    TaskOutcome,
    TaskStatus,
)

log = logging.getLogger(__name__)
_ADOPTION_NAMESPACE = uuid.UUID("6f1d3c1e-8a8e-4c55-9b51-6a1f0b7f3a10")


class Worker:
    """Runs `agent` on `transport` until `stop()`; `async with Worker(...)` for tests."""

    def __init__(self, agent: Agent, transport: Transport, settings: Settings) -> None:
        agent.validate()
        self.agent = agent
        self.transport = transport
        self.settings = settings
        self.publisher = Publisher(
            transport, settings, Source(agent=agent.name, instance=settings.instance_id)
        )
        self.topics = self.publisher.topics
        self.inbox = self.topics.inbox(agent.name)
        self._retry_topics = [self.topics.retry(agent.name, t) for t in settings.retry_tiers]
        self.max_inflight = agent.max_inflight or settings.max_inflight
        self.journal = Journal(self.publisher, agent.name)
        self._fence = EffectFence()
        self.runner = TaskRunner(
            agent,
            self.publisher,
            self,
            settings=settings,
            journal=self.journal,
            fence=self._fence,
            background=lambda work: self._spawn(work, what="task_record"),
        )
        self.running: dict[str, RunningTask] = {}  # accepted: started or in the backlog
        # Accepted tasks beyond `max_inflight` wait here as plain records, not as
        # coroutines queued on a semaphore (3.11's Semaphore scans its waiters): a heap,
        # highest `priority` first, then in arrival order.
        self._backlog: list[tuple[int, int, RunningTask]] = []
        # Backlog tasks whose state does not say yet why they wait, oldest first.
        self._held_unreported: collections.deque[RunningTask] = collections.deque()
        self._arrivals = itertools.count()
        self._active = 0
        # Retry records read before they are due, by (partition, offset).
        self._delayed: dict[tuple[TopicPartition, int], asyncio.TimerHandle] = {}
        self._children: dict[str, asyncio.Future[TaskOutcome]] = {}
        self._tracker = OffsetTracker()
        self._consumer: Consumer | None = None
        self._stopping = asyncio.Event()
        self._assigned = asyncio.Event()
        # Clear from a revocation until the new assignment's journal is loaded.
        self._ready = asyncio.Event()
        self._ready.set()
        self._journal_failure: Exception | None = None
        self._writes = BackgroundWrites(agent.name, settings, on_failure=self._stopping.set)
        self.duplicates_skipped = 0  # requests of runs running here or ended
        self._circuit = CircuitWatch(transport, self.topics, agent.name, self._on_circuit)
        self._probe: RunningTask | None = None
        self._paused = False
        self._run_task: asyncio.Task[None] | None = None
        self._consumed = Children(MESSAGES_CONSUMED, agent.name)  # by message type

    # -- service lifecycle -----------------------------------------------------------

    async def __aenter__(self) -> Worker:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self, *, wait_assigned: float = 60.0) -> None:
        """Set up topics, join the group and start consuming in the background."""
        await self._setup()
        self._run_task = asyncio.create_task(self._serve(), name=f"worker-{self.agent.name}")
        assigned = asyncio.create_task(self._assigned.wait())
        await asyncio.wait(
            {assigned, self._run_task}, timeout=wait_assigned, return_when=asyncio.FIRST_COMPLETED
        )
        assigned.cancel()
        if self._run_task.done():
            await self._run_task  # re-raises the failure

    async def stop(self) -> None:
        """Stop fetching, let running tasks finish within the grace period, commit, leave."""
        self._stopping.set()
        if self._run_task is not None:
            run, self._run_task = self._run_task, None
            await run  # raises `WorkerFailed` once, when the worker stopped on its own

    async def run(self) -> None:
        """Run in the foreground until `stop()` (what `mesh run` calls)."""
        await self._setup()
        await self._serve()

    def request_stop(self) -> None:
        self._stopping.set()

    async def _setup(self) -> None:
        agent = self.agent
        specs = [*runtime_topics(self.settings), *agent_topics(self.settings, agent.name)]
        specs += [domain_topic(self.settings, t) for t in agent.event_types]
        for target in agent.delegates_to:
            specs += agent_topics(self.settings, target)
        await self.transport.ensure_topics(specs)
        await self._publish_card()
        topics = [
            self.inbox,
            *self._retry_topics,
            *(self.topics.domain(t) for t in agent.event_types),
        ]
        self._consumer = self.transport.consumer(
            topics, group=self.topics.group(agent.name), listener=self
        )

    async def _serve(self) -> None:
        assert self._consumer is not None
        await self._consumer.start()
        # Read at scrape time: nothing to update per task.
        TASKS_INFLIGHT.labels(self.agent.name).set_function(lambda: len(self.running))
        TASKS_RUNNING.labels(self.agent.name).set_function(lambda: self._active)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._consume_loop())
                group.create_task(self._commit_loop())
                group.create_task(send_heartbeats(self.publisher, self._heartbeat, self._stopping))
                group.create_task(self._circuit.run(self._stopping))
            await self._drain()
            if self._writes.failure is not None:
                raise self._writes.failure
        finally:
            TASKS_INFLIGHT.labels(self.agent.name).set_function(_nothing)  # let go of self
            TASKS_RUNNING.labels(self.agent.name).set_function(_nothing)
            await self._consumer.stop()
            log.info("worker %s of %r stopped", self.settings.instance_id, self.agent.name)

    async def _drain(self) -> None:
        """Give running tasks the grace period, commit, then hand the rest back uncommitted."""
        tasks = [r.task for r in self.running.values() if r.task is not None]
        if tasks:
            log.info("waiting up to %.1fs for %d tasks", self.settings.shutdown_grace, len(tasks))
            await asyncio.wait(tasks, timeout=self.settings.shutdown_grace)
        await self._writes.wait(self.settings.shutdown_grace)
        # Effects under way (a step, an outcome) finish; none start after this.
        await self._fence.close(self.settings.rebalance_grace)
        await self._commit()
        leftovers = [r.task for r in self.running.values() if r.task is not None]
        self._hand_back(self._tracker.partitions())
        if leftovers:
            log.warning("handing back %d unfinished tasks uncommitted", len(leftovers))
            await asyncio.wait(leftovers, timeout=5.0)

    async def _publish_card(self) -> None:
        handler = self.agent.task_handler
        card = AgentCard(
            name=self.agent.name,
            description=self.agent.description,
            task_type=handler.message_type if handler else None,
            task_version=handler.version if handler else None,
            input_schema=handler.model.model_json_schema() if handler else None,
            events=self.agent.event_types,
            delegates_to=list(self.agent.delegates_to),
            updated_at=utc_now(),
        )
        envelope = Envelope(
            type=AGENT_CARD, source=self.publisher.source, payload=card.model_dump(mode="json")
        )
        await self.publisher.send(self.topics.agents, envelope, key=self.agent.name)

    # -- consuming -------------------------------------------------------------------

    async def _consume_loop(self) -> None:
        assert self._consumer is not None
        while not self._stopping.is_set():
            records = await self._consumer.fetch(
                timeout=0.1, max_records=self.settings.fetch_max_records
            )
            if not self._ready.is_set():  # a rebalance is under way
                await self._ready.wait()
                owned = self._consumer.assignment()
                records = [r for r in records if r.tp in owned]
            if self._journal_failure is not None:
                raise TransportError(f"cannot load the task journal: {self._journal_failure}")
            for record in records:
                self._dispatch(record)
            self._apply_backpressure()

    def _apply_backpressure(self) -> None:
        """Pause fetching while the backlog (accepted tasks waiting for a slot) is full.

        Reading on past the running tasks matters: steering and cancel messages for
        them sit in the same partitions, behind the tasks waiting for a slot. A waiting
        task is a decoded record in a heap, not a coroutine, so the backlog can be long.
        """
        assert self._consumer is not None
        waiting = len(self.running) - self._active
        if not self._paused and waiting >= self.settings.max_backlog:
            self._paused = True
            self._consumer.pause()
        elif self._paused and waiting < self.settings.max_backlog:
            self._paused = False
            self._consumer.resume()

    def _dispatch(self, record: Delivery) -> None:
        if not self._tracker.begin(record.tp, record.offset):
            return  # re-delivered after a rebalance; we already hold or finished it
        size = len(record.value or b"")
        if size > self.settings.max_message_bytes:  # the broker may not enforce a limit
            limit = self.settings.max_message_bytes
            self._dead_letter_record(
                record, f"oversized: {size} bytes, over MESH_MAX_MESSAGE_BYTES={limit}"
            )
            return
        event_type = None
        if record.topic != self.inbox and record.topic not in self._retry_topics:
            event_type = event_type_of(record.topic, self.topics, self.agent.event_types)
        try:
            if event_type is None:
                envelope = decode_envelope(record.value or b"")
            else:  # upstream producers need not know the mesh (mesh/runtime/ingress.py)
                envelope = read_domain_event(record, event_type)
        except (orjson.JSONDecodeError, ValidationError) as exc:
            self._consumed["undecodable"].inc()
            self._dead_letter_record(record, f"undecodable envelope: {_first_line(exc)}")
            return
        except InvalidInput as exc:  # its message names the header or field at fault
            self._consumed[event_type or "undecodable"].inc()  # the topic names its type
            self._dead_letter_record(record, str(exc))
            return
        self._consumed[envelope.type].inc()
        if record.topic in self._retry_topics:
            self._hold_until_due(record, envelope)
        elif record.topic != self.inbox:
            self._spawn(lambda: self._adopt_event(record, envelope), record, what="adoption")
        elif envelope.type == RESULT:
            self._child_result(record, envelope)
        elif envelope.type in (STEER, CANCEL, REDISPATCH):
            self._control(envelope)
            self._tracker.finish(record.tp, record.offset)
        else:
            self._dispatch_request(record, envelope)

    def _dispatch_request(self, record: Delivery, envelope: Envelope) -> None:
        earlier = self.running.get(envelope.task_id or "")
        if (handler := self.agent.handlers.get(envelope.type)) is None:
            self._dead_letter_record(
                record, f"agent {self.agent.name!r} does not handle {envelope.type!r}"
            )
        elif envelope.task_id is None:
            self._dead_letter_record(record, f"{envelope.type!r} request without a task_id")
        elif (
            earlier is not None and _run_of(earlier.request) >= _run_of(envelope)
        ) or self.journal.is_duplicate(record.partition, envelope):
            log.debug("task %s: duplicate request %s skipped", envelope.task_id, envelope.id)
            self.duplicates_skipped += 1
            self._tracker.finish(record.tp, record.offset)
        else:
            running = RunningTask(envelope, record, handler)
            running.parse_input()
            fallback = self._circuit.fallback if self._circuit.name == "open" else None
            if fallback is not None and running.invalid is None:
                self._spawn(
                    lambda: self._reroute(record, envelope, fallback), record, what="reroute"
                )
            else:
                self._accept(running)

    def _hold_until_due(self, record: Delivery, envelope: Envelope) -> None:
        """Run a retry record at its due time. Until then it is an uncommitted offset
        and a timer, so its tier partition keeps flowing (ADR 007)."""
        try:
            due = datetime.fromisoformat(record.headers[NOT_BEFORE].decode())
        except (KeyError, ValueError):
            due = utc_now()  # no readable due time: run it now rather than never
        wait = (due - utc_now()).total_seconds()
        if wait <= 0:
            self._dispatch_request(record, envelope)
            return
        self._delayed[(record.tp, record.offset)] = asyncio.get_running_loop().call_later(
            wait, self._release_delayed, record, envelope
        )

    def _release_delayed(self, record: Delivery, envelope: Envelope) -> None:
        del self._delayed[(record.tp, record.offset)]
        self._dispatch_request(record, envelope)

    def _accept(self, running: RunningTask) -> None:
        """Start the task, or keep it in the backlog until a slot is free and the
        circuit lets it start. Invalid input starts at once, whatever the circuit or
        the slots: it is dead-lettered (the sender's fault) without counting against
        the agent type's health, and it never becomes a half-open circuit's probe."""
        self.running[running.task_id] = running
        invalid_now = running.invalid is not None and not self._stopping.is_set()
        if invalid_now or self._may_start():
            self._start(running)
        else:
            order = (-running.request.priority, next(self._arrivals), running)
            heapq.heappush(self._backlog, order)
            running.held_since = asyncio.get_running_loop().time()
            self._held_unreported.append(running)

    def _report_held(self) -> None:
        """Backlog tasks still waiting after `start_record_delay` say why in their
        state (`held`, and a `held` event): a short wait writes nothing."""
        now = asyncio.get_running_loop().time()
        waiting = self._held_unreported
        while waiting and now - waiting[0].held_since >= self.settings.start_record_delay:
            running = waiting.popleft()
            if running.task is None and self.running.get(running.task_id) is running:
                why = self._held_reason()
                self._spawn(functools.partial(self._record_held, running, why), what="task_record")

    def _held_reason(self) -> str:
        name, circuit = self.agent.name, self._circuit
        if circuit.name == "open":
            why = circuit.state.reason if circuit.state else ""
            return f"the circuit of {name!r} is open ({why}); it starts once the circuit closes"
        if circuit.name == "half_open":
            return f"the circuit of {name!r} is half-open: one probe task runs at a time"
        return (
            f"waiting for a free slot: a worker runs at most {self.max_inflight} tasks "
            f"of {name!r} at once (max_inflight)"
        )

    async def _record_held(self, running: RunningTask, why: str) -> None:
        if running.task is not None or running.handed_back:
            return  # it started (or moved) meanwhile: its own records say so
        recorder = TaskRecorder(self.publisher, self.runner.first_state(running), max_progress=0)
        await recorder.record(EventKind.HELD, held=why)

    def _may_start(self) -> bool:
        """A slot is free and the circuit lets a task start (mesh/runtime/circuit.py)."""
        if self._active >= self.max_inflight or self._stopping.is_set():
            return False
        circuit = self._circuit.name
        if circuit == "half_open":  # one probe at a time
            return self._probe is None or self._probe.task is None or self._probe.task.done()
        return circuit == "closed"

    def _start(self, running: RunningTask) -> None:
        if self._circuit.name == "half_open" and running.invalid is None:
            self._probe = running
        self._active += 1
        running.task = asyncio.create_task(self._run(running), name=f"task-{running.task_id}")

    def _start_from_backlog(self) -> None:
        while self._backlog and self._may_start():
            _, _, running = heapq.heappop(self._backlog)
            if not running.handed_back and running.task is None:
                self._start(running)

    async def _run(self, running: RunningTask) -> None:
        running.begun = True
        try:
            if not running.handed_back:  # handed back before it began
                await self.runner.run(running)
        except asyncio.CancelledError:
            if not running.handed_back:
                raise
        except TransportError as exc:
            self._outcome_not_written(running, exc)
        except Exception as exc:  # a bug no re-run can fix: park the task, say why
            running.handed_back = True
            self._dead_letter_unrecordable(running, exc)
        finally:
            self._active -= 1
            if self.running.get(running.task_id) is running:
                del self.running[running.task_id]
            if not running.handed_back:
                self._tracker.finish(running.tp, running.offset)
            self._start_from_backlog()

    def _outcome_not_written(self, running: RunningTask, exc: TransportError) -> None:
        """The broker is unreachable or refused the outcome. The offset stays in
        flight and the run starts again after a pause (the journal replays what it
        completed; nothing past the unrecorded outcome is committed), at most
        `MESH_WRITE_ATTEMPTS` times: then the worker stops (mesh/runtime/background.py)."""
        running.handed_back = True
        tries = running.outcome_failures + 1
        if tries >= self.settings.write_attempts:
            self._writes.fail(
                f"recording the outcome of task {running.task_id} failed", exc, "outcome"
            )
            return
        pause = self.settings.write_backoff * 2 ** (tries - 1)
        log.warning(
            "recording the outcome of task %s failed (try %d of %d); running it again in "
            "%.1f s: %s",
            running.task_id,
            tries,
            self.settings.write_attempts,
            pause,
            exc,
        )
        asyncio.get_running_loop().call_later(pause, self._run_again, running, tries)

    def _run_again(self, failed: RunningTask, failures: int) -> None:
        if self._stopping.is_set() or failed.tp not in self._tracker.partitions():
            return  # stopping, or the partition moved: its next owner runs the task
        if failed.task_id not in self.running:
            again = RunningTask(failed.request, failed.record, failed.handler)
            again.outcome_failures = failures
            self._accept(again)

    def _dead_letter_unrecordable(self, running: RunningTask, exc: Exception) -> None:
        """Running or recording the task raised something other than a broker error:
        a bug in the runtime or in what the handler returned. Re-running it would fail
        the same way forever, so the task is dead-lettered with the reason (and the
        worker goes on; if even that cannot be written, it stops)."""
        log.error("task %s cannot be recorded; dead-lettering it", running.task_id, exc_info=exc)
        self._writes.count("outcome")
        reason = f"the runtime could not record this task's outcome: {type(exc).__name__}: {exc}"
        failure = Failure(reason[:2000], exc, running.request.attempt)
        recorder = TaskRecorder(
            self.publisher, submitted_state(running.request, self.agent.name), max_progress=0
        )

        async def park() -> None:
            await dead_letter(self.publisher, self.agent.name, running.record, failure)
            error = TaskError(type="DeadLettered", message=failure.reason)
            await recorder.record(EventKind.DEAD_LETTERED, error=error)
            await self.journal.record_ended(
                running.record.partition, running.request, TaskStatus.DEAD_LETTERED
            )

        self._spawn(park, running.record, what="dead_letter")

    def _child_result(self, record: Delivery, envelope: Envelope) -> None:
        """Hand a child's outcome to its waiting parent and journal it for a re-run of
        the parent; the record's offset is finished once the journal has it."""
        try:
            outcome = TaskOutcome.model_validate(envelope.payload)
        except ValidationError as exc:
            self._dead_letter_record(record, f"unreadable child result: {_first_line(exc)}")
            return
        child_id = envelope.task_id or ""
        waiting = self._children.pop(child_id, None)
        if waiting is not None and not waiting.done():
            waiting.set_result(outcome)
        parent = envelope.parent_task_id
        if parent is None or not self.journal.enabled:
            self._tracker.finish(record.tp, record.offset)
            return
        agent = envelope.source.agent if envelope.source else ""
        journal = functools.partial(
            self.journal.record_child, record.partition, parent, child_id, agent, outcome
        )
        # Called now, not in the background: the journal holds the outcome in memory at
        # once, so a re-run of the parent that starts before the write is acknowledged
        # (its request may be in the same fetch) re-attaches to it instead of waiting
        # for a result that was already read.
        self._spawn(first_then(journal(), journal), record, what="child_outcome")

    def _control(self, envelope: Envelope) -> None:
        task_id = envelope.task_id or ""
        running = self.running.get(task_id)
        if running is None:
            log.info("%s for task %s, which is not running here", envelope.type, task_id)
        elif envelope.type == REDISPATCH:
            self._redispatch(running, Redispatch.model_validate(envelope.payload))
        elif envelope.type == CANCEL:
            order = Cancel.model_validate(envelope.payload)
            log.info("cancelling task %s (%s)", task_id, order.reason)
            running.cancel(order.reason, fail=order.fail)
            if running.task is None:
                self._start(running)  # from the backlog at once: it only records `cancelled`
        else:
            steer = Steer.model_validate(envelope.payload)
            running.steer(steer)
            if (context := running.context) is not None:
                self._spawn(
                    lambda: context._recorder.record(EventKind.STEERED, steer=steer),
                    what="task_record",
                )

    async def _reroute(self, record: Delivery, request: Envelope, fallback: str) -> None:
        """The circuit is open: hand the task to the fallback agent type, under the same
        id (its parent's handle resolves as usual); the record is then done here."""
        why = f"the circuit of {self.agent.name!r} is open; sent to {fallback!r}"
        recorder = TaskRecorder(
            self.publisher, submitted_state(request, self.agent.name), max_progress=0
        )
        await recorder.note(EventKind.REROUTED, TaskError(type="CircuitOpen", message=why))
        await submit_task(self.publisher, request.model_copy(update={"id": new_id()}), fallback)
        await self.journal.record_ended(record.partition, request, TaskStatus.SUBMITTED)

    def _on_circuit(self, state: CircuitState) -> None:
        if state.state != "open":
            self._start_from_backlog()

    def _redispatch(self, running: RunningTask, order: Redispatch) -> None:
        """Replace a stuck run by a new attempt of the task, here and now."""
        if running.request.attempt >= order.attempt:
            return  # already at that attempt or past it
        log.warning(
            "task %s: attempt %d superseded by attempt %d (%s)",
            running.task_id,
            running.request.attempt,
            order.attempt,
            order.reason,
        )
        running.supersede()
        newer = running.request.model_copy(update={"id": new_id(), "attempt": order.attempt})
        del self.running[running.task_id]
        self._accept(RunningTask(newer, running.record, running.handler, ask_human=order.ask_human))

    async def _adopt_event(self, record: Delivery, event: Envelope) -> None:
        """Turn a domain event (its payload already validated, mesh/runtime/ingress.py) into a
        task of this agent, its id derived from the event's.

        The journal partition of the event's record notes the adoption (partition N of
        the domain topic and of the journal have one owner), so an event read again (a
        crash before the commit, an upstream re-send) is not submitted a second time:
        that would write `submitted` over the task's newer state. A crash between the
        submission and the note re-submits; the task still runs once (its request is a
        duplicate for the journal of its inbox partition).
        """
        task_id = uuid.uuid5(_ADOPTION_NAMESPACE, f"{self.agent.name}:{event.id}").hex
        request = event.model_copy(
            update={
                "id": new_id(),
                "task_id": task_id,
                "root_task_id": task_id,
                "parent_task_id": None,
                "reply_to": None,
                "causation_id": event.id,
                "correlation_id": event.correlation_id or event.id,
                "source": self.publisher.source,
            }
        )
        noted = record.partition in self.journal.partitions()
        if noted and self.journal.was_adopted(record.partition, request):
            log.debug("event %s was adopted before, as task %s", event.id, task_id)
            return
        await submit_task(self.publisher, request, self.agent.name)
        if noted:
            await self.journal.record_adoption(record.partition, request)

    def _dead_letter_record(self, record: Delivery, reason: str) -> None:
        failure = Failure(reason)
        self._spawn(
            lambda: dead_letter(self.publisher, self.agent.name, record, failure),
            record,
            what="dead_letter",
        )

    def _spawn(self, work: Write, record: Delivery | None = None, *, what: str) -> None:
        """Write in the background (mesh/runtime/background.py); `record`'s offset is finished
        once the write succeeded."""
        where = record.where() if record else "a running task"
        done = (
            None
            if record is None
            else functools.partial(self._tracker.finish, record.tp, record.offset)
        )
        self._writes.spawn(work, what=what, where=where, done=done)

    def _heartbeat(self, stopping: bool) -> Heartbeat:
        return heartbeat(self.agent.name, self.settings, self.running.values(), stopping=stopping)

    # -- children --------------------------------------------------------------------

    def expect_child(self, task_id: str) -> asyncio.Future[TaskOutcome]:
        future = self._children.get(task_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._children[task_id] = future
        return future

    # -- offsets and rebalances -----------------------------------------------------

    async def _commit_loop(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.commit_interval):
                    await self._stopping.wait()
            if not self._stopping.is_set():
                self._report_held()
                await self._commit()

    async def _commit(self, only: frozenset[TopicPartition] | None = None) -> None:
        assert self._consumer is not None
        owned = self._consumer.assignment() if only is None else only
        pending = {tp: o for tp, o in self._tracker.pending_commits().items() if tp in owned}
        if not pending:
            return
        try:
            await self._consumer.commit(pending)
        except TransportError as exc:  # a rebalance raced us; the next owner re-reads
            log.warning("commit of %s failed: %s", pending, exc)
            return
        self._tracker.mark_committed(pending)

    async def on_revoked(self, partitions: frozenset[TopicPartition]) -> None:
        """Before the group re-assigns: hold effects back, let those under way finish
        (the new owner of a partition must not overlap them), commit."""
        self._ready.clear()
        await self._fence.close(self.settings.rebalance_grace)
        await self._commit(only=partitions)

    async def on_assigned(self, partitions: frozenset[TopicPartition]) -> None:
        lost = self._tracker.partitions() - set(partitions)
        self._hand_back(lost)
        task_topics = {self.inbox, *self._retry_topics}
        owned = {tp.partition for tp in partitions if tp.topic in task_topics}
        self.journal.forget(self.journal.partitions() - owned)
        try:
            await self.journal.load(owned)
        except TransportError as exc:  # the consume loop ends the worker with it
            log.exception("loading journal partitions %s failed", sorted(owned))
            self._journal_failure = exc
        self._fence.open()
        self._ready.set()
        if self._paused and self._consumer is not None:
            self._consumer.pause()
        retries = sum(1 for tp in partitions if tp.topic in self._retry_topics)
        log.info(
            "%s assigned %d partitions (and %d of retry topics)",
            self.agent.name,
            len(partitions) - retries,
            retries,
        )
        self._assigned.set()

    def _hand_back(self, partitions: set[TopicPartition]) -> None:
        """Stop tasks of partitions we no longer own; their next owner runs them."""
        for running in list(self.running.values()):
            if running.tp in partitions:
                running.hand_back()
                del self.running[running.task_id]
        for key in [key for key in self._delayed if key[0] in partitions]:
            self._delayed.pop(key).cancel()
        self._tracker.forget(partitions)

    # -- introspection ---------------------------------------------------------------

    def assignment(self) -> frozenset[TopicPartition]:
        return self._consumer.assignment() if self._consumer else frozenset()


def _nothing() -> float:
    return 0.0


def _run_of(request: Envelope) -> tuple[int, int]:
    """Which run of its task a request asks for; later runs compare greater."""
    return request.replay, request.attempt


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:500] if str(exc) else type(exc).__name__
