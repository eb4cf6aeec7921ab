"""The no-op hop beside the frameworks a user would pick instead, on the run's broker
in the same run (issue 17): the mesh Worker at 1,000 in flight, the raw aiokafka loop
writing one record (both from tests/bench/hop.py), a faust-streaming agent forwarding
each record, a FastStream subscriber publishing one (1,000 concurrent handlers) and a
Calfkit node replying to each call (max_workers 1,000).

    python -m tests.bench hop-frameworks            # N = 10,000 inputs each
    python -m tests.bench hop-frameworks --quick    # N = 2,000

Fairness (ADR 035): one broker; every producer with acks=all and the run's linger and
batch size; every consumer with the run's fetch wait, poll size and session; N inputs
produced and acknowledged before the timing starts; each timed from the moment it
consumes (the mesh and raw loops resume their paused consumer, the others note their
first handled input, after their group join) to its N-th output acknowledged, with
the CPU of its own process in that window. Records and bytes written per input are
read back from the topics each one wrote (key + value + headers).

FastStream and Calfkit are benchmark-only installs: each runs as a subprocess with
the Python of its own virtual environment under `.bench-venvs/` (created on demand
with pinned versions, reused while the pins are unchanged; a failed install skips
that contender with the reason). faust-streaming is a project dependency (the
supervisor's), so faust runs as a subprocess with the project's Python. The scripts
are in tests/bench/contenders/.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import orjson

from mesh.settings import Settings
from mesh.topics import Topics
from mesh.transport.base import Delivery, TopicSpec
from mesh.transport.kafka.adapter import KafkaTransport
from tests.bench import hop
from tests.bench.agents import noop
from tests.bench.common import Options, Report

ROOT = Path(__file__).resolve().parents[2]
VENVS = ROOT / ".bench-venvs"
CONTENDERS = Path(__file__).with_name("contenders")
INFLIGHT = 1000  # the mesh's max_inflight and the others' concurrency
# Pinned installs of the contenders that are not project dependencies. aiokafka is the
# project's version, so every contender speaks Kafka through the same client. Calfkit
# 0.13.0 calls a private FastStream function whose signature changed in 0.7.6.
VENV_REQUIREMENTS = {
    "faststream": ("faststream[kafka]==0.7.8", "aiokafka==0.14.0"),
    "calfkit": ("calfkit==0.13.0", "faststream[kafka]==0.7.5", "aiokafka==0.14.0"),
}
INSTALL_TIMEOUT = 300.0  # seconds for one environment's pip install (~1.5 min under load)
CONTENDER_TIMEOUT = 150.0  # seconds for a contender's start, group join and N inputs


@dataclass(frozen=True)
class Result:
    """One contender's numbers for N inputs."""

    rate: float  # inputs per second, from consumption start to the last output acked
    cpu_s: float  # CPU of its process in that window
    records: int  # records it wrote for the N inputs
    written_bytes: int  # key + value + headers of those records


@dataclass(frozen=True)
class Contender:
    name: str
    script: str  # in tests/bench/contenders/
    note: str  # what it runs
    venv: bool  # in its own virtual environment (else the project's Python)
    produces_inputs: bool  # the script pre-produces its own inputs (Calfkit's envelopes)
    concurrency: int


FRAMEWORKS = (
    Contender("faust", "faust_agent.py", "faust-streaming agent, send per record", False, False, 1),
    Contender(
        "faststream",
        "faststream_subscriber.py",
        f"FastStream subscriber, publish per input, max_workers={INFLIGHT}",
        True,
        False,
        INFLIGHT,
    ),
    Contender(
        "calfkit",
        "calfkit_node.py",
        f"Calfkit 0.13 node, ReturnCall per call, max_workers={INFLIGHT}",
        True,
        True,
        INFLIGHT,
    ),
)


class Unavailable(Exception):
    """A contender could not run here (its environment did not install)."""


