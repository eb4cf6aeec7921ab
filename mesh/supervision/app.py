"""The supervisor as a faust-streaming app: a thin adapter around `core.Supervisor`.

faust owns the partitioned, changelogged tables and the consumer group; every
decision is the `Supervisor`'s (mesh/supervision/core.py), which this module feeds
and whose answers it sends:

- `track_tasks` hands the task-events topic to `Supervisor.track_task`, which keeps
  the `leases` table (one entry per unfinished task; partitioned like the topic, by
  task id), and sends the attempt outcomes it returns to the outcomes topic, keyed by
  agent type.
- `track_health` hands those to `Supervisor.track_outcome`, which keeps the `health`
  table (one owner per agent type), and sends the circuit changes it returns.
- Both tables are folded in memory and written to their changelogs right before
  faust commits the offsets of the events folded into them (`_FoldingConsumer`,
  mesh/supervision/_folding.py): a task that starts and ends between two commits
  costs its lease no changelog record at all.
- `track_workers` hands the heartbeats topic to `Supervisor.track_worker`, which keeps
  the `workers` global table (every supervisor instance sees every worker).
- `check` runs every `MESH_SUPERVISOR_CHECK_INTERVAL` s on every instance, over the
  lease partitions that instance owns, and sends what `Supervisor.check` decided.
- `report` sends `Supervisor.report`: the instance's view (`SupervisorStatus`) to the
  compacted `mesh.supervisor.status` topic, which `mesh supervisor status` reads.
- `beside` follows the agent types' pause switches (`Supervisor.paused`), on the mesh's
  own transport (mesh/supervision/_beside.py).

Several instances share the work: faust splits the partitions between them and
restores a dead instance's tables from their changelog topics on the survivors.
Standby replicas are off, so an instance's tables hold only the partitions it owns
and no two instances judge the same task. There is no central router: agents send to
each other directly, and the supervisor only intervenes.

This is the only module here that imports faust, and it reaches into faust's Kafka
driver (`_transport_class`): faust-streaming is pinned exactly in pyproject.toml.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import tempfile
import time
from collections.abc import Callable
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_kafka
from faust.types import TP

from mesh.observability.logs import configure_logging
from mesh.settings import Settings
from mesh.supervision._beside import run_beside
from mesh.supervision._catch_up import CatchUp
from mesh.supervision._lag import LagCollector
from mesh.supervision._recovery_watch import refetch_dropped, watch_recovery
from mesh.supervision.core import Publish, Supervisor
from mesh.supervision.policy import Policies
from mesh.topics import Topics, runtime_topics, supervisor_topics
from mesh.transport.kafka.adapter import KafkaTransport
from mesh.transport.kafka.options import kafka_ssl_context
from mesh.transport.kafka.pace import FetchPace
from schemas import encode_envelope

log = logging.getLogger(__name__)

_STATUS_EVERY = 2.0  # seconds between status snapshots
# Records per `fetch_idle_after` that keep the supervisor's fetches short: more than
# the heartbeats of a hundred workers, fewer than any real stream of task events.
_BUSY_ABOVE = 100


def _transport_class(
    settings: Settings,
    flush: Callable[[], list[asyncio.Future[Any]]],
    catch_up: CatchUp | None = None,
) -> type[faust_kafka.Transport]:
    """faust's Kafka transport with the consumer's fetch wait from the settings, whose
    consumer calls `flush` and awaits what it sent before it commits offsets or gives
    partitions up, and restarts `catch_up` when it gives them up (a rebalance).

    faust fixes the wait at 1.5 s. A broker answers a fetch as soon as it has data, so on
    Kafka that is harmless; the embedded broker holds a fetch for about half of the wait
    even with data there (ADR 003), which throttled the supervisor to one fetch per
    ~0.75 s. So the wait is a setting here, as it is for the workers, and it lengthens
    while the supervisor is idle (ADR 036). Workers' heartbeats reach it all the time,
    so idle here means fewer than `_BUSY_ABOVE` records a second.
    """

    class ConsumerThread(faust_kafka.AIOKafkaConsumerThread):
        _pace: FetchPace | None = None

        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = int(settings.fetch_max_wait * 1000)  # read at start
            self._pace = FetchPace.of(consumer, settings, busy_above=_BUSY_ABOVE)
            return consumer

        async def _fetch_records(self, consumer: Any, *args: Any, **kwargs: Any) -> Any:
            # faust reads from aiokafka's fetcher here (not through `getmany`); changelog
            # records its `getmany` would drop are left to fetch again (ADR 060).
            records: Any = await super()._fetch_records(consumer, *args, **kwargs)
            records = refetch_dropped(consumer, records, self.consumer)
            if self._pace is not None:
                self._pace.saw(sum(len(batch) for batch in records.values()))
            return records

    class FoldingConsumer(faust_kafka.Consumer):
        def _new_consumer_thread(self) -> ConsumerThread:
            return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

        async def _commit_offsets(self, offsets: Any, start_new_transaction: bool = True) -> Any:
            # The offsets were chosen from the events acknowledged so far, all folded:
            # their changelog records are acknowledged first (at least once). Not left
            # to faust's flush, which gives up after 0.1 s without a send: on a busy
            # host the offsets went out before the leases they covered (ADR 059).
            await _delivered(flush())
            return await super()._commit_offsets(offsets, start_new_transaction)

        async def on_partitions_revoked(self, revoked: Any) -> None:
            await _delivered(flush())  # before the next owner restores the tables
            if catch_up is not None:  # the stream is read again from the committed offsets
                catch_up.restart()
            await super().on_partitions_revoked(revoked)

    class Transport(faust_kafka.Transport):
        Consumer = FoldingConsumer

    return Transport


def build_app(settings: Settings, policies: Policies) -> faust.App:
    """The faust app of one supervisor instance: its tables feed a `Supervisor`."""
    topics = Topics(settings.namespace)
    app = faust.App(topics.supervisor_app, **_app_options(settings))
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    events = app.topic(topics.task_events, **raw)
    outcomes = app.topic(topics.supervisor_outcomes, **raw)
    beats = app.topic(topics.heartbeats, **raw)
    # Keys and values are bytes (the app's raw serializers): task or instance id, JSON.
    leases = app.Table("leases", key_type=bytes, value_type=bytes)
    health = app.Table("health", key_type=bytes, value_type=bytes)  # by agent type
    supervisor = Supervisor(
        instance=settings.instance_id,
        host=socket.gethostname(),
        topics=topics,
        policies=policies,
        leases=leases.data,  # faust's store: what the changelog holds, restored on failover
        workers=app.GlobalTable("workers", key_type=bytes, value_type=bytes),
        health=health.data,
    )

    def flush() -> list[asyncio.Future[Any]]:
        """Send what the fold changed; the records' futures resolve once acknowledged."""
        flushed = supervisor.flush()
        sent: list[asyncio.Future[Any]] = []
        for table, writes in ((leases, flushed.leases), (health, flushed.health)):
            for w in writes:
                sent.append(table.send_changelog(w.partition, w.key, w.value, "raw", "raw"))
        return sent + [outcomes.send_soon(key=r.agent, value=r.value) for r in flushed.outcomes]

    catch_up = CatchUp(topics)  # closed until the first reading has caught up
    app.transport = _transport_class(settings, flush, catch_up)(app.conf.broker_consumer, app)
    _forward_streams(app, supervisor, catch_up, events, outcomes, beats)
    _forward_timers(app, supervisor, catch_up, settings)
    watch_recovery(app, settings)  # a changelog partition faust's restore stalled on (ADR 060)

    @app.task  # type: ignore[untyped-decorator]
    async def beside() -> None:  # the pause switches (mesh/supervision/_beside.py)
        await run_beside(settings, supervisor)

    return app


