"""Task lifecycle: every transition is an event on the task-events topic and the
new latest state on the compacted task-state topic, both keyed by task id.

The submitter writes `submitted` before it publishes the request, so on the
task-id-keyed partitions a task's state records are always in causal order.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Awaitable, Mapping
from datetime import datetime
from typing import Any

from mesh.models.accounting import add_usage
from mesh.observability.metrics import TASK_TRANSITIONS, TENANT_TASKS, LabelCache
from mesh.observability.tenants import tenant_label
from mesh.runtime._task_records import TaskRecords, terminal_event_id
from mesh.runtime._transitions import next_state, transition_event
from mesh.runtime._transitions import share_parts as share_parts  # re-exported
from mesh.runtime._transitions import submitted_state as submitted_state  # re-exported
from mesh.runtime.publisher import Publisher
from schemas import Envelope
from schemas.envelope import new_id, utc_now
from schemas.redaction import marks_sensitive
from schemas.registry import REGISTRY, SchemaError
from schemas.tasks import (
    TASK_EVENT,
    TASK_STATE,
    EventKind,
    ModelUsage,
    PendingApproval,
    ProgressEntry,
    Steer,
    TaskError,
    TaskEvent,
    TaskState,
)

# Counted as each event is built: every transition of every task passes `_apply` or
# `note` (the supervisor counts the events it writes itself: mesh/supervision/app.py).
_TRANSITIONS = LabelCache(TASK_TRANSITIONS)
# Per tenant only a task's start and end (ADR 046): what an operator bills and watches.
_TENANT_TASKS = LabelCache(TENANT_TASKS)
_TENANT_KINDS = frozenset(
    {
        EventKind.SUBMITTED,
        EventKind.SUCCEEDED,
        EventKind.FAILED,
        EventKind.CANCELLED,
        EventKind.DEAD_LETTERED,
    }
)


class TaskRecorder(TaskRecords):
    """Applies transitions to one task's state and publishes event + state.

    A transition can be *held* (`hold`): its event waits and goes out with the
    task's next record, or when `flush` is called. The runner holds `started`, so a
    short task writes started + succeeded events and one state record in a single
    produce, instead of two states and two round trips (Temporal records an
    activity's start lazily for the same reason).

    One object per task with slots, its record layout (`TaskRecords`) included, and
    no lock while no record is being written: every waiting task holds one (ADR 049).
    """

    __slots__ = ("_held", "_max_progress", "_run_id", "_waiting", "_writing", "state")

    def __init__(
        self,
        publisher: Publisher,
        state: TaskState,
        *,
        max_progress: int,
        run_id: str | None = None,
        input_schema: Mapping[str, Any] | None = None,
    ) -> None:
        """`run_id` (the id of the request being run) names the run's terminal event:
        a re-run of the same request after a crash writes the same event id again, so
        readers count a task's terminal transition once (ADR 009).

        The state's input is masked by `input_schema` (default: the registered
        model's schema) in what is published, unless MESH_MASK_SENSITIVE=false.
        """
        if input_schema is not None and not marks_sensitive(input_schema):
            input_schema = None
        schema = input_schema or _sensitive_schema(state.type, state.version)
        super().__init__(publisher, state, schema if publisher.settings.mask_sensitive else None)
        self._run_id = run_id
        self.state = state
        self._max_progress = max_progress
        self._held: tuple[TaskEvent, ...] = ()
        # Keeps one task's records in transition order: the writers waiting for their
        # turn, made when a record is written while another is (`_take_turn`), dropped
        # when none is. No lock: most tasks write one record at a time (ADR 057).
        self._waiting: deque[asyncio.Future[None]] | None = None
        self._writing = False  # a writer has the turn

    def hold(self, kind: EventKind, *, steer: Steer | None = None) -> None:
        """Apply a transition now; publish it with the next record (or on `flush`)."""
        self._held = (*self._held, self._apply(kind, steer=steer))

    async def flush(self) -> None:
        """Publish held transitions (and the state they lead to), if any."""
        await self._take_turn()
        try:
            if self._held:
                await self._publish([])
        finally:
            self._end_turn()

    async def record(
        self,
        kind: EventKind,
        *,
        progress: ProgressEntry | None = None,
        child: tuple[str, str] | None = None,
        steer: Steer | None = None,
        result: dict[str, Any] | None = None,
        error: TaskError | None = None,
        retry: tuple[int, datetime] | None = None,
        waiting_for: str | None = None,
        held: str | None = None,
        approval: PendingApproval | None = None,
    ) -> None:
        """Apply one transition and publish its event with the new state.

        `retry` is (attempt, when) for a `retry_scheduled` transition; `waiting_for`
        what a `waiting` task waits for (a human's answer to this); `held` why a
        `held` task has not started; `approval` the approval a `waiting` task asks
        for, or the one that expired (ADR 027).
        """
        await self._take_turn()
        try:
            event = self._apply(
                kind, progress, child, steer, result, error, retry, waiting_for, held
            )
            if approval is not None:
                event = event.model_copy(update={"approval": approval})
                if kind is EventKind.WAITING:  # in the state while it waits (the inbox)
                    self.state = self.state.model_copy(update={"approval": approval})
            await self._publish([event])
        finally:
            self._end_turn()

    def model_calls(self) -> int:
        """The model calls the task has made: every run's, each once (its state's usage
        starts from the journal's model steps, mesh/runtime/_runner.py)."""
        return sum(line.calls for line in self.state.usage)

    async def record_model_call(self, line: ModelUsage) -> None:
        """A model call was answered (not replayed): its usage line joins the state's,
        published at once so a running task shows what it has spent (ADR 021)."""
        await self._take_turn()
        try:
            event = self._apply(EventKind.MODEL_CALLED)
            event = event.model_copy(update={"usage": line})
            usage = add_usage(self.state.usage, [line])
            self.state = self.state.model_copy(update={"usage": usage})
            await self._publish([event])
        finally:
            self._end_turn()

    async def _take_turn(self) -> None:
        """Wait until the task's earlier records are written (in the order asked)."""
        if not self._writing:  # nobody writing: the turn is this writer's at once
            self._writing = True
            return
        waiting = self._waiting
        if waiting is None:
            waiting = self._waiting = deque()
        turn = asyncio.get_running_loop().create_future()
        waiting.append(turn)
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled():
                self._end_turn()  # handed the turn as it was cancelled: pass it on
            elif turn in waiting:
                waiting.remove(turn)
            raise

    def _end_turn(self) -> None:
        """The writer whose turn it was is done: hand the turn to the next, if any."""
        waiting = self._waiting
        while waiting:
            turn = waiting.popleft()
            if not turn.done():  # (done: its writer was cancelled while it waited)
                turn.set_result(None)
                return
        self._writing = False
        self._waiting = None  # nobody writing or waiting: no queue while idle

    async def model_waiting(self) -> None:
        """A model call of the task is still running (the supervisor's lease: ADR 021)."""
        await self.note(EventKind.MODEL_WAITING)

    async def note(self, kind: EventKind, error: TaskError | None = None) -> None:
        """Publish an event that changes no state (the task's history only)."""
        _TRANSITIONS[self.state.agent, kind].inc()
        event = TaskEvent(
            kind=kind,
            agent=self.state.agent,
            status=self.state.status,
            at=utc_now(),
            instance=self._publisher.source.instance,
            error=error,
            attempt=self.state.attempt,
        )
        topic = self._publisher.topics.task_events
        await self._publisher.send_many([self.encode(topic, TASK_EVENT, event)])

    def _publish(self, events: list[TaskEvent]) -> Awaitable[None]:
        """Encode the held events, `events` and the state; the write to await (a plain
        function: no coroutine of its own per record written)."""
        events, self._held = [*self._held, *events], ()
        topics = self._publisher.topics
        records = [
            self.encode(topics.task_events, TASK_EVENT, event, self._event_id(event))
            for event in events
        ]
        records.append(self.encode(topics.task_state, TASK_STATE, self.state))
        return self._publisher.send_many(records)

    def _apply(
        self,
        kind: EventKind,
        progress: ProgressEntry | None = None,
        child: tuple[str, str] | None = None,
        steer: Steer | None = None,
        result: dict[str, Any] | None = None,
        error: TaskError | None = None,
        retry: tuple[int, datetime] | None = None,
        waiting_for: str | None = None,
        held: str | None = None,
    ) -> TaskEvent:
        """Move the state on by one transition and return its event."""
        _TRANSITIONS[self.state.agent, kind].inc()
        if kind in _TENANT_KINDS:
            _TENANT_TASKS[tenant_label(self.state.tenant), kind.value].inc()
        now = utc_now()
        instance = self._publisher.source.instance
        self.state = state = next_state(
            self.state,
            kind,
            now,
            instance,
            self._max_progress,
            progress=progress,
            child=child,
            result=result,
            error=error,
            waiting_for=waiting_for,
            held=held,
        )
        return transition_event(
            state,
            kind,
            now,
            instance,
            progress=progress,
            child=child,
            steer=steer,
            result=result,
            error=error,
            retry=retry,
            waiting_for=waiting_for,
            held=held,
        )

    def _event_id(self, event: TaskEvent) -> str:
        if self._run_id is None or not event.status.is_terminal:
            return new_id()
        return terminal_event_id(self._run_id, event.kind)


@functools.lru_cache(maxsize=1024)
def _sensitive_schema(type_: str, version: int) -> Mapping[str, Any] | None:
    """The registered schema of `(type_, version)` if it marks a field sensitive (most
    mark none: their records are not walked at all)."""
    try:
        schema = REGISTRY.model_for(type_, version).model_json_schema()
    except SchemaError:
        return None  # a contract this process does not ship (the sender may pass it)
    return schema if marks_sensitive(schema) else None


async def submit_task(
    publisher: Publisher,
    request: Envelope,
    agent: str,
    *,
    input_schema: Mapping[str, Any] | None = None,
) -> TaskState:
    """Record `submitted`, then publish the request to the agent's inbox
    (`input_schema`: the agent card's, to mask an input whose model is not here)."""
    recorder = TaskRecorder(
        publisher, submitted_state(request, agent), max_progress=0, input_schema=input_schema
    )
    await recorder.record(EventKind.SUBMITTED)
    await publisher.send(publisher.topics.inbox(agent), request, key=request.task_id)
    return recorder.state
