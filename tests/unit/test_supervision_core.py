"""The supervisor's core driven directly: records in, records to publish out.

No broker and no faust: the tables are dicts, heartbeats and task events are the
bytes the topics would carry, and every check or report is given its time.
"""

from __future__ import annotations

from datetime import UTC, datetime

from mesh.supervision._records import WATERMARK_PATIENCE
from mesh.supervision.core import RESEND_AFTER, Publish, Supervisor
from mesh.supervision.policy import Policies, SupervisionPolicy
from mesh.topics import Topics
from schemas import Envelope, Source, encode_envelope
from schemas.supervision import CIRCUIT_STATE, HEARTBEAT, SUPERVISOR_STATUS, Heartbeat
from schemas.tasks import CANCEL, REDISPATCH, TASK_EVENT, EventKind, TaskEvent, TaskStatus

TOPICS = Topics("ns")
POLICIES = Policies(
    default=SupervisionPolicy(
        lease=10, missed_beats=3, orphan_grace=5, park_after=2, min_outcomes=4, cooldown=5
    )
)
T0 = 1_000_000.0


def _supervisor() -> Supervisor:
    return Supervisor(
        instance="s1",
        host="h",
        topics=TOPICS,
        policies=POLICIES,
        leases={},
        workers={},
        health={},
    )


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, UTC)


def _task_event(
    task_id: str,
    kind: EventKind,
    at: float,
    status: TaskStatus = TaskStatus.RUNNING,
    **fields: object,
) -> bytes:
    event = TaskEvent(kind=kind, agent="worker", status=status, at=_at(at), **fields)  # type: ignore[arg-type]
    envelope = Envelope(
        type=TASK_EVENT,
        task_id=task_id,
        source=Source(agent="caller", instance="c1"),
        payload=event.model_dump(mode="json", exclude_none=True),
    )
    return encode_envelope(envelope)


def _heartbeat(
    supervisor: Supervisor, instance: str, at: float, *, inflight: int = 1, partition: int = 0
) -> None:
    beat = Heartbeat(
        instance=instance,
        agent="worker",
        host="h",
        pid=1,
        at=_at(at),
        interval=1.0,
        inflight=inflight,
    )
    envelope = Envelope(type=HEARTBEAT, payload=beat.model_dump(mode="json"))
    supervisor.track_worker(instance.encode(), encode_envelope(envelope), partition)


def _watermark(supervisor: Supervisor, at: float, partition: int = 0) -> None:
    """A supervisor's mark read back from `partition` of the heartbeats (every 1 s)."""
    supervisor._marked_at = 0.0  # due at once
    mark = supervisor.heartbeat_watermark(T0 + at, busy=1.0, idle=5.0)
    assert mark is not None
    supervisor.track_worker(b"s1", encode_envelope(mark), partition)


def _running(supervisor: Supervisor, task_id: str, at: float, instance: str = "w1") -> None:
    submitted = _task_event(task_id, EventKind.SUBMITTED, at, TaskStatus.SUBMITTED)
    supervisor.track_task(task_id.encode(), submitted)
    started = _task_event(task_id, EventKind.STARTED, at, instance=instance, attempt=1)
    supervisor.track_task(task_id.encode(), started)


def _kinds(published: list[Publish]) -> list[tuple[str, str]]:
    return [
        (r.topic, str(r.envelope.payload.get("kind", r.envelope.type)))
        for r in published
        if r.envelope.type in (TASK_EVENT, REDISPATCH, CANCEL)
    ]


def test_a_dead_workers_task_is_reported_then_redispatched_to_its_agent_type() -> None:
    supervisor = _supervisor()
    _heartbeat(supervisor, "w1", 0)
    _running(supervisor, "t1", 0)
    assert supervisor.check(T0 + 2) == []  # w1 beat 2 s ago: alive

    lost = supervisor.check(T0 + 4)  # silent for more than 3 beats
    assert _kinds(lost) == [(TOPICS.task_events, "worker_lost")]
    assert lost[0].routed and lost[0].key == "t1"
    # Its own event, read back from the topic (stamped at 4 s here: the action's
    # record carries the wall clock's time).
    supervisor.track_task(b"t1", _task_event("t1", EventKind.WORKER_LOST, 4))
    assert supervisor.check(T0 + 6) == []  # within the orphan grace

    rerouted = supervisor.check(T0 + 10)
    assert _kinds(rerouted) == [
        (TOPICS.task_events, "redispatched"),
        (TOPICS.inbox("worker"), REDISPATCH),
    ]
    order = rerouted[1]
    assert order.key == "t1" and order.envelope.payload["attempt"] == 2
    assert [a.problem for a in supervisor.recent] == ["worker_lost", "orphaned"]


