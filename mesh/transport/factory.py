"""The transport for settings (kept apart so importing the seam stays light: no Kafka
client is imported until a transport is made)."""

from __future__ import annotations

from mesh.settings import Settings
from mesh.transport.base import Transport


def kafka_transport(settings: Settings) -> Transport:
    """The Kafka transport for `settings.bootstrap_servers` (not started yet)."""
    from mesh.transport.kafka.adapter import KafkaTransport

    return KafkaTransport(settings)
