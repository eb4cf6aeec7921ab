"""Choose a transport from settings (kept apart so importing the seam stays light)."""

from __future__ import annotations

from mesh.settings import Settings
from mesh.transport.base import Transport


def connect(settings: Settings) -> Transport:
    """The Kafka transport for `settings.bootstrap_servers` (not started yet)."""
    from mesh.transport.kafka.adapter import KafkaTransport

    return KafkaTransport(settings)
