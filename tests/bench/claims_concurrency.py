"""The seeds' claim "a single server orchestrates thousands of concurrent agent
workflows", measured (issue 16).

    python -m tests.bench claims-concurrency
    BENCH_CLAIMS_CONCURRENT=3000 BENCH_CLAIMS_CONCURRENT_LATENCY=5 \\
        python -m tests.bench claims-concurrency

1,000 research workflows (a plan, 2 subagents of one call each, a synthesis: 4 model
calls; BENCH_CLAIMS_CONCURRENT_SUBAGENTS) submitted at once to the research desk's two
`mesh run` processes on this 2-core machine, every call answered by the slow model
double after 2 s (BENCH_CLAIMS_CONCURRENT_LATENCY; an asyncio server, so thousands
wait at once). Reported: how many completed; the time to drain (first submit -> last
end; with unlimited concurrency, 3 calls' latency: the plan, the subagents in
parallel, the synthesis); the most workflows running at once (from their recorded
start and end) and the most calls in flight at the model; the worker processes' peak
RSS (psutil, sampled every 0.2 s) and CPU; and the cost accounting: the sum of the
workflows' tree costs (MESH_MODEL_PRICES) against the requests the model answered
times the price of one.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from mesh.settings import Settings
from schemas.tasks import TaskState
from tests.bench.common import Options, Report, until
from tests.bench.research_desk import (
    BENCH_DESK,
    PRICE,
    RunningDesk,
    capacity_settings,
    env_float,
    env_int,
    run_workflows,
    running_desk,
    tree_cost,
)
from tests.bench.slow_model import REPLY, slow_model_process
from tests.helpers import most_at_once

MB = 1024 * 1024
CALL_USD = (REPLY.input_tokens * PRICE["input"] + REPLY.output_tokens * PRICE["output"]) / 1e6


async def run(settings: Settings, options: Options) -> Report:
    count = env_int("BENCH_CLAIMS_CONCURRENT", 200 if options.quick else 1000)
    subagents = env_int("BENCH_CLAIMS_CONCURRENT_SUBAGENTS", 2)
    latency = env_float("BENCH_CLAIMS_CONCURRENT_LATENCY", 2.0)
    settings = capacity_settings(settings)
    report = Report("claims_concurrency")
    calls = BENCH_DESK.calls_per_workflow(subagents)
    report.add("workflows", count, f"submitted at once; plan + {subagents} subagents + synthesis")
    report.add("latency_s", latency, "per model call, the slow model double")
    report.add("fetch_max_wait_s", settings.fetch_max_wait, "Kafka's default (ADR 030)")
    with slow_model_process(latency=latency) as model, tempfile.TemporaryDirectory() as logs:
        async with running_desk(BENCH_DESK, settings, model.url, Path(logs)) as desk:
            await run_workflows(desk, BENCH_DESK, count=2, subagents=subagents)  # warm-up
            desk.sample_rss()
            idle_rss = sum(desk.peak_rss.values())
            cpu_before, requests_before = desk.cpu_seconds(), (await model.stats())["requests"]
            drain, roots = await run_workflows(
                desk, BENCH_DESK, count=count, subagents=subagents, timeout=560
            )
            cpu = desk.cpu_seconds() - cpu_before
            stats = await model.stats()
            accounted = await _accounted_cost(desk, roots, tasks_each=1 + subagents)
            _add_memory(report, desk, idle_rss, count)
    requests = stats["requests"] - requests_before
    report.add("completed", len(roots), "all succeeded (a failure raises)")
    report.add("drain_s", drain, f"first submit -> last end; ideal {3 * latency:g} s")
    report.add("most_running_at_once", most_at_once(roots), "workflows, by their start/end")
    report.add("model_peak_in_flight", stats["peak_in_flight"], "calls waiting at the model")
    report.add("model_requests", requests, f"expected {count * calls} ({calls} per workflow)")
    report.add("worker_cpu_s", cpu, "both worker processes")
    report.add("worker_cpu_ms_per_workflow", cpu / count * 1000)
    report.add("cost_accounted_musd", accounted * 1e3, "milli-USD: the workflows' tree costs")
    report.add("cost_paid_musd", requests * CALL_USD * 1e3, "the model's requests x a call's price")
    report.add("cost_ratio", accounted / (requests * CALL_USD), "accounted / paid (1.0)")
    return report


async def _accounted_cost(desk: RunningDesk, roots: list[TaskState], *, tasks_each: int) -> float:
    """The workflows' tree costs, once the client has seen every task of the trees end."""
    tasks = desk.client.view.tasks
    ids = {root.task_id for root in roots}

    def all_seen() -> bool:
        ended = sum(1 for s in tasks.values() if s.root_task_id in ids and s.status.is_terminal)
        return ended >= len(ids) * tasks_each

    await until(all_seen, timeout=60, what="every subagent's final state", interval=0.2)
    return sum(tree_cost(tasks, root.task_id) for root in roots)


def _add_memory(report: Report, desk: RunningDesk, idle_rss: int, count: int) -> None:
    for instance, rss in sorted(desk.peak_rss.items()):
        report.add(f"peak_rss_mb_{instance.rsplit('-', 1)[0]}", rss / MB, "psutil, sampled")
    peak = sum(desk.peak_rss.values())
    report.add("peak_rss_mb_total", peak / MB, f"{idle_rss / MB:.0f} MB after the warm-up")
    report.add("rss_kb_per_workflow", (peak - idle_rss) / 1024 / count, "peak minus warm, each")
