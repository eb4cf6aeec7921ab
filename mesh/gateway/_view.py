"""`GatewayView`: the gateway's materialized view of tasks, their events and webhooks.

A `TaskView` (so `client.view.tasks` keeps working for every route) that also reads
the task-events topic and the gateway's webhook topic, all without a consumer group:
every replica holds everything and answers every read locally (ADR 011).

Memory: a task's events are kept as their id and encoded JSON payload (bytes), not
as models; the index holds one shared key tuple per task (mesh/gateway/_index.py).
An ended task leaves the view (state, events, webhook, idempotency key, index) a
retention after it ended (mesh/gateway/_retention.py, ADR 031); a task stays while
its parent is in the view, while its webhook is pending, and while a keeper (a
LangGraph thread that shows it) wants it. Tasks that have not ended never leave.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import orjson

from mesh.gateway._compact import compact
from mesh.gateway._index import TaskFilter, TaskIndex
from mesh.gateway._retention import Retention
from mesh.topics import Topics
from mesh.transport.base import Transport
from mesh.views.tasks import TaskView
from schemas import Envelope
from schemas.gateway import A2A_PUSH, WEBHOOK, A2APushConfig, WebhookDelivery, WebhookStatus
from schemas.supervision import (
    CIRCUIT_STATE,
    SUPERVISOR_STATUS,
    CircuitState,
    SupervisorStatus,
)
from schemas.tasks import TASK_EVENT, EventKind, TaskState, TaskStatus


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One task event: its envelope id (stable: the SSE `id:`) and its JSON payload."""

    id: str
    kind: EventKind  # the SSE `event:` name (an enum member: shared, not a copy per event)
    data: bytes
    terminal: bool  # the task ended with this event


# What the sweep does with a due task: let it go now, look again once its parent has
# been decided (in the same sweep), or look again at a time (inf: when it ends again).
Verdict = float | Literal["let go", "after parent"]


def ended_at(state: TaskState) -> float:
    """When the task ended, by its own records (epoch seconds)."""
    return (state.finished_at or state.updated_at).timestamp()


