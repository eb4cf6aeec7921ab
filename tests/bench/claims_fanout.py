"""The seeds' claim "the sum of tasks becomes the max of tasks", measured (issue 16).

    python -m tests.bench claims-fanout
    BENCH_CLAIMS_FANOUT=5,10,20 BENCH_CLAIMS_LATENCY=2 python -m tests.bench claims-fanout

One research question at a time through the research desk (tests/bench/research_desk.py:
a supervisor and a researcher as `mesh run` processes): a plan (one model call), N
independent subagents (one call each), a synthesis (one call), every call answered by
the slow model double after a fixed latency (1 s by default). Each N runs both ways,
alternating: parallel delegation (all N delegated, then awaited) and blocking
delegation (each child awaited before the next is delegated), the seed's "3 x 20 min
take ~20 min, not 60". Reported per N, median of the runs: the wall time of each
(submit -> the client sees the end), their ratio, and the subagents' phase alone
(first delegation -> last finding, timed in the supervisor), whose ideal is one
call's latency in parallel and N of them blocking.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from mesh.settings import Settings
from tests.bench.common import Options, Report
from tests.bench.research_desk import (
    BENCH_DESK,
    RunningDesk,
    env_float,
    env_ints,
    run_workflows,
    running_desk,
)
from tests.bench.slow_model import slow_model_process


async def run(settings: Settings, options: Options) -> Report:
    sizes = env_ints("BENCH_CLAIMS_FANOUT", "5" if options.quick else "5,10")
    latency = env_float("BENCH_CLAIMS_LATENCY", 1.0)
    runs = 1 if options.quick else 2
    report = Report("claims_fanout")
    report.add("latency_s", latency, "per model call, the slow model double")
    report.add("runs", runs, "per N and way, alternating; medians reported")
    with slow_model_process(latency=latency) as model, tempfile.TemporaryDirectory() as logs:
        async with running_desk(BENCH_DESK, settings, model.url, Path(logs)) as desk:
            await run_workflows(desk, BENCH_DESK, count=1, subagents=2)  # warm-up
            for n in sizes:
                walls: dict[bool, list[float]] = {False: [], True: []}
                phases: dict[bool, list[float]] = {False: [], True: []}
                for _ in range(runs):
                    for blocking in (False, True):
                        wall, phase = await _one_question(desk, n, blocking)
                        walls[blocking].append(wall)
                        phases[blocking].append(phase)
                _add_size(report, n, latency, walls, phases)
    return report


async def _one_question(desk: RunningDesk, subagents: int, blocking: bool) -> tuple[float, float]:
    """(wall seconds, the subagents' phase in seconds) of one question."""
    wall, [state] = await run_workflows(
        desk, BENCH_DESK, count=1, subagents=subagents, blocking=blocking
    )
    assert state.result is not None
    return wall, float(state.result["delegation_s"])


def _add_size(
    report: Report,
    n: int,
    latency: float,
    walls: dict[bool, list[float]],
    phases: dict[bool, list[float]],
) -> None:
    parallel, blocking = statistics.median(walls[False]), statistics.median(walls[True])
    in_parallel, one_by_one = statistics.median(phases[False]), statistics.median(phases[True])
    calls = f"plan + {n} subagents + synthesis, {latency:g} s a call"
    ideal = (n + 2) / 3
    report.add(f"n{n}_parallel_wall_s", parallel, f"{calls}; ideal {3 * latency:g} s")
    report.add(f"n{n}_blocking_wall_s", blocking, f"ideal {(n + 2) * latency:g} s")
    report.add(f"n{n}_wall_ratio", blocking / parallel, f"blocking / parallel; ideal {ideal:.2f}")
    report.add(f"n{n}_phase_parallel_s", in_parallel, f"{n} subagents; ideal {latency:g} s (max)")
    report.add(f"n{n}_phase_blocking_s", one_by_one, f"ideal {n * latency:g} s (sum)")
    report.add(f"n{n}_phase_ratio", one_by_one / in_parallel, f"sum / max; ideal {n}")
    report.add(
        f"n{n}_phase_parallel_per_call",
        in_parallel / latency,
        "parallel phase / one call's latency (1.0: the max of the tasks)",
    )
