"""Test helpers: bounded polling (every wait ends, saying what never happened) and
reading whole topics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from mesh.transport.base import Delivery, TopicPartition, Transport


async def eventually(
    predicate: Callable[[], bool], *, timeout: float, interval: float = 0.05, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        await asyncio.sleep(interval)


async def read_all(
    transport: Transport, topics: Sequence[str], *, timeout: float = 60.0
) -> list[Delivery]:
    """Every record on `topics` right now (a reader without a group, up to the end offsets)."""
    consumer = transport.consumer(topics, group=None)
    await consumer.start()
    try:
        ends = await consumer.end_offsets()
        position: dict[TopicPartition, int] = {}
        records: list[Delivery] = []
        async with asyncio.timeout(timeout):
            while any(position.get(tp, 0) < end for tp, end in ends.items()):
                for record in await consumer.fetch(timeout=0.5, max_records=5000):
                    records.append(record)
                    position[record.tp] = record.offset + 1
        return records
    finally:
        await consumer.stop()
