"""The supervisor's decisions, with no faust and no broker: records in, records out.

`Supervisor` folds what it is fed into three tables and answers with what to publish:

- `track_task` folds a task event into the `leases` table (one per unfinished task);
- `track_outcomes` folds attempt outcomes into their agent type's `health` and
  returns the circuit's new state when it changed;
- `track_worker` folds a heartbeat into the `workers` table;
- `check` asks `tracking.findings` what is wrong and returns what `actions.actions_for`
  publishes about it (a finding acted on is not acted on again for `RESEND_AFTER`
  s; by then the action's own event has updated the lease), plus the circuits whose
  cooldown is over;
- `report` returns the instance's status snapshot and each agent type's live count.

The tables are mappings of bytes to bytes: faust's changelogged tables in the app
(`mesh.supervision.app`, which forwards its streams and timers here and sends what
comes back), plain dicts in the tests. Times are epoch seconds, given by the caller.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from pydantic import BaseModel

from mesh.observability.metrics import (
    CIRCUIT_OPEN,
    HEARTBEATS_RECEIVED,
    LIVE_WORKERS,
    SUPERVISOR_ACTIONS,
    TASK_TRANSITIONS,
)
from mesh.supervision._actions import actions_for
from mesh.supervision._circuits import Health, circuit_state, record_outcome
from mesh.supervision._folding import ChangelogWrite, FoldedTable
from mesh.supervision._records import (
    Outcomes,
    decode,
    fold_watermark,
    read_outcomes,
    read_task_event,
    workers_in,
)
from mesh.supervision._status import snapshot
from mesh.supervision._tracking import Finding, TaskLease, WorkerSeen, apply_event, findings
from mesh.supervision.policy import Policies
from mesh.topics import Topics
from schemas import Envelope, Source
from schemas.supervision import (
    AGENT_LIVENESS,
    CIRCUIT_STATE,
    HEARTBEAT,
    HEARTBEAT_WATERMARK,
    SUPERVISOR_STATUS,
    AgentLiveness,
    Heartbeat,
    HeartbeatWatermark,
    RecentAction,
)
from schemas.tasks import TASK_EVENT

log = logging.getLogger(__name__)

RESEND_AFTER = 10.0  # seconds before the same finding is acted on again

Table = MutableMapping[bytes, bytes]


def _dump(model: BaseModel) -> bytes:
    return model.model_dump_json().encode()


class Flushed(NamedTuple):
    """`Supervisor.flush`: the leases' and the health's changelog records, and the
    outcomes to regroup by agent type."""

    leases: list[ChangelogWrite]
    health: list[ChangelogWrite]
    outcomes: list[Outcomes]


@dataclass(frozen=True)
class Publish:
    """One record for the adapter to send: topic, key and envelope."""

    topic: str
    key: str
    envelope: Envelope
    routed: bool = False  # with the envelope's routing headers (the actions on tasks)


class Supervisor:
    """One supervisor instance's state and rules, over the tables it is given.

    Args:
        instance: This instance's id (the status snapshot's key).
        host: Its host name, for the status.
        topics: The namespace's topic names.
        policies: What each agent type tolerates.
        leases: Task id -> `TaskLease` JSON (partitioned like the task events).
        workers: Worker instance id -> `WorkerSeen` JSON (every worker).
        health: Agent type -> `Health` JSON (partitioned by agent type).
    """

    def __init__(
        self,
        *,
        instance: str,
        host: str,
        topics: Topics,
        policies: Policies,
        leases: Table,
        workers: Table,
        health: Table,
    ) -> None:
        self.instance, self.host, self.topics, self.policies = instance, host, topics, policies
        self.leases = FoldedTable(leases, parse=TaskLease.model_validate_json, dump=_dump)
        self.health = FoldedTable(health, parse=Health.model_validate_json, dump=_dump)
        self.workers = workers
        self.source = Source(agent="supervisor", instance=instance)
        self.recent: deque[RecentAction] = deque(maxlen=50)
        self.latest: list[Finding] = []  # the last check's findings, for the status
        self._acted: dict[tuple[str, str, int], float] = {}
        self._marked_at = 0.0  # when this instance last wrote heartbeat watermarks
        self._announced: set[tuple[str, float]] = set()  # half-open circuits published
        # Agent types whose circuit gauge this instance reports: those whose health it
        # owns. A type whose partition moved to another instance is no longer reported
        # here, or the stale value would stand beside the new owner's.
        self._circuits_reported: set[str] = set()
        self._live_published: dict[str, int] = {}
        self._outcomes: dict[str, list[tuple[float, bool]]] = {}  # by agent type, unsent
        # The agent types paused now (ADR 039; the adapter follows the switches): their
        # tasks wait by design, so their wait is not judged a fault.
        self.paused: frozenset[str] = frozenset()

    # -- what the streams feed in ----------------------------------------------------

    def track_task(self, key: bytes | None, value: bytes | None, partition: int = 0) -> None:
        """Fold one task event (keyed by task id, from `partition`) into its lease; an
        event that ends an attempt waits for `flush` to go to its agent type's health."""
        record = read_task_event(value)
        if record is None or key is None:
            return
        try:
            lease = self.leases.get(key)
            updated = apply_event(lease, record.event, record.parent, record.submitter)
            if updated is not None:
                if updated is not lease:
                    self.leases.put(key, updated, partition)
            elif lease is not None:
                self.leases.remove(key, partition)
        except Exception:  # one bad lease must not stop the tracking of all others
            log.exception("task %s: lease not updated", key.decode(errors="replace"))
        if record.outcome is not None:
            ended = (record.event.at, record.outcome)
            self._outcomes.setdefault(record.event.agent, []).append(ended)

    def track_outcomes(
        self, key: bytes | None, value: bytes | None, now: float, partition: int = 0
    ) -> list[Publish]:
        """Fold attempt outcomes (an `Outcomes` record, keyed by agent type) into the
        type's health; the circuit's new states, if it changed."""
        if key is None:
            return []
        agent = key.decode()
        policy = self.policies.for_agent(agent)
        state = self.health.get(key) or Health()
        changes = []
        for at, succeeded in read_outcomes(value):
            state, changed = record_outcome(state, at, succeeded, policy)
            if changed is not None:
                changes.append(self._circuit(agent, state, now))
        self.health.put(key, state, partition)
        return changes

    def flush(self) -> Flushed:
        """What the fold changed since the last flush: the tables' changelog records
        and the outcomes by agent type (the adapter sends them all before it commits
        the offsets of the events folded)."""
        outcomes = [Outcomes.of(agent, ended) for agent, ended in self._outcomes.items()]
        self._outcomes = {}
        return Flushed(self.leases.flush(), self.health.flush(), outcomes)

    def track_worker(
        self, key: bytes | None, value: bytes | None, partition: int | None = None
    ) -> None:
        """Fold a record of `mesh.heartbeats` into the workers table: a heartbeat (keyed
        by worker instance id), or a supervisor's watermark of its `partition`."""
        if (mark := decode(value, HEARTBEAT_WATERMARK, HeartbeatWatermark)) is not None:
            if partition is not None:
                fold_watermark(self.workers, partition, mark[1].at.timestamp(), mark[1].interval)
            return
        decoded = decode(value, HEARTBEAT, Heartbeat)
        if decoded is not None and key is not None:
            self.workers[key] = WorkerSeen.of(decoded[1], partition).model_dump_json().encode()
            HEARTBEATS_RECEIVED.labels(decoded[1].agent).inc()

    def heartbeat_watermark(self, now: float, *, busy: float, idle: float) -> Envelope | None:
        """The mark to write now to each partition of `mesh.heartbeats`
        (`HeartbeatWatermark`), or None if the last one is recent enough: every `busy`
        seconds (the liveness interval) while this instance tracks tasks, whose workers'
        silence it judges; every `idle` seconds (the idle workers' interval) otherwise,
        which still bounds the judgement of idle workers (ADR 055)."""
        interval = busy if self.leases else idle
        if now - self._marked_at < interval - busy / 2:
            return None
        self._marked_at = now
        at = datetime.fromtimestamp(now, UTC)
        mark = HeartbeatWatermark(by=self.instance, at=at, interval=interval)
        return Envelope(
            type=HEARTBEAT_WATERMARK, source=self.source, payload=mark.model_dump(mode="json")
        )

    # -- what the timers ask -----------------------------------------------------------

    def check(self, now: float) -> list[Publish]:
        """The actions on tasks in trouble, then the circuits due for a probe."""
        workers = workers_in(self.workers, now)
        leases = [(k.decode(), lease) for k, lease in self.leases.items()]
        self.latest = findings(now, leases, workers, self.policies, self.paused)
        due = [f for f in self.latest if self._due(f, now)]
        for mark in [m for m, at in self._acted.items() if now - at > 4 * RESEND_AFTER]:
            del self._acted[mark]
        return [p for finding in due for p in self._act(finding, now)] + self._probes(now)

    def report(self, now: float) -> list[Publish]:
        """Each agent type's live worker count where it changed, then the status."""
        status = snapshot(
            instance=self.instance,
            host=self.host,
            now=now,
            workers=workers_in(self.workers, now),
            tracked=len(self.leases),
            at_risk=self.latest,
            policies=self.policies,
            recent=list(self.recent),
            paused=self.paused,
        )
        records = self._liveness(status.live_by_agent, now)
        payload = status.model_dump(mode="json")
        envelope = Envelope(type=SUPERVISOR_STATUS, source=self.source, payload=payload)
        return [*records, Publish(self.topics.supervisor_status, self.instance, envelope)]

    # -- the decisions -------------------------------------------------------------------

    def _due(self, finding: Finding, now: float) -> bool:
        """True unless the same finding was acted on within `RESEND_AFTER` s."""
        mark = (finding.task_id, str(finding.problem), finding.lease.attempt)
        if now - self._acted.get(mark, 0.0) < RESEND_AFTER:
            return False
        self._acted[mark] = now
        return True

    def _act(self, finding: Finding, now: float) -> list[Publish]:
        lease = finding.lease
        log.warning("task %s: %s (%s)", finding.task_id, finding.problem, finding.reason)
        SUPERVISOR_ACTIONS.labels(lease.agent, str(finding.problem)).inc()
        records = []
        for action in actions_for(finding, self.topics, self.source):
            records.append(Publish(action.topic, action.key, action.envelope, routed=True))
            if action.envelope.type == TASK_EVENT:  # redispatched, worker_lost, parked...
                kind = str(action.envelope.payload.get("kind"))
                TASK_TRANSITIONS.labels(lease.agent, kind).inc()
        self.recent.append(
            RecentAction(
                at=now,
                task_id=finding.task_id,
                agent=lease.agent,
                problem=str(finding.problem),
                reason=finding.reason,
            )
        )
        return records

    def _probes(self, now: float) -> list[Publish]:
        """Open circuits whose cooldown is over (half-open), each announced once; and
        the circuit gauges of the agent types this instance owns."""
        records = []
        owned: set[str] = set()
        for key, state in self.health.items():
            agent = key.decode()
            owned.add(agent)
            effective = state.effective(now, self.policies.for_agent(agent))
            CIRCUIT_OPEN.labels(agent).set(effective != "closed")
            if effective == "half_open" and (agent, state.opened_at) not in self._announced:
                self._announced.add((agent, state.opened_at))
                records.append(self._circuit(agent, state, now))
        for agent in self._circuits_reported - owned:
            CIRCUIT_OPEN.remove(agent)
        self._circuits_reported = owned
        return records

    def _circuit(self, agent: str, state: Health, now: float) -> Publish:
        circuit = circuit_state(agent, state, now, self.policies.for_agent(agent))
        log.warning("circuit of %r is %s (%s)", agent, circuit.state, circuit.reason)
        payload = circuit.model_dump(mode="json")
        envelope = Envelope(type=CIRCUIT_STATE, source=self.source, payload=payload)
        self.recent.append(
            RecentAction(
                at=now,
                task_id="-",
                agent=agent,
                problem=f"circuit_{circuit.state}",
                reason=circuit.reason or "the probe succeeded",
            )
        )
        return Publish(self.topics.circuits, agent, envelope)

    def _liveness(self, live_by_agent: dict[str, int], now: float) -> list[Publish]:
        """Each agent type's live worker count, when it changed (a type whose workers
        all stopped or aged out goes to 0)."""
        records = []
        for agent in sorted(set(self._live_published) | set(live_by_agent)):
            live = live_by_agent.get(agent, 0)
            LIVE_WORKERS.labels(agent).set(live)
            if self._live_published.get(agent) == live:
                continue
            payload = AgentLiveness(agent=agent, live=live, at=now).model_dump(mode="json")
            envelope = Envelope(type=AGENT_LIVENESS, source=self.source, payload=payload)
            records.append(Publish(self.topics.agent_liveness, agent, envelope))
            self._live_published[agent] = live
        return records
