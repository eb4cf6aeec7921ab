"""`Worker`: one process's membership in an agent type's consumer group.

It consumes the agent's inbox (tasks, steering, cancel, child outcomes) and the domain
events the agent subscribes to, runs many tasks concurrently (a slow task never holds
up its partition), and commits each partition only below its lowest offset in flight.

Re-delivery is normal: the task journal (journal.py) of the partitions this worker owns
recognises requests of runs that already ended, and the effect fence (fence.py) keeps
tasks of a partition being given up from writing while its next owner starts.

A domain event is *adopted* as a task before it is handled (republished to its own inbox
under a task id derived from the event id): every handler run is a task with an inbox.

Parts: `_fetching` (fetches a stop ends; backpressure), `_admission` (tasks run at once;
the backlog), `_pause` (the pause switch), `_delays` (retry records not due),
`_child_outcomes` (to parents), `_control` (cancel, steer, redispatch), `_handoff`
(adopted events, rerouted tasks), `_partitions` (commits, rebalances), `_commits` (the
commit loop, asleep while idle), `_record_writes` (writes a commit waits for),
`_liveness` (heartbeats), `_startup` (topics, agent card), `_health` (readiness).
Several in one process: mesh/runtime/worker_group.py.
"""

from __future__ import annotations

import asyncio
import logging

import orjson
from pydantic import ValidationError

from mesh.agent import Agent
from mesh.errors import InvalidInput, TransportError, first_line
from mesh.observability.metrics import (
    MESSAGES_CONSUMED,
    TASKS_INFLIGHT,
    TASKS_RUNNING,
    LabelCache,
)
from mesh.quota import Quota
from mesh.runtime._admission import Admission
from mesh.runtime._background_writes import BackgroundWrites
from mesh.runtime._child_outcomes import ChildOutcomes
from mesh.runtime._circuit import CircuitWatch
from mesh.runtime._commits import CommitLoop
from mesh.runtime._control import apply_control
from mesh.runtime._delays import DelayedRecords
from mesh.runtime._fetching import Fetching
from mesh.runtime._handoff import Handoff
from mesh.runtime._health import WorkerHealth
from mesh.runtime._ingress import event_type_of, read_domain_event
from mesh.runtime._liveness import LivenessTicks, heartbeat, send_heartbeats
from mesh.runtime._offsets import OffsetTracker
from mesh.runtime._partitions import OwnedPartitions
from mesh.runtime._pause import Control, PauseSwitch
from mesh.runtime._record_writes import RecordWrites
from mesh.runtime._runner import TaskRunner
from mesh.runtime._running_task import RunningTask
from mesh.runtime._startup import publish_card, start_rate_limits, topics_needed
from mesh.runtime.fence import EffectFence
from mesh.runtime.journal import Journal
from mesh.runtime.publisher import Publisher
from mesh.settings import Settings
from mesh.transport.base import Consumer, Delivery, TopicPartition, Transport
from schemas import Envelope, Source, decode_envelope
from schemas.supervision import CircuitState, Heartbeat
from schemas.tasks import CANCEL, REDISPATCH, RESULT, STEER

log = logging.getLogger(__name__)


