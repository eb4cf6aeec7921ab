"""CPU per no-op hop, several rounds in one process: one side of an A/B comparison.

    python -m tests.bench.hop_ab                 # 6 rounds of 3,000 hops, 5,000 in flight
    python -m tests.bench.hop_ab --rounds 4 --n 2000
    python -m tests.bench.hop_ab --profile /tmp/hop.prof   # + Python calls per hop
    python -m tests.bench.hop_ab --memory        # the in-memory transport: no broker

The machine this project is measured on is shared and noisy, so a change to the hop
is measured by running the code before and after it alternately, each in its own
process (its own checkout first on PYTHONPATH), several rounds each, and comparing
medians. Each round is `tests.bench.hop.mesh_hop` (a fresh namespace, the inputs
pre-produced, the window from resume to the last offset finished). With
MESH_BOOTSTRAP_SERVERS set, both sides use that broker; else each starts its own.

cProfile's call counts do not depend on the load: `--profile` reports the Python
calls per hop of one more round, profiled. `--memory` runs the same worker on the
in-memory transport (mesh/transport/memory.py): the runtime's own CPU per hop without
aiokafka and the broker, so with less noise.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import statistics
import sys
import uuid

from mesh.dev.broker import EmbeddedBroker
from mesh.runtime.gc_tuning import tune_for_service
from mesh.runtime.publisher import Publisher
from mesh.runtime.worker import Worker
from mesh.settings import Settings
from mesh.transport.memory import MemoryTransport
from schemas import Envelope, Source
from schemas.envelope import new_id
from tests.bench.agents import noop
from tests.bench.common import BENCH_PROFILE, Window, until
from tests.bench.hop import TEXT, mesh_hop


async def memory_hop(n: int, inflight: int, profile: str | None) -> float:
    """CPU seconds of `n` no-op hops of a worker on the in-memory transport."""
    settings = Settings(max_inflight=inflight, max_backlog=max(n, 1), shutdown_grace=0.0)
    transport = MemoryTransport()
    worker = Worker(noop, transport=transport, settings=settings)
    await worker.start()
    default_threshold = gc.get_threshold()
    tune_for_service(settings.gc_gen0_threshold)  # as `mesh run` and `mesh_hop` do
    try:
        consumer = worker._consumer  # private: paused while the inputs are written
        assert consumer is not None
        consumer.pause()
        publisher = Publisher(transport, settings, Source(agent="bench"))
        for i in range(n):
            task_id = new_id()
            request = Envelope(
                type="bench.noop",
                task_id=task_id,
                root_task_id=task_id,
                payload={"n": i, "text": TEXT[:40]},
            )
            await publisher.send(worker.inbox, request, key=task_id)
        partitions = worker._tracker._partitions

        def all_done() -> bool:
            seen = sum(p.highest_seen + 1 for p in partitions.values())
            return seen >= n and not any(p.inflight for p in partitions.values())

        profiler = cProfile.Profile() if profile else None
        window = Window()
        window.start()
        if profiler:
            profiler.enable()
        consumer.resume()
        try:
            await until(all_done, timeout=300, what=f"{n} no-op tasks to succeed")
        finally:
            window.stop()
            if profiler:
                profiler.disable()
                profiler.dump_stats(profile)
        return window.cpu
    finally:
        gc.unfreeze()
        gc.set_threshold(*default_threshold)
        await worker.stop()


async def measure(
    rounds: int, n: int, inflight: int, profile: str | None, *, memory: bool
) -> list[float]:
    if memory:
        return await measure_in_memory(rounds, n, inflight, profile)
    given = os.environ.get("MESH_BOOTSTRAP_SERVERS")
    broker = None if given else EmbeddedBroker()
    bootstrap = given or await broker.start()  # type: ignore[union-attr]
    cpu_per_hop = []
    try:
        for round_ in range(rounds + (1 if profile else 0)):
            settings = Settings(
                bootstrap_servers=bootstrap,
                namespace=f"bench-hop-ab-{uuid.uuid4().hex[:8]}",
                max_inflight=inflight,
                **BENCH_PROFILE,
            )
            profiling = profile if round_ == rounds else None
            _, window, _ = await mesh_hop(settings, n, profiling)
            if profiling:
                calls = pstats.Stats(profiling).total_calls  # type: ignore[attr-defined]
                print(f"profiled: {calls / n:.0f} Python calls per hop", flush=True)
            else:
                cpu_per_hop.append(window.cpu / n * 1e6)
                print(f"round {round_ + 1}: {cpu_per_hop[-1]:.0f} us CPU per hop", flush=True)
    finally:
        if broker is not None:
            await broker.stop()
    return cpu_per_hop


async def measure_in_memory(rounds: int, n: int, inflight: int, profile: str | None) -> list[float]:
    cpu_per_hop = []
    for round_ in range(rounds):
        cpu_per_hop.append(await memory_hop(n, inflight, None) / n * 1e6)
        print(f"round {round_ + 1}: {cpu_per_hop[-1]:.0f} us CPU per hop", flush=True)
    if profile:
        await memory_hop(n, inflight, profile)
        calls = pstats.Stats(profile).total_calls  # type: ignore[attr-defined]
        print(f"profiled: {calls / n:.0f} Python calls per hop", flush=True)
    return cpu_per_hop


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.hop_ab", description=__doc__)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--n", type=int, default=3_000, help="hops per round")
    parser.add_argument("--inflight", type=int, default=5_000, help="MESH_MAX_INFLIGHT")
    parser.add_argument("--profile", metavar="FILE", help="profile one more round")
    parser.add_argument("--memory", action="store_true", help="the in-memory transport")
    args = parser.parse_args(argv)
    cpu = asyncio.run(measure(args.rounds, args.n, args.inflight, args.profile, memory=args.memory))
    if cpu:
        print(f"median {statistics.median(cpu):.0f} us CPU per hop of {len(cpu)} rounds")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
