"""The supervisor's status snapshot: what `mesh supervisor status` shows."""

from __future__ import annotations

from collections.abc import Sequence

from mesh.supervision._tracking import Finding, WorkerSeen
from mesh.supervision.policy import Policies
from schemas.supervision import AtRisk, RecentAction, SupervisorStatus, WorkerStatus

_AT_RISK_SHOWN = 50
# A worker that vanished without a last heartbeat shows as dead this many of its
# heartbeat intervals (at least `_FORGET_AFTER_MIN` s), then ages out of the status.
_FORGET_AFTER_BEATS = 60
_FORGET_AFTER_MIN = 300.0


def snapshot(
    *,
    instance: str,
    host: str,
    now: float,
    workers: dict[str, WorkerSeen],
    tracked: int,
    at_risk: Sequence[Finding],
    policies: Policies,
    recent: Sequence[RecentAction],
    paused: frozenset[str] = frozenset(),
) -> SupervisorStatus:
    """`at_risk`: the findings of the instance's latest check (not judged again here)."""
    rows = []
    live: dict[str, int] = {}
    for name, seen in sorted(workers.items()):
        live.setdefault(seen.agent, 0)  # an agent type whose workers all left: 0
        if not _shown(seen, now):
            continue
        alive = seen.alive(now, policies.for_agent(seen.agent).missed_beats)
        live[seen.agent] = live.get(seen.agent, 0) + int(alive)
        rows.append(
            WorkerStatus(
                instance=name,
                agent=seen.agent,
                host=seen.host,
                alive=alive,
                seconds_since_heartbeat=round(now - seen.last_seen, 1),
                inflight=seen.inflight,
            )
        )
    return SupervisorStatus(
        instance=instance,
        host=host,
        at=now,
        workers=rows,
        live_by_agent=live,
        tasks_tracked=tracked,
        at_risk=[
            AtRisk(task_id=f.task_id, agent=f.lease.agent, problem=str(f.problem), reason=f.reason)
            for f in at_risk[:_AT_RISK_SHOWN]
        ],
        recent_actions=list(recent)[-20:],
        paused=sorted(paused),
    )


def _shown(seen: WorkerSeen, now: float) -> bool:
    """A cleanly stopped worker leaves the status at once; a vanished one ages out."""
    forget_after = max(seen.interval * _FORGET_AFTER_BEATS, _FORGET_AFTER_MIN)
    return not seen.stopping and now - seen.last_seen <= forget_after
