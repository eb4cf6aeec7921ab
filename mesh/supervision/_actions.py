"""What the supervisor does about a finding: the records to publish.

Every action is an event on the task-events topic, so a task's history explains it;
most also send a control message to the agent's inbox (keyed by the task id, so it
reaches the worker that holds the task). Event ids are derived from the task, the
problem and the attempt: a supervisor that takes over a dead one's partitions and
repeats an action writes the same event again, and a worker ignores a redispatch to
an attempt it has already reached.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from mesh.supervision._tracking import Finding, Problem
from mesh.topics import Topics
from schemas import Envelope, Source
from schemas.envelope import utc_now
from schemas.tasks import (
    CANCEL,
    DEADLINE_EXCEEDED,
    GAVE_UP,
    REDISPATCH,
    RESULT,
    TASK_EVENT,
    Cancel,
    EventKind,
    Redispatch,
    TaskError,
    TaskEvent,
    TaskOutcome,
    TaskStatus,
)

_ACTION_EVENTS = uuid.UUID("9e0f6f2b-6a53-4d8f-bf2c-51d0a7e3c5a4")


@dataclass(frozen=True)
class Action:
    """One record to publish: a topic, its key and the envelope."""

    topic: str
    key: str
    envelope: Envelope


def actions_for(finding: Finding, topics: Topics, source: Source) -> list[Action]:
    lease, problem = finding.lease, finding.problem
    inbox = topics.inbox(lease.agent)
    if problem is Problem.WORKER_LOST:
        return [_event(finding, EventKind.WORKER_LOST, "WorkerLost", topics, source)]
    if problem is Problem.NO_CONSUMERS:
        return [_event(finding, EventKind.PARKED, "NoConsumers", topics, source)]
    if problem in (Problem.STUCK, Problem.ORPHANED, Problem.ESCALATE):
        attempt = lease.attempt + 1
        reason = f"{problem}: {finding.reason}"
        order = Redispatch(
            attempt=attempt,
            reason=reason,
            ask_human=f"{reason}; resume to run it again, or cancel it"
            if problem is Problem.ESCALATE
            else None,
        )
        return [
            _event(finding, EventKind.REDISPATCHED, problem.title(), topics, source, attempt),
            _control(finding, REDISPATCH, order.model_dump(), inbox, source),
        ]
    if problem is Problem.EXPIRED:  # no worker to end it: the parent must not wait on;
        # a worker that reads the request later fails it unrun (its deadline has passed)
        return [
            _event(finding, EventKind.EXPIRED, DEADLINE_EXCEEDED, topics, source),
            *_tell_parent(finding, topics, source),
        ]
    # DEADLINE, GAVE_UP, FAIL: the worker ends the task (cancelled, or failed for FAIL)
    # and cancels its children, and tells the parent
    end = Cancel(reason=f"{problem}: {finding.reason}", fail=problem is Problem.FAIL)
    error_type = {Problem.DEADLINE: "Deadline", Problem.FAIL: GAVE_UP}.get(problem, "GaveUp")
    return [
        _event(finding, EventKind.CANCEL_REQUESTED, error_type, topics, source),
        _control(finding, CANCEL, end.model_dump(), inbox, source),
    ]


def _event(
    finding: Finding,
    kind: EventKind,
    error_type: str,
    topics: Topics,
    source: Source,
    attempt: int | None = None,
) -> Action:
    lease = finding.lease
    event = TaskEvent(
        kind=kind,
        agent=lease.agent,
        status=TaskStatus.RUNNING if lease.status == "running" else TaskStatus.SUBMITTED,
        at=utc_now(),
        instance=source.instance,
        error=TaskError(type=error_type, message=finding.reason),
        attempt=attempt or lease.attempt,
    )
    name = f"{finding.task_id}:{finding.problem}:{lease.attempt}"
    envelope = Envelope(
        id=uuid.uuid5(_ACTION_EVENTS, name).hex,
        type=TASK_EVENT,
        task_id=finding.task_id,
        parent_task_id=lease.parent,
        source=source,
        payload=event.model_dump(mode="json", exclude_none=True),
    )
    return Action(topics.task_events, finding.task_id, envelope)


def _tell_parent(finding: Finding, topics: Topics, source: Source) -> list[Action]:
    """The task's outcome (failed: past its deadline) for its parent's inbox, as its
    worker would send it; a worker that runs the task later sends the same outcome."""
    lease = finding.lease
    if lease.parent is None or lease.parent_agent is None:
        return []
    error = TaskError(type=DEADLINE_EXCEEDED, message=f"expired: {finding.reason}")
    outcome = TaskOutcome(status=TaskStatus.FAILED, error=error)
    envelope = Envelope(
        type=RESULT,
        task_id=finding.task_id,
        parent_task_id=lease.parent,
        # the child's agent, as in a worker's reply: the parent's journal records it
        source=Source(agent=lease.agent, instance=source.instance),
        payload=outcome.model_dump(mode="json", exclude_none=True),
    )
    return [Action(topics.inbox(lease.parent_agent), lease.parent, envelope)]


def _control(
    finding: Finding, type_: str, payload: dict[str, object], inbox: str, source: Source
) -> Action:
    envelope = Envelope(
        type=type_,
        task_id=finding.task_id,
        parent_task_id=finding.lease.parent,
        source=source,
        payload=payload,
    )
    return Action(inbox, finding.task_id, envelope)
