"""The supervisor's rules on plain records: how events move a lease, and what it finds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mesh.errors import SettingsError
from mesh.supervision._actions import actions_for
from mesh.supervision._circuits import Health, circuit_state, record_outcome
from mesh.supervision._status import snapshot
from mesh.supervision._tracking import (
    Finding,
    Problem,
    TaskLease,
    WorkerSeen,
    apply_event,
    findings,
)
from mesh.supervision.policy import Policies, SupervisionPolicy
from mesh.topics import Topics
from schemas import Source
from schemas.tasks import EventKind, TaskEvent, TaskStatus

POLICIES = Policies(
    default=SupervisionPolicy(lease=10, missed_beats=3, orphan_grace=5, park_after=2)
)


def _event(kind: EventKind, at: float, **fields: object) -> TaskEvent:
    status = fields.pop("status", TaskStatus.RUNNING)
    return TaskEvent(
        kind=kind,
        agent="worker",
        status=status,  # type: ignore[arg-type]
        at=datetime.fromtimestamp(at, UTC),
        **fields,  # type: ignore[arg-type]
    )


def _lease(**fields: object) -> TaskLease:
    base: dict[str, object] = {
        "agent": "worker",
        "status": "running",
        "instance": "w1",
        "submitted_at": 0.0,
        "last_activity": 100.0,
    }
    return TaskLease(**{**base, **fields})  # type: ignore[arg-type]


def _worker(last_seen: float, **fields: object) -> WorkerSeen:
    base: dict[str, object] = {"agent": "worker", "host": "h", "interval": 1.0, "inflight": 1}
    return WorkerSeen(last_seen=last_seen, **{**base, **fields})  # type: ignore[arg-type]


def test_events_move_a_lease_from_submission_to_its_end() -> None:
    submitted = _event(EventKind.SUBMITTED, 1, status=TaskStatus.SUBMITTED)
    lease = apply_event(None, submitted, "p", "boss")
    assert lease is not None and lease.status == "waiting" and lease.parent == "p"
    assert lease.parent_agent == "boss"
    lease = apply_event(lease, _event(EventKind.STARTED, 2, instance="w1", attempt=1), None)
    assert lease is not None and (lease.status, lease.instance, lease.last_activity) == (
        "running",
        "w1",
        2,
    )
    lease = apply_event(lease, _event(EventKind.PROGRESS, 7), None)
    assert lease is not None and lease.last_activity == 7
    lease = apply_event(lease, _event(EventKind.REDISPATCHED, 9, attempt=2), None)
    assert lease is not None and (lease.attempt, lease.redispatches) == (2, 1)
    ended = _event(EventKind.SUCCEEDED, 10, status=TaskStatus.SUCCEEDED)
    assert apply_event(lease, ended, None) is None
    assert apply_event(None, _event(EventKind.PROGRESS, 3), None) is None  # never seen


def test_a_redispatch_read_again_after_a_rebalance_counts_once() -> None:
    """The stream is read again from the committed offsets after a rebalance (ADR 059),
    and the lease restored from the changelog may have folded a redispatch already."""
    lease = apply_event(None, _event(EventKind.SUBMITTED, 1, status=TaskStatus.SUBMITTED), None)
    lease = apply_event(lease, _event(EventKind.STARTED, 2, instance="w1", attempt=1), None)
    redispatched = _event(EventKind.REDISPATCHED, 9, attempt=2)
    once = apply_event(lease, redispatched, None)
    assert once is not None and (once.attempt, once.redispatches) == (2, 1)
    assert apply_event(once, redispatched, None) == once
    # Its new attempt may be read before the supervisor's own record of the redispatch.
    started = apply_event(lease, _event(EventKind.STARTED, 10, instance="w1", attempt=2), None)
    late = apply_event(started, redispatched, None)
    assert late is not None and (late.attempt, late.redispatches, late.last_activity) == (2, 1, 10)
    again = apply_event(late, _event(EventKind.REDISPATCHED, 20, attempt=3), None)
    assert again is not None and (again.attempt, again.redispatches) == (3, 2)
    # An earlier attempt's start read again changes nothing: not its time, not its worker.
    stale = _event(EventKind.STARTED, 2, instance="w0", attempt=1)
    assert apply_event(again, stale, None) == again


def test_a_quiet_task_is_stuck_then_given_up() -> None:
    workers = {"w1": _worker(last_seen=115)}
    assert findings(105, [("t", _lease())], workers, POLICIES) == []
    [stuck] = findings(115, [("t", _lease())], workers, POLICIES)
    assert stuck.problem is Problem.STUCK
    [gave_up] = findings(115, [("t", _lease(redispatches=2))], workers, POLICIES)
    assert gave_up.problem is Problem.GAVE_UP
    escalating = POLICIES.overridden({"default": {"when_exhausted": "escalate"}})
    [escalate] = findings(115, [("t", _lease(redispatches=2))], workers, escalating)
    assert escalate.problem is Problem.ESCALATE
    failing = POLICIES.overridden({"default": {"when_exhausted": "fail"}})
    [fail] = findings(115, [("t", _lease(redispatches=2))], workers, failing)
    topics, source = Topics("ns"), Source(agent="supervisor", instance="s1")
    event, order = actions_for(fail, topics, source)
    assert event.envelope.payload["error"]["type"] == "SupervisorGaveUp"
    assert order.envelope.payload == {"reason": f"fail: {fail.reason}", "fail": True}


def test_a_silent_worker_is_lost_then_its_task_orphaned() -> None:
    workers = {"w1": _worker(last_seen=100)}
    [lost] = findings(104, [("t", _lease())], workers, POLICIES)
    assert lost.problem is Problem.WORKER_LOST
    assert findings(106, [("t", _lease(lost_at=104))], workers, POLICIES) == []
    [orphaned] = findings(110, [("t", _lease(lost_at=104))], workers, POLICIES)
    assert orphaned.problem is Problem.ORPHANED


def test_a_cleanly_stopped_worker_is_not_lost_and_leaves_the_status() -> None:
    """Its last heartbeat says `stopping`: its tasks were handed back for the next
    owner (parked when no worker of the type is left), and the status drops it."""
    stopped = {"w1": _worker(last_seen=103.5, stopping=True)}
    others = {**stopped, "w2": _worker(last_seen=103.5)}
    assert findings(104, [("t", _lease())], others, POLICIES) == []
    assert findings(105, [("t", _lease())], stopped, POLICIES) == []  # within park_after
    [parked] = findings(106, [("t", _lease())], stopped, POLICIES)
    assert parked.problem is Problem.NO_CONSUMERS and "stopped" in parked.reason
    assert findings(107, [("t", _lease(parked=True))], stopped, POLICIES) == []

    vanished = {"w3": _worker(last_seen=0.0), "w4": _worker(last_seen=400.0)}
    status = snapshot(
        instance="s",
        host="h",
        now=500.0,
        workers={**others, **vanished},
        tracked=0,
        at_risk=[],
        policies=POLICIES,
        recent=[],
    )
    assert [(w.instance, w.alive) for w in status.workers] == [("w4", False)]


def test_deadlines_and_missing_consumers() -> None:
    late = _lease(deadline=50.0, parent="p", parent_agent="boss")
    alive = {"w1": _worker(last_seen=103.5)}
    assert findings(104, [("t", late)], alive, POLICIES)[0].problem is Problem.DEADLINE
    [expired] = findings(104, [("t", late)], {}, POLICIES)  # nobody to cancel it
    assert expired.problem is Problem.EXPIRED
    event, told = actions_for(expired, Topics("ns"), Source(agent="supervisor", instance="s"))
    assert event.envelope.payload["kind"] == "expired"
    assert told.topic == Topics("ns").inbox("boss") and told.key == "p"
    assert told.envelope.payload["error"]["type"] == "DeadlineExceeded"
    assert told.envelope.source is not None and told.envelope.source.agent == "worker"
    marked = apply_event(late, _event(EventKind.EXPIRED, 104), None)
    assert marked is not None and findings(105, [("t", marked)], {}, POLICIES) == []
    waiting = _lease(status="waiting", instance="", submitted_at=100.0)
    [parked] = findings(103, [("t", waiting)], {}, POLICIES)
    assert parked.problem is Problem.NO_CONSUMERS
    assert findings(103, [("t", waiting.model_copy(update={"parked": True}))], {}, POLICIES) == []
    assert findings(103, [("t", waiting)], {"w1": _worker(last_seen=102.5)}, POLICIES) == []


def test_a_paused_types_tasks_wait_without_being_parked_but_their_deadline_counts() -> None:
    """ADR 039: a paused type's waiting tasks are no fault, even with no worker left."""
    paused = frozenset({"worker"})
    waiting = _lease(status="waiting", instance="", submitted_at=100.0)
    assert findings(103, [("t", waiting)], {}, POLICIES, paused) == []
    stopped = {"w1": _worker(last_seen=103.5, stopping=True)}
    assert findings(106, [("t", _lease())], stopped, POLICIES, paused) == []
    late = _lease(status="waiting", deadline=50.0, parent="p", parent_agent="boss")
    [expired] = findings(104, [("t", late)], {}, POLICIES, paused)
    assert expired.problem is Problem.EXPIRED
    status = snapshot(
        instance="s",
        host="h",
        now=104.0,
        workers={},
        tracked=1,
        at_risk=[],
        policies=POLICIES,
        recent=[],
        paused=paused,
    )
    assert status.paused == ["worker"]


