"""The supervisor: how fast it notices trouble, and how many task events it keeps up with.

- Stuck tasks: TRIALS `hanger` tasks (attempt 1 hangs with no progress) under a
  `lease` of LEASE s; latency = the `redispatched` event's time - (the task's start +
  lease). Target: within one check interval + 1 s.
- Dead workers: a `mesh run` sleeper holding a task is SIGKILLed, DEAD_TRIALS times;
  latency = the `worker_lost` event's time - the kill. Target: liveness interval x
  missed beats + 1 s.
- Circuit: a `flaky` agent fails MIN_OUTCOMES tasks; latency = the circuit's `open`
  record - the tripping failure's state record; after it recovers and the cooldown,
  a probe task succeeds; latency = the `closed` record - the probe's finish.
- Throughput: N tasks' lifecycles (submitted, started, succeeded: 3N events) are
  pre-published, then one supervisor instance starts; rate = 3N / (time until its
  consumer group has committed the end of the task-events topic - its first commit).
  The baseline, measured in the same run, is the reference pipeline's peak event rate:
  its three agents (triage, knowledge, orders) as `mesh run` processes, TICKETS tickets
  published at once; rate = task events per second over the middle 80% of them.
  Target: ratio >= 1. Also reported against the hop benchmark's no-op tasks/s x 3
  events (from results.json), the mesh's ceiling with handlers that do nothing.
"""

from __future__ import annotations

import asyncio
import signal
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

from agents.contracts import Customer, TicketCreated
from mesh.client import Client
from mesh.runtime.publisher import Publisher
from mesh.settings import Settings
from mesh.topics import Topics
from mesh.transport.kafka.adapter import KafkaTransport, client_options
from schemas import Envelope, Source, decode_envelope
from schemas.envelope import new_id
from schemas.tasks import TASK_EVENT, EventKind, TaskEvent, TaskStatus
from tests.bench.common import Options, Report, publish_all, until
from tests.e2e.processes import MeshProcess, wait_until_split

TICKETS = 4_000
REFERENCE_AGENTS = {"agents.triage:agent": 8, "agents.knowledge:agent": 4, "agents.orders:agent": 4}
LEASE = 2.0
CHECK = 0.5
LIVENESS = 0.5
MISSED = 3
FLAKY = "tests.e2e.sample_agents:flaky"
STEADY = "tests.e2e.sample_agents:steady"
MIN_OUTCOMES = 4
COOLDOWN = 2.0
HANGER = "tests.e2e.sample_agents:hanger"
SLEEPER = "tests.e2e.sample_agents:sleeper"


def _supervised(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "partitions": 2,
            "liveness_interval": LIVENESS,
            "supervisor_check_interval": CHECK,
            "supervision_policies": {
                "default": {"missed_beats": MISSED, "orphan_grace": 60, "lease": 600},
                "hanger": {"lease": LEASE, "max_redispatches": 1},
                "flaky": {"min_outcomes": MIN_OUTCOMES, "cooldown": COOLDOWN, "fallback": "steady"},
            },
        }
    )


