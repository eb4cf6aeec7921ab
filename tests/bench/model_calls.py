"""The model layer's cost per call (issue 15): `ctx.chat` against a direct `openai` SDK
call (`model_overhead`), and the journal write's share of it (`model_journal`).

    python -m tests.bench model_overhead model_journal

What is timed: one task of the `chatter` agent (tests/bench/agents.py), run by an
in-process Worker on the Kafka transport (and, for `ratio_memory`, on the in-memory
one: the layer without the broker's round trip), makes N `ctx.chat` calls in sequence,
timed inside the handler from its first call to its last. The task's own hop
(consume, start, result) is outside the window, so the rate is the layer's: the step
key, the journal lookup, the provider adapter on the `openai` SDK, the answer's
models, the metrics and the journal write awaited from the broker. The baseline is
N `AsyncOpenAI.chat.completions.create` calls one after another, on a client made as
the adapter makes it (no SDK retries). Each side makes one untimed call first (a
connection), and the rounds alternate sides so that the machine's load hits both.

Both sides ask the same server: the scripted model double (tests/model_double.py), a
stdlib ThreadingHTTPServer, in a process of its own so that its thread does not share
this process's GIL with the Workers' and clients' fetch loops. Its time per request
is in both sides, so it caps either rate and pulls the ratio towards 1, as a real
provider's latency (hundreds of ms) would, much more: `overhead_us_per_call` is the
absolute difference. On this shared 2-core machine a round of either side ran at 250
calls/s or, under other processes' load, at 20; so the ratio is the median of each
round's ratio to the other side's round of the same number (neighbours in time see
the same load), and `ratio_of_medians` is there to compare.
"""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import openai

from mesh.settings import Settings
from mesh.testing import TestMesh
from mesh.transport.kafka.adapter import KafkaTransport
from mesh.transport.memory import MemoryTransport
from schemas.tasks import TaskStatus
from tests.bench.agents import Chats, chatter
from tests.bench.common import Options, Report
from tests.conftest import ROOT

MODEL = "bench-double"

# Serves the model double's default answer until stdin closes; prints its base URL.
_SERVE_DOUBLE = """
import sys
from tests.model_double import ModelDouble
with ModelDouble() as double:
    print(double.url, flush=True)
    sys.stdin.read()
"""

# A round: N calls timed, giving (wall seconds, process CPU seconds).
Round = Callable[[str, int], Awaitable[tuple[float, float]]]


@dataclass
class Side:
    """One side of a ratio: its rounds' wall and CPU seconds."""

    name: str
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def rate(self, calls: int) -> float:
        """Calls per second of the median round."""
        return calls / statistics.median(self.seconds)

    def ratio_to(self, other: Side) -> float:
        """The median over rounds n of this side's rate / `other`'s in its round n (the
        two ran one after the other)."""
        pairs = zip(self.seconds, other.seconds, strict=True)
        return statistics.median(theirs / ours for ours, theirs in pairs)

    def cpu_us(self, calls: int) -> float:
        """Process CPU per call (the caller's process, not the double's), median round."""
        return statistics.median(self.cpu) / calls * 1e6

    def rates(self, calls: int) -> str:
        return ", ".join(f"{calls / s:.0f}" for s in self.seconds)


async def run_overhead(settings: Settings, options: Options) -> Report:
    calls, rounds = _sizes(options)
    report = Report("model_overhead")
    with _double_process() as url:
        direct = openai.AsyncOpenAI(base_url=url, api_key="unused", max_retries=0)
        try:
            async with (
                _chatter_mesh(settings, url, journal=True) as mesh,
                _chatter_mesh(settings, url, journal=True, kafka=False) as in_memory,
            ):
                direct_side, mesh_side, memory_side = await _alternate(
                    [Side("direct"), Side("mesh"), Side("mesh_memory")],
                    [_direct_round(direct), _mesh_round(mesh), _mesh_round(in_memory)],
                    calls,
                    rounds,
                )
        finally:
            await direct.close()
    _add_sizes(report, calls, rounds)
    _add_side(report, direct_side, calls, "AsyncOpenAI.chat.completions.create, sequential")
    _add_side(report, mesh_side, calls, "ctx.chat in one handler, sequential, journal on")
    _add_side(report, memory_side, calls, "the same on the in-memory transport")
    report.add("ratio", mesh_side.ratio_to(direct_side), "mesh/direct (target >= 0.9)")
    report.add("ratio_of_medians", mesh_side.rate(calls) / direct_side.rate(calls))
    report.add("ratio_memory", memory_side.ratio_to(direct_side), "no broker: the layer's CPU")
    overhead = 1e6 / mesh_side.rate(calls) - 1e6 / direct_side.rate(calls)
    report.add("overhead_us_per_call", overhead, "wall time per call, mesh minus direct")
    report.add(
        "overhead_cpu_us_per_call",
        mesh_side.cpu_us(calls) - direct_side.cpu_us(calls),
        "process CPU per call, mesh minus direct",
    )
    _add_rounds(report, [direct_side, mesh_side, memory_side], calls)
    return report


