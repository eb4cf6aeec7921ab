"""The runtime's own messages: task control, outcomes, lifecycle events and state.

A task request itself has the type of its input model (e.g. `knowledge.search`),
so task inputs are versioned like any other contract. These are the messages
around it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.envelope import Budget
from schemas.registry import REGISTRY

STEER = "mesh.task.steer"
CANCEL = "mesh.task.cancel"
RESULT = "mesh.task.result"
REDISPATCH = "mesh.task.redispatch"
TASK_EVENT = "mesh.task.event"
TASK_STATE = "mesh.task.state"
AGENT_CARD = "mesh.agent.card"
DLQ_PURGE_MARK = "mesh.dlq.purge_mark"
CONTROL_TYPES = frozenset({STEER, CANCEL, RESULT, REDISPATCH})


class TaskStatus(StrEnum):
    SUBMITTED = "submitted"
    RUNNING = "running"
    RETRYING = "retrying"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DEAD_LETTERED = "dead_lettered"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.DEAD_LETTERED}
)


class EventKind(StrEnum):
    SUBMITTED = "submitted"
    STARTED = "started"
    PROGRESS = "progress"
    DELEGATED = "delegated"
    STEERED = "steered"
    RETRY_SCHEDULED = "retry_scheduled"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DEAD_LETTERED = "dead_lettered"
    REPLAYED = "replayed"  # sent back from the dead-letter queue as a new run
    REDISPATCHED = "redispatched"  # the supervisor started a new attempt (stuck, worker lost)
    SUPERSEDED = "superseded"  # an older attempt ended after a newer one began: ignored
    WORKER_LOST = "worker_lost"  # the supervisor: the worker running it stopped beating
    PARKED = "parked"  # the supervisor: no live worker of its agent type; it waits
    CANCEL_REQUESTED = "cancel_requested"  # the supervisor: past its deadline, or stuck
    REROUTED = "rerouted"  # its agent type's circuit was open: sent to the fallback
    RESUMED = "resumed"  # a human answered a waiting task; it runs on
    # the supervisor: past its deadline with no live worker of its agent type to cancel
    # it; its parent was told (`ChildTimedOut`), and it ends when a worker starts
    EXPIRED = "expired"
    # a worker accepted it but holds it back (its circuit is open, or no slot is free);
    # the state's `held` says why, until it starts
    HELD = "held"
    # the task's handler got a model's answer (a call paid for, not a journal replay);
    # the event's `usage` is the call's usage line (ADR 021)
    MODEL_CALLED = "model_called"
    # a model call still running, every MESH_MODEL_KEEPALIVE seconds: activity that
    # keeps a task in one long call from being taken for stuck by the supervisor
    MODEL_WAITING = "model_waiting"
    # a person's approval (`ctx.request_approval`) expired undecided, or had expired by
    # the time the step it allows was to run: the task runs on by its `on_expiry`
    APPROVAL_EXPIRED = "approval_expired"


DEADLINE_EXCEEDED = "DeadlineExceeded"  # the TaskError type of a task past its deadline
# ... of a task dead-lettered for input that fails its schema: the sender's fault, so
# it never counts against the agent type's health (its circuit)
INVALID_INPUT = "InvalidInput"
GAVE_UP = "SupervisorGaveUp"  # ... of a task the supervisor failed (stuck too often)


class TaskError(BaseModel):
    """Why a task did not succeed: the exception class and its message."""

    model_config = ConfigDict(frozen=True)

    type: str
    message: str


@REGISTRY.register(STEER, 1)
class Steer(BaseModel):
    """A follow-up instruction for a running task."""

    text: str = ""
    data: dict[str, Any] = Field(default_factory=dict)


@REGISTRY.register(CANCEL, 1)
class Cancel(BaseModel):
    reason: str = "cancelled by request"
    # End the task `failed` with the reason (the supervisor gave up on it), not `cancelled`.
    fail: bool = False


@REGISTRY.register(REDISPATCH, 1)
class Redispatch(BaseModel):
    """Run the task again as `attempt` (the supervisor found it stuck or its worker
    gone); the worker holding an older attempt drops that one."""

    attempt: int = Field(ge=2)
    reason: str
    # Set when the supervisor escalates instead: the new attempt first waits for a
    # human (`waiting`, with this question); `mesh resume` runs it, `mesh cancel` ends it.
    ask_human: str | None = None


@REGISTRY.register(RESULT, 1)
class TaskOutcome(BaseModel):
    """A child's terminal outcome, sent to its parent's inbox (keyed by the parent id)."""

    status: TaskStatus
    result: dict[str, Any] | None = None
    error: TaskError | None = None


class ModelUsage(BaseModel):
    """Model calls of one agent type to one model, summed: a line of a task's usage
    (`TaskState.usage`), or one call's (a `model_called` event). `cost_usd` is priced by
    MESH_MODEL_PRICES when each call was answered (0 for a model not in it)."""

    model_config = ConfigDict(frozen=True)

    agent: str
    model: str
    calls: int = Field(default=0, ge=0)
    input_tokens: int = Field(default=0, ge=0)  # cached input included
    output_tokens: int = Field(default=0, ge=0)
    cached_tokens: int = Field(default=0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0)


class PendingApproval(BaseModel):
    """What a task waiting for a person's approval asks (`ctx.request_approval`, ADR 027):
    on its `waiting` event and in its state while it waits (the approvals inbox)."""

    model_config = ConfigDict(frozen=True)

    name: str  # the approval within its task (one task may ask for several in turn)
    subject: str  # what is to be approved, in a person's words
    details: dict[str, Any] = Field(default_factory=dict)
    requested_at: datetime
    expires_at: datetime  # undecided by then, or not yet acted on: it does not count
    on_expiry: Literal["halt", "continue"]  # the task fails, or runs on without it


class ApprovalDecision(BaseModel):
    """A person's answer to a `PendingApproval`: the `approval` entry of the steering
    message's data (`mesh approvals approve|reject`, `client.approve`)."""

    name: str
    decision: Literal["approved", "rejected"]
    by: str
    note: str = ""
    at: datetime


