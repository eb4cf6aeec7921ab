"""`GatewayView`: the gateway's materialized view of tasks, their events and webhooks.

A `TaskView` (so `client.view.tasks` keeps working for every route) that also reads
the task-events topic and the gateway's webhook topic, all without a consumer group:
every replica holds everything and answers every read locally (ADR 011).

Memory: a task's events are kept as their id and encoded JSON payload (bytes), not
as models; the index holds one shared key tuple per task (mesh/gateway/_index.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from mesh.gateway._index import TaskFilter, TaskIndex
from mesh.topics import Topics
from mesh.transport.base import Transport
from mesh.views.tasks import TaskView
from schemas import Envelope
from schemas.gateway import WEBHOOK, WebhookDelivery
from schemas.tasks import TASK_EVENT, EventKind, TaskState, TaskStatus


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One task event: its envelope id (stable: the SSE `id:`) and its JSON payload."""

    id: str
    kind: EventKind  # the SSE `event:` name (an enum member: shared, not a copy per event)
    data: bytes
    terminal: bool  # the task ended with this event


class GatewayView(TaskView):
    def __init__(self, transport: Transport, topics: Topics) -> None:
        super().__init__(
            transport, topics, extra_topics=[topics.task_events, topics.gateway_webhooks]
        )
        self.index = TaskIndex()
        self.events: dict[str, list[StoredEvent]] = {}
        self.webhooks: dict[str, WebhookDelivery] = {}
        # Called with each state that newly became terminal, and each webhook record
        # (the webhook sender listens); plain functions, they must not block.
        self.terminal_listeners: list[Callable[[TaskState], None]] = []
        self.webhook_listeners: list[Callable[[WebhookDelivery], None]] = []

    def apply_state(self, state: TaskState) -> None:
        previous = self.tasks.get(state.task_id)
        super().apply_state(state)
        self.index.update(previous, state)
        if state.status.is_terminal and (previous is None or not previous.status.is_terminal):
            for listener in self.terminal_listeners:
                listener(state)

    def apply_other(self, envelope: Envelope) -> None:
        if envelope.type == TASK_EVENT and envelope.task_id:
            history = self.events.setdefault(envelope.task_id, [])
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

    def page(
        self, where: TaskFilter, *, before: tuple[float, str] | None, limit: int
    ) -> list[TaskState]:
        return self.index.page(where, before=before, limit=limit, lookup=self.tasks.get)

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
