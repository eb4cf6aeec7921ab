"""What one waiting task holds, by tracemalloc: a worker on the in-memory transport,
`n` tasks each awaiting a sleep (README "### In-flight memory").

    python -m tests.bench.inflight_breakdown            # 2,000 tasks, the top 40 sites
    python -m tests.bench.inflight_breakdown 5000 60    # tasks, sites shown

Every allocation still alive once all tasks run is counted where the runtime made
it: the innermost frame in mesh/, schemas/ or tests/ of its traceback (the library
frame that allocated it shown beside). The broker's own copies are left out (its
logs are emptied before the snapshot: the records a task keeps stay, shared), and
so is the harness's own list of requests. No broker process; a few seconds.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import sys
import tracemalloc
from pathlib import Path

from mesh.runtime.publisher import Publisher
from mesh.runtime.worker import Worker
from mesh.settings import Settings
from mesh.transport.memory import MemoryTransport
from schemas import Envelope, Source
from schemas.envelope import new_id
from tests.bench.agents import waiter
from tests.bench.common import until

_ROOT = str(Path(__file__).resolve().parents[2])
_OURS = tuple(f"{_ROOT}/{part}/" for part in ("mesh", "schemas", "tests"))
_HERE = str(Path(__file__).resolve())


async def measure(n: int) -> tuple[int, list[tuple[str, int, int]]]:
    """(bytes per task in all, [(site, bytes per task, blocks per task)] largest first)."""
    settings = Settings(max_inflight=n, max_backlog=n, shutdown_grace=0.0)
    transport = MemoryTransport()
    worker = Worker(waiter, transport=transport, settings=settings)
    await worker.start()
    publisher = Publisher(transport, settings, Source(agent="bench"))
    inbox = publisher.topics.inbox("waiter")
    try:
        await asyncio.sleep(0.5)  # start-up settles
        gc.collect()
        tracemalloc.start(40)
        before = tracemalloc.take_snapshot()
        for _ in range(n):
            task_id = new_id()
            request = Envelope(
                type="bench.wait", task_id=task_id, root_task_id=task_id, payload={"seconds": 3600}
            )
            await publisher.send(inbox, request, key=task_id)
        del request

        def all_running() -> bool:
            return sum(r.context is not None for r in worker.running.values()) >= n

        await until(all_running, timeout=600, what=f"{n} tasks to start", interval=0.1)
        # Every `started` record flushed (start_record_delay) and written.
        await asyncio.sleep(settings.start_record_delay + 1.0)
        for partitions in transport.broker.topics.values():
            for log in partitions:
                log.clear()
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
    finally:
        await worker.stop()
    return _by_site(before, after, n)


def _by_site(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, n: int
) -> tuple[int, list[tuple[str, int, int]]]:
    sizes: dict[str, int] = collections.Counter()
    counts: dict[str, int] = collections.Counter()
    for stat in after.compare_to(before, "traceback"):
        if stat.size_diff <= 0:
            continue
        site = _site(stat.traceback)
        if site is None:
            continue
        sizes[site] += stat.size_diff
        counts[site] += stat.count_diff
    total = sum(sizes.values())
    rows = [(site, size // n, round(counts[site] / n)) for site, size in sizes.items()]
    rows.sort(key=lambda row: -row[1])
    return total // n, rows


def _site(traceback: tracemalloc.Traceback) -> str | None:
    frames = list(traceback)  # most recent last
    allocated = frames[-1]
    for frame in reversed(frames):
        if frame.filename == _HERE:
            return None  # the harness's own requests and publishing
        if frame.filename.startswith(_OURS):
            where = f"{_short(frame.filename)}:{frame.lineno}"
            if frame is not allocated:
                where += f"  (in {_short(allocated.filename)}:{allocated.lineno})"
            return where
    return f"{_short(allocated.filename)}:{allocated.lineno}"


def _short(filename: str) -> str:
    for marker in ("/site-packages/", f"{_ROOT}/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    shown = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    total, rows = asyncio.run(measure(n))
    print(f"{n} tasks each awaiting a sleep: {total} B per task (tracemalloc)")
    for site, size, blocks in rows[:shown]:
        print(f"{size:>6} B {blocks:>3} blocks  {site}")


if __name__ == "__main__":
    main()
