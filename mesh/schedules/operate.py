"""What `mesh schedule add|list|pause|resume|delete` does, on a connected `Client`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from mesh._validation import validated_input
from mesh.client import Client
from mesh.errors import InvalidInput
from mesh.schedules import records
from mesh.schedules.timing import check_name, check_timing, fire_at, next_tick
from mesh.topics import schedule_topics
from schemas.schedules import Overlap, Schedule, ScheduleProgress


@dataclass(frozen=True)
class Listed:
    schedule: Schedule
    progress: ScheduleProgress | None
    next_fire: float | None  # None while paused


async def add(
    client: Client,
    name: str,
    *,
    cron: str,
    tz: str,
    agent: str,
    input: dict[str, Any],
    overlap: Overlap,
    jitter: float,
) -> Schedule:
    """Validate and write a schedule (a schedule of that name is replaced).

    Raises:
        InvalidInput: the name, cron, tz, jitter or input is wrong (the message names it).
        UnknownAgent: no agent of that name takes tasks.
    """
    check_name(name)
    check_timing(cron, tz, jitter)
    card = client.agent(agent)
    try:
        payload = validated_input(card, input)
    except InvalidInput as exc:
        raise InvalidInput(f"input: {exc}", errors=exc.errors) from None
    now = time.time()
    schedule = Schedule(
        name=name,
        cron=cron,
        tz=tz,
        agent=agent,
        input=payload,
        overlap=overlap,
        jitter=jitter,
        active_since=now,
        updated_at=now,
    )
    await client.transport.ensure_topics(schedule_topics(client.settings))
    await records.write(client.publisher, schedule)
    return schedule


async def listing(client: Client) -> list[Listed]:
    """Every schedule not deleted, with its progress, by name."""
    await client.transport.ensure_topics(schedule_topics(client.settings))
    schedules: dict[str, Schedule] = {}
    progress: dict[str, ScheduleProgress] = {}
    for record in await client.transport.read_topics([client.publisher.topics.schedules]):
        read = records.read(record)
        if isinstance(read, Schedule):
            schedules[read.name] = read
        elif isinstance(read, ScheduleProgress):
            progress[read.name] = read
    return [
        _listed(schedule, progress.get(name))
        for name, schedule in sorted(schedules.items())
        if not schedule.deleted
    ]


def _listed(schedule: Schedule, done: ScheduleProgress | None) -> Listed:
    after = max(done.last_tick if done else 0.0, schedule.active_since, time.time())
    upcoming = None if schedule.paused else fire_at(schedule, next_tick(schedule, after))
    return Listed(schedule, done, upcoming)


async def switch(
    client: Client, name: str, *, paused: bool | None, deleted: bool = False
) -> Listed:
    """Pause, resume (`paused`) or delete a schedule; it as it is now.

    Raises:
        InvalidInput: no schedule of that name.
    """
    found = {listed.schedule.name: listed for listed in await listing(client)}
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise InvalidInput(f"name {name!r}: no such schedule; schedules: {known}")
    schedule = found[name].schedule
    now = time.time()
    update: dict[str, Any] = {"updated_at": now, "deleted": deleted}
    if paused is not None:
        update["paused"] = paused
        if not paused and schedule.paused:
            update["active_since"] = now  # ticks that fell in the pause are not caught up
    changed = schedule.model_copy(update=update)
    await records.write(client.publisher, changed)
    return _listed(changed, found[name].progress)
