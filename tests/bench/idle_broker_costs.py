"""The embedded broker's CPU per request kind, one kind at a time (ADR 048).

`python -m tests.bench.idle_broker_costs` starts a broker of its own with six
6-partition topics and, for each kind, sends only that request in a loop for a few
seconds, then prints the broker's CPU per request: empty fetches held for 1 s, 100 ms
and 10 ms (ten clients at once, naming 6 or 36 partitions), and fetches answered at
once, Heartbeat, a one-record Produce, OffsetCommit and ListOffsets. Diagnostic: not
in `make bench`; the machine's load skews it, so compare kinds within one run.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable

import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.protocol.group import HeartbeatRequest

from mesh.dev.broker import EmbeddedBroker

TOPICS = [f"t{i}" for i in range(6)]


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def _loop(
    what: str, broker: psutil.Process, senders: list[Callable[[], Awaitable[object]]], s: float
) -> None:
    """Each sender in a loop for `s` seconds, side by side; the broker's CPU per request."""
    count = 0

    async def one(send: Callable[[], Awaitable[object]]) -> None:
        nonlocal count
        began = time.perf_counter()
        while time.perf_counter() - began < s:
            await send()
            count += 1

    used, began = _cpu(broker), time.perf_counter()
    await asyncio.gather(*(one(send) for send in senders))
    used, wall = _cpu(broker) - used, time.perf_counter() - began
    print(f"{what:48s} {count / wall:7.0f} req/s  {used / count * 1e6:7.0f} us of broker CPU each")


def _fetch(wait_ms: int, partitions: int) -> FetchRequest:
    topics = [(t, [(p, 0, 1 << 20) for p in range(6)]) for t in TOPICS[: max(1, partitions // 6)]]
    return FetchRequest(wait_ms, 1, 50 << 20, 0, topics)


async def main(seconds: float) -> None:
    async with EmbeddedBroker() as embedded:
        broker, address = psutil.Process(embedded.pid), embedded.bootstrap_servers
        admin = AIOKafkaAdminClient(bootstrap_servers=address)
        await admin.start()
        await admin.create_topics([NewTopic(t, 6, 1) for t in TOPICS])
        await admin.close()
        clients = [AIOKafkaClient(bootstrap_servers=address) for _ in range(10)]
        for client in clients:
            await client.bootstrap()
        node = next(iter(clients[0].cluster.brokers())).nodeId
        for wait in (1000, 100, 10, 0):
            for partitions in (6, 36):
                request = _fetch(wait, partitions)
                senders = [lambda c=c, r=request: c.send(node, r) for c in clients]
                what = f"Fetch, empty, {partitions} partitions, {wait} ms wait"
                await _loop(what, broker, senders if wait else senders[:1], seconds)
        await _group_requests(address, broker, clients[0], seconds)
        for client in clients:
            await client.close()


async def _group_requests(
    address: str, broker: psutil.Process, client: AIOKafkaClient, seconds: float
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=address, acks="all")
    consumer = AIOKafkaConsumer(
        "t0", bootstrap_servers=address, group_id="g", enable_auto_commit=False
    )
    await producer.start()
    await consumer.start()
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=500)
        consumer.pause(*consumer.assignment())  # its own fetches would share the broker
        coordinator = consumer._coordinator
        beat = HeartbeatRequest("g", coordinator.generation, coordinator.member_id)
        node = coordinator.coordinator_id
        await _loop("Heartbeat", broker, [lambda: client.send(node, beat)], seconds)
        record = b"x" * 100
        produce = [lambda: producer.send_and_wait("t1", record, key=b"k")]
        await _loop("Produce, one 100-byte record, acks=all", broker, produce, seconds)
        offsets = iter(range(1, 1 << 30))
        commit = [lambda: consumer.commit({TopicPartition("t0", 0): next(offsets)})]
        await _loop("OffsetCommit, one partition", broker, commit, seconds)
        every = [TopicPartition(t, p) for t in TOPICS for p in range(6)]
        ends = [lambda: consumer.end_offsets(every)]
        await _loop("ListOffsets, 36 partitions", broker, ends, seconds)
    finally:
        await consumer.stop()
        await producer.stop()


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1]) if len(sys.argv) > 1 else 6.0))
