"""The pause switch of each agent type (ADR 039): its records and a follower of them.

`mesh agents pause NAME` writes an `AgentPause` to the compacted `mesh.agents.paused`
topic, keyed by agent type; `resume` writes the same with `paused=False`. Every
worker of the type follows it (mesh/runtime/_pause.py) and starts no new task while
it is paused; the supervisor follows it too, so a paused type's waiting tasks are not
taken for a fault, and shows the paused types in its status. A compacted topic, not a
setting: the switch flips without a redeploy, and a worker that starts later reads
the latest record before it starts anything.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from pydantic import ValidationError

from mesh.topics import Topics
from mesh.transport.base import Delivery, Transport
from mesh.views.follower import TopicFollower
from schemas import Envelope, Source, decode_envelope
from schemas.supervision import AGENT_PAUSE, AgentPause

log = logging.getLogger(__name__)


def pause_envelope(
    agent: str, *, paused: bool, source: Source, by: str = "", reason: str = ""
) -> Envelope:
    """The record that pauses (or resumes) `agent`: publish it to `Topics.agent_pauses`
    keyed by the agent's name."""
    switch = AgentPause(agent=agent, paused=paused, at=time.time(), by=by, reason=reason)
    return Envelope(type=AGENT_PAUSE, source=source, payload=switch.model_dump(mode="json"))


def read_pause(value: bytes | None) -> AgentPause | None:
    """The switch a record holds; None for a tombstone or a record of another kind."""
    if value is None:
        return None
    try:
        envelope = decode_envelope(value)
        if envelope.type != AGENT_PAUSE:
            return None
        return AgentPause.model_validate(envelope.payload)
    except (ValueError, ValidationError) as exc:
        log.warning("skipping an unreadable pause record: %s", exc)
        return None


class PauseBoard(TopicFollower):
    """Every agent type's latest switch; `on_change(switch)` when one flips."""

    def __init__(
        self,
        transport: Transport,
        topics: Topics,
        *,
        on_change: Callable[[AgentPause], None] | None = None,
        name: str = "pauses",
    ) -> None:
        super().__init__(transport, [topics.agent_pauses], name=name)
        self.switches: dict[str, AgentPause] = {}
        self._on_change = on_change

    @property
    def paused(self) -> frozenset[str]:
        """The agent types paused now."""
        return frozenset(name for name, switch in self.switches.items() if switch.paused)

    def _on_record(self, record: Delivery) -> None:
        switch = read_pause(record.value)
        if switch is None:
            return
        before = self.switches.get(switch.agent)
        self.switches[switch.agent] = switch
        changed = before is None or before.paused != switch.paused
        if changed and self._on_change is not None:
            self._on_change(switch)
