"""What the supervisor knows and decides, as plain functions on plain records.

The supervisor (`mesh.supervision.core`) keeps one `TaskLease` per unfinished task
(from the task-events topic) and one `WorkerSeen` per worker process (from the
heartbeats topic), and every check interval asks `findings` what has gone wrong.
Nothing here does I/O, so every rule is tested directly (tests/unit).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from mesh.supervision.policy import Policies
from schemas.supervision import Heartbeat
from schemas.tasks import EventKind, TaskEvent, TaskStatus


class TaskLease(BaseModel):
    """An unfinished task as the supervisor tracks it (times are epoch seconds)."""

    agent: str
    # waiting: submitted, or a retry not yet due; escalated: waiting for a human
    status: Literal["waiting", "running", "escalated"]
    attempt: int = 1
    instance: str = ""
    submitted_at: float
    last_activity: float  # start, progress, delegation, steering: extends the lease
    deadline: float | None = None
    parent: str | None = None
    parent_agent: str | None = None  # whose inbox takes the task's outcome
    lost_at: float | None = None  # when its worker was found dead
    redispatches: int = 0
    redispatched_to: int = 0  # the attempt the latest redispatch started
    parked: bool = False
    expired: bool = False  # past its deadline with no worker: its parent has been told


class WorkerSeen(BaseModel):
    """The latest heartbeat of one worker process, and the partition it came in."""

    agent: str
    host: str
    last_seen: float
    interval: float
    inflight: int
    stopping: bool = False
    partition: int | None = None  # of `mesh.heartbeats` (None: folded by an older version)
    # How far the supervisors' reading of that partition is behind the clock (from
    # its watermark, `workers_in`): silence is judged up to where they have read.
    behind: float = Field(default=0.0, exclude=True)

    @classmethod
    def of(cls, beat: Heartbeat, partition: int | None = None) -> WorkerSeen:
        return cls(
            agent=beat.agent,
            host=beat.host,
            last_seen=beat.at.timestamp(),
            interval=beat.interval,
            inflight=beat.inflight,
            stopping=beat.stopping,
            partition=partition,
        )

    def silent_for(self, now: float) -> float:
        """Seconds without a heartbeat, up to where its partition has been read."""
        return now - self.behind - self.last_seen

    def alive(self, now: float, missed_beats: int) -> bool:
        return not self.stopping and self.silent_for(now) <= self.interval * missed_beats


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What a lease needs of a `TaskEvent` (times are epoch seconds)."""

    kind: EventKind
    agent: str
    ended: bool  # its status is terminal
    at: float
    instance: str = ""
    attempt: int | None = None
    deadline: float | None = None
    retry_at: float | None = None

    @classmethod
    def of(cls, event: TaskEvent) -> EventFacts:
        return cls(
            kind=event.kind,
            agent=event.agent,
            ended=event.status.is_terminal,
            at=event.at.timestamp(),
            instance=event.instance,
            attempt=event.attempt,
            deadline=event.deadline.timestamp() if event.deadline else None,
            retry_at=event.retry_at.timestamp() if event.retry_at else None,
        )

    @classmethod
    def of_payload(cls, payload: dict[str, Any]) -> EventFacts:
        """From a task event's JSON payload, as `TaskEvent` reads it (its fields only).

        Raises:
            KeyError, TypeError, ValueError: not a task event.
        """
        agent, instance, attempt = (
            payload["agent"],
            payload.get("instance", ""),
            payload.get("attempt"),
        )
        if not isinstance(agent, str) or not isinstance(instance, str):
            raise TypeError(f"agent {agent!r} and instance {instance!r} must be strings")
        if attempt is not None and type(attempt) is not int:
            raise TypeError(f"attempt {attempt!r} must be an integer")
        return cls(
            kind=EventKind(payload["kind"]),
            agent=agent,
            ended=TaskStatus(payload["status"]).is_terminal,
            at=_epoch(payload["at"]),
            instance=instance,
            attempt=attempt,
            deadline=_epoch(payload.get("deadline")),
            retry_at=_epoch(payload.get("retry_at")),
        )


