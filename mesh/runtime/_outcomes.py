"""Writing how a run ended: the task's records, the reply to its parent, the journal.

The runner decides how a run ended; `OutcomeWriter` writes it:
- `finish`: `succeeded` with the result, or `failed` (past its deadline or timeout);
- `after_failure`: the handler raised, and the agent's `RetryPolicy` decides between
  the next attempt on a retry tier topic (the task is `retrying`) and the dead-letter
  queue;
- `dead_letter`: parked with its provenance and the reason (`dead_lettered`);
- `cancelled`: a cancel request ended it (`cancelled`, or `failed` when the request
  says so); its children are cancelled too.

Each outcome is written inside the worker's `EffectFence` (never in the gap of a
rebalance) and followed by the run's `ended` journal record once its records are
acknowledged: a re-delivered request of an ended run is then recognised as a
duplicate (mesh/runtime/journal.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import Any

from mesh.agent import Agent
from mesh.context import TaskContext
from mesh.dlq.write import Failure, dead_letter
from mesh.observability.tracing import traced_for_send
from mesh.retry import GiveUp, RetryLater
from mesh.runtime._running_task import RunningTask
from mesh.runtime.fence import EffectFence
from mesh.runtime.journal import Journal
from mesh.runtime.lifecycle import TaskRecorder
from mesh.runtime.publisher import Publisher
from mesh.settings import Settings
from mesh.topics import retry_tier
from mesh.transport.base import Delivery, Outgoing
from schemas import Envelope, header_names
from schemas.envelope import new_id, utc_now
from schemas.tasks import (
    CANCEL,
    GAVE_UP,
    RESULT,
    Cancel,
    EventKind,
    TaskError,
    TaskOutcome,
    TaskStatus,
)


class OutcomeWriter:
    """Writes the outcomes of one agent's runs."""

    def __init__(
        self,
        agent: Agent,
        publisher: Publisher,
        *,
        settings: Settings,
        journal: Journal,
        fence: EffectFence,
    ) -> None:
        self.agent = agent
        self.publisher = publisher
        self.settings = settings
        self.journal = journal
        self.fence = fence

    async def finish(
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
            recorded = recorder.record(
                kind, result=shown if shown is not None else result, error=error
            )
            await self._with_reply(running.request, recorded, status, result=result, error=error)

    async def after_failure(
        self, running: RunningTask, recorder: TaskRecorder, exc: Exception
    ) -> None:
        attempt = running.request.attempt
        match self.agent.retry.decide(exc, attempt):
            case RetryLater(delay=delay, attempt=next_attempt):
                await self._schedule_retry(running, recorder, exc, delay, next_attempt)
            case GiveUp(reason=reason):
                first = _first_failure(running.record)
                await self.dead_letter(running, recorder, Failure(reason, exc, attempt, first))

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
            header_names.RETRY_NOT_BEFORE: due.isoformat().encode(),
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

    async def dead_letter(
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
            await self._reply(running.request, TaskStatus.DEAD_LETTERED, error=error)

    async def cancelled(self, running: RunningTask, recorder: TaskRecorder) -> None:
        """End the task as its cancel request says, and cancel its children."""
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
            await self._reply(running.request, status, error=error)

    def _outcome(self, running: RunningTask, status: TaskStatus) -> _Outcome:
        """Write an outcome inside the fence, then the run's `ended` journal record."""
        return _Outcome(self, running, status)

    async def _with_reply(
        self,
        request: Envelope,
        recorded: Awaitable[None],
        status: TaskStatus,
        *,
        result: dict[str, Any] | None = None,
        error: TaskError | None = None,
    ) -> None:
        """The task's records and the reply to its parent, written side by side: they go
        out in one produce, and the parent learns of the outcome a round trip sooner
        (ADR 058). The `ended` journal record still waits for both acknowledgements."""
        if request.reply_to is None or request.parent_task_id is None:
            await recorded
            return
        await asyncio.gather(recorded, self._reply(request, status, result=result, error=error))

    async def _reply(
        self,
        request: Envelope,
        status: TaskStatus,
        *,
        result: dict[str, Any] | None = None,
        error: TaskError | None = None,
    ) -> None:
        """Send the outcome to the parent's inbox, keyed by the parent's task id (a
        root task has none: no outcome is built for it)."""
        if request.reply_to is None or request.parent_task_id is None:
            return
        outcome = TaskOutcome(status=status, result=result, error=error)
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


class _Outcome:
    """`async with writer._outcome(running, status)`: the outcome's records are written
    inside the fence and, once they were acknowledged (the block ended without an
    error), the run's `ended` journal record. A class, not a generator-based context
    manager: every task passes here once."""

    __slots__ = ("_running", "_status", "_writer")

    def __init__(self, writer: OutcomeWriter, running: RunningTask, status: TaskStatus) -> None:
        self._writer = writer
        self._running = running
        self._status = status

    async def __aenter__(self) -> None:
        fence = self._writer.fence
        if not fence.hold_if_open():  # closed for a rebalance: wait until it opens
            await fence.__aenter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        try:
            if exc_type is None:
                running = self._running
                journal = self._writer.journal
                await journal.record_ended(running.raw.partition, running.request, self._status)
        finally:
            self._writer.fence.release()


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


def _first_failure(record: Delivery) -> datetime | None:
    """When an earlier attempt of this task first failed (a header of retry records)."""
    raw = record.headers.get(header_names.DLQ_FIRST_FAILURE)
    return datetime.fromisoformat(raw.decode()) if raw else None


def _error(exc: BaseException) -> TaskError:
    return TaskError(type=type(exc).__name__, message=str(exc)[:2000])