def test_a_stuck_task_is_redispatched_once_per_resend_window_then_cancelled() -> None:
    supervisor = _supervisor()
    _running(supervisor, "t1", 0)
    _heartbeat(supervisor, "w1", 11)
    progress = _task_event("t1", EventKind.PROGRESS, 5)
    supervisor.track_task(b"t1", progress)  # progress extends the lease
    assert supervisor.check(T0 + 12) == []

    _heartbeat(supervisor, "w1", 16)
    stuck = supervisor.check(T0 + 16)
    assert _kinds(stuck) == [
        (TOPICS.task_events, "redispatched"),
        (TOPICS.inbox("worker"), REDISPATCH),
    ]
    assert supervisor.check(T0 + 16.5) == []  # acted on already
    _heartbeat(supervisor, "w1", 16 + RESEND_AFTER)
    assert supervisor.check(T0 + 16 + RESEND_AFTER)[0].envelope.id == stuck[0].envelope.id

    # Stuck again after every redispatch the policy allows: the task is cancelled.
    for attempt in (2, 3):
        again = _task_event("t1", EventKind.REDISPATCHED, 20, attempt=attempt)
        supervisor.track_task(b"t1", again)
    _heartbeat(supervisor, "w1", 40)
    gave_up = supervisor.check(T0 + 40)
    assert _kinds(gave_up) == [
        (TOPICS.task_events, "cancel_requested"),
        (TOPICS.inbox("worker"), CANCEL),
    ]
    assert supervisor.latest[0].problem == "gave_up"


def test_an_ended_task_is_no_longer_tracked_and_a_poison_record_is_skipped() -> None:
    supervisor = _supervisor()
    _running(supervisor, "t1", 0)
    _running(supervisor, "t2", 0)
    supervisor.track_task(b"t2", b"not json")  # a poison record: skipped, nothing breaks
    supervisor.track_task(b"t2", encode_envelope(Envelope(type=TASK_EVENT, payload={"kind": 1})))
    supervisor.track_worker(b"w9", b"\xff")
    supervisor.track_task(b"t1", _task_event("t1", EventKind.SUCCEEDED, 1, TaskStatus.SUCCEEDED))
    assert set(supervisor.leases) == {b"t2"}
    # t1 started and ended between two flushes: its lease never reaches the changelog
    assert [w.key for w in supervisor.flush().leases] == [b"t2"]
    _heartbeat(supervisor, "w1", 1, inflight=1)
    [status] = supervisor.report(T0 + 2)[-1:]
    assert status.topic == TOPICS.supervisor_status and status.envelope.type == SUPERVISOR_STATUS
    assert status.envelope.payload["tasks_tracked"] == 1


def _outcome(supervisor: Supervisor, event: bytes, now: float) -> list[Publish]:
    """A task event through the supervisor: its outcome, regrouped, into the health."""
    supervisor.track_task(b"t", event)
    return [
        published
        for outcomes in supervisor.flush().outcomes
        for published in supervisor.track_outcomes(*outcomes, now)
    ]


def test_an_unhealthy_agent_types_circuit_opens_then_probes_after_its_cooldown() -> None:
    supervisor = _supervisor()
    failed = _task_event("t", EventKind.FAILED, 0, TaskStatus.FAILED)
    ok = _task_event("t", EventKind.SUCCEEDED, 0, TaskStatus.SUCCEEDED)
    assert _outcome(supervisor, ok, T0) == []
    for _ in range(2):
        assert _outcome(supervisor, failed, T0) == []  # under min_outcomes
    progress = _task_event("t", EventKind.PROGRESS, 0)
    assert _outcome(supervisor, progress, T0) == []  # not an outcome
    assert supervisor.track_outcomes(b"worker", b"not json", T0) == []  # skipped

    [opened] = _outcome(supervisor, failed, T0 + 1)
    assert (opened.topic, opened.key, opened.envelope.type) == (
        TOPICS.circuits,
        "worker",
        CIRCUIT_STATE,
    )
    assert opened.envelope.payload["state"] == "open" and not opened.routed
    assert supervisor.check(T0 + 3) == []  # cooling down

    [probe] = supervisor.check(T0 + 6)
    assert probe.envelope.payload["state"] == "half_open"
    assert supervisor.check(T0 + 7) == []  # announced once
    [closed] = _outcome(
        supervisor, _task_event("t", EventKind.SUCCEEDED, 8, TaskStatus.SUCCEEDED), T0 + 8
    )
    assert closed.envelope.payload["state"] == "closed"


