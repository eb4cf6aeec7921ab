"""`Scheduler`: fires the ticks of the schedules whose partitions this instance owns.

Instances share the schedules through a consumer group on the compacted schedules
topic (the supervisor runs one in each of its processes, and so `mesh dev` runs one):
each schedule's partition has one owner. Nothing is committed, so an owner reads its
partitions from their start after every assignment, and fires nothing until it has
read them to their end and its view of the scheduled tasks has caught up.

Each tick's task is submitted with an idempotency key made of the schedule's name and
the tick (`timing.task_key`), so its task id is derived from both; then the progress
is written. A tick submitted but not recorded (the owner died between the two) is
planned again by the next owner, whose submission finds the task in its view and
returns its id without submitting it again (ADR 040 has the argument).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from mesh._background import BackgroundTask
from mesh.client import Client
from mesh.errors import InvalidInput, TransportError, UnknownAgent
from mesh.schedules import records
from mesh.schedules.timing import Plan, plan, task_key
from mesh.settings import Settings
from mesh.topics import Topics, schedule_topics
from mesh.transport.base import Consumer, Delivery, TopicPartition, Transport
from mesh.views.tasks import TaskView
from schemas.schedules import Schedule, ScheduleProgress
from schemas.tasks import TaskState

log = logging.getLogger(__name__)
_MOST_WAIT = 1.0  # seconds: the loop looks at its schedules at least this often
_PRUNE_AFTER = 3600.0  # seconds an ended scheduled task stays in the view
_SCHEDULED = b'"idempotency_key":"schedule:'  # as encode_envelope writes a scheduled task's state


class ScheduledTasks(TaskView):
    """A task view of the agent cards and of the tasks schedules submitted only (not
    every task of the mesh: the supervisor's process holds it)."""

    def __init__(self, transport: Transport, topics: Topics) -> None:
        super().__init__(transport, topics)
        self._state_topic = topics.task_state

    def _on_record(self, record: Delivery) -> None:
        # Most task states are not ours: skip them before the model validates them.
        if record.topic == self._state_topic and _SCHEDULED not in (record.value or b""):
            return
        super()._on_record(record)

    def apply_state(self, state: TaskState) -> None:
        if (state.idempotency_key or "").startswith("schedule:"):
            super().apply_state(state)

    def _after_batch(self) -> None:
        horizon = time.time() - _PRUNE_AFTER
        old = [
            s
            for s in self.tasks.values()
            if s.status.is_terminal and s.finished_at and s.finished_at.timestamp() < horizon
        ]
        for state in old:
            del self.tasks[state.task_id]
            self.by_idempotency_key.pop((state.agent, state.idempotency_key or ""), None)


class Scheduler:
    def __init__(
        self, transport: Transport, settings: Settings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._transport = transport
        self._settings = settings
        self._clock = clock
        topics = Topics(settings.namespace)
        view = ScheduledTasks(transport, topics)
        self.client = Client(transport, settings, name="scheduler", view=view)
        self._consumer: Consumer = transport.consumer(
            [topics.schedules], group=topics.schedulers, listener=self
        )
        self.schedules: dict[str, Schedule] = {}  # of the partitions owned
        self.progress: dict[str, ScheduleProgress] = {}
        self.owned: frozenset[TopicPartition] = frozenset()
        self._position: dict[TopicPartition, int] = {}
        self._ends: dict[TopicPartition, int] | None = None  # None: read after assignment
        self.settled = False  # owned partitions read to their end, the view caught up
        self._wake: dict[str, float] = {}
        self._runner = BackgroundTask("scheduler", logger=log)

    async def start(self) -> None:
        await self._transport.ensure_topics(schedule_topics(self._settings))
        await self.client.start()
        await self._consumer.start()
        self._runner.start(self._run())

    async def stop(self) -> None:
        await self._runner.stop()
        await self._consumer.stop()
        await self.client.stop()

    # -- the group: partitions come and go ---------------------------------------------

    async def on_revoked(self, partitions: frozenset[TopicPartition]) -> None:
        gone = {tp.partition for tp in partitions}
        count = self._settings.partitions
        for name in [n for n in self.schedules if records.partition_of(n, count) in gone]:
            self.schedules.pop(name, None)
            self.progress.pop(name, None)
            self._wake.pop(name, None)
        for tp in partitions:
            self._position.pop(tp, None)
        self.owned -= partitions

    async def on_assigned(self, partitions: frozenset[TopicPartition]) -> None:
        self._ends = None
        self.settled = False
        self.owned |= partitions

    # -- the loop ----------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                await self._round()
            except TransportError as exc:  # the broker unreachable: the client reconnects
                log.warning("scheduler: %s; trying again in 1 s", exc)
                await asyncio.sleep(1.0)

    async def _round(self) -> None:
        for record in await self._consumer.fetch(timeout=self._wait(), max_records=500):
            self._position[record.tp] = record.offset + 1
            read = records.read(record)
            # Progress is written by the owner alone: once settled, its memory is ahead
            # of the echoes of its own writes.
            if not self.settled or not isinstance(read, ScheduleProgress):
                self._apply(read)
        if not self.settled:
            await self._settle()
        if self.settled:
            for schedule in list(self.schedules.values()):
                await self._tick(schedule)

    async def _settle(self) -> None:
        if self._ends is None:
            self._ends = await self._consumer.end_offsets()
        if all(self._position.get(tp, 0) >= end for tp, end in self._ends.items()):
            await self.client.view.catch_up()  # the tasks an earlier owner submitted
            self.settled = True
            log.info("scheduler: %d schedules owned", len(self.schedules))

    def _wait(self) -> float:
        if not self.settled or not self._wake:
            return _MOST_WAIT / 2
        return min(_MOST_WAIT, max(0.0, min(self._wake.values()) - self._clock()))

    def _apply(self, record: Schedule | ScheduleProgress | None) -> None:
        if isinstance(record, Schedule):
            if record.deleted:
                self.schedules.pop(record.name, None)
                self._wake.pop(record.name, None)
            else:
                self.schedules[record.name] = record
        elif isinstance(record, ScheduleProgress):
            self.progress[record.name] = record

    async def _tick(self, schedule: Schedule) -> None:
        progress = self.progress.get(schedule.name)
        decided = plan(schedule, progress, self._clock(), self._previous_ended(progress))
        self._wake[schedule.name] = decided.wake
        if decided.progress is not None:
            await self._act(schedule, decided)

    def _previous_ended(self, progress: ScheduleProgress | None) -> bool:
        if progress is None or progress.last_task_id is None:
            return True
        state = self.client.view.tasks.get(progress.last_task_id)
        return state is None or state.status.is_terminal  # none: ended and pruned

    async def _act(self, schedule: Schedule, decided: Plan) -> None:
        assert decided.progress is not None
        progress = decided.progress
        if decided.submit is not None:
            key = task_key(schedule, decided.submit)
            try:
                task_id = await self.client.submit(
                    schedule.agent, schedule.input, idempotency_key=key
                )
            except (InvalidInput, UnknownAgent) as exc:  # the agent changed since `add`
                log.error("schedule %r: tick not submitted: %s", schedule.name, exc)
                progress = progress.model_copy(update={"last_error": str(exc)})
            else:
                log.info("schedule %r: submitted %s (%s)", schedule.name, task_id, key)
                update = {"last_task_id": task_id, "submitted": progress.submitted + 1}
                progress = progress.model_copy(update={**update, "last_error": None})
        self.progress[schedule.name] = progress
        await records.write(self.client.publisher, progress)
