"""`make bench`: run the benchmarks against one broker and print their ratios.

    python -m tests.bench                  # all: hop, hop-frameworks, inflight, idle, fanout,
                                           # recovery, supervisor, gateway, gateway-soak,
                                           # model_overhead,
                                           # model_journal, ratelimit,
                                           # claims-fanout, claims-throughput,
                                           # claims-concurrency, claims-cost
    python -m tests.bench hop fanout       # a subset, in the order given
    python -m tests.bench --quick          # smaller sizes
    python -m tests.bench hop --profile /tmp/hop.prof   # cProfile of the timed mesh hop
    python -m tests.bench ratelimit --window 20          # a shorter measuring window

One embedded Tansu broker serves the whole run (or the cluster in
MESH_BOOTSTRAP_SERVERS); each benchmark gets a fresh namespace. Performance is
reported as ratios against baselines measured in the same run, never asserted.
The results also go to tests/bench/results.json (per benchmark: a run replaces the
results of the benchmarks it ran and keeps the others).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import sys
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson

from mesh.dev.broker import EmbeddedBroker
from mesh.settings import Settings
from tests.bench import (
    claims_concurrency,
    claims_cost,
    claims_fanout,
    claims_throughput,
    fanout,
    frameworks,
    gateway,
    gateway_soak,
    hop,
    idle,
    inflight,
    model_calls,
    ratelimit,
    recovery,
    supervision,
)
from tests.bench.common import BENCH_PROFILE, Options, Report

BENCHMARKS: dict[str, Callable[[Settings, Options], Awaitable[Report]]] = {
    "hop": hop.run,
    # The hop beside faust, FastStream and Calfkit (the last two installed on demand).
    "hop-frameworks": frameworks.run,
    "inflight": inflight.run,
    "idle": idle.run,
    "fanout": fanout.run,
    "recovery": recovery.run,
    "supervisor": supervision.run,
    "gateway": gateway.run,
    # Resident memory against tasks seen; size from BENCH_SOAK_TASKS (default 1,000,000).
    "gateway-soak": gateway_soak.run,
    "model_overhead": model_calls.run_overhead,
    "model_journal": model_calls.run_journal,
    "ratelimit": ratelimit.run,
    # The seeds' claims (issue 16): sizes from BENCH_CLAIMS_* (tests/bench/claims_*.py).
    "claims-fanout": claims_fanout.run,
    "claims-throughput": claims_throughput.run,
    "claims-concurrency": claims_concurrency.run,
    "claims-cost": claims_cost.run,
}
BUDGET_SECONDS = 300.0  # per benchmark: a broken run ends with an error, not a hang
# 1,000 workflows at once take 1.5 min of this 2-core machine when others load it too.
# hop-frameworks installs FastStream's and Calfkit's environments on its first run;
# gateway-soak pushes 1,000,000 tasks through one gateway (34 min at a load of 10-15);
# inflight starts 100,000 tasks.
BUDGETS = {
    "claims-concurrency": 600.0,
    "hop-frameworks": 1200.0,
    "gateway-soak": 3600.0,
    "inflight": 1200.0,
}
RESULTS = Path(__file__).with_name("results.json")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(BENCHMARKS))
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the timed mesh hop")
    parser.add_argument(
        "--window", type=float, metavar="SECONDS", help="ratelimit's window (default 60)"
    )
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}")
    return args


async def run_all(names: list[str], options: Options) -> tuple[list[Report], dict[str, str]]:
    reports: list[Report] = []
    errors: dict[str, str] = {}
    given = os.environ.get("MESH_BOOTSTRAP_SERVERS")
    broker = None if given else EmbeddedBroker()
    bootstrap = given or await broker.start()  # type: ignore[union-attr]
    try:
        for name in names:
            settings = Settings(
                bootstrap_servers=bootstrap,
                namespace=f"bench-{name}-{uuid.uuid4().hex[:8]}",
                **BENCH_PROFILE,
            )
            print(f"running {name} ...", file=sys.stderr, flush=True)
            began = time.perf_counter()
            try:
                async with asyncio.timeout(BUDGETS.get(name, BUDGET_SECONDS)):
                    reports.append(await BENCHMARKS[name](settings, options))
            except Exception as exc:
                traceback.print_exc()
                errors[name] = f"{type(exc).__name__}: {exc}"
            took = time.perf_counter() - began
            print(f"  {name} took {took:.1f}s", file=sys.stderr, flush=True)
    finally:
        if broker is not None:
            await broker.stop()
    return reports, errors


def print_table(reports: list[Report], errors: dict[str, str]) -> None:
    rows = [m for r in reports for m in r.metrics]
    width = max((len(m.name) for m in rows), default=10) + 2
    for report in reports:
        print()
        for m in report.metrics:
            print(f"{m.name:<{width}}{m.formatted():>10}   {m.note}")
        for note in report.notes:
            print(f"  {report.name}: {note}")
    for name, error in errors.items():
        print(f"\n{name}  FAILED: {error}")


def write_json(reports: list[Report], errors: dict[str, str], options: Options) -> None:
    """Write this run's results; benchmarks not run now keep their last results."""
    run_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    earlier = orjson.loads(RESULTS.read_bytes()) if RESULTS.exists() else {}
    benchmarks = dict(earlier.get("benchmarks") or {})
    benchmarks.update(
        {
            r.name: {
                "run_at": run_at,
                "quick": options.quick,
                "metrics": {m.name: round(m.value, 4) for m in r.metrics},
                "notes": {m.name: m.note for m in r.metrics if m.note},
                "remarks": r.notes,
            }
            for r in reports
        }
    )
    document = {
        "run_at": run_at,
        "broker": os.environ.get("MESH_BOOTSTRAP_SERVERS") or "embedded Tansu",
        "profile": BENCH_PROFILE,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "benchmarks": benchmarks,
        "errors": errors,
    }
    RESULTS.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    names = list(dict.fromkeys(args.names)) or list(BENCHMARKS)
    options = Options(quick=args.quick, profile=args.profile, window=args.window)
    reports, errors = asyncio.run(run_all(names, options))
    print_table(reports, errors)
    write_json(reports, errors, options)
    print(f"\nresults written to {RESULTS}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