class GatewayView(TaskView):
    def __init__(self, transport: Transport, topics: Topics, *, retention: float) -> None:
        """`retention`: seconds an ended task stays (MESH_GATEWAY_TASK_RETENTION)."""
        super().__init__(
            transport,
            topics,
            extra_topics=[
                topics.task_events,
                topics.gateway_webhooks,
                topics.gateway_a2a_push,
                topics.circuits,  # for the console's agents page (`GET /v1/agents`)
                topics.supervisor_status,
            ],
        )
        self.index = TaskIndex()
        self.retention = Retention(retention)
        # Asked before an ended task leaves; True keeps it another retention.
        self.keepers: list[Callable[[TaskState], bool]] = []
        self.events: dict[str, list[StoredEvent]] = {}
        self.webhooks: dict[str, WebhookDelivery] = {}
        # A2A push notification configs (ADR 041): task id -> config id -> config (the
        # deleted ones too, marked: a late copy of an older record must not revive one).
        self.push_configs: dict[str, dict[str, A2APushConfig]] = {}
        self.circuits: dict[str, CircuitState] = {}  # by agent type, as last decided
        self.supervisors: dict[str, SupervisorStatus] = {}  # each instance's latest
        # Called with each state that newly became terminal, and each webhook record
        # (the webhook sender listens); plain functions, they must not block.
        self.terminal_listeners: list[Callable[[TaskState], None]] = []
        self.webhook_listeners: list[Callable[[WebhookDelivery], None]] = []
        # Called with every state applied (the A2A push sender and the console's live task
        # list listen); must not block.
        self.state_listeners: list[Callable[[TaskState], None]] = []

    def apply_state(self, state: TaskState) -> None:
        previous = self.tasks.get(state.task_id)
        super().apply_state(compact(state))
        self.index.update(previous, state)
        if state.status.is_terminal and (previous is None or not previous.status.is_terminal):
            self.retention.check_at(self.retention.due_at(ended_at(state)), state.task_id)
            for listener in self.terminal_listeners:
                listener(state)
        for state_listener in self.state_listeners:
            state_listener(state)

    def apply_other(self, envelope: Envelope) -> None:
        if envelope.type == TASK_EVENT and envelope.task_id:
            task_id = envelope.task_id
            if task_id not in self.tasks and self.retention.was_let_go(task_id):
                return  # a late copy of an event of a task already let go
            history = self.events.get(task_id)
            if history is None:
                history = self.events[task_id] = []
                if task_id not in self.tasks:  # no state yet: if none comes, let it go
                    self.retention.check_at(time.time() + self.retention.seconds, task_id)
            # A terminal event re-written after a crash keeps its id (ADR 009): once.
            if not any(event.id == envelope.id for event in history):
                # A copy at its exact size: orjson's result keeps its 4 KiB buffer.
                data = memoryview(orjson.dumps(envelope.payload)).tobytes()
                kind = EventKind(envelope.payload.get("kind", ""))
                terminal = TaskStatus(envelope.payload.get("status", "")).is_terminal
                history.append(StoredEvent(envelope.id, kind, data, terminal))
        elif envelope.type == WEBHOOK:
            delivery = WebhookDelivery.model_validate(envelope.payload)
            self.webhooks[delivery.task_id] = delivery
            for listener in self.webhook_listeners:
                listener(delivery)
        elif envelope.type == A2A_PUSH:
            config = A2APushConfig.model_validate(envelope.payload)
            configs = self.push_configs.setdefault(config.task_id, {})
            known = configs.get(config.config_id)  # a deleted one stays, marked
            if known is None or known.updated_at <= config.updated_at:
                configs[config.config_id] = config
        elif envelope.type == CIRCUIT_STATE:
            circuit = CircuitState.model_validate(envelope.payload)
            self.circuits[circuit.agent] = circuit
        elif envelope.type == SUPERVISOR_STATUS:
            status = SupervisorStatus.model_validate(envelope.payload)
            self.supervisors[status.instance] = status

    def page(
        self, where: TaskFilter, *, before: tuple[float, str] | None, limit: int
    ) -> list[TaskState]:
        return self.index.page(where, before=before, limit=limit, lookup=self.tasks.get)

    def count(self, where: TaskFilter) -> int:
        return self.index.count(where, lookup=self.tasks.get)

    def events_after(self, task_id: str, last_event_id: str | None) -> list[StoredEvent]:
        """The task's events after the one with `last_event_id` (all, when unknown)."""
        history = self.events.get(task_id, [])
        if last_event_id is not None:
            for position, event in enumerate(history):
                if event.id == last_event_id:
                    return history[position + 1 :]
        return list(history)

    async def wait_for_events(self, task_id: str, seen: int, timeout: float) -> None:
        """Return once the task has more than `seen` events, or after `timeout` s."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: len(self.events.get(task_id, ())) > seen)

    async def wait_for_state(
        self, task_id: str, ready: Callable[[TaskState], bool], timeout: float
    ) -> TaskState | None:
        """The task's state once `ready` holds for it, else its state after `timeout` s
        (None when the view does not know it)."""

        def holds() -> bool:
            state = self.tasks.get(task_id)
            return state is not None and ready(state)

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(holds)
        return self.tasks.get(task_id)

    # -- retention (ADR 031) ------------------------------------------------------------

    def _after_batch(self) -> None:
        """Let go of the ended tasks that are due; children after their parents."""
        now = time.time()
        waiting = list(self.retention.due(now))
        leaving: list[TaskState] = []
        while waiting:
            after_parent = []
            for task_id in waiting:
                verdict = self._verdict(task_id, now)
                if verdict == "let go":
                    if (state := self._let_go(task_id)) is not None:
                        leaving.append(state)
                        for child in state.children:  # kept for it: look again soon
                            if child in self.tasks:
                                self.retention.check_at(now, child)
                elif verdict == "after parent":
                    after_parent.append(task_id)
                elif verdict != math.inf:
                    self.retention.check_at(verdict, task_id)
            if len(after_parent) == len(waiting):  # their parents are kept: so are they
                for task_id in after_parent:
                    self.retention.check_at(now + self.retention.seconds, task_id)
                break
            waiting = after_parent
        self.index.remove(leaving)

    def _verdict(self, task_id: str, now: float) -> Verdict:
        state = self.tasks.get(task_id)
        if state is None:
            return "let go"  # events whose state never came
        if not state.status.is_terminal:
            return math.inf  # running again: looked at when it ends
        due = self.retention.due_at(ended_at(state))
        if due > now:
            return due  # it ended again, later
        webhook = self.webhooks.get(task_id)
        pending = webhook is not None and webhook.status is WebhookStatus.PENDING
        if pending or any(keep(state) for keep in self.keepers):
            return now + self.retention.seconds
        parent = self.tasks.get(state.parent_task_id) if state.parent_task_id else None
        if parent is None:
            return "let go"
        if not parent.status.is_terminal:
            return now + self.retention.seconds  # its parent's usage total counts it
        parent_due = self.retention.due_at(ended_at(parent))
        return parent_due if parent_due > now else "after parent"

    def _let_go(self, task_id: str) -> TaskState | None:
        """Forget the task everywhere but the index (the sweep updates it once)."""
        state = self.tasks.pop(task_id, None)
        self.events.pop(task_id, None)
        self.webhooks.pop(task_id, None)
        self.push_configs.pop(task_id, None)
        if state is not None and state.idempotency_key:
            key = (state.agent, state.idempotency_key)
            if self.by_idempotency_key.get(key) == task_id:
                del self.by_idempotency_key[key]
        self.retention.let_go(task_id)
        return state
