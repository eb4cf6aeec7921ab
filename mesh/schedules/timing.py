"""When a schedule's ticks fall and what to do at each, as plain functions of a clock.

A tick is a time the cron expression names, read in the schedule's time zone (so
`0 9 * * *` in Europe/Paris stays 09:00 across daylight saving). A tick *fires* at
the tick plus its jitter offset: a fraction of `jitter` derived from the schedule's
name and the tick, so every scheduler instance computes the same fire time (a
takeover does not fire a tick early or late twice). `plan` decides, for one
schedule, what its owner does now; nothing here does I/O (tests/unit inject clocks).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, croniter

from mesh.errors import InvalidInput
from schemas.schedules import Schedule, ScheduleProgress

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_BACK_STEPS = 100  # ticks looked back past the latest to find one whose jitter elapsed


def check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            f"name {name!r}: use 1-64 lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )


def check_timing(cron: str, tz: str, jitter: float) -> None:
    """Raises `InvalidInput` naming the field (cron, tz, jitter) that is wrong."""
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"tz {tz!r}: not an IANA time zone (e.g. 'Europe/Paris', 'UTC')"
        ) from None
    try:
        croniter(cron, datetime.now(zone))
    except (CroniterBadCronError, ValueError) as exc:  # its errors are ValueErrors
        raise InvalidInput(
            f"cron {cron!r}: {exc} (5 fields: minute hour day month weekday; "
            "a 6th, last, for seconds)"
        ) from None
    if not jitter >= 0:
        raise InvalidInput(f"jitter {jitter!r}: must be a number of seconds >= 0")


def next_tick(schedule: Schedule, after: float) -> float:
    """The first tick strictly after `after` (epoch seconds)."""
    return _step(schedule, after, forward=True)


def _previous_tick(schedule: Schedule, before: float) -> float:
    return _step(schedule, before, forward=False)


def _step(schedule: Schedule, start: float, *, forward: bool) -> float:
    """The next (or previous) tick from `start`. croniter walks the wall clock (naive
    local times here, turned into instants by the time zone): given aware times, this
    version of it lands an hour off across a daylight-saving change. A wall time that
    occurs twice (autumn) is its first instant; one that does not occur (spring)
    moves forward by the gap."""
    zone = ZoneInfo(schedule.tz)
    walk = croniter(schedule.cron, datetime.fromtimestamp(start, zone).replace(tzinfo=None))
    at = start
    for _ in range(4):  # past a wall time that maps back before `start` (autumn)
        wall = walk.get_next(datetime) if forward else walk.get_prev(datetime)
        at = wall.replace(tzinfo=zone).timestamp()
        if (at > start) if forward else (at < start):
            break
    return at


def jitter_offset(schedule: Schedule, tick: float) -> float:
    """How long after `tick` it fires: in [0, jitter), the same on every instance."""
    if schedule.jitter <= 0:
        return 0.0
    digest = hashlib.sha256(f"{schedule.name}@{tick:.3f}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * schedule.jitter


def fire_at(schedule: Schedule, tick: float) -> float:
    return tick + jitter_offset(schedule, tick)


def latest_due(schedule: Schedule, after: float, now: float) -> float | None:
    """The latest tick after `after` whose fire time has come, or None. Older ticks
    missed while no scheduler ran are not caught up: only the latest fires."""
    tick = _previous_tick(schedule, now + 1e-3)  # the latest tick at or before now
    for _ in range(_BACK_STEPS):
        if tick <= after:
            return None
        if fire_at(schedule, tick) <= now:
            return tick
        tick = _previous_tick(schedule, tick)
    return None


@dataclass(frozen=True)
class Plan:
    """What a schedule's owner does now: submit the task of `submit` (a tick), write
    `progress` (after the submission), and look again at `wake` at the latest."""

    submit: float | None
    progress: ScheduleProgress | None
    wake: float


def plan(
    schedule: Schedule, progress: ScheduleProgress | None, now: float, previous_ended: bool
) -> Plan:
    """`previous_ended`: the latest task submitted (`progress.last_task_id`) has ended,
    or there is none. The caller writes the progress with the submitted task's id."""
    done = progress or ScheduleProgress(name=schedule.name, last_tick=schedule.active_since)
    after = max(done.last_tick, schedule.active_since)
    wake = fire_at(schedule, next_tick(schedule, after))
    if schedule.paused or schedule.deleted:
        return Plan(None, None, wake)
    if done.buffered_tick is not None and previous_ended:  # buffer_one: its turn now
        return Plan(done.buffered_tick, done.model_copy(update={"buffered_tick": None}), now)
    tick = latest_due(schedule, after, now)
    if tick is None:
        return Plan(None, None, wake)
    handled = done.model_copy(update={"last_tick": tick})
    if previous_ended or schedule.overlap == "allow_all":
        return Plan(tick, handled, now)
    if schedule.overlap == "buffer_one" and done.buffered_tick is None:
        return Plan(None, handled.model_copy(update={"buffered_tick": tick}), now)
    return Plan(None, handled.model_copy(update={"skipped": done.skipped + 1}), now)


def task_key(schedule: Schedule, tick: float) -> str:
    """The idempotency key of a tick's task: its task id is derived from it and the
    agent (as for any keyed submission), so a tick submitted twice names one task."""
    stamp = datetime.fromtimestamp(tick, ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"schedule:{schedule.name}@{stamp}"