async def run_journal(settings: Settings, options: Options) -> Report:
    calls, rounds = _sizes(options)
    report = Report("model_journal")
    with _double_process() as url:
        async with (
            _chatter_mesh(settings, url, journal=True) as journaled,
            _chatter_mesh(settings, url, journal=False) as bare,
        ):
            with_side, without_side = await _alternate(
                [Side("with"), Side("without")],
                [_mesh_round(journaled), _mesh_round(bare)],
                calls,
                rounds,
            )
    _add_sizes(report, calls, rounds)
    _add_side(report, with_side, calls, "ctx.chat, each answer journaled (acks=all)")
    _add_side(report, without_side, calls, "ctx.chat, MESH_JOURNAL_ENABLED=false")
    report.add("ratio", with_side.ratio_to(without_side), "with journal / without")
    report.add("ratio_of_medians", with_side.rate(calls) / without_side.rate(calls))
    cost = 1e6 / with_side.rate(calls) - 1e6 / without_side.rate(calls)
    report.add("journal_us_per_call", cost, "wall time per call, with minus without")
    _add_rounds(report, [with_side, without_side], calls)
    return report


def _sizes(options: Options) -> tuple[int, int]:
    """(calls per round, rounds per side)."""
    return (100, 3) if options.quick else (200, 9)


async def _alternate(
    sides: list[Side], rounds_of: list[Round], calls: int, rounds: int
) -> list[Side]:
    for n in range(rounds):
        for side, round_of in zip(sides, rounds_of, strict=True):
            seconds, cpu = await round_of(f"{side.name}-{n}-{uuid.uuid4().hex[:6]}", calls)
            side.seconds.append(seconds)
            side.cpu.append(cpu)
    return sides


def _direct_round(client: openai.AsyncOpenAI) -> Round:
    async def one(content: str) -> None:
        messages = [{"role": "user", "content": content}]
        await client.chat.completions.create(model=MODEL, messages=messages)  # type: ignore[arg-type]

    async def timed(label: str, calls: int) -> tuple[float, float]:
        await one(f"{label} warm-up")
        began, began_cpu = time.perf_counter(), time.process_time()
        for i in range(calls):
            await one(f"{label} call {i}")
        return time.perf_counter() - began, time.process_time() - began_cpu

    return timed


def _mesh_round(mesh: TestMesh) -> Round:
    async def timed(label: str, calls: int) -> tuple[float, float]:
        task_id = await mesh.client.submit("chatter", Chats(label=label, calls=calls))
        state = await mesh.client.wait(task_id, timeout=120)
        if state.status is not TaskStatus.SUCCEEDED or state.result is None:
            raise AssertionError(f"the chatter task ended {state.status}: {state.error}")
        return float(state.result["seconds"]), float(state.result["cpu"])

    return timed


@contextlib.asynccontextmanager
async def _chatter_mesh(
    settings: Settings, url: str, *, journal: bool, kafka: bool = True
) -> AsyncIterator[TestMesh]:
    """A worker of `chatter` asking the double, in its own namespace."""
    suffix = ("journal" if journal else "no-journal") + ("" if kafka else "-memory")
    chatter_settings = settings.model_copy(
        update={
            "namespace": f"{settings.namespace}-{suffix}",
            "model_endpoint": url,
            "model_name": MODEL,
            "journal_enabled": journal,
        }
    )
    transport = KafkaTransport(chatter_settings) if kafka else MemoryTransport()
    async with TestMesh(chatter, transport=transport, settings=chatter_settings) as mesh:
        yield mesh


@contextlib.contextmanager
def _double_process() -> Iterator[str]:
    """The model double in a process of its own; yields its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVE_DOUBLE],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        url = proc.stdout.readline().strip()
        if not url:
            raise RuntimeError(f"the model double did not start (exit {proc.wait()})")
        yield url
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
        proc.stdout.close()


def _add_sizes(report: Report, calls: int, rounds: int) -> None:
    report.add("calls_per_round", calls, "one after another, after one untimed call")
    report.add("rounds", rounds, "per side, alternating; the median round counts")


def _add_side(report: Report, side: Side, calls: int, what: str) -> None:
    report.add(f"{side.name}_calls_per_s", side.rate(calls), what)
    report.add(f"{side.name}_cpu_us_per_call", side.cpu_us(calls), "the caller's process")


def _add_rounds(report: Report, sides: list[Side], calls: int) -> None:
    for side in sides:
        report.notes.append(f"{side.name} calls/s by round: {side.rates(calls)}")
