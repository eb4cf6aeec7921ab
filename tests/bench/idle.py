"""What an idle dev mesh costs, and how fast its reference pipeline answers, in one run.

Starts `mesh dev` (what `make dev` runs: its own embedded broker, the model server,
every reference agent, the supervisor and the gateway) in a scratch directory, waits
until it is ready and has settled, then:

- **idle**: the CPU of every process of the mesh over a window with nothing submitted,
  as a share of one core (target: <= 10% in all);
- **pipeline**: tickets published at a steady rate through triage, knowledge and orders
  (the 3-agent reference pipeline), each one's latency from its publish to its triage
  task's `finished_at` (target: p50 <= 50 ms) and to the client's view reading that
  final state; and the latency of the first ticket after the idle window, when every
  consumer has been idle for the whole window.

Triage's model drafts are off (`TRIAGE_MODEL_DRAFTS=0`): the embedded model decodes on
one thread for seconds, which measures the model, not the mesh.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil

from agents.contracts import Customer, TicketCreated
from mesh.client import Client
from mesh.dev.env_file import DEV_ENV, read_dev_env
from mesh.settings import Settings, load_settings
from schemas.tasks import TaskState
from tests.bench._relay import TRIPS, relay_latencies
from tests.bench.common import Options, Report, until
from tests.bench.idle_requests import role_of

SETTLE = 20.0  # s after ready: the supervisor creates its topics in the first ~15 s


async def run(settings: Settings, options: Options) -> Report:
    """`settings` is unused: `mesh dev` runs its own broker, as a newcomer's does."""
    window = 10.0 if options.quick else 30.0
    tickets, rate = (20, 5.0) if options.quick else (100, 5.0)
    report = Report("idle")
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as directory:
        namespace = f"idle{uuid.uuid4().hex[:8]}"
        dev, log = start_dev(Path(directory), namespace)
        try:
            await wait_ready(dev, log)
            await asyncio.sleep(SETTLE)
            shares = await cpu_shares(psutil.Process(dev.pid), window)
            mesh = _dev_settings(Path(directory), namespace)
            first, latencies, read = await _pipeline(mesh, tickets, rate)
            relayed, acknowledged = await relay_latencies(mesh, tickets, rate)
            relayed.sort()
        finally:
            dev.send_signal(signal.SIGINT)
            try:
                dev.wait(timeout=60)
            except subprocess.TimeoutExpired:
                dev.kill()
    total = sum(shares.values())
    report.add("idle_window_s", window, "nothing submitted")
    report.add("idle_cpu_pct_of_one_core", total, "every process of `mesh dev` (target <= 10)")
    for name, share in sorted(shares.items(), key=lambda kv: -kv[1]):
        report.add(f"idle_cpu_pct.{name}", share)
    latencies.sort()
    report.add("pipeline_tickets", len(latencies), f"published at {rate:g}/s")
    report.add("pipeline_p50_ms", statistics.median(latencies) * 1000, "target <= 50")
    report.add("pipeline_p99_ms", latencies[int(len(latencies) * 0.99) - 1] * 1000)
    read.sort()
    report.add(
        "pipeline_read_p50_ms", statistics.median(read) * 1000, "publish to the view reading it"
    )
    report.add("pipeline_read_p99_ms", read[int(len(read) * 0.99) - 1] * 1000)
    report.add("first_after_idle_ms", first * 1000, "the ticket right after the idle window")
    floor = statistics.median(relayed) * 1000
    report.add(
        f"raw_relay_{TRIPS}_trips_p50_ms", floor, "aiokafka relays, same broker and fetch wait"
    )
    report.add("raw_relay_p99_ms", relayed[int(len(relayed) * 0.99) - 1] * 1000)
    report.add("pipeline_over_raw_relay", statistics.median(latencies) * 1000 / floor)
    ack = statistics.median(acknowledged) * 1000
    report.add("raw_write_ack_p50_ms", ack, "an awaited write (send_and_wait), same broker")
    return report


def start_dev(directory: Path, namespace: str) -> tuple[subprocess.Popen[bytes], Path]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESH_")}
    env |= {
        "MESH_GATEWAY_PORT": str(_free_port()),
        "MESH_NAMESPACE": namespace,
        "TRIAGE_MODEL_DRAFTS": "0",
    }
    # More settings for the dev mesh, e.g. BENCH_IDLE_ENV="MESH_FETCH_IDLE_WAIT=0.5".
    env |= dict(kv.split("=", 1) for kv in os.environ.get("BENCH_IDLE_ENV", "").split())
    log = directory / "dev.log"
    with log.open("w") as out:
        dev = subprocess.Popen(
            [sys.executable, "-m", "mesh", "dev"], cwd=directory, env=env, stdout=out, stderr=out
        )
    return dev, log


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_ready(dev: subprocess.Popen[bytes], log: Path) -> None:
    def ready() -> bool:
        if dev.poll() is not None:
            raise RuntimeError(f"mesh dev exited:\n{log.read_text()[-3000:]}")
        text = log.read_text()
        return "Press Ctrl-C to stop" in text and "ready: checking every" in text

    await until(ready, timeout=180, what="mesh dev to be ready", interval=0.5)


