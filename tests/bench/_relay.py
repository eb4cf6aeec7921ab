"""The floor under the pipeline's latency: raw aiokafka relays on the same broker.

A record goes client -> relay 1 -> relay 2 -> client, three trips through the broker in
sequence (the fewest the reference pipeline makes: the event to triage, triage's
requests to its children, their replies to triage), each relay a bare consume ->
produce loop with the same fetch wait as the mesh's busy consumers. No envelope, no
state, no journal: what the broker and the client library cost, measured in the same
run as the pipeline, so the README can say how much of a ticket's latency is the mesh's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from mesh.settings import Settings

TRIPS = 3


async def relay_latencies(
    settings: Settings, messages: int, rate: float
) -> tuple[list[float], list[float]]:
    """Seconds from each send to its arrival after `TRIPS` trips, sent at `rate`/s, and
    each send's wait for the broker's acknowledgement (what an awaited write costs)."""
    bootstrap = settings.bootstrap_servers
    topics = [f"{settings.namespace}.relay{uuid.uuid4().hex[:6]}.{n}" for n in range(TRIPS)]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, 1, 1) for t in topics])
    finally:
        await admin.close()
    wait_ms = max(1, round(settings.fetch_max_wait * 1000))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    consumers = [
        AIOKafkaConsumer(t, bootstrap_servers=bootstrap, fetch_max_wait_ms=wait_ms) for t in topics
    ]
    await producer.start()
    for consumer in consumers:
        await consumer.start()
        await consumer.seek_to_end()
    relays = [
        asyncio.create_task(_relay(source, producer, target))
        for source, target in zip(consumers[:-1], topics[1:], strict=True)
    ]
    try:
        return await _round_trips(producer, topics[0], consumers[-1], messages, rate)
    finally:
        for relay in relays:
            relay.cancel()
        for relay in relays:
            with contextlib.suppress(asyncio.CancelledError):
                await relay
        for consumer in consumers:
            await consumer.stop()
        await producer.stop()


async def _relay(source: AIOKafkaConsumer, producer: AIOKafkaProducer, target: str) -> None:
    while True:
        batches = await source.getmany(timeout_ms=1000)
        for records in batches.values():
            for record in records:
                await producer.send_and_wait(target, record.value)


async def _round_trips(
    producer: AIOKafkaProducer, first: str, last: AIOKafkaConsumer, messages: int, rate: float
) -> tuple[list[float], list[float]]:
    sent: dict[bytes, float] = {}
    latencies: list[float] = []
    acknowledged: list[float] = []

    async def receive() -> None:
        while len(latencies) < messages:
            for records in (await last.getmany(timeout_ms=1000)).values():
                now = time.perf_counter()
                latencies.extend(now - sent[r.value] for r in records if r.value in sent)

    receiving = asyncio.create_task(receive())
    for n in range(messages):
        key = str(n).encode()
        sent[key] = time.perf_counter()
        await producer.send_and_wait(first, key)
        acknowledged.append(time.perf_counter() - sent[key])
        await asyncio.sleep(1 / rate)
    async with asyncio.timeout(120):
        await receiving
    return latencies, acknowledged