async def run(settings: Settings, options: Options) -> Report:
    n = 2_000 if options.quick else 10_000
    report = Report("hop-frameworks")
    report.add("inputs", n)
    mesh = await _mesh(settings, n)
    _add(report, "mesh", mesh, n, f"Worker, max_inflight={INFLIGHT}, no-op handler")
    raw = await _raw(settings, n)
    _add(report, "raw", raw, n, "aiokafka consume -> produce -> commit, 1 record")
    report.add("ratio_mesh_vs_raw", mesh.rate / raw.rate, "mesh/raw msgs per s")
    # The ceiling of any client writing the hop's four records per input on this
    # broker: the same loop writing four. Beside faust's rate it says whether twice
    # faust's is within reach at all.
    raw4 = await _raw(settings, n, records=4)
    _add(report, "raw4", raw4, n, "the same loop writing 4 records per input")
    for contender in FRAMEWORKS:
        try:
            result = await _framework(settings, contender, n)
        except Unavailable as exc:
            report.notes.append(f"{contender.name} skipped: {exc}")
            continue
        _add(report, contender.name, result, n, contender.note)
        report.add(
            f"ratio_mesh_vs_{contender.name}",
            mesh.rate / result.rate,
            "mesh/contender msgs per s (target >= 2 for faust and FastStream)",
        )
        report.add(
            f"ratio_raw4_vs_{contender.name}",
            raw4.rate / result.rate,
            "the four-record loop's rate over the contender's: the mesh's ceiling",
        )
        # The rates are measured one after another on a machine others share; CPU per
        # input depends far less on what else runs at that moment.
        report.add(
            f"cpu_ratio_{contender.name}_vs_mesh",
            result.cpu_s / mesh.cpu_s,
            "contender/mesh CPU per input (> 1: the mesh costs less)",
        )
    return report


def _add(report: Report, name: str, result: Result, n: int, what: str) -> None:
    report.add(f"{name}_msgs_per_s", result.rate, what)
    report.add(f"{name}_cpu_us_per_input", result.cpu_s / n * 1e6, "its process's CPU / N")
    report.add(f"{name}_records_per_input", result.records / n, "records it wrote / N")
    report.add(f"{name}_bytes_per_input", result.written_bytes / n, "key+value+headers / N")


async def _mesh(settings: Settings, n: int) -> Result:
    """tests/bench/hop.py's no-op hop, then everything it wrote read back."""
    mesh_settings = settings.model_copy(
        update={"namespace": f"{settings.namespace}-mesh", "max_inflight": INFLIGHT}
    )
    rate, window, _ = await hop.mesh_hop(mesh_settings, n, None)
    topics = Topics(mesh_settings.namespace)
    # The namespace is this hop's alone: every lifecycle event, state and journal
    # record in it was written for one of the N tasks.
    outputs = [topics.task_events, topics.task_state, topics.journal(noop.name)]
    written = await _read(mesh_settings, outputs)
    return Result(rate, window.cpu, len(written), _size(written))


async def _raw(settings: Settings, n: int, records: int = 1) -> Result:
    rate, window, _ = await hop.raw_hop(settings, n, records_per_hop=records)
    written = await _read(settings, [f"{settings.namespace}.raw{records}.out"])  # its sink
    return Result(rate, window.cpu, len(written), _size(written))


async def _framework(settings: Settings, contender: Contender, n: int) -> Result:
    python = await ensure_venv(contender.name) if contender.venv else Path(sys.executable)
    name = f"{settings.namespace}.{contender.name}"
    source, sink = f"{name}.in", f"{name}.out"
    await KafkaTransport(settings).ensure_topics(
        [TopicSpec(topic, settings.partitions) for topic in (source, sink)]
    )
    if not contender.produces_inputs:
        sender = hop.producer(settings)
        await sender.start()
        try:
            await hop.produce_inputs(sender, source, n)
        finally:
            await sender.stop()
    arguments = _arguments(settings, contender, source=source, sink=sink, group=name, n=n)
    output = await _run_script(python, contender.script, arguments)
    written = await _read(settings, [sink])
    if output["n"] != n or len(written) < n:
        raise AssertionError(f"{contender.name}: {len(written)} outputs for {n} inputs")
    return Result(n / output["seconds"], output["cpu_s"], len(written), _size(written))