def test_actions_publish_an_event_and_a_control_message() -> None:
    topics, source = Topics("ns"), Source(agent="supervisor", instance="s1")
    stuck = Finding("t", Problem.STUCK, _lease(attempt=1), "quiet")
    event, order = actions_for(stuck, topics, source)
    assert event.topic == topics.task_events and event.envelope.payload["kind"] == "redispatched"
    assert order.topic == topics.inbox("worker") and order.envelope.payload["attempt"] == 2
    again = actions_for(stuck, topics, source)[0]
    assert again.envelope.id == event.envelope.id  # a repeat writes the same event
    assert order.envelope.payload["ask_human"] is None
    escalate = actions_for(Finding("t", Problem.ESCALATE, _lease(), "quiet"), topics, source)
    assert "resume to run it again" in escalate[1].envelope.payload["ask_human"]
    lost = actions_for(Finding("t", Problem.WORKER_LOST, _lease(), "silent"), topics, source)
    assert [a.envelope.payload["kind"] for a in lost] == ["worker_lost"]


def test_policy_overrides_are_validated() -> None:
    policies = POLICIES.overridden({"default": {"lease": 5}, "triage": {"missed_beats": 5}})
    assert policies.for_agent("x").lease == 5
    assert policies.for_agent("triage").missed_beats == 5
    assert policies.for_agent("triage").lease == 5
    with pytest.raises(SettingsError, match="MESH_SUPERVISION_POLICIES"):
        POLICIES.overridden({"triage": {"leese": 5}})


