"""confluent-kafka (librdkafka) as an upstream system would use it, run off the event loop.

Its calls block, so the async tests run them through `asyncio.to_thread`: the mesh's
workers share the test's event loop.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, Message, Producer

from mesh.settings import Settings

TIMEOUT = 30.0  # seconds for a produce or a first record to arrive


def producer_config(settings: Settings) -> dict[str, str | int | bool]:
    return {
        "bootstrap.servers": settings.bootstrap_servers,
        # The embedded broker grants no producer ids (ADR 003).
        "enable.idempotence": False,
        "acks": "all",
        # Java's partitioner, as the mesh's producers use: a key lands on the same
        # partition whichever client wrote it, so an entity's events keep their order.
        "partitioner": "murmur2_random",
    }


def produce(
    settings: Settings, topic: str, value: bytes, *, key: str, headers: Mapping[str, bytes]
) -> int:
    """Publish one record, wait until the broker has acknowledged it; its partition."""
    return produce_many(settings, topic, [(key, value, headers)])[0]


def produce_many(
    settings: Settings, topic: str, records: Sequence[tuple[str, bytes, Mapping[str, bytes]]]
) -> list[int]:
    """Publish (key, value, headers) records in order; the partition of each."""
    producer = Producer(producer_config(settings))
    # Reports arrive by batch (partition), not in produce order: each notes its index.
    delivered: dict[int, tuple[KafkaError | None, int]] = {}

    def report(index: int, error: KafkaError | None, message: Message) -> None:
        delivered[index] = (error, message.partition())

    for index, (key, value, headers) in enumerate(records):
        producer.produce(
            topic,
            value,
            key=key.encode(),
            headers=list(headers.items()),
            on_delivery=functools.partial(report, index),
        )
    assert producer.flush(TIMEOUT) == 0, "records were not delivered in time"
    assert [delivered[i][0] for i in range(len(records))] == [None] * len(records), delivered
    return [delivered[i][1] for i in range(len(records))]


@dataclass(frozen=True)
class Received:
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]


def consume_first(settings: Settings, topic: str, *, group: str) -> Received:
    """The first record on `topic`, read by a consumer in `group` (a bounded poll)."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            # The test profile's timers: the embedded broker holds a first join for
            # half the session timeout (ADR 003).
            "session.timeout.ms": int(settings.session_timeout * 1000),
            "heartbeat.interval.ms": int(settings.heartbeat_interval * 1000),
            "fetch.wait.max.ms": 20,
        }
    )
    try:
        consumer.subscribe([topic])
        message = _first_message(consumer)
        consumer.commit(message, asynchronous=False)
    finally:
        consumer.close()
    return Received(
        message.key(),
        message.value() or b"",
        {name: value or b"" for name, value in message.headers() or []},
    )


def _first_message(consumer: Consumer) -> Message:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        message = consumer.poll(0.2)
        if message is None:
            continue
        if message.error() is not None:
            raise AssertionError(f"consuming failed: {message.error()}")
        return message
    raise AssertionError(f"no record within {TIMEOUT}s")