async def cpu_shares(root: psutil.Process, window: float) -> dict[str, float]:
    """Each process's CPU over `window` seconds, as a percentage of one core."""
    processes = [root, *root.children(recursive=True)]
    before = {p.pid: _cpu(p) for p in processes}
    began = time.perf_counter()
    await asyncio.sleep(window)
    elapsed = time.perf_counter() - began
    shares: dict[str, float] = {}
    for process in processes:
        try:
            used = _cpu(process) - before[process.pid]
            name = _name(process)
        except psutil.NoSuchProcess:
            continue
        shares[name] = shares.get(name, 0.0) + used / elapsed * 100
    return shares


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _name(process: psutil.Process) -> str:
    words = process.cmdline()
    if any("tansu" in w for w in words):
        return "broker"
    return role_of(words)


def _dev_settings(directory: Path, namespace: str) -> Settings:
    found = read_dev_env(directory / DEV_ENV)
    if found is None or "MESH_BOOTSTRAP_SERVERS" not in found.settings:
        raise RuntimeError(f"mesh dev wrote no broker address to {directory / DEV_ENV}")
    bootstrap = found.settings["MESH_BOOTSTRAP_SERVERS"]
    return load_settings(profile="dev", bootstrap_servers=bootstrap, namespace=namespace)


async def _pipeline(
    settings: Settings, tickets: int, rate: float
) -> tuple[float, list[float], list[float]]:
    """The first ticket's latency (right after idling), then `tickets` more at `rate`/s:
    to the triage task's `finished_at`, and to the client's view reading that state."""
    async with Client.from_settings(settings) as client:
        read = note_reads(client)
        first = (await _latencies(client, [await _publish(client, 0)]))[0]
        sent = []
        for n in range(1, tickets + 1):
            sent.append(await _publish(client, n))
            await asyncio.sleep(1 / rate)
        latencies = await _latencies(client, sent)
        return first, latencies, [read[event_id] - published for event_id, published in sent]


def note_reads(client: Client) -> dict[str, float]:
    """When the client's view first read each ticket's ended triage state, by ticket."""
    read: dict[str, float] = {}
    view = client.view
    apply_state = view.apply_state

    def noting(state: TaskState) -> None:
        apply_state(state)
        if state.agent == "triage" and state.status.is_terminal and state.correlation_id:
            read.setdefault(state.correlation_id, time.time())

    view.apply_state = noting  # type: ignore[method-assign]
    return read


async def _publish(client: Client, number: int) -> tuple[str, float]:
    subjects = ["Where is my order ORD-1001?", "I was charged twice", "Parcel arrived damaged"]
    ticket = TicketCreated(
        ticket_id=f"T-idle-{number}",
        customer=Customer(email="ada@example.com"),
        subject=subjects[number % len(subjects)],
        body="Please help.",
    )
    published = time.time()
    event_id = await client.publish(ticket, key=ticket.ticket_id)
    return event_id, published


async def _latencies(client: Client, sent: list[tuple[str, float]]) -> list[float]:
    """Publish -> the triage task's `finished_at`, per ticket (same machine, same clock)."""
    flows = {event_id: published for event_id, published in sent}

    def finished() -> dict[str, float]:
        return {
            state.correlation_id: state.finished_at.timestamp()
            for state in client.view.tasks.values()
            if state.agent == "triage"
            and state.correlation_id in flows
            and state.status.is_terminal
            and state.finished_at is not None
        }

    await until(lambda: len(finished()) == len(flows), timeout=120, what="tickets", interval=0.2)
    _print_stages(client, flows)
    return [at - flows[flow] for flow, at in finished().items()]


def _print_stages(client: Client, flows: dict[str, float]) -> None:
    """Where a ticket's time goes, median per stage (diagnostic)."""
    stages: dict[str, list[float]] = {}
    tasks = client.view.tasks
    for state in tasks.values():
        if state.agent != "triage" or state.correlation_id not in flows:
            continue
        published = flows[state.correlation_id]
        add = lambda k, v: stages.setdefault(k, []).append(v)  # noqa: E731
        add("to_triage_created", state.created_at.timestamp() - published)
        if state.started_at:
            add("triage_created_to_started", (state.started_at - state.created_at).total_seconds())
        for child_id in state.children:
            child = tasks.get(child_id)
            if child and child.started_at and child.finished_at and state.started_at:
                add(f"{child.agent}_created", (child.created_at - state.started_at).total_seconds())
                add(f"{child.agent}_queued", (child.started_at - child.created_at).total_seconds())
                add(f"{child.agent}_ran", (child.finished_at - child.started_at).total_seconds())
                to_end = state.finished_at - child.finished_at
                add(f"{child.agent}_to_triage_end", to_end.total_seconds())
        if state.started_at and state.finished_at:
            add("triage_ran", (state.finished_at - state.started_at).total_seconds())
    for name, values in stages.items():
        print(f"  {name:32s} p50 {statistics.median(values) * 1000:8.1f} ms  n={len(values)}")
