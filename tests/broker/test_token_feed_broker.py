"""The token feed on the real broker: a group-less read from the topic's end (ADR 022)."""

from __future__ import annotations

import pytest

from mesh.settings import Settings
from mesh.transport.kafka.adapter import KafkaTransport
from tests.contract.token_feed_behaviour import check_the_feed_reads_from_the_end

pytestmark = pytest.mark.broker


async def test_the_feed_reads_from_the_end(broker_settings: Settings) -> None:
    transport = KafkaTransport(broker_settings)
    await transport.start()
    try:
        await check_the_feed_reads_from_the_end(transport, broker_settings)
    finally:
        await transport.stop()
