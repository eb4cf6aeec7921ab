"""What one awaited write costs on the embedded broker while other consumers fetch from it.

`python -m tests.bench.idle_acks` starts a broker of its own, then for each case starts
N consumers in another process, each fetching an empty topic of 10 partitions in a loop
at a fetch wait of W ms (what the busy consumers of a running mesh do), and measures
200 writes of one aiokafka producer (`acks="all"`, one 500-byte record, awaited one
after another): the p50 of the wait for the acknowledgement, and the broker's CPU.
Diagnostic (issue 17's pipeline latency, ADR 058): not in `make bench`.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time

import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from mesh.dev.broker import EmbeddedBroker

CASES = [(0, 10), (6, 10), (6, 20), (6, 50), (15, 10), (15, 20)]  # consumers, wait (ms)


async def fetch_forever(bootstrap: str, consumers: int, wait_ms: int) -> None:
    """In the other process: `consumers` consumers fetching at `wait_ms`."""
    fetching = [
        AIOKafkaConsumer(f"empty{n}", bootstrap_servers=bootstrap, fetch_max_wait_ms=wait_ms)
        for n in range(consumers)
    ]
    for consumer in fetching:
        await consumer.start()

    async def loop(consumer: AIOKafkaConsumer) -> None:
        while True:
            await consumer.getmany(timeout_ms=1000)

    await asyncio.gather(*(loop(c) for c in fetching))


async def acknowledged_p50(bootstrap: str, writes: int = 200) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    waits = []
    try:
        for _ in range(writes):
            began = time.perf_counter()
            await producer.send_and_wait("written", b"x" * 500, key=b"k")
            waits.append(time.perf_counter() - began)
            await asyncio.sleep(0.005)
    finally:
        await producer.stop()
    return statistics.median(waits) * 1000


async def main() -> None:
    async with EmbeddedBroker() as broker:
        bootstrap = broker.bootstrap_servers
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        most = max(n for n, _ in CASES)
        topics = [NewTopic("written", 2, 1)] + [NewTopic(f"empty{n}", 10, 1) for n in range(most)]
        await admin.create_topics(topics)
        await admin.close()
        assert broker.pid is not None
        broker_process = psutil.Process(broker.pid)
        for consumers, wait_ms in CASES:
            others = _fetching_elsewhere(bootstrap, consumers, wait_ms) if consumers else None
            await asyncio.sleep(3)  # connected and fetching
            cpu_before, began = sum(broker_process.cpu_times()[:2]), time.time()
            ack = await acknowledged_p50(bootstrap)
            cpu = (sum(broker_process.cpu_times()[:2]) - cpu_before) / (time.time() - began)
            print(
                f"{consumers:2d} consumers fetching at {wait_ms:2d} ms: "
                f"ack p50 {ack:5.2f} ms, broker {cpu * 100:3.0f}% of a core",
                flush=True,
            )
            if others is not None:
                others.kill()
                others.wait()


def _fetching_elsewhere(bootstrap: str, consumers: int, wait_ms: int) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "tests.bench.idle_acks",
        bootstrap,
        str(consumers),
        str(wait_ms),
    ]
    return subprocess.Popen(command)


if __name__ == "__main__":
    if len(sys.argv) == 4:
        asyncio.run(fetch_forever(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
    else:
        asyncio.run(main())
