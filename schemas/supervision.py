"""Messages of worker liveness and of the supervisor (agents/supervisor).

Workers publish a `Heartbeat` to `mesh.heartbeats` (keyed by instance id) every
`MESH_LIVENESS_INTERVAL` seconds; the supervisor reads them to tell live workers
from dead ones and to see which tasks each holds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from schemas.registry import REGISTRY

HEARTBEAT = "mesh.worker.heartbeat"


class HeldTask(BaseModel):
    """A task a worker is running: when it started and when it last showed activity."""

    task_id: str
    attempt: int = 1
    started_at: datetime
    last_progress_at: datetime
    lease_expires_at: datetime  # last activity + the agent's lease


@REGISTRY.register(HEARTBEAT, 1)
class Heartbeat(BaseModel):
    """A worker process is alive, and holds these tasks."""

    instance: str
    agent: str
    host: str
    pid: int
    at: datetime
    interval: float = Field(gt=0)  # seconds until the next heartbeat
    inflight: int = Field(ge=0)  # every task held, running or waiting for a slot
    tasks: list[HeldTask] = Field(default_factory=list)  # the least recently active first
    truncated: bool = False  # more tasks are held than `tasks` lists
    stopping: bool = False  # the last heartbeat of a worker that is shutting down


HEARTBEAT_WATERMARK = "mesh.supervisor.heartbeat_watermark"


@REGISTRY.register(HEARTBEAT_WATERMARK, 1)
class HeartbeatWatermark(BaseModel):
    """A supervisor's mark in one partition of `mesh.heartbeats`, written every
    `interval` seconds to each partition: once read back, every heartbeat written
    before `at` to that partition has been read too. The supervisors judge a worker
    silent against it, not against their clock, so a supervisor whose reading is
    behind (busy, or taking over a dead instance's partitions) does not take live
    workers for dead ones."""

    by: str  # the supervisor instance that wrote it
    at: datetime
    interval: float = Field(gt=0)  # seconds until its next mark


SUPERVISOR_STATUS = "mesh.supervisor.status"


class WorkerStatus(BaseModel):
    instance: str
    agent: str
    host: str
    alive: bool
    seconds_since_heartbeat: float
    inflight: int


class AtRisk(BaseModel):
    task_id: str
    agent: str
    problem: str
    reason: str


class RecentAction(BaseModel):
    at: float  # epoch seconds
    task_id: str
    agent: str
    problem: str
    reason: str


@REGISTRY.register(SUPERVISOR_STATUS, 1)
class SupervisorStatus(BaseModel):
    """One supervisor instance's view, published every few seconds (keyed by instance)."""

    instance: str
    host: str
    at: float  # epoch seconds
    workers: list[WorkerStatus] = Field(default_factory=list)  # every worker (global)
    live_by_agent: dict[str, int] = Field(default_factory=dict)
    tasks_tracked: int = 0  # unfinished tasks in this instance's partitions
    at_risk: list[AtRisk] = Field(default_factory=list)
    recent_actions: list[RecentAction] = Field(default_factory=list)
    paused: list[str] = Field(default_factory=list)  # agent types paused (ADR 039)


CIRCUIT_STATE = "mesh.circuit.state"


@REGISTRY.register(CIRCUIT_STATE, 1)
class CircuitState(BaseModel):
    """An agent type's circuit, as the supervisor last decided (compacted, by agent).

    closed: tasks run. open: the agent type's workers start no new task; new tasks
    wait in the inbox (parked) or go to `fallback`. half_open: one task runs as a
    probe; its outcome closes or re-opens the circuit.
    """

    agent: str
    state: Literal["closed", "open", "half_open"]
    since: float  # epoch seconds
    fallback: str | None = None
    reason: str = ""


AGENT_LIVENESS = "mesh.agent.liveness"


@REGISTRY.register(AGENT_LIVENESS, 1)
class AgentLiveness(BaseModel):
    """How many live workers an agent type has, as the supervisor judges from their
    heartbeats; written when it changes (compacted, keyed by agent type), so a client
    can say why a task has not started (no worker: parked)."""

    agent: str
    live: int = Field(ge=0)
    at: float  # epoch seconds


AGENT_PAUSE = "mesh.agent.pause"


@REGISTRY.register(AGENT_PAUSE, 1)
class AgentPause(BaseModel):
    """An agent type's pause switch (compacted, keyed by agent type; ADR 039): while
    `paused`, its workers start no new task (those in flight finish), and the
    supervisor does not take the wait for a fault. `mesh agents pause|resume` write it."""

    agent: str
    paused: bool
    at: float  # epoch seconds
    by: str = ""  # who flipped it (the CLI's user, or a client's name)
    reason: str = ""
