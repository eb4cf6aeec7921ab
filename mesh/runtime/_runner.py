"""Running one task: parse its input, call the handler, decide how the run ended.

Three ways a run ends early, told apart on purpose:
- a cancel request (`RunningTask.cancel_reason` set): the task ends `cancelled`,
  its children are cancelled, the parent is told;
- a hand-back (worker stopping or partition revoked; `handed_back` set): nothing
  is recorded and the offset stays uncommitted, so the next owner runs it;
- an exception from the handler: the agent's `RetryPolicy` decides between a
  retry (the next attempt goes to a retry tier topic; the task is `retrying`) and
  the dead-letter queue (the task ends `dead_lettered` with the reason). Invalid
  input is dead-lettered at once; a task past its deadline or timeout, or whose
  approval expired with `on_expiry="halt"` (mesh/approvals.py), ends `failed`.

The outcome is written by `OutcomeWriter` (mesh/runtime/_outcomes.py): inside the
worker's `EffectFence`, and followed by the run's `ended` journal record.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson
from pydantic import BaseModel

from mesh.agent import Agent
from mesh.context import ChildWaiter, TaskContext
from mesh.dlq.write import Failure
from mesh.errors import ApprovalExpired, first_line
from mesh.models.accounting import journaled_usage
from mesh.models.clients import ModelClients
from mesh.observability.logs import bind_task_fields
from mesh.observability.metrics import HANDLER_SECONDS, LabelCache
from mesh.observability.tracing import consumer_span, current_trace_id, trace_id_of
from mesh.runtime._held_starts import HeldStarts
from mesh.runtime._outcomes import OutcomeWriter, cancel_children
from mesh.runtime._running_task import RunningTask
from mesh.runtime.fence import EffectFence
from mesh.runtime.journal import Journal
from mesh.runtime.lifecycle import TaskRecorder, submitted_state
from mesh.runtime.publisher import Publisher
from mesh.settings import Settings
from schemas import REGISTRY, Envelope
from schemas.envelope import utc_now
from schemas.redaction import marks_sensitive, redacted
from schemas.tasks import (
    DEADLINE_EXCEEDED,
    INVALID_INPUT,
    EventKind,
    TaskError,
    TaskState,
)

log = logging.getLogger(__name__)


class RunEnds(Protocol):
    """Told how each run ended (the worker's admission: mesh/runtime/_admission.py)."""

    def run_failed(self, running: RunningTask, exc: Exception) -> None:
        """Its outcome could not be recorded: the broker refused it, or a bug."""

    def run_ended(self, running: RunningTask) -> None:
        """It ended, however: its slot is free."""


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
        self.outcomes = OutcomeWriter(
            agent, publisher, settings=settings, journal=journal, fence=fence
        )
        self._handler_seconds = LabelCache(HANDLER_SECONDS, agent.name)  # by task type
        self._held_starts = HeldStarts(settings.start_record_delay, self._flush_started)
        self.models = ModelClients(settings)  # provider clients, closed by the worker

    async def run(self, running: RunningTask, ends: RunEnds) -> None:
        """The task's one coroutine: while its handler waits, this frame and the
        handler's are all it holds (ADR 049). Set-up, and the choice of how the run
        ended, are plain functions around the handler's await; `ends` (admission) is
        told how the run ended and frees its slot."""
        running.begun = True
        try:
            if running.handed_back:  # handed back before it began
                return
            # No local for the request: a run still going after a while lays it out
            # small (`_flush_started`), and a frame holding the first would keep both.
            agent = self.agent.name
            # Bound for the rest of the task: its context is its own, nothing to reset.
            correlation_id = running.request.correlation_id
            bind_task_fields(task_id=running.task_id, correlation_id=correlation_id, agent=agent)
            with consumer_span(running.request, running.raw.topic, agent):
                recorder = self._recorder(running)
                try:
                    outcome = self._before_handler(running, recorder)
                    if outcome is None:  # the handler runs
                        began = time.perf_counter()
                        try:
                            result = await self._handler_call(running)
                        except Exception as exc:
                            outcome = self._after_failure(running, recorder, exc)
                        else:
                            outcome = self._after_success(running, recorder, result)
                        finally:
                            self._handler_ended(running, began)
                    await outcome
                except asyncio.CancelledError:
                    if running.handed_back or running.cancel_reason is None:
                        raise
                    _uncancel()
                    await self.outcomes.cancelled(running, recorder)
        except asyncio.CancelledError:
            if not running.handed_back:
                raise
        except Exception as exc:  # the outcome could not be recorded
            ends.run_failed(running, exc)
        finally:
            ends.run_ended(running)

    def _recorder(self, running: RunningTask) -> TaskRecorder:
        return TaskRecorder(
            self.publisher,
            self.first_state(running),
            max_progress=self.settings.max_progress_entries,
            run_id=running.request.id,
        )

    def first_state(self, running: RunningTask) -> TaskState:
        """The state a run starts from: children that earlier runs of the task started
        (from the journal) stay listed, since this run re-attaches to them; and the
        model calls they made are its usage, each once (ADR 021)."""
        trace_id = current_trace_id() or trace_id_of(running.request.traceparent)
        request = running.request
        state = submitted_state(request, self.agent.name, trace_id=trace_id, shared=True)
        earlier = self.journal.entries(running.raw.partition, running.task_id)
        if earlier is None or not (earlier.children or earlier.steps):
            return state
        usage = journaled_usage(self.agent.name, earlier.steps)
        return state.model_copy(update={"children": list(earlier.children), "usage": usage})

    def _before_handler(
        self, running: RunningTask, recorder: TaskRecorder
    ) -> Awaitable[None] | None:
        """Ready the handler's call (its context, the held `started`); or, when the
        handler is not to run, the outcome to write instead."""
        request = running.request
        if request.deadline is not None and request.deadline <= utc_now():
            why = "the task's deadline passed before it started"  # of no use now
            error = TaskError(type=DEADLINE_EXCEEDED, message=why)
            return self.outcomes.finish(running, recorder, error=error)
        if running.cancel_reason is not None:  # cancelled before it began
            raise asyncio.CancelledError
        if running.message is None and running.invalid is None:
            running.parse_input()
        if running.invalid is not None or running.message is None:
            exc = running.invalid
            reason = f"invalid input: {first_line(exc) if exc else 'none parsed'}"
            failure = Failure(reason, exc, request.attempt)
            return self.outcomes.dead_letter(running, recorder, failure, error_type=INVALID_INPUT)
        if log.isEnabledFor(logging.DEBUG):  # payloads at DEBUG only, sensitive fields masked
            shown = redacted(REGISTRY.model_for(request.type, request.version), request.payload)
            log.debug("input %s v%d: %s", request.type, request.version, shown)
        context = running.context = TaskContext(
            agent=self.agent,
            request=request,
            publisher=self.publisher,
            recorder=recorder,
            waiter=self.waiter,
            journal=self.journal,
            partition=running.raw.partition,
            fence=self.fence,
            models=self.models,
        )
        self._hold_started(running, context, recorder)
        return None

    def _after_failure(
        self, running: RunningTask, recorder: TaskRecorder, exc: Exception
    ) -> Awaitable[None]:
        """The outcome of a handler that raised `exc`."""
        if isinstance(exc, _DeadlineExceeded):  # past its deadline or timeout
            return self._past_deadline(running, recorder)
        if isinstance(exc, ApprovalExpired):  # `on_expiry="halt"`: a decision, not a fault
            error = TaskError(type=type(exc).__name__, message=str(exc)[:2000])
            return self.outcomes.finish(running, recorder, error=error)  # (ADR 027)
        if running.superseded:
            return self._note_superseded(running, recorder)
        # The handler's failure: retry it or dead-letter it.
        log.info("task %s attempt %d failed: %r", running.task_id, running.request.attempt, exc)
        return self.outcomes.after_failure(running, recorder, exc)

    def _after_success(
        self, running: RunningTask, recorder: TaskRecorder, result: object
    ) -> Awaitable[None]:
        if running.superseded:
            return self._note_superseded(running, recorder)
        return self._succeeded(running, recorder, result)

    async def _past_deadline(self, running: RunningTask, recorder: TaskRecorder) -> None:
        """Its children are of no use now: cancel them, end the task `failed`."""
        assert running.context is not None
        await cancel_children(self.publisher, running.context, "the parent ran past its deadline")
        why = "the task ran past its deadline or timeout"
        error = TaskError(type=DEADLINE_EXCEEDED, message=why)
        await self.outcomes.finish(running, recorder, error=error)

    def _succeeded(
        self, running: RunningTask, recorder: TaskRecorder, result: object
    ) -> Awaitable[None]:
        payload = _result_payload(result)
        size = len(orjson.dumps(payload))
        # The result travels in the state record and the parent's reply: over half
        # the record limit it could never be published, and the run would repeat.
        if size > self.settings.max_message_bytes // 2:
            reason = (
                f"result of {size} bytes is over half of MESH_MAX_MESSAGE_BYTES="
                f"{self.settings.max_message_bytes}; return a reference, not the data"
            )
            failure = Failure(reason, None, running.request.attempt)
            return self.outcomes.dead_letter(running, recorder, failure)
        masked = self._shown(result, payload)
        return self.outcomes.finish(running, recorder, result=payload, shown=masked)

    def _hold_started(
        self, running: RunningTask, context: TaskContext, recorder: TaskRecorder
    ) -> None:
        """The `started` record is held (ADR 005): it goes out with the outcome, or after
        `start_record_delay` s if the handler is still running by then (one timer per
        runner: mesh/runtime/_held_starts.py). Released when the handler returns, so a
        busy event loop does not flush it needlessly."""
        recorder.hold(EventKind.STARTED)
        for steer in running.early_steers or ():  # arrived while the task waited for a slot
            context._deliver_steer(steer)
            recorder.hold(EventKind.STEERED, steer=steer)
        running.early_steers = None
        self._held_starts.hold(running, recorder)

    def _handler_call(self, running: RunningTask) -> Awaitable[object]:
        """The handler's call, within the task's time limit (none: the handler's own
        coroutine, no frame around it). Only this scope is the task's deadline: a
        `TimeoutError` of the handler's own (its `asyncio.timeout`, a model or socket
        timeout) is an ordinary failure, retried by the policy."""
        context, message = running.context, running.message
        assert context is not None and message is not None
        limit = self._time_left(running.request)
        if running.ask_human is None and limit is None:
            return running.handler.fn(context, message)
        return self._limited_call(running, context, message, limit)

    async def _limited_call(
        self, running: RunningTask, context: TaskContext, message: BaseModel, limit: float | None
    ) -> object:
        deadline = _NO_LIMIT if limit is None else asyncio.timeout(limit)
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

    def _handler_ended(self, running: RunningTask, began: float) -> None:
        HeldStarts.release(running)
        self._handler_seconds[running.request.type].observe(time.perf_counter() - began)

    def _flush_started(self, running: RunningTask, recorder: TaskRecorder) -> None:
        """The handler still runs `start_record_delay` s on: publish its `started`, and
        lay out small what the task keeps while it waits (ADR 062)."""
        running.keep_small()
        self.background(recorder.flush)

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


class _NoLimit:
    """`asyncio.timeout(None)` without an object per task: a run with no time limit."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    def expired(self) -> bool:
        return False


_NO_LIMIT = _NoLimit()


class _DeadlineExceeded(Exception):
    """The task's own time limit (its deadline, or the agent's `timeout`) ran out."""


@functools.lru_cache(maxsize=1024)
def _marks_sensitive(model: type[BaseModel]) -> bool:
    return marks_sensitive(model.model_json_schema())


def _uncancel() -> None:
    # The cancel request was handled; let the recording below await normally.
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


def _result_payload(result: object) -> dict[str, Any] | None:
    if result is None:
        return None
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    if isinstance(result, dict):
        return result
    return {"value": result}
