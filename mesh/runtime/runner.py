"""Running one task: parse its input, call the handler, record the outcome.

Three ways a run ends early, told apart on purpose:
- a cancel request (`RunningTask.cancel_reason` set): the task ends `cancelled`,
  its children are cancelled, the parent is told;
- a hand-back (worker stopping or partition revoked; `handed_back` set): nothing
  is recorded and the offset stays uncommitted, so the next owner runs it;
- an exception from the handler: the agent's `RetryPolicy` decides between a
  retry (the next attempt goes to a retry tier topic; the task is `retrying`) and
  the dead-letter queue (the task ends `dead_lettered` with the reason). Invalid
  input is dead-lettered at once; a task past its deadline or timeout ends `failed`.

Every outcome passes the worker's `EffectFence` (not written in the gap of a
rebalance) and ends with the task's `ended` journal record, written after the
outcome's records are acknowledged: a re-delivered request of an ended run is then
recognised as a duplicate (mesh/runtime/journal.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from mesh.agent import Agent, Handler
from mesh.context import ChildWaiter, TaskContext
from mesh.dlq.write import Failure, dead_letter
from mesh.observability.logs import task_log_context
from mesh.observability.metrics import HANDLER_SECONDS, Children
from mesh.observability.tracing import consumer_span, current_trace_id, trace_id_of, traced_for_send
from mesh.retry import NOT_BEFORE, GiveUp, RetryLater
from mesh.runtime.fence import EffectFence
from mesh.runtime.journal import Journal, TaskJournal
from mesh.runtime.lifecycle import TaskRecorder, submitted_state
from mesh.runtime.publisher import Publisher
from mesh.settings import Settings
from mesh.topics import retry_tier
from mesh.transport.base import Delivery, Outgoing, TopicPartition
from schemas import REGISTRY, Envelope, header_names
from schemas.envelope import new_id, utc_now
from schemas.redaction import marks_sensitive, redacted
from schemas.registry import SchemaError
from schemas.tasks import (
    CANCEL,
    DEADLINE_EXCEEDED,
    GAVE_UP,
    INVALID_INPUT,
    RESULT,
    Cancel,
    EventKind,
    Steer,
    TaskError,
    TaskOutcome,
    TaskState,
    TaskStatus,
)

log = logging.getLogger(__name__)


@dataclass(eq=False)
class RunningTask:
    """A task this worker has accepted (running, or in its backlog waiting for a slot)."""

    request: Envelope
    record: Delivery  # what the request was read from: provenance for dead letters
    handler: Handler
    task: asyncio.Task[None] | None = None
    context: TaskContext | None = None
    cancel_reason: str | None = None
    cancel_fails: bool = False  # end it `failed` with the reason, not `cancelled`
    handed_back: bool = False
    superseded: bool = False  # a newer attempt was dispatched (the supervisor's redispatch)
    ask_human: str | None = None  # wait for a human's go-ahead before the handler runs
    begun: bool = False  # its asyncio task has begun running (see `_interrupt`)
    # The input, parsed when the worker read the request (`parse_input`); or why it
    # does not fit its schema.
    message: BaseModel | None = None
    invalid: Exception | None = None
    held_since: float = 0.0  # loop time it went into the worker's backlog
    outcome_failures: int = 0  # earlier runs whose outcome the broker did not take
    early_steers: list[Steer] = field(default_factory=list)

    @property
    def task_id(self) -> str:
        assert self.request.task_id is not None
        return self.request.task_id

    @property
    def tp(self) -> TopicPartition:
        return self.record.tp

    @property
    def offset(self) -> int:
        return self.record.offset

    def steer(self, steer: Steer) -> None:
        if self.context is not None:
            self.context._deliver_steer(steer)
        else:
            self.early_steers.append(steer)

    def cancel(self, reason: str, *, fail: bool = False) -> None:
        self.cancel_reason = reason
        self.cancel_fails = fail
        self._interrupt()

    def hand_back(self) -> None:
        self.handed_back = True
        self._interrupt()

    def _interrupt(self) -> None:
        # An asyncio task cancelled before its first step never runs its body, so none
        # of its clean-up either (a cancel read in the same fetch as its request did
        # that): until the task has begun, the flags alone stop it, checked as it begins.
        if self.task is not None and self.begun:
            self.task.cancel()

    def parse_input(self) -> None:
        """Parse the input against its registered schema; keep the error if it fails."""
        request = self.request
        try:
            self.message = REGISTRY.parse(request.type, request.version, request.payload)
        except (SchemaError, ValidationError) as exc:
            self.invalid = exc

    def supersede(self) -> None:
        """A newer attempt replaces this run: it records no outcome and commits nothing
        (a result it still returns is noted and ignored)."""
        self.superseded = True
        self.hand_back()


class TaskRunner:
    """Runs `RunningTask`s of one agent (the worker bounds how many at once)."""

    def __init__(
        self,
        agent: Agent,
        publisher: Publisher,
        waiter: ChildWaiter,
        *,
        settings: Settings,
        journal: Journal,
        fence: EffectFence,
        background: Callable[[Callable[[], Awaitable[None]]], None],
    ) -> None:
        self.agent = agent
        self.publisher = publisher
        self.waiter = waiter
        self.settings = settings
        self.journal = journal
        self.fence = fence
        self.background = background
        self._handler_seconds = Children(HANDLER_SECONDS, agent.name)  # by task type

    async def run(self, running: RunningTask) -> None:
        request = running.request
        with (
            task_log_context(
                task_id=running.task_id,
                correlation_id=request.correlation_id,
                agent=self.agent.name,
            ),
            consumer_span(request, running.record.topic, self.agent.name),
        ):
            await self._run(running)

    async def _run(self, running: RunningTask) -> None:
        recorder = TaskRecorder(
            self.publisher,
            self.first_state(running),
            max_progress=self.settings.max_progress_entries,
            run_id=running.request.id,
        )
        try:
            deadline = running.request.deadline
            if deadline is not None and deadline <= utc_now():  # of no use to anyone now
                why = "the task's deadline passed before it started"
                error = TaskError(type=DEADLINE_EXCEEDED, message=why)
                await self._finish(running, recorder, error=error)
                return
            if running.cancel_reason is not None:  # cancelled before it began
                raise asyncio.CancelledError
            await self._execute(running, recorder)
        except asyncio.CancelledError:
            if running.handed_back or running.cancel_reason is None:
                raise
            _uncancel()
            await self._finish_cancelled(running, recorder)

    def first_state(self, running: RunningTask) -> TaskState:
        """The state a run starts from: children that earlier runs of the task started
        (from the journal) stay listed, since this run re-attaches to them."""
        trace_id = current_trace_id() or trace_id_of(running.request.traceparent)
        state = submitted_state(running.request, self.agent.name, trace_id=trace_id)
        earlier = self.journal.entries(running.record.partition, running.task_id)
        if earlier is None or not earlier.children:
            return state
        return state.model_copy(update={"children": list(earlier.children)})

    async def _execute(self, running: RunningTask, recorder: TaskRecorder) -> None:
        request = running.request
        if running.message is None and running.invalid is None:
            running.parse_input()
        if running.invalid is not None or running.message is None:
            exc = running.invalid
            reason = f"invalid input: {str(exc).splitlines()[0]}"
            failure = Failure(reason, exc, request.attempt)
            await self._dead_letter(running, recorder, failure, error_type=INVALID_INPUT)
            return
        message = running.message
        if log.isEnabledFor(logging.DEBUG):  # payloads at DEBUG only, sensitive fields masked
            shown = redacted(REGISTRY.model_for(request.type, request.version), request.payload)
            log.debug("input %s v%d: %s", request.type, request.version, shown)
        context = TaskContext(
            agent=self.agent,
            request=request,
            publisher=self.publisher,
            recorder=recorder,
            waiter=self.waiter,
            journal=TaskJournal(self.journal, running.record.partition, running.task_id),
            fence=self.fence,
        )
        running.context = context
        try:
            result = await self._call_handler(running, context, message, recorder)
            if running.superseded:
                raise _Superseded
        except _Superseded:
            await self._note_superseded(running, recorder)
        except _DeadlineExceeded:  # past its deadline or timeout: its children are of no use
            await cancel_children(self.publisher, context, "the parent ran past its deadline")
            why = "the task ran past its deadline or timeout"
            error = TaskError(type=DEADLINE_EXCEEDED, message=why)
            await self._finish(running, recorder, error=error)
        except Exception as exc:  # the handler's failure: retry it or dead-letter it
            if running.superseded:
                await self._note_superseded(running, recorder)
                return
            log.info("task %s attempt %d failed: %r", running.task_id, request.attempt, exc)
            await self._after_failure(running, recorder, exc)
        else:
            payload = _result_payload(result)
            size = len(orjson.dumps(payload))
            # The result travels in the state record and the parent's reply: over half
            # the record limit it could never be published, and the run would repeat.
            if size > self.settings.max_message_bytes // 2:
                reason = (
                    f"result of {size} bytes is over half of MESH_MAX_MESSAGE_BYTES="
                    f"{self.settings.max_message_bytes}; return a reference, not the data"
                )
                await self._dead_letter(running, recorder, Failure(reason, None, request.attempt))
                return
            masked = self._shown(result, payload)
            await self._finish(running, recorder, result=payload, shown=masked)

    async def _call_handler(
        self, running: RunningTask, context: TaskContext, message: BaseModel, recorder: TaskRecorder
    ) -> object:
        """Run the handler within the task's time limit.

        The `started` record is held (ADR 005): it goes out with the outcome, or after
        `start_record_delay` s if the handler is still running by then. The timer stops
        when the handler returns, so a busy event loop does not flush it needlessly.
        """
        recorder.hold(EventKind.STARTED)
        for steer in running.early_steers:  # arrived while the task waited for a slot
            context._deliver_steer(steer)
            recorder.hold(EventKind.STEERED, steer=steer)
        loop = asyncio.get_running_loop()
        delay = self.settings.start_record_delay
        flush = loop.call_later(delay, self.background, recorder.flush)
        began = time.perf_counter()
        # Only this scope is the task's deadline: a `TimeoutError` of the handler's own
        # (its `asyncio.timeout`, a model or socket timeout) is an ordinary failure,
        # retried by the policy.
        deadline = asyncio.timeout(self._time_left(running.request))
        try:
            async with deadline:
                if running.ask_human is not None:
                    answer = await context.escalate(running.ask_human)
                    if answer is not None and (answer.text or answer.data):
                        context._deliver_steer(answer)  # the human's words reach the handler
                return await running.handler.fn(context, message)
        except TimeoutError:
            if deadline.expired():
                raise _DeadlineExceeded from None
            raise
        finally:
            flush.cancel()
            self._handler_seconds[running.request.type].observe(time.perf_counter() - began)

    async def _note_superseded(self, running: RunningTask, recorder: TaskRecorder) -> None:
        """The run ended after a newer attempt began: say so in the task's history
        (an event only: the state belongs to the newer attempt) and apply nothing."""
        attempt = running.request.attempt
        log.warning("task %s attempt %d ended after it was superseded", running.task_id, attempt)
        message = f"attempt {attempt} ended after a newer attempt began; its outcome is ignored"
        await recorder.note(EventKind.SUPERSEDED, TaskError(type="Superseded", message=message))

    def _shown(self, result: object, payload: dict[str, Any] | None) -> dict[str, Any] | None:
        """A result model's dump (`payload`) with its sensitive fields masked, for the
        records; None when nothing is to be masked."""
        if not isinstance(result, BaseModel) or payload is None or not self.settings.mask_sensitive:
            return None
        model = type(result)
        return redacted(model, payload) if _marks_sensitive(model) else None

    def _time_left(self, request: Envelope) -> float | None:
        limits = []
        if self.agent.timeout is not None:
            limits.append(self.agent.timeout)
        if request.deadline is not None:
            limits.append((request.deadline - utc_now()).total_seconds())
        return max(min(limits), 0.0) if limits else None

    async def _finish(
        self,
        running: RunningTask,
        recorder: TaskRecorder,
        *,
        result: dict[str, Any] | None = None,
        shown: dict[str, Any] | None = None,
        error: TaskError | None = None,
    ) -> None:
        """`shown`: the result as the task's records show it (sensitive fields masked);
        the parent gets `result` itself."""
        kind = EventKind.FAILED if error is not None else EventKind.SUCCEEDED
        status = TaskStatus.FAILED if error is not None else TaskStatus.SUCCEEDED
        async with self._outcome(running, status):
            await recorder.record(kind, result=shown if shown is not None else result, error=error)
            outcome = TaskOutcome(status=status, result=result, error=error)
            await self._reply(running.request, outcome)

    async def _after_failure(
        self, running: RunningTask, recorder: TaskRecorder, exc: Exception
    ) -> None:
        attempt = running.request.attempt
        match self.agent.retry.decide(exc, attempt):
            case RetryLater(delay=delay, attempt=next_attempt):
                await self._schedule_retry(running, recorder, exc, delay, next_attempt)
            case GiveUp(reason=reason):
                first = _first_failure(running.record)
                await self._dead_letter(running, recorder, Failure(reason, exc, attempt, first))

    async def _schedule_retry(
        self,
        running: RunningTask,
        recorder: TaskRecorder,
        exc: Exception,
        delay: float,
        attempt: int,
    ) -> None:
        """Publish the next attempt to a retry tier, due in `delay` s; the partition
        the task came from moves on meanwhile."""
        due = utc_now() + timedelta(seconds=delay)
        request = running.request.model_copy(update={"id": new_id(), "attempt": attempt})
        topic = self.publisher.topics.retry(self.agent.name, retry_tier(self.settings, delay))
        request, span = traced_for_send(topic, request)  # the next attempt: this one's child
        record = self.publisher.encode(topic, request, key=running.task_id)
        first = _first_failure(running.record) or utc_now()
        headers = {
            **record.headers,
            NOT_BEFORE: due.isoformat().encode(),
            header_names.DLQ_FIRST_FAILURE: first.isoformat().encode(),
        }
        async with self._outcome(running, TaskStatus.RETRYING):
            try:
                await self.publisher.send_many([Outgoing(topic, record.value, record.key, headers)])
            finally:
                if span is not None:
                    span.end()
            await recorder.record(
                EventKind.RETRY_SCHEDULED, error=_error(exc), retry=(attempt, due)
            )

    async def _dead_letter(
        self,
        running: RunningTask,
        recorder: TaskRecorder,
        failure: Failure,
        *,
        error_type: str = "DeadLettered",
    ) -> None:
        """Park the request with its provenance, end the task `dead_lettered`, tell the parent."""
        async with self._outcome(running, TaskStatus.DEAD_LETTERED):
            await dead_letter(self.publisher, self.agent.name, running.record, failure)
            error = TaskError(type=error_type, message=failure.reason[:2000])
            await recorder.record(EventKind.DEAD_LETTERED, error=error)
            outcome = TaskOutcome(status=TaskStatus.DEAD_LETTERED, error=error)
            await self._reply(running.request, outcome)

    async def _finish_cancelled(self, running: RunningTask, recorder: TaskRecorder) -> None:
        reason = running.cancel_reason or "cancelled"
        if running.cancel_fails:
            kind, status, error_type = EventKind.FAILED, TaskStatus.FAILED, GAVE_UP
        else:
            kind, status, error_type = EventKind.CANCELLED, TaskStatus.CANCELLED, "Cancelled"
        error = TaskError(type=error_type, message=reason)
        async with self._outcome(running, status):
            if running.context is not None:
                await cancel_children(self.publisher, running.context, reason)
            await recorder.record(kind, error=error)
            outcome = TaskOutcome(status=status, error=error)
            await self._reply(running.request, outcome)

    @contextlib.asynccontextmanager
    async def _outcome(self, running: RunningTask, status: TaskStatus) -> AsyncIterator[None]:
        """Write an outcome inside the fence, then the run's `ended` journal record."""
        async with self.fence.effect():
            yield
            await self.journal.record_ended(running.record.partition, running.request, status)

    async def _reply(self, request: Envelope, outcome: TaskOutcome) -> None:
        """Send the outcome to the parent's inbox, keyed by the parent's task id."""
        if request.reply_to is None or request.parent_task_id is None:
            return
        envelope = Envelope(
            type=RESULT,
            task_id=request.task_id,
            parent_task_id=request.parent_task_id,
            root_task_id=request.root_task_id,
            causation_id=request.id,
            source=self.publisher.source,
            payload=outcome.model_dump(mode="json", exclude_none=True),
        )
        await self.publisher.send(request.reply_to, envelope, key=request.parent_task_id)