async def run(settings: Settings, options: Options) -> Report:
    report = Report("supervisor")
    trials, dead_trials = (5, 3) if options.quick else (20, 10)
    stuck = await _stuck_latencies(_supervised(settings), trials)
    report.add("stuck_trials", len(stuck))
    report.add("stuck_detect_s_median", statistics.median(stuck), "lease end -> redispatched")
    report.add("stuck_detect_s_worst", max(stuck), f"target <= check {CHECK:g} s + 1 s")
    dead = await _dead_worker_latencies(_supervised(settings), dead_trials)
    report.add("dead_worker_trials", len(dead))
    report.add("dead_worker_detect_s_median", statistics.median(dead), "SIGKILL -> worker_lost")
    target = LIVENESS * MISSED + 1.0
    report.add("dead_worker_detect_s_worst", max(dead), f"target <= {target:g} s")
    opened, closed = await _circuit_latencies(_supervised(settings))
    report.add("circuit_open_s", opened, f"{MIN_OUTCOMES}th failure -> circuit open")
    report.add("circuit_close_s", closed, f"probe succeeded -> closed (cooldown {COOLDOWN:g} s)")
    n = 2_000 if options.quick else 10_000
    rate = await _throughput(
        settings.model_copy(update={"namespace": f"{settings.namespace}-t"}), n
    )
    report.add("events_per_s", rate, "one instance, task events folded into its tables")
    tickets = TICKETS // 4 if options.quick else TICKETS
    pipeline = await _pipeline_events_per_s(
        settings.model_copy(update={"namespace": f"{settings.namespace}-p"}), tickets
    )
    report.add("pipeline_peak_events_per_s", pipeline, f"reference pipeline, {tickets} tickets")
    report.add("ratio_to_pipeline_peak", rate / pipeline, "target >= 1")
    peak = _mesh_peak_events_per_s()
    if peak:
        report.add("hop_peak_events_per_s", peak, "the hop benchmark's no-op tasks/s x 3 events")
        report.add("ratio_to_hop_peak", rate / peak, "no target: handlers that do nothing")
    return report


async def _pipeline_events_per_s(settings: Settings, tickets: int) -> float:
    """Task events per second while the reference pipeline works through `tickets`."""
    with tempfile.TemporaryDirectory() as logs:
        processes = [
            MeshProcess(spec, settings, Path(logs), spec.split(".")[1].split(":")[0])
            for spec in REFERENCE_AGENTS
        ]
        try:
            await wait_until_split(processes, partitions=REFERENCE_AGENTS, timeout=90)
            async with Client(KafkaTransport(settings), settings, owns_transport=True) as client:
                for start in range(0, tickets, 500):
                    await asyncio.gather(
                        *(
                            client.publish(_ticket(n), key=f"T-{n}")
                            for n in range(start, min(start + 500, tickets))
                        )
                    )

                def triaged() -> int:
                    return sum(
                        1
                        for s in client.view.tasks.values()
                        if s.agent == "triage" and s.status.is_terminal
                    )

                await until(lambda: triaged() >= tickets, timeout=240, interval=0.2, what="tickets")
                topic = Topics(settings.namespace).task_events
                records = await client.transport.read_topics([topic])
        finally:
            for process in processes:
                process.stop()
    # The steady part of the run: the middle 80% of its events (the first and last
    # tenth are the ramp-up, while tickets are still being published, and the tail).
    stamps = sorted(r.timestamp for r in records)
    first, last = len(stamps) // 10, len(stamps) * 9 // 10
    return (last - first) / max(stamps[last] - stamps[first], 1e-6)


def _ticket(number: int) -> TicketCreated:
    subjects = ["Where is my order ORD-1001?", "I was charged twice", "Parcel arrived damaged"]
    return TicketCreated(
        ticket_id=f"T-{number}",
        customer=Customer(email=f"customer{number % 50}@example.com"),
        subject=subjects[number % len(subjects)],
        body="Please help.",
    )


def _mesh_peak_events_per_s() -> float | None:
    """Three lifecycle events (submitted, started, succeeded) per task at the hop
    benchmark's rate, from its latest result (run `hop` first for a same-run figure)."""
    results = Path(__file__).with_name("results.json")
    if not results.exists():
        return None
    hop = orjson.loads(results.read_bytes()).get("benchmarks", {}).get("hop", {})
    tasks_per_s = hop.get("metrics", {}).get("hop.mesh_msgs_per_s")
    return 3 * float(tasks_per_s) if tasks_per_s else None


