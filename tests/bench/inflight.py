"""In-flight capacity: one `mesh run` worker process holding 10,000, then 100,000
tasks that each await a sleep; how long until all run, and what they cost in memory.

Baselines, each in a subprocess: 2,000 threads each in `time.sleep` (the
thread-per-task design) and, for the floor, as many bare `asyncio.sleep` tasks.

The worker runs with `MESH_MAX_INFLIGHT` = the task count (every task holds a slot
while it sleeps) and the default `MESH_MAX_BACKLOG` (5,000: fetching pauses while that
many wait for a slot, which they never do here). `BENCH_INFLIGHT_TASKS=10000,100000`
sets the sizes (`--quick`: 2,000).
"""

from __future__ import annotations

import asyncio
import os
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

# Longer than publishing and starting them all ever takes (675 s for 100,000 at a load
# of 11): no task ends before the RSS is read. The worker is SIGKILLed after.
SLEEP = 3600.0
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
    sleepers = [asyncio.create_task(asyncio.sleep(300)) for _ in range(n)]
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
    default = "2000" if options.quick else "10000,100000"
    sizes = [int(n) for n in os.environ.get("BENCH_INFLIGHT_TASKS", default).split(",")]
    threads = 500 if options.quick else 2_000
    report = Report("inflight")
    thread_per_task = await _baseline("threads", threads)
    report.add("thread_bytes_per_task", thread_per_task, f"{threads} threads in time.sleep")
    for n in sizes:
        at_n = settings.model_copy(update={"max_inflight": n, "shutdown_grace": 0.0})
        mesh_per_task = await _mesh(at_n, n, report)
        floor = await _baseline("asyncio", n)
        report.add(f"bare_asyncio_bytes_per_task_{n}", floor, "asyncio.sleep tasks (floor)")
        report.add(
            f"ratio_thread_per_mesh_task_{n}", thread_per_task / mesh_per_task, "thread / mesh"
        )
        report.add(f"ratio_mesh_per_floor_{n}", mesh_per_task / floor, "mesh / bare asyncio")
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

            limit = 120 * max(1, n // 10_000)
            running = await until(all_running, timeout=limit, what=f"{n} tasks to start")
            started_rss = process.memory_info().rss
            # A heartbeat later: the worker gives the start-up burst's free heap back
            # with its next heartbeat (mesh/runtime/_heap.py), as any quiet spell would.
            await asyncio.sleep(settings.liveness_interval * 1.5)
            loaded = process.memory_info().rss
        finally:
            if counter is not None:
                await counter.stop()
            await transport.stop()
            worker.stop(signal.SIGKILL, timeout=10)

    report.add(f"tasks_{n}", n, "each awaiting asyncio.sleep")
    report.add(f"publish_s_{n}", published - started, "publishing the requests (client side)")
    report.add(f"all_running_s_{n}", running - started, "first publish -> last `started` event")
    report.add(f"rss_idle_mb_{n}", idle / MB, "worker process, joined, no tasks")
    target = " (target < 600)" if n == 100_000 else ""
    report.add(f"rss_started_mb_{n}", started_rss / MB, "as the last task started")
    report.add(f"rss_running_mb_{n}", loaded / MB, f"all tasks running, a heartbeat on{target}")
    report.add(
        f"mesh_bytes_per_task_{n}", (loaded - idle) / n, "RSS delta / tasks (target <= 4000)"
    )
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