async def cancel_children(publisher: Publisher, context: TaskContext, reason: str) -> None:
    """Ask every unfinished child to cancel (each cancels its own children in turn)."""
    for handle in context.children:
        if handle.done():
            continue
        envelope = Envelope(
            type=CANCEL,
            task_id=handle.task_id,
            parent_task_id=context.task_id,
            root_task_id=context.root_task_id,
            source=publisher.source,
            payload=Cancel(reason=f"parent cancelled: {reason}").model_dump(),
        )
        await publisher.send(publisher.topics.inbox(handle.agent), envelope, key=handle.task_id)


class _Superseded(Exception):
    """The handler returned after its run was superseded."""


class _DeadlineExceeded(Exception):
    """The task's own time limit (its deadline, or the agent's `timeout`) ran out."""


def _first_failure(record: Delivery) -> datetime | None:
    """When an earlier attempt of this task first failed (a header of retry records)."""
    raw = record.headers.get(header_names.DLQ_FIRST_FAILURE)
    return datetime.fromisoformat(raw.decode()) if raw else None


@functools.lru_cache(maxsize=1024)
def _marks_sensitive(model: type[BaseModel]) -> bool:
    return marks_sensitive(model.model_json_schema())


def _uncancel() -> None:
    # The cancel request was handled; let the recording below await normally.
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


def _error(exc: BaseException) -> TaskError:
    return TaskError(type=type(exc).__name__, message=str(exc)[:2000])


def _result_payload(result: object) -> dict[str, Any] | None:
    if result is None:
        return None
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    if isinstance(result, dict):
        return result
    return {"value": result}
