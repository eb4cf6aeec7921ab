"""Non-blocking delegation: a parent delegates 10 children of 2 s each and gathers them.

Runs the e2e sample agents (`fanout` and `sleeper`) as in-process Workers on the
Kafka transport. The parent's wall time is its `started_at` -> `finished_at` in the
task state; the ideal is one child's 2 s. The sequential baseline is computed, not
measured: 10 children one after another take 10 x 2 s = 20 s.
"""

from __future__ import annotations

import statistics
import time

from mesh.settings import Settings
from mesh.testing import TestMesh
from mesh.transport.kafka.adapter import KafkaTransport
from schemas.tasks import TaskStatus
from tests.bench.common import Options, Report
from tests.e2e.sample_agents import FanOut, fanout, sleeper

CHILDREN = 10
SECONDS = 2.0


async def run(settings: Settings, options: Options) -> Report:
    runs = 3 if options.quick else 5
    walls, latencies = [], []
    async with TestMesh(
        fanout, sleeper, transport=KafkaTransport(settings), settings=settings
    ) as m:
        for _ in range(runs):
            submitted = time.perf_counter()
            task_id = await m.client.submit("fanout", FanOut(children=CHILDREN, seconds=SECONDS))
            state = await m.client.wait(task_id, timeout=60)
            latencies.append(time.perf_counter() - submitted)
            if state.status is not TaskStatus.SUCCEEDED or not state.started_at:
                raise AssertionError(f"fan-out run ended {state.status}: {state.error}")
            assert state.finished_at is not None
            walls.append((state.finished_at - state.started_at).total_seconds())

    wall = statistics.median(walls)
    sequential = CHILDREN * SECONDS
    report = Report("fanout")
    report.add("runs", runs, f"{CHILDREN} children x {SECONDS:g} s each")
    report.add("parent_wall_s", wall, "median, parent started -> finished")
    report.add("end_to_end_s", statistics.median(latencies), "median, submit -> client sees it")
    report.add("ratio", wall / SECONDS, f"parent wall / {SECONDS:g} s (target <= 1.3)")
    report.add("sequential_ratio", sequential / SECONDS, f"computed: {CHILDREN} x {SECONDS:g} s")
    report.add("speedup", sequential / wall, "sequential 20 s / parent wall")
    report.notes.append("parent walls (s): " + ", ".join(f"{w:.2f}" for w in walls))
    return report
