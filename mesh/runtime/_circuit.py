"""A worker's view of its agent type's circuit (decided by the supervisor).

`CircuitWatch` follows the compacted `mesh.circuits` topic (a `TopicFollower`: a
reader without a group, which goes on through a failed fetch) and keeps the latest
`CircuitState` of one agent type (the worker reads it through its pause switch's
consumer, `PauseSwitch.run(also=...)`: one fetch for both small topics, ADR 048).
The worker asks it before starting a task: closed,
start; open, start nothing new (the task waits, parked, or goes to the fallback
agent type); half-open, start one task at a time (the probe whose outcome closes or
re-opens the circuit).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import orjson
from pydantic import ValidationError

from mesh._background import serve_until
from mesh.topics import Topics
from mesh.transport.base import Delivery, Transport
from mesh.views.follower import TopicFollower
from schemas import decode_envelope
from schemas.supervision import CIRCUIT_STATE, CircuitState

log = logging.getLogger(__name__)


class CircuitWatch(TopicFollower):
    def __init__(
        self,
        transport: Transport,
        topics: Topics,
        agent: str,
        on_change: Callable[[CircuitState], None],
    ) -> None:
        super().__init__(transport, [topics.circuits], name=f"circuit-{agent}")
        self._agent = agent
        self._key = agent.encode()
        self._on_change = on_change
        self.state: CircuitState | None = None

    @property
    def name(self) -> str:
        return self.state.state if self.state is not None else "closed"

    @property
    def fallback(self) -> str | None:
        return self.state.fallback if self.state is not None else None

    async def run(self, stopping: asyncio.Event) -> None:
        """Follow the topic until `stopping` (at once: a fetch in progress is cancelled)."""
        await serve_until(self, stopping)

    def _on_record(self, record: Delivery) -> None:
        if record.key != self._key:
            return
        try:
            envelope = decode_envelope(record.value or b"")
            if envelope.type != CIRCUIT_STATE:
                return
            state = CircuitState.model_validate(envelope.payload)
        except (orjson.JSONDecodeError, ValidationError) as exc:
            log.warning("skipping an unreadable circuit record: %s", exc)
            return
        if self.state is None or state.state != self.state.state:
            log.warning("circuit of %r is %s (%s)", self._agent, state.state, state.reason)
        self.state = state
        self._on_change(state)
