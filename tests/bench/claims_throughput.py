"""The seeds' claim "3-5x throughput for multi-step workflows", measured (issue 16).

    python -m tests.bench claims-throughput
    BENCH_CLAIMS_WORKFLOWS=1000 BENCH_CLAIMS_THROUGHPUT_LATENCY=2 \
        python -m tests.bench claims-throughput

200 research workflows (a plan, 3 subagents of one call each, a synthesis: 5 model
calls; BENCH_CLAIMS_SUBAGENTS) against the slow model double answering each call
after a fixed latency (0.5 s by default, shorter than a real model's), two ways with
the same number of worker processes (W = 2):
- the mesh: the research desk's `mesh run` processes (the supervisor and the
  researcher), all 200 questions submitted at once;
- the baseline: W processes (tests/bench/research_baseline.py), each running
  workflows one at a time, every call a blocking request. One workflow at a time
  makes its rate constant (W / (5 x latency) plus its small overhead), so it runs a
  sample, BENCH_CLAIMS_BASELINE_WORKFLOWS per process (6), not 200 x 2.5 s / W.
Throughput is workflows per second from the start to the last workflow's end; the
ratio is the mesh's over the baseline's. The mesh's rate is bounded by its CPU per
workflow on this shared 2-core machine, the baseline's by the latency: the ratio
grows with the latency.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from mesh.settings import Settings
from tests.bench.common import Options, Report
from tests.bench.research_desk import (
    BENCH_DESK,
    capacity_settings,
    env_float,
    env_int,
    run_workflows,
    running_desk,
)
from tests.bench.slow_model import slow_model_process
from tests.conftest import ROOT


async def run(settings: Settings, options: Options) -> Report:
    workflows = env_int("BENCH_CLAIMS_WORKFLOWS", 50 if options.quick else 200)
    subagents = env_int("BENCH_CLAIMS_SUBAGENTS", 3)
    latency = env_float("BENCH_CLAIMS_THROUGHPUT_LATENCY", 0.5)
    sample = env_int("BENCH_CLAIMS_BASELINE_WORKFLOWS", 2 if options.quick else 6)
    workers = len(BENCH_DESK.specs)
    calls = BENCH_DESK.calls_per_workflow(subagents)
    settings = capacity_settings(settings)
    report = Report("claims_throughput")
    report.add("workflows", workflows, f"plan + {subagents} subagents + synthesis: {calls} calls")
    report.add("latency_s", latency, "per model call, the slow model double")
    report.add("worker_processes", workers, "each side")
    report.add("fetch_max_wait_s", settings.fetch_max_wait, "Kafka's default (ADR 030)")
    with slow_model_process(latency=latency) as model, tempfile.TemporaryDirectory() as logs:
        async with running_desk(BENCH_DESK, settings, model.url, Path(logs)) as desk:
            await run_workflows(desk, BENCH_DESK, count=2, subagents=subagents)  # warm-up
            cpu_before = desk.cpu_seconds()
            mesh_s, _ = await run_workflows(desk, BENCH_DESK, count=workflows, subagents=subagents)
            cpu = desk.cpu_seconds() - cpu_before
        peak = (await model.stats())["peak_in_flight"]
        baseline_s = await asyncio.to_thread(_baseline, model.url, sample, subagents, workers)
    mesh_rate, baseline_rate = workflows / mesh_s, sample * workers / baseline_s
    report.add("mesh_workflows_per_s", mesh_rate, f"{mesh_s:.1f} s for all")
    report.add(
        "mesh_cpu_ms_per_workflow",
        cpu / workflows * 1000,
        "the worker processes' (the rate's bound on a loaded machine)",
    )
    report.add("mesh_model_peak_in_flight", peak, "the most calls the model saw at once")
    report.add(
        "baseline_workflows_per_s", baseline_rate, f"{sample} per process in {baseline_s:.1f} s"
    )
    report.add("baseline_ideal_per_s", workers / (calls * latency), "W / (calls x latency)")
    report.add("ratio", mesh_rate / baseline_rate, "mesh / blocking baseline (seed: 3-5)")
    return report


def _baseline(url: str, each: int, subagents: int, workers: int) -> float:
    """Seconds the slowest of `workers` baseline processes took for `each` workflows."""
    procs = [
        subprocess.Popen(
            [
                *(sys.executable, "-m", "tests.bench.research_baseline", url),
                *("--workflows", str(each), "--subagents", str(subagents), "--label", f"b{i}"),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(workers)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a baseline process did not start (exit {proc.wait()})")
        for proc in procs:  # as close together as the pipes allow
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = [json.loads(proc.stdout.readline()) for proc in procs if proc.stdout]
        return max(float(r["seconds"]) for r in results)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