def _arguments(
    settings: Settings, contender: Contender, *, source: str, sink: str, group: str, n: int
) -> list[str]:
    """The run's broker, topics and client settings, as every contender script takes them."""
    options = {
        "bootstrap": settings.bootstrap_servers,
        "source": source,
        "sink": sink,
        "group": group,
        "n": n,
        "concurrency": contender.concurrency,
        "linger-ms": round(settings.linger * 1000),
        "batch-bytes": settings.producer_batch_bytes,
        "fetch-wait-ms": round(settings.fetch_max_wait * 1000),
        "max-poll-records": settings.fetch_max_records,
        "session-timeout-ms": round(settings.session_timeout * 1000),
        "heartbeat-ms": round(settings.heartbeat_interval * 1000),
        "timeout": CONTENDER_TIMEOUT - 30,  # its own limit comes first, with its reason
    }
    return [part for key, value in options.items() for part in (f"--{key}", str(value))]


async def _run_script(python: Path, script: str, arguments: list[str]) -> dict[str, float]:
    """Run a contender script to its end; the JSON line it printed last."""
    # faust's script borrows the supervisor's fetch-wait transport from the project.
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    process = await asyncio.create_subprocess_exec(
        str(python),
        str(CONTENDERS / script),
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
        cwd=str(CONTENDERS),
    )
    stdout, stderr = await _finish(process, CONTENDER_TIMEOUT, what=script)
    lines = stdout.decode().strip().splitlines()
    if process.returncode != 0 or not lines:
        tail = (stderr or b"").decode(errors="replace")[-2000:]
        raise RuntimeError(f"{script} exited {process.returncode}: {tail}")
    result: dict[str, float] = orjson.loads(lines[-1])
    return result


async def ensure_venv(name: str) -> Path:
    """The Python of `.bench-venvs/<name>` with its pinned requirements, installed
    when missing or when the pins changed; Unavailable (with pip's words) if not."""
    requirements = VENV_REQUIREMENTS[name]
    root = VENVS / name
    python = root / "bin" / "python"
    stamp = root / "requirements.txt"
    wanted = "\n".join(requirements) + "\n"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    shutil.rmtree(root, ignore_errors=True)
    print(f"  installing {' '.join(requirements)} into {root} ...", file=sys.stderr, flush=True)
    await _install_step([sys.executable, "-m", "venv", str(root)], name)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    await _install_step([*pip, *requirements], name)
    stamp.write_text(wanted)
    return python


async def _install_step(command: list[str], name: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        output, _ = await _finish(process, INSTALL_TIMEOUT, what=f"installing {name}")
    except TimeoutError as exc:
        raise Unavailable(str(exc)) from None
    if process.returncode != 0:
        shutil.rmtree(VENVS / name, ignore_errors=True)
        said = output.decode(errors="replace").strip().splitlines()[-3:]
        raise Unavailable(f"`{' '.join(command[:4])} ...` failed: {' | '.join(said)}")


async def _finish(
    process: asyncio.subprocess.Process, timeout: float, *, what: str
) -> tuple[bytes, bytes | None]:
    """The process's output once it ends; killed (ours) and TimeoutError past `timeout`."""
    try:
        async with asyncio.timeout(timeout):
            return await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise TimeoutError(f"{what} ran over {timeout:g}s") from None


async def _read(settings: Settings, topics: list[str]) -> list[Delivery]:
    return await KafkaTransport(settings).read_topics(topics)


def _size(records: list[Delivery]) -> int:
    """Bytes of what was written: key, value and each header's name and value."""
    return sum(
        len(r.key or b"")
        + len(r.value or b"")
        + sum(len(name) + len(value) for name, value in r.headers.items())
        for r in records
    )
