"""The supervisor as a faust-streaming app: tables of leases and workers, and a check.

- `track_tasks` folds the task-events topic into the `leases` table (one entry per
  unfinished task; the table is partitioned like the topic, by task id).
- `track_workers` folds the heartbeats topic into the `workers` global table (every
  supervisor instance sees every worker).
- `check` runs every `MESH_SUPERVISOR_CHECK_INTERVAL` s on every instance, over the
  lease partitions that instance owns: `tracking.findings` says what is wrong, and
  `actions.actions_for` what to publish. A finding acted on is not acted on again
  for `_RESEND_AFTER` s; by then the action's own event has updated the lease.
- `report` publishes the instance's view (`SupervisorStatus`) to the compacted
  `mesh.supervisor.status` topic, which `mesh supervisor status` reads.

Several instances share the work: faust splits the partitions between them and
restores a dead instance's tables from their changelog topics on the survivors.
Standby replicas are off, so an instance's tables hold only the partitions it owns
and no two instances judge the same task. There is no central router: agents send to
each other directly, and the supervisor only intervenes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import tempfile
import time
from collections import deque
from typing import Any

import faust
import orjson
from faust.transport.drivers import aiokafka as faust_kafka
from pydantic import ValidationError

from mesh.observability.lag import LagCollector
from mesh.observability.logs import configure_logging
from mesh.observability.metrics import (
    CIRCUIT_OPEN,
    HEARTBEATS_RECEIVED,
    LIVE_WORKERS,
    SUPERVISOR_ACTIONS,
    TASK_TRANSITIONS,
)
from mesh.settings import Settings
from mesh.supervision.actions import actions_for
from mesh.supervision.circuits import Health, circuit_state, record_outcome
from mesh.supervision.policy import Policies
from mesh.supervision.status import snapshot
from mesh.supervision.tracking import Finding, TaskLease, WorkerSeen, apply_event, findings
from mesh.topics import Topics, runtime_topics, supervisor_topics
from mesh.transport.kafka.adapter import KafkaTransport
from schemas import Envelope, Source, decode_envelope, encode_envelope
from schemas.supervision import (
    AGENT_LIVENESS,
    CIRCUIT_STATE,
    HEARTBEAT,
    SUPERVISOR_STATUS,
    AgentLiveness,
    Heartbeat,
    RecentAction,
)
from schemas.tasks import INVALID_INPUT, TASK_EVENT, TaskEvent

log = logging.getLogger(__name__)

_RESEND_AFTER = 10.0  # seconds before the same finding is acted on again
_STATUS_EVERY = 2.0  # seconds between status snapshots


def _transport_class(fetch_max_wait: float) -> type[faust_kafka.Transport]:
    """faust's Kafka transport with the consumer's fetch wait from MESH_FETCH_MAX_WAIT.

    faust fixes it at 1.5 s. A broker answers a fetch as soon as it has data, so on
    Kafka that is harmless; the embedded broker holds a fetch for about half of the
    wait even with data there (DESIGN.md, "Brokers"), which throttled the supervisor to
    one fetch per ~0.75 s. So the wait is a setting here, as it is for the workers.
    """

    class ConsumerThread(faust_kafka.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = int(fetch_max_wait * 1000)  # read at its start
            return consumer

    class WaitingConsumer(faust_kafka.Consumer):
        def _new_consumer_thread(self) -> ConsumerThread:
            return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    class Transport(faust_kafka.Transport):
        Consumer = WaitingConsumer

    return Transport


def build_app(settings: Settings, policies: Policies) -> faust.App:
    topics = Topics(settings.namespace)
    source = Source(agent="supervisor", instance=settings.instance_id)
    app = faust.App(
        topics.supervisor_app,
        broker=f"kafka://{settings.bootstrap_servers}",
        broker_credentials=faust_credentials(settings),
        store="memory://",
        # Nothing is kept on disk (the tables live in memory and in their changelogs),
        # so faust's data directory goes to the temp dir, not the working directory.
        datadir=os.path.join(tempfile.gettempdir(), "mesh-supervisor"),
        # The check guards a local RocksDB file against changelogs that were emptied;
        # with memory tables there is no such file, and an end offset read during a
        # rebalance that lags what this instance already read (seen on the embedded
        # broker) would otherwise crash a healthy survivor.
        recovery_consistency_check=False,
        # On a rebalance or a stop, do not wait for every event in flight to be acked:
        # faust could wait forever for one its stream had dropped (seen: a supervisor
        # that never exited on SIGTERM). Unacked events are not committed, so the next
        # owner reads them again; folding an event twice into a lease is harmless.
        stream_wait_empty=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        table_standby_replicas=0,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=settings.heartbeat_interval,
        # faust's defaults (60 s, 90 s) would let a dead instance's partitions, or one
        # unanswered request, stall the survivor for minutes; use the workers' values.
        broker_rebalance_timeout=settings.session_timeout,
        broker_request_timeout=settings.request_timeout,
        broker_commit_interval=settings.commit_interval,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1 if settings.acks == "all" else int(settings.acks),
        # Changelog writes need no low latency: a few milliseconds of linger batch
        # them into far fewer produce requests (measured: ~15% less CPU per event).
        producer_linger=0.005,
        producer_max_batch_size=settings.producer_batch_bytes,
        broker_max_poll_records=settings.fetch_max_records,
        web_enabled=False,
        key_serializer="raw",
        value_serializer="raw",
    )
    app.transport = _transport_class(settings.fetch_max_wait)(app.conf.broker_consumer, app)
    events = app.topic(topics.task_events, key_serializer="raw", value_serializer="raw")
    beats = app.topic(topics.heartbeats, key_serializer="raw", value_serializer="raw")
    # Keys and values are bytes (the app's raw serializers): task or instance id, JSON.
    leases = app.Table("leases", key_type=bytes, value_type=bytes)
    parsed = LeaseCache()
    workers = app.GlobalTable("workers", key_type=bytes, value_type=bytes)
    health = app.Table("health", key_type=bytes, value_type=bytes)  # by agent type
    announced: set[tuple[str, float]] = set()  # half-open circuits already published
    # Agent types whose circuit gauge this instance reports: those whose health it owns.
    # A type whose partition moved to another instance is no longer reported here, or
    # the stale value would stand beside the new owner's.
    circuits_reported: set[str] = set()
    acted: dict[tuple[str, str, int], float] = {}
    ready = asyncio.Event()
    recent: deque[RecentAction] = deque(maxlen=50)
    latest: list[Finding] = []  # the last check's findings, for the status snapshot

    @app.agent(events)
    async def track_tasks(stream: Any) -> None:
        # One table write per event, to the changelog partition of the event being
        # processed. (Folding a batch per task would save writes, but faust's batching,
        # `take_events`, left events unacknowledged here, which stalls commits.)
        async for key, value in stream.items():
            decoded = _decode(value, TASK_EVENT, TaskEvent)
            if decoded is None or key is None:
                continue
            envelope, event = decoded
            try:
                lease = parsed.get(key, leases.get(key))
                submitter = envelope.source.agent if envelope.source else None
                updated = apply_event(lease, event, envelope.parent_task_id, submitter)
                if updated is not None:
                    data = updated.model_dump_json().encode()
                    leases[key] = data
                    parsed.put(key, data, updated)
                elif lease is not None:
                    del leases[key]
            except Exception:  # one bad lease must not stop the tracking of all others
                log.exception("task %s: lease not updated", key.decode(errors="replace"))

    async def publish_circuit(agent: str, state: Health, now: float) -> None:
        circuit = circuit_state(agent, state, now, policies.for_agent(agent))
        log.warning("circuit of %r is %s (%s)", agent, circuit.state, circuit.reason)
        envelope = Envelope(
            type=CIRCUIT_STATE, source=source, payload=circuit.model_dump(mode="json")
        )
        await app.send(topics.circuits, key=agent.encode(), value=encode_envelope(envelope))
        recent.append(
            RecentAction(
                at=now,
                task_id="-",
                agent=agent,
                problem=f"circuit_{circuit.state}",
                reason=circuit.reason or "the probe succeeded",
            )
        )

    @app.agent(events)
    async def track_health(stream: Any) -> None:
        """Outcomes, regrouped by agent type (one owner per type decides its circuit)."""
        outcomes = stream.filter(_outcome_of).group_by(_agent_of, name="by-agent")
        async for key, value in outcomes.items():
            succeeded = _outcome_of(value)
            parsed = _decode(value, TASK_EVENT, TaskEvent)
            if parsed is None or key is None or succeeded is None:
                continue
            agent = key.decode()
            current = health.get(key)
            state = Health.model_validate_json(current) if current is not None else Health()
            event = parsed[1]
            state, changed = record_outcome(
                state, event.at.timestamp(), succeeded == b"ok", policies.for_agent(agent)
            )
            health[key] = state.model_dump_json().encode()
            if changed is not None:
                await publish_circuit(agent, state, time.time())

    @app.agent(beats)
    async def track_workers(stream: Any) -> None:
        async for key, value in stream.items():
            parsed = _decode(value, HEARTBEAT, Heartbeat)
            if parsed is not None and key is not None:
                workers[key] = WorkerSeen.of(parsed[1]).model_dump_json().encode()
                HEARTBEATS_RECEIVED.labels(parsed[1].agent).inc()

    @app.timer(settings.supervisor_check_interval)  # type: ignore[untyped-decorator]
    async def check() -> None:
        if app.rebalancing:
            return  # tables may be part-way through recovery
        if not ready.is_set():
            ready.set()
            _quiet_the_libraries()
            log.info(
                "supervisor %s ready: checking every %.1fs",
                settings.instance_id,
                settings.supervisor_check_interval,
            )
        now = time.time()
        latest[:] = findings(now, parsed.all(leases), _workers(workers), policies)
        for finding in latest:
            mark = (finding.task_id, str(finding.problem), finding.lease.attempt)
            if now - acted.get(mark, 0.0) < _RESEND_AFTER:
                continue
            acted[mark] = now
            log.warning("task %s: %s (%s)", finding.task_id, finding.problem, finding.reason)
            SUPERVISOR_ACTIONS.labels(finding.lease.agent, str(finding.problem)).inc()
            for action in actions_for(finding, topics, source):
                await app.send(
                    action.topic,
                    key=action.key.encode(),
                    value=encode_envelope(action.envelope),
                    headers=action.envelope.routing_headers(),
                )
                if action.envelope.type == TASK_EVENT:  # redispatched, worker_lost, parked...
                    kind = str(action.envelope.payload.get("kind"))
                    TASK_TRANSITIONS.labels(finding.lease.agent, kind).inc()
            recent.append(
                RecentAction(
                    at=now,
                    task_id=finding.task_id,
                    agent=finding.lease.agent,
                    problem=str(finding.problem),
                    reason=finding.reason,
                )
            )
        for mark in [m for m, at in acted.items() if now - at > 4 * _RESEND_AFTER]:
            del acted[mark]
        owned: set[str] = set()
        for key, value in list(health.items()):  # open circuits whose cooldown is over
            state = Health.model_validate_json(value)
            agent = key.decode()
            owned.add(agent)
            effective = state.effective(now, policies.for_agent(agent))
            CIRCUIT_OPEN.labels(agent).set(effective != "closed")
            due = effective == "half_open"
            if due and (agent, state.opened_at) not in announced:
                announced.add((agent, state.opened_at))
                await publish_circuit(agent, state, now)
        for agent in circuits_reported - owned:
            CIRCUIT_OPEN.remove(agent)
        circuits_reported.clear()
        circuits_reported.update(owned)

    live_published: dict[str, int] = {}

    async def publish_liveness(live_by_agent: dict[str, int], now: float) -> None:
        """Each agent type's live worker count, on the topic when it changed (a type
        whose workers all stopped or aged out goes to 0)."""
        for agent in sorted(set(live_published) | set(live_by_agent)):
            live = live_by_agent.get(agent, 0)
            LIVE_WORKERS.labels(agent).set(live)
            if live_published.get(agent) == live:
                continue
            payload = AgentLiveness(agent=agent, live=live, at=now).model_dump(mode="json")
            envelope = Envelope(type=AGENT_LIVENESS, source=source, payload=payload)
            await app.send(
                topics.agent_liveness, key=agent.encode(), value=encode_envelope(envelope)
            )
            live_published[agent] = live

    @app.timer(_STATUS_EVERY)  # type: ignore[untyped-decorator]
    async def report() -> None:
        now = time.time()
        status = snapshot(
            instance=settings.instance_id,
            host=socket.gethostname(),
            now=now,
            workers=_workers(workers),
            tracked=len(leases),
            at_risk=latest,
            policies=policies,
            recent=list(recent),
        )
        await publish_liveness(status.live_by_agent, now)
        envelope = Envelope(
            type=SUPERVISOR_STATUS, source=source, payload=status.model_dump(mode="json")
        )
        await app.send(
            topics.supervisor_status,
            key=settings.instance_id.encode(),
            value=encode_envelope(envelope),
        )

    lag = LagCollector(KafkaTransport(settings), settings)

    @app.timer(settings.metrics_lag_interval)  # type: ignore[untyped-decorator]
    async def measure_lag() -> None:
        try:
            await lag.collect()
        except Exception as exc:  # a missed measurement is no reason to stop supervising
            log.warning("consumer lag not measured: %s", exc)

    return app


def faust_credentials(settings: Settings) -> faust.auth.Credentials | None:
    """The `MESH_SECURITY_PROTOCOL`/`MESH_SASL_*`/`MESH_SSL_CAFILE` settings in faust's
    terms (faust derives aiokafka's security protocol from the credentials' kind)."""
    protocol = settings.security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = ssl.create_default_context(cafile=settings.ssl_cafile)
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


_SUCCESS = frozenset({"succeeded"})
_FAILURE = frozenset({"failed", "dead_lettered", "retry_scheduled"})


def _outcome_of(value: bytes | None) -> bytes | None:
    """b"ok" or b"failed" for an event that ends an attempt; None for the rest.

    Cancellations and invalid input count neither way: they are not the agent's doing
    (a burst of bad tasks from one sender must not open the agent type's circuit).
    """
    try:
        event = orjson.loads(value or b"{}").get("payload", {})
    except orjson.JSONDecodeError:
        return None
    kind = event.get("kind")
    if kind in _SUCCESS:
        return b"ok"
    if (event.get("error") or {}).get("type") == INVALID_INPUT:
        return None
    return b"failed" if kind in _FAILURE else None


def _agent_of(value: bytes | None) -> bytes:
    agent = orjson.loads(value or b"{}").get("payload", {}).get("agent", "")
    return str(agent).encode()


class LeaseCache:
    """Parsed leases by key, next to the table's bytes: a check reads every lease each
    second, and parsing only those that changed keeps that cheap with many tasks."""

    def __init__(self) -> None:
        self._parsed: dict[bytes, tuple[bytes, TaskLease]] = {}

    def put(self, key: bytes, value: bytes, lease: TaskLease) -> None:
        self._parsed[key] = (value, lease)

    def get(self, key: bytes, value: bytes | None) -> TaskLease | None:
        """The lease whose table bytes are `value` (None: no lease)."""
        if value is None:
            return None
        hit = self._parsed.get(key)
        if hit is not None and hit[0] is value:
            return hit[1]
        lease = TaskLease.model_validate_json(value)
        self._parsed[key] = (value, lease)
        return lease

    def all(self, table: Any) -> list[tuple[str, TaskLease]]:
        """Every lease in `table` (forgetting those the table no longer holds)."""
        current = list(table.data.items())
        if len(self._parsed) > len(current):
            keys = {k for k, _ in current}
            self._parsed = {k: v for k, v in self._parsed.items() if k in keys}
        leases = []
        for key, value in current:
            lease = self.get(key, value)
            if lease is not None:
                leases.append((key.decode(), lease))
        return leases


def _workers(table: Any) -> dict[str, WorkerSeen]:
    return {k.decode(): WorkerSeen.model_validate_json(v) for k, v in list(table.items())}


def _decode(value: bytes | None, type_: str, model: Any) -> tuple[Envelope, Any] | None:
    """The envelope and its typed payload, or None for other types and bad records
    (the supervisor only reads; a bad record is the runtime's to dead-letter)."""
    try:
        envelope = decode_envelope(value or b"")
        if envelope.type != type_:
            return None
        return envelope, model.model_validate(envelope.payload)
    except (orjson.JSONDecodeError, ValidationError) as exc:
        log.warning("skipping an unreadable %s record: %s", type_, str(exc).splitlines()[0])
        return None


def ensure_topics(settings: Settings) -> None:
    """Create the topics the supervisor reads and writes, if missing (it may start first)."""

    async def ensure() -> None:
        transport = KafkaTransport(settings)
        await transport.ensure_topics([*runtime_topics(settings), *supervisor_topics(settings)])

    asyncio.run(ensure())


def run(settings: Settings, policies: Policies) -> None:
    """Run a supervisor instance in the foreground until SIGTERM or SIGINT."""
    from faust.worker import Worker

    from mesh.observability.metrics_server import serve_metrics

    ensure_topics(settings)
    serve_metrics(settings, "mesh supervisor run")
    app = build_app(settings, policies)
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
