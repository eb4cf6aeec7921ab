"""The task methods of one A2A agent (an agent type), on the gateway's client and view
(ADR 041): SendMessage and its streaming form, GetTask, ListTasks, CancelTask,
SubscribeToTask. Push notification configs are in `_methods.py`.

A caller sees only its tenant's tasks (ADR 046): another tenant's task is "task not
found", the same JSON-RPC error as an unknown one, and the tasks it starts carry its
tenant."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from a2a.types import a2a_pb2
from a2a.utils.errors import (
    InvalidParamsError,
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
)
from google.protobuf.json_format import MessageToDict

from mesh.errors import InvalidInput, TaskNotFound
from mesh.gateway._index import SortKey, TaskFilter
from mesh.gateway.a2a import _wire as wire
from mesh.gateway.a2a._input import invalid, message_input
from mesh.gateway.auth import Principal, decided_by
from mesh.gateway.gateway import Gateway
from schemas.envelope import new_id, utc_now
from schemas.tasks import TaskState, TaskStatus

JsonObject = dict[str, Any]
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
APPROVAL_DECISIONS = ("approved", "rejected")
# A stream without updates this long gets a comment line: a2a-sdk's client reads with
# httpx's default timeout (5 s), and a task may work longer than that between updates.
KEEPALIVE_SECONDS = 2.0


class AgentTasks:
    """The tasks of agent type `agent` that `caller` may see, as an A2A agent serves them."""

    def __init__(self, gateway: Gateway, agent: str, caller: Principal) -> None:
        self.gateway = gateway
        self.agent = agent
        self.caller = caller

    async def task(self, task_id: str) -> TaskState:
        """The agent's task `task_id` (this replica's view, caught up on a miss)."""
        try:
            state = await self.gateway.client.get(task_id)
        except TaskNotFound:
            state = None
        if state is None or state.agent != self.agent or not self.caller.sees(state.tenant):
            raise TaskNotFoundError(f"id: no task {task_id!r} of agent {self.agent!r}")
        return state

    # -- SendMessage ---------------------------------------------------------------------

    async def send(self, params: a2a_pb2.SendMessageRequest) -> tuple[TaskState, datetime | None]:
        """Start a task with the message, or steer the task it names (`taskId`); the
        task's state, and for a follow-up the time it was sent (what to wait after)."""
        message = params.message
        if message.task_id:
            state = await self.task(message.task_id)
            sent_at = utc_now()
            await self._follow_up(state, message)
            return state, sent_at
        card = self.gateway.client.agent(self.agent)
        task_input = message_input(card, message)
        try:
            task_id = await self.gateway.client.submit(
                self.agent,
                task_input,
                # A retried message (same id) names the same task, on any replica.
                idempotency_key=f"a2a:{message.message_id}" if message.message_id else None,
                correlation_id=message.context_id or new_id(),
                tenant=self.caller.tenant,
            )
        except InvalidInput as exc:
            raise _misfit(exc) from None
        return await self.task(task_id), None

    async def _follow_up(self, state: TaskState, message: a2a_pb2.Message) -> None:
        """Steering: a message to a running task, or a person's answer to one that waits
        (`{"approval": "approved"|"rejected"}` in a data part answers an approval)."""
        if state.status.is_terminal:
            reason = f"task {state.task_id!r} has ended ({state.status}): send without taskId"
            raise UnsupportedOperationError(f"message.taskId: {reason}")
        text = "\n".join(p.text for p in message.parts if p.WhichOneof("content") == "text")
        data: JsonObject = {}
        for part in message.parts:
            if part.WhichOneof("content") == "data":
                value = MessageToDict(part.data)
                if isinstance(value, dict):
                    data.update(value)
        decision = data.get("approval")
        client = self.gateway.client
        if state.approval is not None and decision in APPROVAL_DECISIONS:
            by = decided_by(self.caller, data.get("by"), default="a2a client")
            answer = client.approve if decision == "approved" else client.reject
            await answer(state.task_id, by=by, note=text)
        else:
            await client.steer(state.task_id, text, **data)

    async def wait_until_interrupted(self, task_id: str, after: datetime | None) -> TaskState:
        """The task once it has ended or waits for a person (for a follow-up: once it
        did so after `after`), or as it is after MESH_GATEWAY_A2A_WAIT seconds."""
        state = await self.gateway.view.wait_for_state(
            task_id,
            lambda state: _interrupted(state, after),
            self.gateway.settings.gateway_a2a_wait,
        )
        if state is None:
            raise TaskNotFoundError(f"id: task {task_id!r} is no longer kept")
        return state

    async def follow(
        self, task_id: str, *, last_event_id: str | None, after: datetime | None
    ) -> AsyncIterator[JsonObject | None]:
        """Stream updates: each event after `last_event_id` as it comes (progress as
        WORKING status updates) and the text its model calls stream (artifact chunks,
        live only: ADR 022), then the result artifact and final status once the
        task is interrupted (ended, or waiting after `after`); None after each
        KEEPALIVE_SECONDS without an update."""
        view, tokens = self.gateway.view, self.gateway.tokens
        sent = last_event_id
        idle_since = time.monotonic()
        joined = tokens.unfinished(task_id)  # answers being generated: from their start
        tokens_seen = tokens.last_number(task_id)
        while True:
            state = view.tasks.get(task_id)
            if state is None:
                raise TaskNotFoundError(f"id: task {task_id!r} is no longer kept")
            seen = len(view.events.get(task_id, ()))
            for token in [*joined, *tokens.after(task_id, tokens_seen)]:
                yield wire.token_update(state, token.delta)
                tokens_seen, idle_since = max(tokens_seen, token.number), time.monotonic()
            joined = []
            for event in view.events_after(task_id, sent):
                sent = event.id
                for update in wire.event_updates(state, event):
                    yield update
                    idle_since = time.monotonic()
            if _interrupted(state, after):
                for update in wire.final_updates(state):
                    yield update
                return
            if time.monotonic() - idle_since > KEEPALIVE_SECONDS:
                yield None  # an SSE comment: the client's read timeout starts again
                idle_since = time.monotonic()
            await _either(
                view.wait_for_events(task_id, seen, timeout=1.0),
                tokens.wait_for_tokens(task_id, tokens_seen, timeout=1.0),
            )

    def last_event_id(self, task_id: str) -> str | None:
        history = self.gateway.view.events.get(task_id)
        return history[-1].id if history else None

    # -- CancelTask, ListTasks -------------------------------------------------------------

    async def cancel(self, task_id: str) -> TaskState:
        state = await self.task(task_id)
        if state.status.is_terminal:
            raise TaskNotCancelableError(f"id: task {task_id!r} has already ended ({state.status})")
        await self.gateway.client.cancel(task_id, "cancelled through A2A")
        wait = self.gateway.settings.gateway_a2a_wait
        ended = await self.gateway.view.wait_for_state(
            task_id, lambda state: state.status.is_terminal, wait
        )
        return ended or state

    def list(self, params: a2a_pb2.ListTasksRequest) -> JsonObject:
        page_size = params.page_size or DEFAULT_PAGE_SIZE
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise invalid("pageSize", f"must be 1 to {MAX_PAGE_SIZE}, not {page_size}")
        statuses = frozenset[TaskStatus]()
        if params.status:
            name = a2a_pb2.TaskState.Name(params.status)
            statuses = wire.MESH_STATUSES.get(name, frozenset())
            if not statuses:
                raise invalid("status", f"{name} is no state a mesh task can be in")
        updated_after = None
        if params.HasField("status_timestamp_after"):
            updated_after = params.status_timestamp_after.ToDatetime().timestamp()
        where = _A2AFilter(
            agent=self.agent,
            correlation=params.context_id or None,
            statuses=statuses,
            updated_after=updated_after,
            tenant=self.caller.tenant,
        )
        before = _decode_token(params.page_token) if params.page_token else None
        found = self.gateway.view.page(where, before=before, limit=page_size)
        total = self.gateway.view.count(where)
        history = params.history_length if params.HasField("history_length") else 0
        tasks = [wire.task_of(state, history_length=history) for state in found]
        if not params.include_artifacts:
            for task in tasks:
                task.pop("artifacts", None)
        more = len(found) == page_size
        return {
            "tasks": tasks,
            "nextPageToken": _encode_token(found[-1]) if more and found else "",
            "pageSize": page_size,
            "totalSize": total,  # every match, not this page
        }


