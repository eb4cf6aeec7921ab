"""Mesh-wide rate limits (ADR 024): four worker processes of uneven demand share one
limit; how close does their aggregate rate come to it, and who waits?

Four `mesh run` processes (four agent types, tests/bench/ratelimit_agents.py) call
one model on the scripted test double (tests/model_double.py, 50 ms per answer)
under `MESH_MODEL_LIMITS` of LIMIT_RPM. Tasks are offered at OFFERED per second per
process (about twice the limit, unevenly), a fifth of them at priority 5. After a
warm-up, the double counts the requests that reach it over the window (60 s, or
`--window`): the aggregate rate as a ratio to the limit (target 0.90-1.02), and the
share of each process. Latency is a task's, submit to success, by priority, among
the tasks submitted in the window (a low-priority backlog grows under overload, so
the finished share is reported too).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from mesh.client import Client
from mesh.model_choices import ModelLimit
from mesh.settings import Settings
from mesh.transport.kafka.adapter import KafkaTransport
from schemas.tasks import TaskStatus
from tests.bench.common import Options, Report, until
from tests.e2e.processes import MeshProcess, wait_until_split
from tests.model_double import ModelDouble, Reply

AGENTS = "tests.bench.ratelimit_agents"
LIMIT_RPM = 600  # 10 requests a second for the whole mesh
OFFERED = (10.0, 5.0, 3.0, 2.0)  # tasks per second, per process: 2x the limit, uneven
HIGH_PRIORITY_EVERY = 5  # every fifth task of a process runs at priority 5
WARMUP = 8.0  # seconds before the window: grants and backlogs settle


async def run(settings: Settings, options: Options) -> Report:
    window = options.window or (20.0 if options.quick else 60.0)
    report = Report("ratelimit")
    with ModelDouble() as double, tempfile.TemporaryDirectory(prefix="ratelimit-") as logs:
        double.default = Reply(content="ok", delay=0.05)
        settings = settings.model_copy(
            update={
                "model_endpoint": double.url,
                "model_name": "bench",
                "model_limits": {"bench": ModelLimit(rpm=LIMIT_RPM)},
                # Calls wait in their process rather than cycling through retries.
                "model_fallback_wait": 30.0,
                # Each process runs three consumers here (its inbox, the allocators'
                # group, the grants): 10 ms fetch polls from all of them load the
                # embedded broker more than the model calls do.
                "fetch_max_wait": 0.1,
            }
        )
        specs = [f"{AGENTS}:caller_{i}" for i in range(len(OFFERED))]
        processes = [
            MeshProcess(spec, settings, Path(logs), f"caller-{i}") for i, spec in enumerate(specs)
        ]
        try:
            await wait_until_split(processes, partitions=dict.fromkeys(specs, 4))
            async with Client(KafkaTransport(settings), settings, owns_transport=True) as client:
                names = [f"caller-{i}" for i in range(len(OFFERED))]
                await until(
                    lambda: all(n in client.view.agents for n in names), timeout=30, what="cards"
                )
                await _warm_up(client, processes, names)
                began = time.monotonic()
                ends = began + WARMUP + window
                submitted = await asyncio.gather(
                    *(_offer(client, n, rate, ends) for n, rate in zip(names, OFFERED, strict=True))
                )
                await asyncio.sleep(2.0)  # the window's last answers finish
                _rates(report, double, began + WARMUP, window)
                _latencies(report, client, [t for ts in submitted for t in ts], began + WARMUP)
        finally:
            for process in processes:
                process.stop()
    report.notes.append(
        f"{len(OFFERED)} processes offered {sum(OFFERED):g} tasks/s ({OFFERED}) against "
        f"{LIMIT_RPM} rpm; window {window:g} s after {WARMUP:g} s of warm-up"
    )
    return report


async def _warm_up(client: Client, processes: list[MeshProcess], names: list[str]) -> None:
    """Every process allocating and past its first call: the first call imports the
    provider SDK (seconds of a busy loop on a loaded machine), which must not fall in
    the window."""
    await until(
        lambda: all("allocating for requests partitions" in p.log() for p in processes),
        timeout=60,
        what="every process in the allocators' group",
    )
    ids = [await client.submit(name, {"n": -1}, priority=5) for name in names]
    for task_id in ids:
        state = await client.wait(task_id, timeout=120)
        assert state.status is TaskStatus.SUCCEEDED, state


async def _offer(
    client: Client, agent: str, rate: float, ends: float
) -> list[tuple[str, int, float]]:
    """Submit tasks to `agent` at `rate` per second until `ends`: (id, priority, when)."""
    submitted = []
    n = 0
    while (now := time.monotonic()) < ends:
        priority = 5 if n % HIGH_PRIORITY_EVERY == 0 else 0
        task_id = await client.submit(agent, {"n": n}, priority=priority)
        submitted.append((task_id, priority, now))
        n += 1
        await asyncio.sleep(max(0.0, now + 1 / rate - time.monotonic()))
    return submitted


def _rates(report: Report, double: ModelDouble, start: float, window: float) -> None:
    inside = [i for i, t in enumerate(double.arrivals) if start <= t < start + window]
    rate = len(inside) / window * 60
    report.add("requests_per_minute", rate, f"reaching the provider; limit {LIMIT_RPM}")
    report.add("ratio_to_limit", rate / LIMIT_RPM, "target 0.90-1.02")
    for i in range(len(OFFERED)):
        prefix = f"caller-{i}:"
        mine = sum(1 for j in inside if _question(double, j).startswith(prefix))
        report.add(f"caller_{i}_per_minute", mine / window * 60, f"offered {OFFERED[i] * 60:g}")


def _question(double: ModelDouble, index: int) -> str:
    return str(double.requests[index]["messages"][0]["content"])


def _latencies(
    report: Report, client: Client, submitted: list[tuple[str, int, float]], start: float
) -> None:
    for priority in (5, 0):
        ids = [t for t, p, at in submitted if p == priority and at >= start]
        states = [client.view.tasks.get(t) for t in ids]
        seconds = sorted(
            (s.finished_at - s.created_at).total_seconds()
            for s in states
            if s is not None and s.status is TaskStatus.SUCCEEDED and s.finished_at is not None
        )
        name = f"priority_{priority}"
        report.add(f"{name}_finished", len(seconds) / max(len(ids), 1), f"of {len(ids)}")
        if seconds:
            report.add(f"{name}_latency_p50_s", statistics.median(seconds))
            report.add(f"{name}_latency_p95_s", seconds[int(0.95 * (len(seconds) - 1))])