def _epoch(value: Any) -> Any:
    """An ISO 8601 time (as the models write them) in epoch seconds; None stays None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not an ISO 8601 time")
    return datetime.fromisoformat(value).timestamp()


# A model call answered, or still running, is activity too: a task in a long tool loop
# or one long call is not stuck.
_ACTIVITY = frozenset(
    {
        EventKind.PROGRESS,
        EventKind.DELEGATED,
        EventKind.STEERED,
        EventKind.MODEL_CALLED,
        EventKind.MODEL_WAITING,
    }
)


def apply_event(
    lease: TaskLease | None,
    event: TaskEvent | EventFacts,
    parent: str | None,
    parent_agent: str | None = None,
) -> TaskLease | None:
    """The lease after `event`; None once the task has ended (or was never seen).

    `parent` and `parent_agent` are the envelope's parent task and, on `submitted`,
    the agent that submitted it (a child's parent)."""
    if isinstance(event, TaskEvent):
        event = EventFacts.of(event)
    at = event.at
    if event.ended:
        return None
    if event.kind in (EventKind.SUBMITTED, EventKind.REPLAYED):
        return TaskLease(
            agent=event.agent,
            status="waiting",
            attempt=event.attempt or 1,
            submitted_at=at,
            last_activity=at,
            deadline=event.deadline,
            parent=parent,
            parent_agent=parent_agent if parent else None,
        )
    if lease is None:
        return None  # submitted before the supervisor's retention window; not ours to judge
    changes = _changes(lease, event, at)
    return lease.model_copy(update=changes) if changes else lease


def _changes(lease: TaskLease, event: EventFacts, at: float) -> dict[str, object]:
    """What `event` (at `at`) changes in the lease of a task that has not ended."""
    changes: dict[str, object] = {}
    if event.kind is EventKind.STARTED:
        if (event.attempt or 1) < lease.attempt:
            return {}  # an earlier attempt's, read again (ADR 059): the lease is past it
        changes = {
            "status": "running",
            "instance": event.instance,
            "attempt": max(event.attempt or 1, lease.attempt),
            "last_activity": max(at, lease.last_activity),
            "lost_at": None,
            "parked": False,
        }
        if event.deadline is not None:
            changes["deadline"] = event.deadline
    elif event.kind is EventKind.WAITING:
        changes = {"status": "escalated"}
    elif event.kind in (EventKind.RESUMED, EventKind.APPROVAL_EXPIRED):  # it runs on
        changes = {"status": "running", "last_activity": at}
    elif event.kind in _ACTIVITY:
        changes = {"last_activity": max(at, lease.last_activity)}
    elif event.kind is EventKind.RETRY_SCHEDULED:
        due = event.retry_at if event.retry_at is not None else at
        changes = {"status": "waiting", "attempt": event.attempt or lease.attempt + 1}
        changes["last_activity"] = due
    elif event.kind is EventKind.REDISPATCHED:
        to = event.attempt or lease.attempt + 1
        if to <= lease.redispatched_to:
            return {}  # folded again after a rebalance (ADR 059): counted once
        changes = {
            "attempt": max(to, lease.attempt),
            "last_activity": max(at, lease.last_activity),
            "lost_at": None,
            "redispatches": lease.redispatches + 1,
            "redispatched_to": to,
        }
    elif event.kind is EventKind.WORKER_LOST:
        changes = {"lost_at": at}
    elif event.kind is EventKind.PARKED:
        changes = {"parked": True}
    elif event.kind is EventKind.EXPIRED:
        changes = {"expired": True}
    return changes


class Problem(StrEnum):
    WORKER_LOST = "worker_lost"  # its worker stopped beating: report, wait for re-delivery
    ORPHANED = "orphaned"  # still not restarted `orphan_grace` after that: redispatch
    STUCK = "stuck"  # running, no activity within its lease: redispatch
    GAVE_UP = "gave_up"  # stuck again after `max_redispatches`: cancel it
    ESCALATE = "escalate"  # the same, with `when_exhausted="escalate"`: a human decides
    FAIL = "fail"  # the same, with `when_exhausted="fail"`: fail it with the reason
    DEADLINE = "deadline"  # past its deadline and not ended: cancel it (and its children)
    EXPIRED = "expired"  # the same with no live worker to cancel it: tell its parent now
    NO_CONSUMERS = "no_consumers"  # waiting, and no live worker of its agent type: report


_WHEN_EXHAUSTED = {"cancel": Problem.GAVE_UP, "fail": Problem.FAIL, "escalate": Problem.ESCALATE}


@dataclass(frozen=True)
class Finding:
    task_id: str
    problem: Problem
    lease: TaskLease
    reason: str


def findings(
    now: float,
    leases: Iterable[tuple[str, TaskLease]],
    workers: Mapping[str, WorkerSeen],
    policies: Policies,
    paused: frozenset[str] = frozenset(),
) -> list[Finding]:
    """Every task that needs the supervisor now, with why.

    A task of a `paused` agent type waits by design (ADR 039): its wait is no fault
    (it is not parked for want of a worker); its deadline still counts."""
    live_agents = {
        w.agent for w in workers.values() if w.alive(now, policies.for_agent(w.agent).missed_beats)
    }
    found = []
    for task_id, lease in leases:
        paused_type = lease.agent in paused
        problem, reason = _judge(now, lease, workers, live_agents, policies, paused_type)
        if problem is not None:
            found.append(Finding(task_id, problem, lease, reason))
    return found


def _judge(
    now: float,
    lease: TaskLease,
    workers: Mapping[str, WorkerSeen],
    live_agents: set[str],
    policies: Policies,
    paused: bool,
) -> tuple[Problem | None, str]:
    """`paused`: the task's agent type is paused, so no worker of it is missed."""
    policy = policies.for_agent(lease.agent)
    if lease.deadline is not None and now > lease.deadline:
        late = f"its deadline passed {now - lease.deadline:.1f} s ago"
        if lease.agent in live_agents:
            return Problem.DEADLINE, late
        if lease.expired:
            return None, ""  # its parent knows; a starting worker ends it
        return Problem.EXPIRED, f"{late}, and no worker of agent {lease.agent!r} is alive"
    if lease.status == "escalated":
        return None, ""  # a human has it; only its deadline counts
    unserved = lease.agent not in live_agents and not paused
    if lease.status == "waiting":
        waited = now - lease.submitted_at
        if not lease.parked and unserved and waited > policy.park_after:
            return Problem.NO_CONSUMERS, f"no live worker of agent {lease.agent!r}"
        return None, ""
    worker = workers.get(lease.instance)
    if worker is not None and worker.stopping:
        # A clean stop (its last heartbeat said so) hands its tasks back uncommitted:
        # Kafka re-delivers them to the next owner. Not lost; parked if no one is left.
        if unserved and now - worker.last_seen > policy.park_after and not lease.parked:
            why = f"its worker {lease.instance} stopped; no live worker of {lease.agent!r}"
            return Problem.NO_CONSUMERS, why
        return None, ""
    if worker is not None and not worker.alive(now, policy.missed_beats):
        if lease.lost_at is None:
            silent = worker.silent_for(now)
            return Problem.WORKER_LOST, f"worker {lease.instance} silent for {silent:.1f} s"
        if now - lease.lost_at > policy.orphan_grace:
            return (
                Problem.ORPHANED,
                f"not restarted {policy.orphan_grace:g} s after its worker died",
            )
        return None, ""
    idle = now - lease.last_activity
    if idle > policy.lease:
        if lease.redispatches >= policy.max_redispatches:
            problem = _WHEN_EXHAUSTED[policy.when_exhausted]
            return problem, f"no activity for {idle:.1f} s after {lease.redispatches} redispatches"
        return Problem.STUCK, f"no activity for {idle:.1f} s (lease {policy.lease:g} s)"
    return None, ""