@dataclass(frozen=True)
class _A2AFilter(TaskFilter):
    """The agent's tasks in any of `statuses` (an A2A state stands for several mesh
    statuses), last updated after `updated_after` (epoch seconds)."""

    statuses: frozenset[TaskStatus] = frozenset()
    updated_after: float | None = None

    def matches(self, state: TaskState) -> bool:
        return (
            super().matches(state)
            and (not self.statuses or state.status in self.statuses)
            and (self.updated_after is None or state.updated_at.timestamp() > self.updated_after)
        )


async def _either(*waits: Coroutine[Any, Any, None]) -> None:
    """Return once one of `waits` has."""
    pending = {asyncio.ensure_future(wait) for wait in waits}
    try:
        await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in pending:
            wait.cancel()
        for wait in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await wait


def _interrupted(state: TaskState, after: datetime | None) -> bool:
    if state.status.is_terminal:
        return True
    return state.status is TaskStatus.WAITING and (after is None or state.updated_at > after)


def _misfit(exc: InvalidInput) -> InvalidParamsError:
    """The input's misfits, each named under the data part it came from."""
    if not exc.errors:
        return invalid("message.parts", str(exc))
    errors = [
        {"field": f"message.parts.data.{error.field}", "message": error.reason}
        for error in exc.errors
    ]
    text = "; ".join(f"{error['field']}: {error['message']}" for error in errors)
    return InvalidParamsError(text, data={"errors": errors})


def _encode_token(state: TaskState) -> str:
    key = [state.created_at.timestamp(), state.task_id]
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode().rstrip("=")


def _decode_token(token: str) -> SortKey:
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        created, task_id = raw
        if isinstance(created, int | float) and isinstance(task_id, str):
            return (float(created), task_id)
    except (binascii.Error, orjson.JSONDecodeError, TypeError, ValueError):
        pass
    raise invalid("pageToken", "not a token this server returned (pass nextPageToken as is)")
