"""Behaviour of the aiokafka adapter that only the real client has."""

from __future__ import annotations

import asyncio

import pytest

from mesh.errors import TransportError
from mesh.settings import Settings
from mesh.topics import runtime_topics
from mesh.transport.base import Outgoing
from mesh.transport.kafka.adapter import _FOLLOWER_BUSY_ABOVE as FOLLOWER_BUSY_ABOVE
from mesh.transport.kafka.adapter import KafkaTransport
from tests.helpers import eventually_true

pytestmark = pytest.mark.broker


async def test_records_waiting_for_the_broker_are_bounded(broker_settings: Settings) -> None:
    """Past MESH_PRODUCER_MAX_PENDING records in flight, a publish fails at once with
    an error that names the setting (instead of memory growing while a broker hangs)."""
    settings = broker_settings.model_copy(update={"producer_max_pending": 2})
    transport = KafkaTransport(settings)
    await transport.start()
    try:
        await transport.ensure_topics(runtime_topics(settings))
        events = runtime_topics(settings)[0].name
        two = [Outgoing(events, b"{}", b"k") for _ in range(2)]
        await transport.publish_many(two)  # at the bound: accepted
        with pytest.raises(TransportError, match="MESH_PRODUCER_MAX_PENDING=2"):
            await transport.publish_many([*two, Outgoing(events, b"{}", b"k")])
        await transport.publish_many(two)  # the earlier ones were acknowledged: room again
    finally:
        await transport.stop()


async def test_the_client_errors_of_fetch_are_mapped(broker_settings: Settings) -> None:
    """aiokafka's exceptions never cross the seam: callers catch `TransportError`."""
    transport = KafkaTransport(broker_settings)
    await transport.start()
    try:
        await transport.ensure_topics(runtime_topics(broker_settings))
        consumer = transport.consumer([runtime_topics(broker_settings)[0].name], group=None)
        await consumer.start()
        await consumer.stop()
        # (aiokafka raises ConsumerStoppedError here, which is not even a KafkaError.)
        with pytest.raises(TransportError, match="cannot fetch"):
            await consumer.fetch(timeout=0.1, max_records=1)
    finally:
        await transport.stop()


async def test_an_idle_consumer_fetches_with_the_longer_wait(broker_settings: Settings) -> None:
    """With MESH_FETCH_IDLE_WAIT set, a consumer that saw no record for
    MESH_FETCH_IDLE_AFTER asks the broker to hold its fetches longer, and goes back to
    the short wait when a record arrives (ADR 036). It reaches into aiokafka's fetcher,
    which is why aiokafka is pinned; this test is the tripwire for an upgrade."""
    settings = broker_settings.model_copy(
        update={"fetch_max_wait": 0.01, "fetch_idle_wait": 0.2, "fetch_idle_after": 0.3}
    )
    transport = KafkaTransport(settings)
    await transport.start()
    try:
        await transport.ensure_topics(runtime_topics(settings))
        topic = runtime_topics(settings)[0].name
        consumer = transport.consumer([topic], group=None)
        await consumer.start()
        try:
            fetcher = consumer._consumer._fetcher  # type: ignore[attr-defined]
            assert fetcher._fetch_max_wait_ms == 10
            # Its re-check when nothing wakes it: twice the longest fetch wait (ADR 054).
            assert fetcher._fetcher_timeout == 0.4

            async def waits_long() -> bool:
                await consumer.fetch(timeout=0.1, max_records=10)
                return bool(fetcher._fetch_max_wait_ms == 200)

            await eventually_true(waits_long, timeout=10, interval=0.05, what="the idle wait")
            # A follower (no group) stays idle through a trickle; a burst wakes it.
            burst = 5 * (FOLLOWER_BUSY_ABOVE + 1)
            await asyncio.gather(*(transport.publish(topic, b"{}", key=b"k") for _ in range(burst)))

            async def waits_short() -> bool:
                await consumer.fetch(timeout=0.1, max_records=10)
                return bool(fetcher._fetch_max_wait_ms == 10)

            await eventually_true(waits_short, timeout=10, interval=0.05, what="the busy wait")
        finally:
            await consumer.stop()
    finally:
        await transport.stop()
