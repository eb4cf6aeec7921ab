"""`TaskView`: a local, always-current copy of task state and agent cards.

It follows the compacted task-state and agents topics from the beginning (no
consumer group: every reader sees everything), so status queries are dictionary
lookups, never a broker round trip. It follows the agent types' live worker counts
and pause switches (ADR 039) too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from pydantic import ValidationError

from mesh.topics import Topics
from mesh.transport.base import Delivery, Transport
from mesh.views.follower import TopicFollower
from schemas import Envelope, decode_envelope
from schemas.supervision import AGENT_LIVENESS, AGENT_PAUSE, AgentLiveness, AgentPause
from schemas.tasks import AGENT_CARD, TASK_STATE, AgentCard, TaskState, TaskStatus

log = logging.getLogger(__name__)


class TaskView(TopicFollower):
    def __init__(
        self, transport: Transport, topics: Topics, *, extra_topics: Sequence[str] = ()
    ) -> None:
        """`extra_topics` are read too; a subclass applies them in `apply_other`."""
        super().__init__(
            transport,
            [
                topics.task_state,
                topics.agents,
                topics.agent_liveness,
                topics.agent_pauses,
                *extra_topics,
            ],
            name="task-view",
        )
        self.tasks: dict[str, TaskState] = {}
        self.agents: dict[str, AgentCard] = {}
        self.by_idempotency_key: dict[tuple[str, str], str] = {}
        # Live workers per agent type, as the supervisor last judged (None: unknown).
        self.live_workers: dict[str, int] = {}
        self.pauses: dict[str, AgentPause] = {}  # each agent type's latest pause switch

    async def wait_for(self, task_id: str, *, terminal: bool, timeout: float) -> TaskState:
        """The task's state once it exists (and, with `terminal`, once it has ended)."""

        def ready() -> bool:
            state = self.tasks.get(task_id)
            return state is not None and (not terminal or state.status.is_terminal)

        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(ready)
        return self.tasks[task_id]

    def apply_state(self, state: TaskState) -> None:
        """Apply a record read from the task-state topic (topic order is the truth)."""
        self.tasks[state.task_id] = state
        if state.idempotency_key:
            self.by_idempotency_key[(state.agent, state.idempotency_key)] = state.task_id

    def apply_local(self, state: TaskState) -> None:
        """Our own write, seen before the topic echoes it back (read-your-writes)."""
        if state.task_id not in self.tasks:
            self.apply_state(state)

    def list(
        self,
        *,
        status: TaskStatus | None = None,
        agent: str | None = None,
        root: str | None = None,
        correlation: str | None = None,
        limit: int = 100,
    ) -> list[TaskState]:
        """Newest first. `correlation`: the tasks a domain event started, with their
        descendants (they share its `correlation_id`)."""
        found = [
            s
            for s in self.tasks.values()
            if (status is None or s.status is status)
            and (agent is None or s.agent == agent)
            and (root is None or s.root_task_id == root)
            and (correlation is None or s.correlation_id == correlation)
        ]
        found.sort(key=lambda s: s.created_at, reverse=True)
        return found[:limit]

    def with_held(self, state: TaskState) -> TaskState:
        """`state`, saying why it has not started when that is known: its own `held`
        (written by the worker that holds it back), or no live worker of its agent
        type (the supervisor's count; the task waits in the inbox: parked)."""
        if state.held is not None or state.status is not TaskStatus.SUBMITTED:
            return state
        if self.live_workers.get(state.agent, 1) > 0:
            return state
        why = (
            f"no live worker of agent {state.agent!r}: it waits in the inbox and starts "
            "when one runs (parked)"
        )
        return state.model_copy(update={"held": why})

    def is_paused(self, agent: str) -> bool:
        switch = self.pauses.get(agent)
        return switch is not None and switch.paused

    def apply_other(self, envelope: Envelope) -> None:
        """A record of one of the `extra_topics` (ignored here)."""

    def _on_record(self, record: Delivery) -> None:
        value = record.value
        if value is None:
            return  # a tombstone
        try:
            envelope = decode_envelope(value)
            if envelope.type == TASK_STATE:
                self.apply_state(TaskState.model_validate(envelope.payload))
            elif envelope.type == AGENT_CARD:
                card = AgentCard.model_validate(envelope.payload)
                self.agents[card.name] = card
            elif envelope.type == AGENT_PAUSE:
                switch = AgentPause.model_validate(envelope.payload)
                self.pauses[switch.agent] = switch
            elif envelope.type == AGENT_LIVENESS:
                liveness = AgentLiveness.model_validate(envelope.payload)
                self.live_workers[liveness.agent] = liveness.live
            else:
                self.apply_other(envelope)
        except (ValueError, ValidationError) as exc:
            log.warning("skipping an unreadable state record: %s", exc)
