"""Consumer lag, retry depth and dead-letter depth, measured from the broker's offsets.

Lag is a group's committed offset against each partition's end offset, both read
from the broker (`Transport.offsets`), not counted by the consumers themselves: it is
right after a crash or a rebalance, and it keeps growing while no worker of an agent
type runs, which is when it matters most. So the supervisor measures it, for every
agent type that has published an agent card, for its own group and for the gateway's
(ADR 013).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import orjson
from pydantic import ValidationError

from mesh.dlq.operate import purge_marks
from mesh.errors import TransportError
from mesh.observability.metrics import CONSUMER_LAG, DEAD_LETTER_DEPTH, RETRY_DEPTH
from mesh.settings import Settings
from mesh.topics import Topics, dead_letter_topics
from mesh.transport.base import PartitionOffsets, Transport
from schemas import decode_envelope
from schemas.tasks import AGENT_CARD, AgentCard

log = logging.getLogger(__name__)


class LagCollector:
    """Sets the lag and depth gauges on each `collect()`."""

    def __init__(self, transport: Transport, settings: Settings) -> None:
        self._transport = transport
        self._settings = settings
        self._topics = Topics(settings.namespace)
        self._purges_ensured: set[str] = set()
        # What was read of the small topics it reads whole (agent cards, purge marks),
        # with their end offsets then: read again only once they have moved (ADR 036).
        self._read_at: dict[str, tuple[int, ...]] = {}
        self._cards: list[AgentCard] = []
        self._marks: dict[str, dict[int, int]] = {}

    async def collect(self) -> None:
        """Measure every known agent type's group, the supervisor's and the gateway's."""
        for card in await self._agent_cards():
            try:
                await self._agent(card)
            except TransportError as exc:  # measure the other agent types all the same
                log.warning("lag of agent %r not measured: %s", card.name, exc)
        topics = self._topics
        groups = {
            topics.supervisor_app: [topics.task_events, topics.heartbeats],  # faust's app id
            # The gateway's: webhook deliveries and LangGraph queued runs (no partitions,
            # so no series, where no gateway has created their topics).
            topics.gateway_webhook_senders: [topics.gateway_webhooks],
            topics.langgraph_queue_drivers: [topics.langgraph_threads],
        }
        for group, consumed in groups.items():
            self._report(group, await self._transport.offsets(consumed, group=group))

    async def _ends_if_moved(self, topic: str) -> tuple[int, ...] | None:
        """The topic's end offsets if they differ from those of its last read, else None."""
        ends = tuple(o.end for o in await self._transport.offsets([topic]))
        return None if self._read_at.get(topic) == ends else ends

    async def _agent_cards(self) -> list[AgentCard]:
        topic = self._topics.agents
        ends = await self._ends_if_moved(topic)
        if ends is not None:
            self._cards = await self._read_agent_cards()
            self._read_at[topic] = ends
        return self._cards

    async def _purge_marks(self, agent: str) -> dict[int, int]:
        topic = self._topics.dead_letter_purges(agent)
        ends = await self._ends_if_moved(topic)
        if ends is not None:
            self._marks[agent] = await purge_marks(self._transport, self._topics, agent)
            self._read_at[topic] = ends
        return self._marks[agent]

    async def _read_agent_cards(self) -> list[AgentCard]:
        cards: dict[str, AgentCard] = {}
        for record in await self._transport.read_topics([self._topics.agents]):
            try:
                envelope = decode_envelope(record.value or b"")
                if envelope.type == AGENT_CARD:
                    card = AgentCard.model_validate(envelope.payload)
                    cards[card.name] = card
            except (orjson.JSONDecodeError, ValidationError):
                continue  # not ours to judge; the agents topic is read-only here
        return list(cards.values())

    async def _agent(self, card: AgentCard) -> None:
        topics = self._topics
        retries = [topics.retry(card.name, tier) for tier in self._settings.retry_tiers]
        consumed = [topics.inbox(card.name), *retries, *(topics.domain(e) for e in card.events)]
        dead_letters = topics.dead_letters(card.name)
        offsets = await self._transport.offsets(
            [*consumed, dead_letters], group=topics.group(card.name)
        )
        self._report(topics.group(card.name), [o for o in offsets if o.tp.topic != dead_letters])
        retry_topics = set(retries)
        RETRY_DEPTH.labels(card.name).set(sum(o.lag for o in offsets if o.tp.topic in retry_topics))
        # Purged letters are still held until retention drops them, but no longer wait
        # for anyone: the depth counts from each partition's purge mark (ADR 008).
        if card.name not in self._purges_ensured:  # what `mesh dlq` does before reading
            await self._transport.ensure_topics(dead_letter_topics(self._settings, card.name))
            self._purges_ensured.add(card.name)
        marks = await self._purge_marks(card.name)
        DEAD_LETTER_DEPTH.labels(card.name).set(
            sum(
                max(o.end - max(o.start, marks.get(o.tp.partition, 0)), 0)
                for o in offsets
                if o.tp.topic == dead_letters
            )
        )

    @staticmethod
    def _report(group: str, offsets: Sequence[PartitionOffsets]) -> None:
        for o in offsets:
            CONSUMER_LAG.labels(group, o.tp.topic, str(o.tp.partition)).set(o.lag)
