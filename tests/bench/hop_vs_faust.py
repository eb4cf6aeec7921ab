"""The mesh's no-op hop and a faust agent, alternately, several rounds on one broker.

    python -m tests.bench.hop_vs_faust            # 5 rounds of 2,000 inputs each
    python -m tests.bench.hop_vs_faust 7 5000     # rounds, inputs

`python -m tests.bench hop-frameworks` runs each contender once, and one run says
little here: on this shared 2-core machine the same faust agent moved between 1,342
and 2,921 inputs/s in five runs in a row (331-619 µs of CPU per input), and the mesh's
hop between 1,923 and 3,623. This runs them in turns (the mesh, faust, the raw loop
writing four records per input: the ceiling of any client writing what the hop
writes), each round on fresh topics, the same way as tests/bench/frameworks.py, and
reports every round and the medians. The ratio of the medians is the comparison.
"""

from __future__ import annotations

import asyncio
import statistics
import sys

from mesh.dev.broker import EmbeddedBroker
from mesh.settings import Settings
from tests.bench import frameworks
from tests.bench.common import BENCH_PROFILE

FAUST = frameworks.FRAMEWORKS[0]


async def rounds(count: int, n: int) -> dict[str, list[tuple[float, float]]]:
    """Per contender, (inputs/s, µs of CPU per input) of each round."""
    results: dict[str, list[tuple[float, float]]] = {"mesh": [], "faust": [], "raw4": []}
    async with EmbeddedBroker() as broker:
        for i in range(count):
            profile = {**BENCH_PROFILE, "bootstrap_servers": broker.bootstrap_servers}
            settings = Settings(**{**profile, "namespace": f"versus{i}"})
            measured = {
                "mesh": await frameworks._mesh(settings, n),
                "faust": await frameworks._framework(settings, FAUST, n),
                "raw4": await frameworks._raw(settings, n, records=4),
            }
            for name, result in measured.items():
                results[name].append((result.rate, result.cpu_s / n * 1e6))
            shown = ", ".join(f"{k} {r.rate:,.0f}/s" for k, r in measured.items())
            print(f"round {i + 1}: {shown}", flush=True)
    return results


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2_000
    results = asyncio.run(rounds(count, n))
    medians = {
        name: (statistics.median(r for r, _ in rows), statistics.median(c for _, c in rows))
        for name, rows in results.items()
    }
    for name, (rate, cpu) in medians.items():
        print(f"{name:6} median {rate:8,.0f} inputs/s {cpu:6.0f} us CPU per input")
    mesh, faust, raw4 = medians["mesh"][0], medians["faust"][0], medians["raw4"][0]
    print(f"mesh/faust (medians): {mesh / faust:.2f}   target >= 2")
    print(f"raw4/faust (medians): {raw4 / faust:.2f}   the ceiling of the hop's four records")
    print(f"mesh/raw4 (medians):  {mesh / raw4:.2f}")


if __name__ == "__main__":
    main()
