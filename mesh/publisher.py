"""Encode envelopes and publish them, guarding the size limit client-side.

The size guard lives here, not in the broker, because some Kafka-protocol brokers
(the embedded one among them) do not enforce `message.max.bytes`.
"""

from __future__ import annotations

from mesh.errors import InvalidInput
from mesh.settings import Settings
from mesh.topics import Topics
from mesh.topology import domain_topic
from mesh.transport.base import Outgoing, Transport
from schemas import Envelope, Source, encode_envelope


class Publisher:
    """Publishes envelopes for one process (agent worker or client)."""

    def __init__(self, transport: Transport, settings: Settings, source: Source) -> None:
        self.transport = transport
        self.settings = settings
        self.source = source
        self.topics = Topics(settings.namespace)
        self._ensured: set[str] = set()

    def encode(self, topic: str, envelope: Envelope, *, key: str | None) -> Outgoing:
        value = encode_envelope(envelope)
        if len(value) > self.settings.max_message_bytes:
            raise InvalidInput(
                f"{envelope.type!r} message of {len(value)} bytes exceeds "
                f"MESH_MAX_MESSAGE_BYTES={self.settings.max_message_bytes}; "
                "send a reference to the data instead of the data"
            )
        encoded_key = key.encode() if key is not None else None
        return Outgoing(topic, value, encoded_key, envelope.routing_headers())

    async def send(self, topic: str, envelope: Envelope, *, key: str | None) -> None:
        record = self.encode(topic, envelope, key=key)
        await self.transport.publish(
            record.topic, record.value, key=record.key, headers=record.headers
        )

    async def send_many(self, records: list[Outgoing]) -> None:
        """Publish already-encoded records together (see `Transport.publish_many`)."""
        await self.transport.publish_many(records)

    async def send_event(self, envelope: Envelope, *, key: str) -> None:
        """Publish a domain event, creating its topic the first time."""
        topic = self.topics.domain(envelope.type)
        if topic not in self._ensured:
            await self.transport.ensure_topics([domain_topic(self.settings, envelope.type)])
            self._ensured.add(topic)
        await self.send(topic, envelope, key=key)