class ProgressEntry(BaseModel):
    at: datetime
    message: str = ""
    data: dict[str, Any] = Field(default_factory=dict)


@REGISTRY.register(TASK_EVENT, 1)
class TaskEvent(BaseModel):
    """One lifecycle transition, appended to the task-events topic."""

    kind: EventKind
    agent: str
    status: TaskStatus
    at: datetime
    instance: str = ""
    progress: ProgressEntry | None = None
    child_task_id: str | None = None
    child_agent: str | None = None
    steer: Steer | None = None
    result: dict[str, Any] | None = None
    error: TaskError | None = None
    attempt: int | None = None  # the run's attempt; for retry_scheduled, the next one
    retry_at: datetime | None = None
    deadline: datetime | None = None  # on submitted and started events
    waiting_for: str | None = None  # on waiting events: what a human is asked
    held: str | None = None  # on held events: why the task has not started
    usage: ModelUsage | None = None  # on model_called events: that call's
    approval: PendingApproval | None = None  # on waiting and approval_expired events


@REGISTRY.register(TASK_STATE, 1)
class TaskState(BaseModel):
    """The latest known state of one task (the compacted task-state topic holds these)."""

    task_id: str
    agent: str
    type: str
    version: int = 1  # the schema version of `type` the input was sent with
    status: TaskStatus
    parent_task_id: str | None = None
    root_task_id: str | None = None
    # Shared by every task of one business flow: a domain event's id for the tasks it
    # started (`GET /v1/tasks?correlation=`, `mesh tasks --correlation`).
    correlation_id: str | None = None
    idempotency_key: str | None = None
    input: dict[str, Any] = Field(default_factory=dict)
    progress: list[ProgressEntry] = Field(default_factory=list)
    children: list[str] = Field(default_factory=list)
    result: dict[str, Any] | None = None
    error: TaskError | None = None
    attempt: int = 1
    instance: str = ""
    deadline: datetime | None = None
    waiting_for: str | None = None  # while `waiting`: what a human is asked
    approval: PendingApproval | None = None  # while `waiting` for a person's approval
    # While accepted but not started: why it is held back (the circuit is open, no
    # live worker of its agent type, waiting for a slot); cleared when it starts.
    held: str | None = None
    trace_id: str | None = None  # the OpenTelemetry trace of the task's whole tree
    priority: int = 0  # higher starts first when tasks wait for a worker's slot
    # The task's own model calls (every run's, each once), one line per agent and model;
    # its tree's total is summed from its descendants' (mesh/views/usage.py).
    usage: list[ModelUsage] = Field(default_factory=list)
    budget: Budget | None = None  # what its task tree may spend on model calls (ADR 025)
    # Whose work it is (the request's `tenant`, passed to every descendant): the gateway
    # shows a caller only its own tenant's tasks (mesh/gateway/auth, ADR 043).
    tenant: str | None = None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


@REGISTRY.register(AGENT_CARD, 1)
class AgentCard(BaseModel):
    """What an agent type accepts; published by its workers to the compacted agents topic."""

    name: str
    description: str = ""
    task_type: str | None = None
    task_version: int | None = None
    input_schema: dict[str, Any] | None = None
    events: list[str] = Field(default_factory=list)
    delegates_to: list[str] = Field(default_factory=list)
    updated_at: datetime


@REGISTRY.register(DLQ_PURGE_MARK, 1)
class PurgeMark(BaseModel):
    """Dead letters of one partition of an agent's dead-letter topic, below `before`
    (an offset), are purged: hidden from listing and replay (ADR 008)."""

    agent: str
    partition: int = Field(ge=0)
    before: int = Field(ge=0)
    purged_at: datetime
