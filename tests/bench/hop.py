"""Throughput of one agent hop (consume a task, run a no-op handler, record its outcome)
against a raw aiokafka consume -> produce -> commit loop on the same broker.

Both sides join their group first, pause, have N inputs pre-produced, then are timed
from the moment consumption starts (resume) until the last output is acknowledged, so
neither the ~3 s group join nor the pre-production is in the window. Both use the same
producer posture as `KafkaTransport` (acks=all, linger, batch size).

The same hop beside the frameworks a user would pick instead (faust, FastStream,
Calfkit) is `python -m tests.bench hop-frameworks` (tests/bench/frameworks.py).
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from mesh.observability.tracing import configure_tracing, shutdown_tracing
from mesh.runtime.gc_tuning import tune_for_service
from mesh.runtime.publisher import Publisher
from mesh.runtime.worker import Worker
from mesh.settings import Settings
from mesh.transport.base import Delivery, TopicSpec
from mesh.transport.kafka.adapter import KafkaTransport, client_options
from schemas import Envelope, Source
from schemas.envelope import new_id
from tests.bench.agents import noop
from tests.bench.common import Options, Report, Window, event_kind, publish_all, until
from tests.helpers import read_all

TEXT = "x" * 160  # with the JSON around it, a ~200-byte raw record


# The worker's concurrency bound: the briefed 5000 (the headline ratio), then the
# default 1000. More in flight is *slower* here (GC and producer waits grow with it).
INFLIGHT = (5000, 1000)
# What a no-op hop writes per input (checked below, and the raw baseline follows what
# is measured): the started and succeeded events and the task's state (one produce),
# then the journal's `ended` record once they are acknowledged (ADR 009, ADR 034).
MESH_RECORDS_PER_HOP = 4


@dataclass
class Written:
    """What a loop wrote per input: records, value bytes, key + header bytes."""

    records: float
    value_bytes: float
    meta_bytes: float

    @classmethod
    def of(cls, records: list[Delivery], inputs: int) -> Written:
        values = sum(len(r.value or b"") for r in records)
        meta = sum(
            len(r.key or b"") + sum(len(k) + len(v) for k, v in r.headers.items()) for r in records
        )
        return cls(len(records) / inputs, values / inputs, meta / inputs)

    def report(self, report: Report, prefix: str, what: str) -> None:
        report.add(f"{prefix}_records_per_input", self.records, what)
        report.add(f"{prefix}_bytes_per_input", self.value_bytes, "record values")
        report.add(f"{prefix}_key_header_bytes_per_input", self.meta_bytes, "keys + headers")


async def run(settings: Settings, options: Options) -> Report:
    n = 3_000 if options.quick else 20_000
    report = Report("hop")
    report.add("messages", n)
    raw_rate, raw, raw_written = await raw_hop(settings, n, records_per_hop=1)
    report.add("raw_msgs_per_s", raw_rate, "aiokafka consume -> produce -> commit per batch")
    report.add("raw_cpu_us_per_msg", raw.cpu / n * 1e6, "process CPU in the window / N")
    raw_written.report(report, "raw", "the raw loop: 1 record per input")
    headline_rate = headline_cpu = 0.0
    records_per_hop = MESH_RECORDS_PER_HOP
    for inflight in INFLIGHT:
        headline = inflight == INFLIGHT[0]
        suffix = "" if headline else f"_inflight_{inflight}"
        mesh_settings = settings.model_copy(
            update={"namespace": f"{settings.namespace}-{inflight}", "max_inflight": inflight}
        )
        profile = options.profile if headline else None
        rate, mesh, written = await mesh_hop(mesh_settings, n, profile)
        what = f"Worker, max_inflight={inflight}, no-op handler, until all succeeded"
        report.add(f"mesh_msgs_per_s{suffix}", rate, what)
        report.add(f"ratio{suffix}", rate / raw_rate, "mesh/raw writing 1 record")
        # Why the ratio is what it is: CPU of this process per message, and GC pauses.
        report.add(f"mesh_cpu_us_per_msg{suffix}", mesh.cpu / n * 1e6, "process CPU / N")
        report.add(f"mesh_gc_pause_s{suffix}", mesh.gc_pause, mesh.gc_summary())
        if headline:
            written.report(report, "mesh", "events + state + journal")
            records_per_hop = round(written.records)
            headline_rate, headline_cpu = rate, mesh.cpu / n
    # The baseline of the target: aiokafka alone writing as many records per input as
    # the mesh hop did (each a copy of the input, to one topic, acknowledged before the
    # batch's commit).
    xn = f"raw_x{records_per_hop}"
    rawn_rate, rawn, rawn_written = await raw_hop(settings, n, records_per_hop=records_per_hop)
    report.add(f"{xn}_msgs_per_s", rawn_rate, f"the raw loop writing {records_per_hop} per input")
    report.add(f"{xn}_cpu_us_per_msg", rawn.cpu / n * 1e6, "process CPU in the window / N")
    rawn_written.report(report, xn, f"the raw loop: {records_per_hop} records per input")
    report.add(f"ratio_vs_{xn}", headline_rate / rawn_rate, f"mesh/{xn} msgs/s (target >= 0.5)")
    report.add(
        f"cpu_ratio_vs_{xn}", rawn.cpu / n / headline_cpu, f"{xn}/mesh CPU per msg (target >= 0.5)"
    )
    # What the delivery guarantees cost (ADR 009): the same hop without the journal's
    # `ended` record (no deduplication across restarts, no durable steps).
    bare = settings.model_copy(
        update={
            "namespace": f"{settings.namespace}-bare",
            "max_inflight": INFLIGHT[0],
            "journal_enabled": False,
        }
    )
    bare_rate, bare_window, _ = await mesh_hop(bare, n, None)
    report.add("mesh_msgs_per_s_no_journal", bare_rate, "the headline hop, journal off")
    report.add("mesh_cpu_us_per_msg_no_journal", bare_window.cpu / n * 1e6, "process CPU / N")
    report.add("journal_cost_ratio", headline_rate / bare_rate, "with journal / without")
    traced_profile = f"{options.profile}.traced" if options.profile else None
    traced_rate, traced, exported = await _traced_hop(settings, n, traced_profile)
    report.add("mesh_msgs_per_s_traced", traced_rate, "the headline hop, spans to a file")
    report.add("mesh_cpu_us_per_msg_traced", traced.cpu / n * 1e6, "process CPU / N")
    report.add("mesh_gc_pause_s_traced", traced.gc_pause, traced.gc_summary())
    report.add("spans_exported", exported, "the batch processor drops what overflows its queue")
    report.add(
        "observability_ratio", traced_rate / headline_rate, "traced / untraced (target >= 0.85)"
    )
    return report


async def _traced_hop(settings: Settings, n: int, profile: str | None) -> tuple[float, Window, int]:
    """The headline hop with tracing on: a span per consumed and per produced record,
    batch-exported as JSON lines to a file (`MESH_TRACE_EXPORTER=file`). Metrics are
    on in every hop here (they have no off switch; ADR 013 puts them at ~4 µs/hop)."""
    with tempfile.TemporaryDirectory() as spans:
        traced = settings.model_copy(
            update={
                "namespace": f"{settings.namespace}-traced",
                "max_inflight": INFLIGHT[0],
                "trace_exporter": "file",
                "trace_file": str(Path(spans) / "spans.jsonl"),
            }
        )
        configure_tracing(traced, "bench")
        try:
            rate, window, _ = await mesh_hop(traced, n, profile)
        finally:
            shutdown_tracing()
        exported = (Path(spans) / "spans.jsonl").read_text().count("\n")
    assert exported > 0, "no span was exported"
    return rate, window, exported


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def producer(settings: Settings) -> AIOKafkaProducer:
    # The posture KafkaTransport.start() uses (aiokafka's own partitioner, though).
    return AIOKafkaProducer(
        **client_options(settings),
        acks="all" if settings.acks == "all" else int(settings.acks),
        enable_idempotence=settings.idempotent_producer,
        linger_ms=_ms(settings.linger),
        max_batch_size=settings.producer_batch_bytes,
    )


async def raw_hop(
    settings: Settings, n: int, *, records_per_hop: int
) -> tuple[float, Window, Written]:
    """Messages per second of the raw consume -> produce -> commit loop, its window, and
    what it wrote per input."""
    name = f"{settings.namespace}.raw{records_per_hop}"
    source, sink = f"{name}.in", f"{name}.out"
    admin = KafkaTransport(settings)  # only for ensure_topics
    await admin.ensure_topics([TopicSpec(t, settings.partitions) for t in (source, sink)])
    sender = producer(settings)
    consumer = AIOKafkaConsumer(
        source,
        **client_options(settings),
        group_id=name,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=_ms(settings.session_timeout),
        heartbeat_interval_ms=_ms(settings.heartbeat_interval),
        fetch_max_wait_ms=_ms(settings.fetch_max_wait),
        max_poll_records=settings.fetch_max_records,
    )
    try:
        await sender.start()
        await consumer.start()
        # Join the group outside the window: poll (the topic is empty) until assigned.
        deadline = time.perf_counter() + 60
        while len(consumer.assignment()) < settings.partitions:
            if time.perf_counter() > deadline:
                raise TimeoutError("the raw consumer was not assigned within 60s")
            await consumer.getmany(timeout_ms=100)
        # Paused, so the background fetcher cannot prefetch during pre-production.
        consumer.pause(*consumer.assignment())
        await produce_inputs(sender, source, n)

        window = Window()
        window.start()
        consumer.resume(*consumer.assignment())
        started = time.perf_counter()
        done = 0
        while done < n:
            if time.perf_counter() - started > 120:
                raise TimeoutError(f"raw loop: {done} of {n} records after 120s")
            batches = await consumer.getmany(timeout_ms=100, max_records=settings.fetch_max_records)
            acks = []
            offsets = {}
            for tp, records in batches.items():
                for record in records:
                    for _ in range(records_per_hop):
                        acks.append(await sender.send(sink, record.value, key=record.key))
                offsets[tp] = records[-1].offset + 1
                done += len(records)
            await asyncio.gather(*acks)
            if offsets:
                await consumer.commit(offsets)
        rate = n / (time.perf_counter() - started)
        window.stop()
        return rate, window, Written.of(await read_all(admin, [sink]), n)
    finally:
        await consumer.stop()
        await sender.stop()


async def produce_inputs(sender: AIOKafkaProducer, topic: str, n: int) -> None:
    """N ~200-byte JSON records keyed by their number, all acknowledged on return."""
    futures = []
    for i in range(n):
        value = orjson.dumps({"id": new_id(), "n": i, "text": TEXT})
        futures.append(await sender.send(topic, value, key=str(i).encode()))
    await asyncio.gather(*futures)


async def mesh_hop(
    settings: Settings, n: int, profile_path: str | None
) -> tuple[float, Window, Written]:
    """(messages per second, its window, what it wrote per task) of a no-op Worker."""
    transport = KafkaTransport(settings)
    await transport.start()
    try:
        worker = Worker(noop, transport=transport, settings=settings)
        await worker.start(wait_assigned=60)
        # What `mesh run` does at start-up (mesh/runtime/gc_tuning.py); undone below so the
        # raw baseline and other benchmarks run with CPython's defaults.
        default_threshold = gc.get_threshold()
        tune_for_service(settings.gc_gen0_threshold)
        try:
            await until(
                lambda: (
                    sum(tp.topic == worker.inbox for tp in worker.assignment())
                    == settings.partitions
                ),
                timeout=60,
                what="the worker's partitions",
            )
            return await _timed_hop(worker, transport, settings, n, profile_path)
        finally:
            gc.unfreeze()
            gc.set_threshold(*default_threshold)
            await worker.stop()
    finally:
        await transport.stop()


async def _timed_hop(
    worker: Worker,
    transport: KafkaTransport,
    settings: Settings,
    n: int,
    profile_path: str | None,
) -> tuple[float, Window, Written]:
    consumer = worker._consumer  # private: paused like the raw consumer, see module doc
    assert consumer is not None
    consumer.pause()  # the worker's own back-pressure never resumes what it did not pause
    requests = [
        Envelope(
            type="bench.noop",
            task_id=(task_id := new_id()),
            root_task_id=task_id,
            payload={"n": i, "text": TEXT[:40]},
        )
        for i in range(n)
    ]
    publisher = Publisher(transport, settings, Source(agent="bench"))
    await publish_all(publisher, worker.inbox, requests)

    # Done = every inbox offset seen and none in flight in the worker's offset tracker
    # (private, read-only). The worker finishes an offset only after the task's
    # `succeeded` event and state were acknowledged by the broker, so this is the moment
    # the last task became terminal, to within the 5 ms poll, without a second consumer
    # decoding 2N lifecycle records on the worker's event loop. Checked against the
    # task-events topic below, outside the window.
    partitions = worker._tracker._partitions

    def all_done() -> bool:
        seen = sum(p.highest_seen + 1 for p in partitions.values())
        return seen >= n and not any(p.inflight for p in partitions.values())

    profiler = cProfile.Profile() if profile_path else None
    window = Window()
    window.start()
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    consumer.resume()
    try:
        finished = await until(all_done, timeout=300, what=f"{n} no-op tasks to succeed")
    finally:
        window.stop()
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile_path)
    rate = n / (finished - started)

    ids = {r.task_id for r in requests}
    topics = worker.topics
    written = [topics.task_events, topics.task_state]
    if settings.journal_enabled:
        written.append(worker.journal.topic)
    # Every record was acknowledged before the window closed; a read-back under heavy
    # load can still come back short (seen on the embedded broker), so it is retried.
    for _ in range(3):
        records = await read_all(transport, written)
        ours = [r for r in records if r.key is not None and r.key.decode() in ids]
        kinds = Counter(event_kind(r) for r in ours if r.topic == topics.task_events)
        if kinds["succeeded"] == n:
            return rate, window, Written.of(ours, n)
    raise AssertionError(f"expected {n} succeeded events, found {dict(kinds)}")
