"""`gateway-soak`: one `mesh gateway`'s resident memory against the tasks it has seen.

TASKS tasks (BENCH_SOAK_TASKS: 1,000,000 by default, 50,000 with --quick) go through
the gateway's topics as a short task leaves them (three events and its final state,
as in tests/bench/gateway.py), each ending as it is published, while the gateway keeps
ended tasks for RETENTION seconds (MESH_GATEWAY_TASK_RETENTION, ADR 031). This process
publishes in chunks and waits until the gateway has seen each chunk's last tasks (200
or 410), sampling its RSS at every 10% of TASKS; after warm-up (the first 20%) the
curve should be flat. The gateway remembers the ids it let go of (for 410) up to a
bounded count (GONE_REMEMBERED): they grow until then, a warm-up cost.

Baseline in the same run: a second gateway that keeps ended tasks for a day follows
the same topics for the first BASELINE_TASKS tasks (then stops): its RSS growth per
task is what a retained task costs, the growth the retention removes.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil

from mesh.gateway._retention import GONE_REMEMBERED
from mesh.runtime.publisher import Publisher
from mesh.settings import Settings
from mesh.topics import agent_topics, runtime_topics
from mesh.transport.base import Outgoing
from mesh.transport.kafka.adapter import KafkaTransport
from schemas import Source, decode_envelope
from schemas.envelope import new_id, utc_now
from tests.bench.common import Options, Report
from tests.bench.gateway import AGENT, publish_card, status_of, task_records, wait_ready
from tests.e2e.processes import MeshProcess
from tests.gateway.conftest import free_port

RETENTION = 2.0  # seconds: a short one, so the soak reaches its steady state early
CHUNK = 2000  # tasks per publish
BASELINE_TASKS = 50_000  # at most; a tenth of TASKS when fewer
WARM_UP = 0.2  # of TASKS: the slope is fitted on the samples after it


async def run(settings: Settings, options: Options) -> Report:
    total = int(os.environ.get("BENCH_SOAK_TASKS") or (50_000 if options.quick else 1_000_000))
    report = Report("gateway-soak")
    report.add("tasks", total, "BENCH_SOAK_TASKS")
    report.add("retention_s", RETENTION, "MESH_GATEWAY_TASK_RETENTION of the soaked gateway")
    settings = settings.model_copy(update={"log_level": "WARNING", "partitions": 4})
    transport = KafkaTransport(settings)
    await transport.start()
    try:
        await transport.ensure_topics([*runtime_topics(settings), *agent_topics(settings, AGENT)])
        publisher = Publisher(transport, settings, Source(agent="bench", instance="bench"))
        await publish_card(publisher)
        with tempfile.TemporaryDirectory() as logs:
            soaked = Gateway(settings, Path(logs), "soaked", RETENTION)
            baseline = Gateway(settings, Path(logs), "baseline", 86400.0)
            try:
                await soak(report, publisher, soaked, baseline, total)
            finally:
                await baseline.stop()
                await soaked.stop()
    finally:
        await transport.stop()
    return report


class Gateway:
    """A `mesh gateway` process with its own port and retention, and an HTTP session."""

    def __init__(self, settings: Settings, logs: Path, name: str, retention: float) -> None:
        self.settings = settings.model_copy(
            update={"gateway_port": free_port(), "gateway_task_retention": retention}
        )
        self.process = MeshProcess("", self.settings, logs, name, command=["gateway"])
        self.http: aiohttp.ClientSession | None = None

    async def open(self) -> aiohttp.ClientSession:
        url = f"http://127.0.0.1:{self.settings.gateway_port}"
        self.http = aiohttp.ClientSession(url, timeout=aiohttp.ClientTimeout(total=30))
        await wait_ready(self.http, self.process)
        return self.http

    def rss(self) -> int:
        return int(psutil.Process(self.process.proc.pid).memory_info().rss)

    async def wait_seen(self, ids: list[str], *, timeout: float = 300.0) -> None:
        """Until the gateway answers each of `ids` (200, or 410 once let go)."""
        assert self.http is not None
        deadline = time.monotonic() + timeout
        for task_id in ids:
            while await status_of(self.http, f"/v1/tasks/{task_id}") not in (200, 410):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.process.instance} did not see {task_id}")
                await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
            self.http = None
        self.process.stop()


async def soak(
    report: Report, publisher: Publisher, soaked: Gateway, baseline: Gateway, total: int
) -> None:
    await soaked.open()
    await baseline.open()
    empty = {"soaked": soaked.rss(), "baseline": baseline.rss()}
    baseline_tasks = min(BASELINE_TASKS, max(CHUNK, total // 10))
    step = max(1, total // 10)
    samples: list[tuple[int, int]] = []
    published = 0
    began = time.perf_counter()
    while published < total:
        count = min(CHUNK, total - published, step * (len(samples) + 1) - published)
        ids = await publish_chunk(publisher, count)
        published += count
        await soaked.wait_seen(ids[-8:])
        if baseline.http is not None and published >= baseline_tasks:
            await baseline.wait_seen(ids[-8:])
            grown = baseline.rss() - empty["baseline"]
            report.add("baseline_bytes_per_task", grown / published, "a day's retention")
            report.add("soaked_bytes_per_task_then", (soaked.rss() - empty["soaked"]) / published)
            await baseline.stop()
        if published >= step * (len(samples) + 1) or published == total:
            samples.append((published, soaked.rss()))
            elapsed = time.perf_counter() - began
            print(  # the curve so far, for a run cut short
                f"  {published} tasks seen, RSS {samples[-1][1] / 2**20:.1f} MB, {elapsed:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    took = time.perf_counter() - began
    report.add("took_s", took)
    report.add("tasks_per_s", total / took, "published and seen by the gateway")
    report.add("rss_empty_mb", empty["soaked"] / 2**20)
    for seen, rss in samples:
        report.add(f"rss_mb_at_{round(100 * seen / total)}pct", rss / 2**20, f"{seen} tasks seen")
    slope = fitted_slope([s for s in samples if s[0] > WARM_UP * total])
    report.add("slope_bytes_per_task", slope, f"RSS growth after {WARM_UP:.0%} (least squares)")
    per_task = next(m.value for m in report.metrics if m.name.endswith("baseline_bytes_per_task"))
    report.add("slope_ratio", slope / per_task, "slope / baseline bytes per task")
    report.notes.append(
        f"ids let go are remembered up to {GONE_REMEMBERED:,} (for 410): their growth "
        "is part of the warm-up when fewer tasks than that have been let go"
    )


def fitted_slope(points: list[tuple[int, int]]) -> float:
    """Least-squares slope of RSS (bytes) against tasks seen; 0 with fewer than 2 points."""
    if len(points) < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


async def publish_chunk(publisher: Publisher, count: int) -> list[str]:
    """`count` tasks that end now: three events and the final state each. One task's
    records are encoded as a template and copied with fresh task and message ids, so
    this process's encoding does not cap the rate the gateway is soaked at."""
    placeholder = "0" * 32
    template = task_records(publisher, placeholder, utc_now())
    message_ids = [decode_envelope(r.value).id.encode() for r in template]
    ids = [new_id() for _ in range(count)]
    records = []
    for task_id in ids:
        encoded = task_id.encode()
        for record, message_id in zip(template, message_ids, strict=True):
            fresh = {placeholder.encode(): encoded, message_id: new_id().encode()}
            value = record.value
            for old, new in fresh.items():
                value = value.replace(old, new)
            headers = {name: fresh.get(h, h) for name, h in record.headers.items()}
            records.append(Outgoing(record.topic, value, encoded, headers))
    await publisher.send_many(records)
    return ids