async def _circuit_latencies(settings: Settings) -> tuple[float, float]:
    """(failure that trips it -> open, probe's success -> closed), from record times."""
    with tempfile.TemporaryDirectory() as logs:
        broken = Path(logs) / "broken"
        broken.write_text("down")
        supervisor = _supervisor(settings, Path(logs))
        flaky = MeshProcess(FLAKY, settings, Path(logs), "flaky-1", {"FLAKY_BROKEN": str(broken)})
        steady = MeshProcess(STEADY, settings, Path(logs), "steady-1")
        try:
            await wait_until_split([flaky, steady], partitions={FLAKY: 2, STEADY: 2})
            await _ready(supervisor)
            async with Client(KafkaTransport(settings), settings, owns_transport=True) as client:
                failed = [await client.submit("flaky", {"n": n}) for n in range(MIN_OUTCOMES)]
                for task_id in failed:
                    await client.wait(task_id, timeout=30)
                tripped = max(client.view.tasks[i].updated_at.timestamp() for i in failed)
                opened = await _circuit_at(client, settings, "open")
                broken.unlink()  # recovered: after the cooldown, the next task is the probe
                await asyncio.sleep(COOLDOWN + CHECK)
                probe = await client.wait(await client.submit("flaky", {"n": 99}), timeout=30)
                assert probe.result == {"n": 99, "by": "flaky"}, probe
                assert probe.finished_at is not None
                closed = await _circuit_at(client, settings, "closed")
                return opened - tripped, closed - probe.finished_at.timestamp()
        finally:
            for process in (supervisor, flaky, steady):
                process.stop()


async def _circuit_at(client: Client, settings: Settings, state: str) -> float:
    """When the supervisor published `flaky`'s circuit in `state` (record time)."""
    topic = Topics(settings.namespace).circuits
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for record in await client.transport.read_topics([topic]):
            if decode_envelope(record.value or b"").payload.get("state") == state:
                return record.timestamp
        await asyncio.sleep(0.1)
    raise TimeoutError(f"the circuit never became {state}")


async def _stuck_latencies(settings: Settings, trials: int) -> list[float]:
    with tempfile.TemporaryDirectory() as logs:
        supervisor = _supervisor(settings, Path(logs))
        worker = MeshProcess(HANGER, settings, Path(logs), "hanger-1")
        try:
            await wait_until_split([worker], partitions={HANGER: 2})
            await _ready(supervisor)
            async with Client(KafkaTransport(settings), settings, owns_transport=True) as client:
                ids = []
                for i in range(trials):
                    ids.append(await client.submit("hanger", {"label": str(i)}))
                    await asyncio.sleep(0.13)  # spread over the check interval
                await until(
                    lambda: all(
                        (s := client.view.tasks.get(i)) is not None and s.attempt == 2 for i in ids
                    ),
                    timeout=120,
                    what="every hung task redispatched",
                )
                events = await _events(client, settings)
        finally:
            supervisor.stop()
            worker.stop()
    latencies = []
    for task_id in ids:
        started = min(at for kind, at in events[task_id] if kind == "started")
        acted = min(at for kind, at in events[task_id] if kind == "redispatched")
        latencies.append(acted - (started + LEASE))
    return latencies


async def _dead_worker_latencies(settings: Settings, trials: int) -> list[float]:
    logs = Path(tempfile.mkdtemp(prefix="bench-dead-workers-"))  # kept: they explain a failure
    supervisor = _supervisor(settings, logs)
    try:
        await _ready(supervisor)
        async with Client(KafkaTransport(settings), settings, owns_transport=True) as client:
            return [
                await _dead_worker_trial(client, settings, logs, f"sleeper-{trial}")
                for trial in range(trials)
            ]
    finally:
        supervisor.stop()