def test_the_report_publishes_live_counts_when_they_change() -> None:
    supervisor = _supervisor()
    _heartbeat(supervisor, "w1", 0)
    first = supervisor.report(T0 + 1)
    assert [(r.topic, r.key) for r in first] == [
        (TOPICS.agent_liveness, "worker"),
        (TOPICS.supervisor_status, "s1"),
    ]
    assert first[0].envelope.payload["live"] == 1
    assert [r.topic for r in supervisor.report(T0 + 2)] == [TOPICS.supervisor_status]
    [gone, _] = supervisor.report(T0 + 10)  # w1 missed its beats
    assert gone.envelope.payload["live"] == 0


def _lost(supervisor: Supervisor, now: float) -> set[str]:
    """The tasks whose worker `check` finds lost at `now`."""
    supervisor.check(T0 + now)
    return {f.task_id for f in supervisor.latest if f.problem == "worker_lost"}


def test_a_worker_is_judged_silent_only_up_to_where_its_heartbeats_were_read() -> None:
    """The supervisors' reading of the heartbeats lags (busy, or a dead instance's
    partitions not yet taken over): beats written are not yet read, so the worker is
    not lost; once the reading is up to date, a silent worker is."""
    supervisor = _supervisor()
    _heartbeat(supervisor, "w1", 0, partition=0)
    _heartbeat(supervisor, "w2", 0, partition=1)
    _running(supervisor, "t1", 0, instance="w1")
    _running(supervisor, "t2", 0, instance="w2")
    _watermark(supervisor, 0, partition=0)  # partition 0 read to 0 s, then nothing
    _watermark(supervisor, 9, partition=1)  # partition 1 read to 9 s: w2 is silent
    assert _lost(supervisor, 10) == {"t2"}
    status = supervisor.report(T0 + 10)[-1].envelope.payload
    assert {w["instance"]: w["alive"] for w in status["workers"]} == {"w1": True, "w2": False}

    _watermark(supervisor, 9, partition=0)  # partition 0 read to 9 s: w1 is silent too
    assert _lost(supervisor, 10) == {"t1", "t2"}


def test_the_newest_watermark_counts_and_a_stale_one_leaves_judgement_to_the_clock() -> None:
    supervisor = _supervisor()
    _heartbeat(supervisor, "w1", 0)
    _running(supervisor, "t1", 0)
    _watermark(supervisor, 0)
    assert _lost(supervisor, 10) == set()  # read to 1 s: silent for 1 s of it
    _watermark(supervisor, 5)
    _watermark(supervisor, 1)  # another supervisor's, read after: the newer one stays
    assert _lost(supervisor, 10) == {"t1"}  # read to 6 s: silent for 6 s

    stale = _supervisor()
    _heartbeat(stale, "w1", 0)
    _running(stale, "t1", 0)
    _watermark(stale, 0)  # and none since: nobody writes them, or the reading is stuck
    assert _lost(stale, 1 + WATERMARK_PATIENCE - 1) == set()
    assert _lost(stale, 1 + WATERMARK_PATIENCE + 1) == {"t1"}  # the clock rules again


def test_watermarks_are_written_each_liveness_interval_while_tasks_are_tracked() -> None:
    supervisor = _supervisor()
    assert supervisor.heartbeat_watermark(T0, busy=1.0, idle=5.0) is not None
    assert supervisor.heartbeat_watermark(T0 + 1, busy=1.0, idle=5.0) is None  # idle: 5 s
    mark = supervisor.heartbeat_watermark(T0 + 5, busy=1.0, idle=5.0)
    assert mark is not None and mark.payload["interval"] == 5.0
    _running(supervisor, "t1", 5)
    mark = supervisor.heartbeat_watermark(T0 + 6, busy=1.0, idle=5.0)
    assert mark is not None and mark.payload["interval"] == 1.0
