"""In-flight capacity: one `mesh run` worker process holding 10,000 tasks that each
await a 30 s sleep; how long until all run, and what they cost in memory.

Baselines, each in a subprocess: 2,000 threads each in `time.sleep(30)` (the
thread-per-task design) and, for the floor, 10,000 bare `asyncio.sleep(30)` tasks.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import tempfile
import time
from pathlib import Path

import orjson
import psutil

from mesh.runtime.publisher import Publisher
from mesh.settings import Settings
from mesh.transport.kafka.adapter import KafkaTransport
from schemas import Envelope, Source
from schemas.envelope import new_id
from tests.bench.common import EventCounter, Options, Report, publish_all, until
from tests.e2e.processes import MeshProcess

SLEEP = 30.0
MB = 1024 * 1024

# Prints the RSS before and after starting `n` sleepers, then exits at once.
_BASELINE = """
import asyncio, json, os, sys, threading, time
import psutil

def report(before, after):
    print(json.dumps({"before": before, "after": after}), flush=True)
    os._exit(0)

async def tasks(n):
    before = psutil.Process().memory_info().rss
    sleepers = [asyncio.create_task(asyncio.sleep(30)) for _ in range(n)]
    await asyncio.sleep(1.0)
    report(before, psutil.Process().memory_info().rss)

kind, n = sys.argv[1], int(sys.argv[2])
if kind == "threads":
    before = psutil.Process().memory_info().rss
    for _ in range(n):
        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
    time.sleep(1.0)
    report(before, psutil.Process().memory_info().rss)
else:
    asyncio.run(tasks(n))
"""


async def run(settings: Settings, options: Options) -> Report:
    n = 2_000 if options.quick else 10_000
    threads = 500 if options.quick else 2_000
    settings = settings.model_copy(update={"max_inflight": 10_000, "shutdown_grace": 0.0})
    report = Report("inflight")
    mesh_per_task = await _mesh(settings, n, report)
    thread_per_task = await _baseline("threads", threads)
    asyncio_per_task = await _baseline("asyncio", n)
    report.add("thread_bytes_per_task", thread_per_task, f"{threads} threads in time.sleep")
    report.add("bare_asyncio_bytes_per_task", asyncio_per_task, "asyncio.sleep tasks (floor)")
    report.add(
        "ratio_thread_per_mesh_task", thread_per_task / mesh_per_task, "thread / mesh per task"
    )
    return report


async def _mesh(settings: Settings, n: int, report: Report) -> float:
    """Adds the worker's metrics to `report`; returns its RSS bytes per task."""
    with tempfile.TemporaryDirectory(prefix="bench-inflight-") as log_dir:
        worker = MeshProcess("tests.bench.agents:waiter", settings, Path(log_dir), "waiter-1")
        transport = KafkaTransport(settings)
        counter: EventCounter | None = None
        try:

            def assigned() -> bool:
                if worker.proc.poll() is not None:
                    raise RuntimeError(f"the waiter worker exited early:\n{worker.log()[-3000:]}")
                counts = worker.assigned_counts()
                return bool(counts) and counts[-1] == settings.partitions

            await until(assigned, timeout=60, what="the waiter worker to join", interval=0.1)
            process = psutil.Process(worker.proc.pid)
            await asyncio.sleep(1.0)  # let start-up allocations settle
            idle = process.memory_info().rss

            await transport.start()
            publisher = Publisher(transport, settings, Source(agent="bench"))
            inbox = publisher.topics.inbox("waiter")
            counter = EventCounter(transport, publisher.topics.task_events, "started")
            await counter.start()
            requests = [
                Envelope(
                    type="bench.wait",
                    task_id=(task_id := new_id()),
                    root_task_id=task_id,
                    payload={"seconds": SLEEP},
                )
                for _ in range(n)
            ]
            started = time.perf_counter()
            await publish_all(publisher, inbox, requests)
            published = time.perf_counter()

            def all_running() -> bool:
                if counter is None or counter.failed() or worker.proc.poll() is not None:
                    raise RuntimeError(f"the waiter or the event counter died:\n{worker.log()}")
                return counter.count >= n

            running = await until(all_running, timeout=120, what=f"{n} tasks to start")
            loaded = process.memory_info().rss
        finally:
            if counter is not None:
                await counter.stop()
            await transport.stop()
            worker.stop(signal.SIGKILL, timeout=10)

    report.add("tasks", n, f"each awaiting asyncio.sleep({SLEEP:g})")
    report.add("publish_s", published - started, "publishing the requests (client side)")
    report.add("all_running_s", running - started, "first publish -> last `started` event")
    report.add("rss_idle_mb", idle / MB, "worker process, joined, no tasks")
    report.add("rss_running_mb", loaded / MB, "all tasks running (target < 600)")
    report.add("mesh_bytes_per_task", (loaded - idle) / n, "RSS delta / tasks")
    return (loaded - idle) / n


async def _baseline(kind: str, n: int) -> float:
    """RSS bytes per sleeper in a fresh interpreter."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _BASELINE, kind, str(n), stdout=asyncio.subprocess.PIPE
    )
    try:
        async with asyncio.timeout(60):
            out, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    rss = orjson.loads(out)
    return float(rss["after"] - rss["before"]) / n
