"""Encode envelopes and publish them, guarding the size limit client-side.

The size guard lives here, not in the broker, because some Kafka-protocol brokers
(the embedded one among them) do not enforce `message.max.bytes`.
"""

from __future__ import annotations

from mesh.errors import InvalidInput
from mesh.observability.metrics import MESSAGES_PRODUCED, LabelCache
from mesh.observability.tracing import traced_for_send
from mesh.settings import Settings
from mesh.topics import Topics, domain_topic
from mesh.transport.base import Outgoing, Transport
from schemas import Envelope, Source, encode_envelope, header_names


class Publisher:
    """Publishes envelopes for one process (agent worker or client)."""

    def __init__(self, transport: Transport, settings: Settings, source: Source) -> None:
        self.transport = transport
        self.settings = settings
        self.source = source
        # The source as records spell it, for encoders that lay out envelopes themselves.
        self.source_fields = source.model_dump(mode="json", exclude_none=True)
        self.topics = Topics(settings.namespace)
        self._ensured: set[str] = set()
        self._produced = LabelCache(MESSAGES_PRODUCED, source.agent or "client")

    def encode(self, topic: str, envelope: Envelope, *, key: str | None) -> Outgoing:
        value = encode_envelope(envelope)
        self.check_size(envelope.type, value)
        encoded_key = key.encode() if key is not None else None
        return Outgoing(topic, value, encoded_key, envelope.routing_headers())

    def check_size(self, type_: str, value: bytes) -> None:
        """Raise `InvalidInput` when the encoded `type_` record is over the size limit."""
        if len(value) > self.settings.max_message_bytes:
            raise InvalidInput(
                f"{type_!r} message of {len(value)} bytes exceeds "
                f"MESH_MAX_MESSAGE_BYTES={self.settings.max_message_bytes}; "
                "send a reference to the data instead of the data"
            )

    async def send(self, topic: str, envelope: Envelope, *, key: str | None) -> None:
        envelope, span = traced_for_send(topic, envelope)
        record = self.encode(topic, envelope, key=key)
        try:
            await self.transport.publish(
                record.topic, record.value, key=record.key, headers=record.headers
            )
        finally:
            if span is not None:
                span.end()
        self._produced[envelope.type].inc()

    async def send_many(self, records: list[Outgoing]) -> None:
        """Publish already-encoded records together (see `Transport.publish_many`)."""
        await self.transport.publish_many(records)
        # Counted once per type and call (a task's events and state, a journal batch):
        # the type travels in a header (Envelope.routing_headers).
        counts: dict[bytes, int] = {}
        for record in records:
            type_ = record.headers.get(header_names.TYPE, b"")
            counts[type_] = counts.get(type_, 0) + 1
        produced = self._produced
        for type_, count in counts.items():
            produced[type_].inc(count)

    async def send_event(self, envelope: Envelope, *, key: str) -> None:
        """Publish a domain event, creating its topic the first time."""
        topic = self.topics.domain(envelope.type)
        if topic not in self._ensured:
            await self.transport.ensure_topics([domain_topic(self.settings, envelope.type)])
            self._ensured.add(topic)
        await self.send(topic, envelope, key=key)