class Worker:
    """Runs `agent` on `transport` until `stop()`; `async with Worker(...)` for tests."""

    def __init__(
        self,
        agent: Agent,
        *,
        transport: Transport,
        settings: Settings,
        control: Control = None,
        liveness: LivenessTicks | None = None,
    ) -> None:
        agent.validate(settings)
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
        self._tracker = OffsetTracker()
        self._stopping = asyncio.Event()
        background = BackgroundWrites(agent.name, settings, on_failure=self._stopping.set)
        self._writes = RecordWrites(background, self._tracker, self.publisher, agent.name)
        self._consumer: Consumer | None = None
        self.duplicates_skipped = 0  # requests of runs running here or ended
        self.rate_limits: Quota | None = None  # with MESH_MODEL_LIMITS, while serving
        self._run_task: asyncio.Task[None] | None = None
        self._consumed = LabelCache(MESSAGES_CONSUMED, agent.name)  # by message type
        self._liveness = liveness  # the process's shared ticks; None: its own
        self._assemble_parts(control)

    def _assemble_parts(self, control: Control) -> None:
        """Make the worker's parts (mesh/runtime/_*.py) and wire them to each other;
        `control`: the process's shared circuit and pause reader (worker_group.py)."""
        agent = self.agent
        self._children = ChildOutcomes(self.journal, self._tracker, self._writes)
        self.runner = TaskRunner(
            agent,
            self.publisher,
            self._children,
            settings=self.settings,
            journal=self.journal,
            fence=self._fence,
            background=lambda work: self._writes.spawn(work, what="task_record"),
        )
        self._circuit = CircuitWatch(self.transport, self.topics, agent.name, self._on_circuit)
        self._pause = PauseSwitch(self.transport, self.topics, agent.name, shared=control)
        self._admission = Admission(
            agent.name,
            max_inflight=self.max_inflight,
            settings=self.settings,
            runner=self.runner,
            publisher=self.publisher,
            journal=self.journal,
            circuit=self._circuit,
            pause=self._pause,
            tracker=self._tracker,
            writes=self._writes,
            stopping=self._stopping,
        )
        self._fetching = Fetching(
            settings=self.settings, stopping=self._stopping, admission=self._admission
        )
        self._delays = DelayedRecords(release=self._dispatch_request)
        self._handoff = Handoff(self.publisher, self.journal, agent.name)
        self._partitions = OwnedPartitions(
            agent.name,
            settings=self.settings,
            task_topics={self.inbox, *self._retry_topics},
            retry_topics=self._retry_topics,
            tracker=self._tracker,
            fence=self._fence,
            journal=self.journal,
            admission=self._admission,
            delays=self._delays,
            paused=lambda: self._fetching.paused,
        )
        self.health = WorkerHealth(self._stopping, self._partitions, self._writes.background)
        self._commits = CommitLoop(
            interval=self.settings.commit_interval,
            tracker=self._tracker,
            partitions=self._partitions,
            admission=self._admission,
            stopping=self._stopping,
        )

    @property
    def running(self) -> dict[str, RunningTask]:
        """The tasks accepted here, by task id: running, or in the backlog."""
        return self._admission.running

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
        assigned = asyncio.create_task(self._partitions.assigned.wait())
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

    def assignment(self) -> frozenset[TopicPartition]:
        return self._consumer.assignment() if self._consumer else frozenset()

    async def _setup(self) -> None:
        agent = self.agent
        await self.transport.ensure_topics(topics_needed(self.settings, agent))
        await publish_card(self.publisher, agent)
        topics = [
            self.inbox,
            *self._retry_topics,
            *(self.topics.domain(t) for t in agent.event_types),
        ]
        self._consumer = self.transport.consumer(
            topics, group=self.topics.group(agent.name), listener=self._partitions
        )
        self._partitions.consumer = self._fetching.consumer = self._consumer

    async def _serve(self) -> None:
        assert self._consumer is not None
        await self._consumer.start()
        # Read at scrape time: nothing to update per task.
        TASKS_INFLIGHT.labels(self.agent.name).set_function(lambda: len(self.running))
        TASKS_RUNNING.labels(self.agent.name).set_function(lambda: self._admission.active)
        try:
            self.rate_limits = await start_rate_limits(
                self.transport, self.settings, self.runner.models
            )
            async with asyncio.TaskGroup() as group:
                group.create_task(self._consume_loop())
                group.create_task(self._commits.run())
                group.create_task(self._beats())
                # The circuit through the pause switch's consumer: one fetch (ADR 048).
                group.create_task(self._pause.run(self._stopping, also=[self._circuit]))
            await self._drain()
            if self._writes.background.failure is not None:
                raise self._writes.background.failure
        finally:
            TASKS_INFLIGHT.labels(self.agent.name).set_function(lambda: 0.0)  # let go of self
            TASKS_RUNNING.labels(self.agent.name).set_function(lambda: 0.0)
            await self._consumer.stop()
            if self.rate_limits is not None:
                await self.rate_limits.stop()
            await self.runner.models.close()
            log.info("worker %s of %r stopped", self.settings.instance_id, self.agent.name)

    async def _drain(self) -> None:
        """Give running tasks the grace period, commit, then hand the rest back uncommitted."""
        tasks = [r.task for r in self.running.values() if r.task is not None]
        if tasks:
            log.info("waiting up to %.1fs for %d tasks", self.settings.shutdown_grace, len(tasks))
            await asyncio.wait(tasks, timeout=self.settings.shutdown_grace)
        await self._writes.background.wait(self.settings.shutdown_grace)
        # Effects under way (a step, an outcome) finish; none start after this.
        await self._fence.close(self.settings.rebalance_grace)
        await self._partitions.commit()
        leftovers = [r.task for r in self.running.values() if r.task is not None]
        self._partitions.hand_back(self._tracker.partitions())
        if leftovers:
            log.warning("handing back %d unfinished tasks uncommitted", len(leftovers))
            await asyncio.wait(leftovers, timeout=5.0)

    async def _beats(self) -> None:
        """This worker's heartbeats: at the process's liveness ticks when it shares
        them (worker_group.py), else at its own."""
        beats = (self.publisher, self._heartbeat, self._stopping, self.health.heartbeat_written)
        if self._liveness is None:
            await send_heartbeats(*beats)
        else:
            await self._liveness.beat_for(*beats)

    def _heartbeat(self, stopping: bool) -> Heartbeat:
        return heartbeat(self.agent.name, self.settings, self.running.values(), stopping=stopping)

    def _on_circuit(self, state: CircuitState) -> None:
        if state.state != "open":
            self._admission.start_from_backlog()

    # -- consuming -------------------------------------------------------------------

    async def _consume_loop(self) -> None:
        assert self._consumer is not None
        partitions = self._partitions
        try:
            while not self._stopping.is_set():
                records = await self._fetching.next_records()
                if not partitions.ready.is_set():  # a rebalance is under way
                    await partitions.ready.wait()
                    owned = self._consumer.assignment()
                    records = [r for r in records if r.tp in owned]
                if partitions.journal_failure is not None:
                    failure = partitions.journal_failure
                    raise TransportError(f"cannot load the task journal: {failure}")
                for record in records:
                    self._dispatch(record)
                self._fetching.apply_backpressure()
        finally:
            self._fetching.close()

    def _dispatch(self, record: Delivery) -> None:
        """Hand a record to its part: a retry record to the delays, a domain event to
        adoption, a child's outcome to its parent, a command to control, a request to admission."""
        if not self._tracker.begin(record.tp, record.offset):
            return  # re-delivered after a rebalance; we already hold or finished it
        envelope = self._decode(record)
        if envelope is None:
            return
        self._consumed[envelope.type].inc()
        if record.topic in self._retry_topics:
            self._delays.hold_until_due(record, envelope)
        elif record.topic != self.inbox:
            self._writes.spawn(
                lambda: self._handoff.adopt(record, envelope), record, what="adoption"
            )
        elif envelope.type == RESULT:
            self._children.deliver(record, envelope)
        elif envelope.type in (STEER, CANCEL, REDISPATCH):
            apply_control(envelope, self._admission, self._writes)
            self._tracker.finish(record.tp, record.offset)
        else:
            self._dispatch_request(record, envelope)

    def _decode(self, record: Delivery) -> Envelope | None:
        """The record's envelope; None when it was dead-lettered instead."""
        size = len(record.value or b"")
        if size > self.settings.max_message_bytes:  # the broker may not enforce a limit
            limit = self.settings.max_message_bytes
            self._writes.dead_letter(
                record, f"oversized: {size} bytes, over MESH_MAX_MESSAGE_BYTES={limit}"
            )
            return None
        event_type = None
        if record.topic != self.inbox and record.topic not in self._retry_topics:
            event_type = event_type_of(record.topic, self.topics, self.agent.event_types)
        try:
            if event_type is None:
                return decode_envelope(record.value or b"")
            # upstream producers need not know the mesh (mesh/runtime/_ingress.py)
            return read_domain_event(record, event_type)
        except (orjson.JSONDecodeError, ValidationError) as exc:
            self._consumed["undecodable"].inc()
            self._writes.dead_letter(record, f"undecodable envelope: {first_line(exc)}")
        except InvalidInput as exc:  # its message names the header or field at fault
            self._consumed[event_type or "undecodable"].inc()  # the topic names its type
            self._writes.dead_letter(record, str(exc))
        return None

    def _dispatch_request(self, record: Delivery, envelope: Envelope) -> None:
        earlier = self.running.get(envelope.task_id or "")
        if (handler := self.agent.handlers.get(envelope.type)) is None:
            self._writes.dead_letter(
                record, f"agent {self.agent.name!r} does not handle {envelope.type!r}"
            )
        elif envelope.task_id is None:
            self._writes.dead_letter(record, f"{envelope.type!r} request without a task_id")
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
                self._writes.spawn(
                    lambda: self._handoff.reroute(record, envelope, fallback),
                    record,
                    what="reroute",
                )
            else:
                self._admission.accept(running)


def _run_of(request: Envelope) -> tuple[int, int]:
    """Which run of its task a request asks for; later runs compare greater."""
    return request.replay, request.attempt