async def _dead_worker_trial(client: Client, settings: Settings, logs: Path, name: str) -> float:
    """Start a sleeper, give it a task, SIGKILL it: seconds until `worker_lost`."""
    worker = MeshProcess(SLEEPER, settings, logs, name)
    try:
        await wait_until_split([worker], partitions={SLEEPER: 2})
        await until(lambda: "sleeper" in client.view.agents, timeout=30, what="a card")
        task_id = await client.submit("sleeper", {"seconds": 600})

        def running() -> bool:
            state = client.view.tasks.get(task_id)
            return state is not None and state.status is TaskStatus.RUNNING

        await until(running, timeout=30, what="the task running")
        await asyncio.sleep(LIVENESS * 2)  # its lease and its worker are in the tables
        killed = time.time()
        worker.stop(signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            events = (await _events(client, settings)).get(task_id, [])
            lost = [at for kind, at in events if kind == "worker_lost"]
            if lost:
                await client.cancel(task_id)
                return lost[0] - killed
            await asyncio.sleep(0.1)
        raise TimeoutError(f"no worker_lost event for {name}'s task (logs in {logs})")
    finally:
        worker.stop()


async def _throughput(settings: Settings, n: int) -> float:
    transport = KafkaTransport(settings)
    await transport.start()
    topics = Topics(settings.namespace)
    try:
        from mesh.topics import runtime_topics

        await transport.ensure_topics(runtime_topics(settings))
        publisher = Publisher(transport, settings, Source(agent="bench"))
        now = datetime.now(UTC)
        envelopes = []
        for _ in range(n):
            task_id = new_id()
            for kind, status in (
                (EventKind.SUBMITTED, TaskStatus.SUBMITTED),
                (EventKind.STARTED, TaskStatus.RUNNING),
                (EventKind.SUCCEEDED, TaskStatus.SUCCEEDED),
            ):
                event = TaskEvent(kind=kind, agent="bench", status=status, at=now, instance="b")
                envelopes.append(
                    Envelope(
                        type=TASK_EVENT, task_id=task_id, payload=event.model_dump(mode="json")
                    )
                )
        await publish_all(publisher, topics.task_events, envelopes)
        ends = await _end_offsets(transport, topics.task_events)
    finally:
        await transport.stop()
    with tempfile.TemporaryDirectory() as logs:
        supervisor = _supervisor(settings, Path(logs))
        try:
            first = await _until_committed(settings, topics, lambda done: done > 0)
            last = await _until_committed(settings, topics, lambda done: done >= sum(ends.values()))
        finally:
            supervisor.stop()
    return 3 * n / max(last - first, 1e-6) if last > first else float("nan")


async def _end_offsets(transport: KafkaTransport, topic: str) -> dict[int, int]:
    consumer = transport.consumer([topic], group=None)
    await consumer.start()
    try:
        return {tp.partition: end for tp, end in (await consumer.end_offsets()).items()}
    finally:
        await consumer.stop()


async def _until_committed(settings: Settings, topics: Topics, done: object) -> float:
    """The time at which `done(committed records)` first held for the supervisor group.

    Read through a consumer of that group that never joins it (the embedded broker
    answers the admin client's OffsetFetch in a form aiokafka cannot decode).
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        **client_options(settings), group_id=topics.supervisor_app, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topics.task_events, p) for p in range(settings.partitions)]
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            committed = 0
            for tp in partitions:
                committed += await consumer.committed(tp) or 0
            if done(committed):  # type: ignore[operator]
                return time.perf_counter()
            await asyncio.sleep(0.05)
        raise TimeoutError("the supervisor did not commit the events in time")
    finally:
        await consumer.stop()


def _supervisor(settings: Settings, logs: Path) -> MeshProcess:
    return MeshProcess("supervisor", settings, logs, "sv", command=["supervisor", "run"])


async def _ready(supervisor: MeshProcess) -> None:
    await until(lambda: " ready: checking" in supervisor.log(), timeout=90, what="the supervisor")


async def _events(client: Client, settings: Settings) -> dict[str, list[tuple[str, float]]]:
    by_task: dict[str, list[tuple[str, float]]] = {}
    for record in await client.transport.read_topics([Topics(settings.namespace).task_events]):
        envelope = decode_envelope(record.value or b"")
        if envelope.task_id and envelope.type == TASK_EVENT:
            kind = str(envelope.payload.get("kind"))
            at = datetime.fromisoformat(str(envelope.payload["at"])).timestamp()
            by_task.setdefault(envelope.task_id, []).append((kind, at))
    return by_task
