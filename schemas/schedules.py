"""Schedules (ADR 040): a cron expression that submits a task to an agent type on time.

A schedule and its progress are two records on the compacted `mesh.schedules` topic,
on the partition chosen from the schedule's name: the `Schedule` (keyed by name,
written by `mesh schedule add|pause|resume|delete`) and its `ScheduleProgress` (keyed
by `<name>/progress`, written only by the scheduler that owns the partition). Two
keys, so the CLI and the scheduler never overwrite each other's fields.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from schemas.registry import REGISTRY

SCHEDULE = "mesh.schedule"
SCHEDULE_PROGRESS = "mesh.schedule.progress"

# skip: a tick whose previous task still runs is skipped. buffer_one: it waits (one at
# most) and is submitted when the previous task ends. allow_all: every tick submits.
Overlap = Literal["skip", "buffer_one", "allow_all"]


@REGISTRY.register(SCHEDULE, 1)
class Schedule(BaseModel):
    name: str
    cron: str  # 5 fields, or 6 with seconds last (croniter)
    tz: str = "UTC"  # an IANA time zone: the cron fields are read in it
    agent: str
    input: dict[str, Any] = Field(default_factory=dict)
    overlap: Overlap = "skip"
    jitter: float = Field(default=0.0, ge=0)  # seconds: each tick fires up to this late
    paused: bool = False
    deleted: bool = False  # `mesh schedule delete`: no tick fires again
    # Ticks after this (epoch seconds) fire: when it was added or last resumed, so ticks
    # that fell in a pause are not caught up.
    active_since: float
    updated_at: float


@REGISTRY.register(SCHEDULE_PROGRESS, 1)
class ScheduleProgress(BaseModel):
    """What the owning scheduler has done with a schedule's ticks (epoch seconds)."""

    name: str
    last_tick: float  # the latest tick handled: submitted, skipped or buffered
    last_task_id: str | None = None  # the latest task submitted (the overlap looks at it)
    buffered_tick: float | None = None  # with buffer_one: a tick waiting for that task
    submitted: int = 0
    skipped: int = 0
    last_error: str | None = None  # why the latest tick could not be submitted