def _app_options(settings: Settings) -> dict[str, Any]:
    return {
        "broker": f"kafka://{settings.bootstrap_servers}",
        "broker_credentials": faust_credentials(settings),
        "store": "memory://",
        # Nothing is kept on disk (the tables live in memory and in their changelogs),
        # so faust's data directory goes to the temp dir, not the working directory.
        "datadir": os.path.join(tempfile.gettempdir(), "mesh-supervisor"),
        # The check guards a local RocksDB file against changelogs that were emptied;
        # with memory tables there is no such file, and an end offset read during a
        # rebalance that lags what this instance already read (seen on the embedded
        # broker) would otherwise crash a healthy survivor.
        "recovery_consistency_check": False,
        # On a rebalance or a stop, do not wait for every event in flight to be acked:
        # faust could wait forever for one its stream had dropped (seen: a supervisor
        # that never exited on SIGTERM). Unacked events are not committed, so the next
        # owner reads them again; folding an event twice into a lease is harmless.
        "stream_wait_empty": False,
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication_factor,
        "table_standby_replicas": 0,
        "broker_session_timeout": settings.session_timeout,
        "broker_heartbeat_interval": settings.heartbeat_interval,
        # faust's defaults (60 s, 90 s) would let a dead instance's partitions, or one
        # unanswered request, stall the survivor for minutes; use the workers' values.
        "broker_rebalance_timeout": settings.session_timeout,
        "broker_request_timeout": settings.request_timeout,
        "broker_commit_interval": settings.commit_interval,
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1 if settings.acks == "all" else int(settings.acks),
        # Changelog writes need no low latency: a few milliseconds of linger batch
        # them into far fewer produce requests (measured: ~15% less CPU per event).
        "producer_linger": 0.005,
        "producer_max_batch_size": settings.producer_batch_bytes,
        "broker_max_poll_records": settings.fetch_max_records,
        "web_enabled": False,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }


def _forward_streams(
    app: faust.App,
    supervisor: Supervisor,
    catch_up: CatchUp,
    events: Any,
    outcomes: Any,
    beats: Any,
) -> None:
    """One faust agent per stream, each handing its records to the supervisor."""

    @app.agent(events)
    async def track_tasks(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            supervisor.track_task(event.key, event.value, message.partition)
            if (skipped := catch_up.folded(message.partition, message.offset)) is not None:
                await app.consumer.seek(message.tp, skipped)  # read the gap again (ADR 059)

    @app.agent(outcomes)
    async def track_health(stream: Any) -> None:
        async for event in stream.events():
            partition = event.message.partition
            await _send(
                app, supervisor.track_outcomes(event.key, event.value, time.time(), partition)
            )

    @app.agent(beats)
    async def track_workers(stream: Any) -> None:
        async for event in stream.events():
            supervisor.track_worker(event.key, event.value, event.message.partition)


def _forward_timers(
    app: faust.App, supervisor: Supervisor, catch_up: CatchUp, settings: Settings
) -> None:
    """The check, the status report and the lag measurement, on faust's timers."""
    ready = asyncio.Event()
    offsets = KafkaTransport(settings)  # the broker's offsets: catching up, and lag
    events = Topics(settings.namespace).task_events

    def owned() -> list[int]:
        return [tp.partition for tp in app.consumer.assignment() if tp.topic == events]

    async def seek(partition: int, offset: int) -> None:
        await app.consumer.seek(TP(events, partition), offset)

    @app.timer(settings.supervisor_check_interval)  # type: ignore[untyped-decorator]
    async def check() -> None:
        if app.rebalancing:
            return  # tables may be part-way through recovery
        if not await catch_up.caught_up(offsets, owned, seek, time.monotonic()):
            return  # leases may lack events not folded again yet (ADR 059)
        if not ready.is_set():
            ready.set()
            _quiet_the_libraries()
            log.info(
                "supervisor %s ready: checking every %.1fs",
                settings.instance_id,
                settings.supervisor_check_interval,
            )
        await _send(app, supervisor.check(time.time()))

    @app.timer(_STATUS_EVERY)  # type: ignore[untyped-decorator]
    async def report() -> None:
        await _send(app, supervisor.report(time.time()))

    @app.timer(settings.liveness_interval)  # type: ignore[untyped-decorator]
    async def mark_heartbeats() -> None:
        """A watermark in each heartbeats partition (`HeartbeatWatermark`): how far the
        supervisors have read them, so a late reading is not taken for silent workers."""
        busy = settings.liveness_interval
        idle = settings.liveness_idle_interval or busy
        mark = supervisor.heartbeat_watermark(time.time(), busy=busy, idle=idle)
        if mark is None:
            return
        topic = Topics(settings.namespace).heartbeats
        value, key = encode_envelope(mark), settings.instance_id.encode()
        producer: Any = app.producer._ensure_producer()  # type: ignore[attr-defined]
        for partition in sorted(await producer.partitions_for(topic)):
            await app.send(topic, key=key, value=value, partition=partition)

    lag = LagCollector(offsets, settings)

    @app.timer(settings.metrics_lag_interval)  # type: ignore[untyped-decorator]
    async def measure_lag() -> None:
        try:
            await lag.collect()
        except Exception as exc:  # a missed measurement is no reason to stop supervising
            log.warning("consumer lag not measured: %s", exc)


async def _delivered(sent: list[asyncio.Future[Any]]) -> None:
    """Wait until the broker acknowledged every record of `sent` (raises its error)."""
    for future in sent:
        await future


async def _send(app: faust.App, records: list[Publish]) -> None:
    for record in records:
        await app.send(
            record.topic,
            key=record.key.encode(),
            value=encode_envelope(record.envelope),
            headers=record.envelope.routing_headers() if record.routed else None,
        )


def faust_credentials(settings: Settings) -> faust.auth.Credentials | None:
    """The `MESH_SECURITY_PROTOCOL`/`MESH_SASL_*`/`MESH_SSL_CAFILE` settings in faust's
    terms (faust derives aiokafka's security protocol from the credentials' kind)."""
    protocol = settings.security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = kafka_ssl_context(settings)
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=settings.sasl_username,
        password=settings.sasl_password,
        mechanism=settings.sasl_mechanism,
        ssl_context=context if protocol == "SASL_SSL" else None,
    )


