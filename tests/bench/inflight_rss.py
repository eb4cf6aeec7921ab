"""Resident memory per waiting task, and what pymalloc holds for it: a worker on the
in-memory transport, `n` tasks each awaiting a sleep, no tracemalloc (README
"### In-flight memory").

    python -m tests.bench.inflight_rss          # 10,000 tasks
    python -m tests.bench.inflight_rss 2000

Prints the RSS growth per task, and from `sys._debugmallocstats` the bytes per task
in pymalloc blocks in use and in free blocks (freed, but in pools that also hold
live blocks: counted in RSS until reused). The broker lives in this process here,
not in another as on Kafka: the records it holds are dropped as they come (the
lifecycle records) or once the worker fetched them (the requests), and glibc's free
heap is given back first, as a worker does after a burst (mesh/runtime/_heap.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import re
import sys
import tempfile

import psutil

from mesh.runtime._heap import release_free_heap
from mesh.runtime.publisher import Publisher
from mesh.runtime.worker import Worker
from mesh.settings import Settings
from mesh.transport.memory import MemoryConsumer, MemoryTransport
from schemas import Envelope, Source
from schemas.envelope import new_id
from tests.bench.agents import waiter
from tests.bench.common import until

_STATS = ("bytes in allocated blocks", "bytes in available blocks")


async def measure(n: int) -> dict[str, float]:
    """RSS and pymalloc bytes per task: {"rss": ..., "in use": ..., "free": ...}."""
    settings = Settings(max_inflight=n, max_backlog=n, shutdown_grace=0.0)
    transport = MemoryTransport()
    worker = Worker(waiter, transport=transport, settings=settings)
    await worker.start()
    publisher = Publisher(transport, settings, Source(agent="bench"))
    inbox = publisher.topics.inbox("waiter")
    logs = transport.broker.topics
    process = psutil.Process()

    consumer = worker._consumer
    assert isinstance(consumer, MemoryConsumer)

    async def drop_records() -> None:
        while True:
            await asyncio.sleep(0.05)
            for topic, partitions in logs.items():
                if topic != inbox:
                    for log in partitions:
                        log.clear()
            for tp, fetched in consumer._positions.items():  # the worker's copy is its own
                transport.broker.delete_records(tp, fetched)

    dropping = asyncio.create_task(drop_records())
    try:
        await asyncio.sleep(0.5)  # start-up settles
        before_rss, before = _settled(process), _pymalloc()
        for _ in range(n):
            task_id = new_id()
            request = Envelope(
                type="bench.wait", task_id=task_id, root_task_id=task_id, payload={"seconds": 3600}
            )
            await publisher.send(inbox, request, key=task_id)

        def all_running() -> bool:
            return sum(r.context is not None for r in worker.running.values()) >= n

        await until(all_running, timeout=600, what=f"{n} tasks to start", interval=0.1)
        await asyncio.sleep(settings.start_record_delay + 1.0)  # every `started` written
        after_rss, after = _settled(process), _pymalloc()
    finally:
        dropping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await dropping
        await worker.stop()
    per_task = {"rss": (after_rss - before_rss) / n}
    for name, label in zip(("in use", "free"), _STATS, strict=True):
        per_task[name] = (after[label] - before[label]) / n
    return per_task


def _settled(process: psutil.Process) -> int:
    gc.collect()
    release_free_heap(above=0)
    return int(process.memory_info().rss)


def _pymalloc() -> dict[str, int]:
    """`sys._debugmallocstats`'s totals (it writes to the C stderr)."""
    with tempfile.TemporaryFile() as out:
        saved = os.dup(2)
        os.dup2(out.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read().decode()
    found = {}
    for label in _STATS:
        match = re.search(re.escape(label) + r"\s*=\s*([\d,]+)", text)
        found[label] = int(match.group(1).replace(",", "")) if match else 0
    return found


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    per_task = asyncio.run(measure(n))
    print(f"{n} tasks each awaiting a sleep, bytes per task:")
    print(f"  RSS growth                      {per_task['rss']:7.0f}")
    print(f"  pymalloc blocks in use          {per_task['in use']:7.0f}")
    print(f"  pymalloc free blocks (in pools) {per_task['free']:7.0f}")


if __name__ == "__main__":
    main()
