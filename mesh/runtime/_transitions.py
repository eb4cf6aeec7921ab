"""One transition of a task: the state it leads to and the event it makes.

Every task makes at least two (`started`, then how it ended) and a first state. Their
values are the runtime's own or models validated already (the request, an error, a
progress entry), so they are built without a pydantic validation each (ADR 057):
a dict of every field in the fields' order, which pydantic-core serializes exactly
as the validated model (it writes a model's dict in the dict's order), made an
instance by `trusted` or laid out small by `with_values`
(mesh/runtime/_compact_models.py). A unit test checks each kind of transition
against validation: equal models, the same bytes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mesh.runtime._compact_models import NO_ITEMS, defaults_of, prime, trusted, with_values
from schemas import Envelope
from schemas.envelope import utc_now
from schemas.tasks import (
    EventKind,
    ProgressEntry,
    Steer,
    TaskError,
    TaskEvent,
    TaskState,
    TaskStatus,
)

_STATUS_OF = {
    EventKind.SUBMITTED: TaskStatus.SUBMITTED,
    EventKind.STARTED: TaskStatus.RUNNING,
    EventKind.RETRY_SCHEDULED: TaskStatus.RETRYING,
    EventKind.WAITING: TaskStatus.WAITING,
    EventKind.RESUMED: TaskStatus.RUNNING,
    EventKind.APPROVAL_EXPIRED: TaskStatus.RUNNING,
    EventKind.SUCCEEDED: TaskStatus.SUCCEEDED,
    EventKind.FAILED: TaskStatus.FAILED,
    EventKind.CANCELLED: TaskStatus.CANCELLED,
    EventKind.DEAD_LETTERED: TaskStatus.DEAD_LETTERED,
    EventKind.REPLAYED: TaskStatus.SUBMITTED,
}
_CARRIES_DEADLINE = frozenset({EventKind.SUBMITTED, EventKind.STARTED})
_ENDS_APPROVAL_WAIT = frozenset(
    {EventKind.WAITING, EventKind.RESUMED, EventKind.APPROVAL_EXPIRED, EventKind.STARTED}
)
_ALL_STATE_FIELDS = set(TaskState.model_fields)
_STATE_DEFAULTS = defaults_of(TaskState)
_ALL_EVENT_FIELDS = set(TaskEvent.model_fields)
_EVENT_DEFAULTS = defaults_of(TaskEvent)
prime(TaskState)  # before the first state is made (mesh/runtime/_compact_models.py)


def submitted_state(
    request: Envelope, agent: str, *, trace_id: str | None = None, shared: bool = False
) -> TaskState:
    """The first state of the task that `request` asks `agent` to run (in the trace
    `trace_id`, when it is traced), from the validated request's values. `shared`: as
    `share_parts` leaves it, without making what it would replace."""
    assert request.task_id is not None, "a task request carries its task id"
    values = _STATE_DEFAULTS.copy()  # every field, in the fields' order
    values["task_id"] = request.task_id
    values["agent"] = agent
    values["type"] = request.type
    values["version"] = request.version
    values["status"] = TaskStatus.SUBMITTED
    values["parent_task_id"] = request.parent_task_id
    values["root_task_id"] = request.root_task_id or request.task_id
    values["correlation_id"] = request.correlation_id
    values["idempotency_key"] = request.idempotency_key
    if shared:  # (see `share_parts`)
        values["input"] = request.payload
        values["progress"] = values["children"] = values["usage"] = NO_ITEMS
    else:
        values["input"] = dict(request.payload)  # validation would copy it too
        values["progress"], values["children"], values["usage"] = [], [], []
    values["attempt"] = request.attempt
    values["deadline"] = request.deadline
    values["trace_id"] = trace_id
    values["priority"] = request.priority
    values["budget"] = request.budget
    values["tenant"] = request.tenant
    values["created_at"] = request.created_at  # retries keep the first request's time
    values["updated_at"] = utc_now()
    return trusted(TaskState, values, _ALL_STATE_FIELDS)


def share_parts(state: TaskState, request: Envelope) -> TaskState:
    """`state`, fresh from `submitted_state(request, ...)`, holding what it can share
    while its task waits (ADR 049): `request.payload` is its input's equal; and one
    empty list serves for its three (never changed: a transition makes a new list).
    Every later state of the task carries these on."""
    values = state.__dict__
    values["input"] = request.payload
    values["progress"] = values["children"] = values["usage"] = NO_ITEMS
    return state


def next_state(
    state: TaskState,
    kind: EventKind,
    now: datetime,
    instance: str,
    max_progress: int,
    progress: ProgressEntry | None = None,
    child: tuple[str, str] | None = None,
    result: dict[str, Any] | None = None,
    error: TaskError | None = None,
    waiting_for: str | None = None,
    held: str | None = None,
) -> TaskState:
    """The state `kind` moves `state` to, at `now`, on `instance` (keeping the last
    `max_progress` progress entries)."""
    changes: dict[str, Any] = {"updated_at": now, "instance": instance}
    if kind is EventKind.HELD or state.held is not None:
        changes["held"] = held  # set while held back, cleared by the next transition
    status = _STATUS_OF.get(kind)
    if status is not None:
        changes["status"] = status
        if status.is_terminal:
            changes["finished_at"] = now
    if kind is EventKind.STARTED:
        changes["started_at"] = now
    if kind in (EventKind.WAITING, EventKind.RESUMED, EventKind.APPROVAL_EXPIRED):
        changes["waiting_for"] = waiting_for  # set while waiting, cleared on resume
    ended = status is not None and status.is_terminal
    if state.approval is not None and (kind in _ENDS_APPROVAL_WAIT or ended):
        changes["approval"] = None  # asked again, answered, expired, a new run, ended
    if progress is not None and max_progress:
        changes["progress"] = [*state.progress, progress][-max_progress:]
    if child is not None:
        changes["children"] = [*state.children, child[0]]
    if result is not None:
        changes["result"] = result
    if error is not None:
        changes["error"] = error
    return updated(state, changes)


def transition_event(
    state: TaskState,
    kind: EventKind,
    now: datetime,
    instance: str,
    progress: ProgressEntry | None = None,
    child: tuple[str, str] | None = None,
    steer: Steer | None = None,
    result: dict[str, Any] | None = None,
    error: TaskError | None = None,
    retry: tuple[int, datetime] | None = None,
    waiting_for: str | None = None,
    held: str | None = None,
) -> TaskEvent:
    """The event of the transition `kind` that led to `state`."""
    values = _EVENT_DEFAULTS.copy()  # every field, in the fields' order
    values["kind"] = kind
    values["agent"] = state.agent
    values["status"] = state.status
    values["at"] = now
    values["instance"] = instance
    values["progress"] = progress
    if child:
        values["child_task_id"], values["child_agent"] = child
    values["steer"] = steer
    values["result"] = result
    values["error"] = error
    values["attempt"] = retry[0] if retry else state.attempt
    if retry:
        values["retry_at"] = retry[1]
    if kind in _CARRIES_DEADLINE:
        values["deadline"] = state.deadline
    values["held"] = held
    if waiting_for is not None:  # a handler's own words (`ctx.escalate`): validated
        values["waiting_for"] = waiting_for
        return TaskEvent(**{name: v for name, v in values.items() if v is not None})
    return trusted(TaskEvent, values, _ALL_EVENT_FIELDS)


def updated(state: TaskState, changes: dict[str, Any]) -> TaskState:
    """`state.model_copy(update=changes)` without its three `copy.copy` calls (every
    transition of every task makes one), laid out small (mesh/runtime/_compact_models.py:
    ~400 B instead of ~1.6 KB; ADR 033, 037). Every field counts as set: records are
    dumped with `exclude_none`, never `exclude_unset`, so nothing reads which fields
    were set, and one shared set serves every state. `TaskState` has no extra or
    private fields."""
    return with_values(TaskState, {**state.__dict__, **changes}, _ALL_STATE_FIELDS)