def _quiet_the_libraries() -> None:
    """faust and its helpers log every table and topic at INFO; keep the warnings."""
    if log.getEffectiveLevel() > logging.DEBUG:
        for name in ("faust", "mode", "aiokafka"):
            logging.getLogger(name).setLevel(logging.WARNING)


def ensure_topics(settings: Settings) -> None:
    """Create the topics the supervisor reads and writes, if missing (it may start first)."""

    async def ensure() -> None:
        transport = KafkaTransport(settings)
        await transport.ensure_topics([*runtime_topics(settings), *supervisor_topics(settings)])

    asyncio.run(ensure())


def _not_ready_reason(app: faust.App) -> str | None:
    """The supervisor's `/readyz`: ready once its tables are restored, not while the
    group rebalances or the instance stops."""
    if app.should_stop:
        return "stopping"
    if not app.tables.recovery.completed.is_set():  # type: ignore[attr-defined]
        return "restoring its tables from their changelogs"
    if app.rebalancing:
        return "rebalancing"
    return None


def run(settings: Settings, policies: Policies) -> None:
    """Run a supervisor instance in the foreground until SIGTERM or SIGINT."""
    from faust.worker import Worker

    from mesh.observability.metrics_server import serve_metrics
    from mesh.observability.probes import Probes
    from mesh.runtime.gc_tuning import tune_for_service

    ensure_topics(settings)
    probes = Probes()
    serve_metrics(settings, "mesh supervisor run", probes=probes)
    app = build_app(settings, policies)

    @app.task  # type: ignore[untyped-decorator]
    async def follow_with_probes() -> None:
        probes.follow(asyncio.get_running_loop(), lambda: _not_ready_reason(app))

    # Every event allocates a few short-lived objects; the default gen0 threshold ran
    # the collector hundreds of times a second over faust's and the tables' objects.
    tune_for_service(settings.gc_gen0_threshold)
    configure_logging(settings, name="supervisor")  # ours (JSON or text), not faust's
    worker = Worker(
        app,
        loglevel=settings.log_level.lower(),
        quiet=True,
        redirect_stdouts=False,
        override_logging=False,
    )
    # faust ends its start-up spinner with terminal control codes (backspace, "show
    # cursor") even when stdout is a pipe or a file; `mesh dev` logs must stay plain.
    worker.spinner = None
    worker.execute_from_commandline()