def test_a_circuit_opens_on_failures_probes_after_its_cooldown_and_closes() -> None:
    policy = SupervisionPolicy(min_outcomes=4, failure_ratio=0.5, window=60, cooldown=5)
    health = Health()
    for at, ok in ((1, True), (2, False), (3, False)):
        health, changed = record_outcome(health, at, ok, policy)
        assert changed is None  # fewer than min_outcomes
    health, changed = record_outcome(health, 4, False, policy)
    assert changed == "open" and health.effective(6, policy) == "open"
    health, changed = record_outcome(health, 7, False, policy)  # a straggler: stays open
    assert changed is None and health.effective(9.5, policy) == "half_open"
    reopened, changed = record_outcome(health, 10, False, policy)  # the probe failed
    assert changed == "open" and reopened.effective(12, policy) == "open"
    closed, changed = record_outcome(health, 10, True, policy)  # the probe succeeded
    assert changed == "closed" and closed.effective(10, policy) == "closed"
    state = circuit_state("flaky", reopened, 12, policy.model_copy(update={"fallback": "steady"}))
    assert (state.state, state.fallback) == ("open", "steady")


def test_old_outcomes_leave_the_window() -> None:
    policy = SupervisionPolicy(min_outcomes=2, failure_ratio=0.5, window=10)
    health, _ = record_outcome(Health(), 0, False, policy)
    health, changed = record_outcome(health, 20, False, policy)  # the first is too old
    assert changed is None and len(health.outcomes) == 1


def test_an_expired_approval_hands_the_task_back_to_its_lease() -> None:
    """While it waits for an approval the supervisor leaves it alone; once the approval
    expires the task runs on and its lease counts again (ADR 027)."""
    waiting = apply_event(_lease(), _event(EventKind.WAITING, 200, status=TaskStatus.WAITING), None)
    assert waiting is not None and waiting.status == "escalated"
    expired = apply_event(waiting, _event(EventKind.APPROVAL_EXPIRED, 90_000), None)
    assert expired is not None and expired.status == "running"
    assert expired.last_activity == 90_000
