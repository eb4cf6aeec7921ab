"""Schedule ticks, jitter and the overlap policy (mesh/schedules/timing.py), on an
injected clock: `now` is whatever the test says."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from mesh.errors import InvalidInput
from mesh.schedules.timing import (
    check_name,
    check_timing,
    fire_at,
    jitter_offset,
    latest_due,
    next_tick,
    plan,
    task_key,
)
from schemas.schedules import Schedule, ScheduleProgress

PARIS = ZoneInfo("Europe/Paris")


def _at(text: str, tz: ZoneInfo = PARIS) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


def _schedule(**fields: object) -> Schedule:
    base: dict[str, object] = {
        "name": "nightly",
        "cron": "*/5 * * * *",
        "tz": "Europe/Paris",
        "agent": "worker",
        "active_since": _at("2026-03-28 09:00:00"),
        "updated_at": 0.0,
    }
    return Schedule(**{**base, **fields})  # type: ignore[arg-type]


def test_ticks_are_read_in_the_schedules_time_zone_across_daylight_saving() -> None:
    daily = _schedule(cron="0 9 * * *")
    first = next_tick(daily, _at("2026-03-28 10:00:00"))  # Paris moves to summer time
    assert first == _at("2026-03-29 09:00:00")
    assert next_tick(daily, first) - first == 24 * 3600
    assert next_tick(_schedule(cron="* * * * * */2"), _at("2026-03-28 09:00:00")) == _at(
        "2026-03-28 09:00:02"
    )


def test_the_latest_due_tick_fires_and_older_missed_ones_are_not_caught_up() -> None:
    s = _schedule()
    since = s.active_since
    assert latest_due(s, since, _at("2026-03-28 09:04:59")) is None
    assert latest_due(s, since, _at("2026-03-28 09:05:00")) == _at("2026-03-28 09:05:00")
    assert latest_due(s, since, _at("2026-03-28 09:31:00")) == _at("2026-03-28 09:30:00")
    assert latest_due(s, _at("2026-03-28 09:30:00"), _at("2026-03-28 09:31:00")) is None


def test_jitter_is_the_same_on_every_instance_and_within_bounds() -> None:
    s = _schedule(jitter=30.0)
    ticks = [_at(f"2026-03-28 09:{m:02}:00") for m in range(0, 60, 5)]
    offsets = [jitter_offset(s, t) for t in ticks]
    assert all(0 <= o < 30 for o in offsets) and len(set(offsets)) == len(offsets)
    assert offsets == [jitter_offset(s.model_copy(), t) for t in ticks]  # deterministic
    tick = ticks[1]
    assert latest_due(s, s.active_since, tick + offsets[1] - 0.01) is None
    assert latest_due(s, s.active_since, fire_at(s, tick)) == tick
    assert jitter_offset(_schedule(), tick) == 0.0


def test_overlap_skip_buffer_one_and_allow_all() -> None:
    now = _at("2026-03-28 09:10:00")
    busy = ScheduleProgress(name="nightly", last_tick=_at("2026-03-28 09:05:00"), last_task_id="t1")
    tick = _at("2026-03-28 09:10:00")

    free = plan(_schedule(), busy, now, previous_ended=True)
    assert free.submit == tick and free.progress is not None and free.progress.last_tick == tick

    skipped = plan(_schedule(overlap="skip"), busy, now, previous_ended=False)
    assert skipped.submit is None and skipped.progress is not None
    assert skipped.progress.skipped == 1 and skipped.progress.last_tick == tick

    everyone = plan(_schedule(overlap="allow_all"), busy, now, previous_ended=False)
    assert everyone.submit == tick

    buffer = _schedule(overlap="buffer_one")
    held = plan(buffer, busy, now, previous_ended=False)
    assert held.submit is None and held.progress is not None
    assert held.progress.buffered_tick == tick
    later = _at("2026-03-28 09:15:00")
    dropped = plan(buffer, held.progress, later, previous_ended=False)  # one buffered at most
    assert dropped.progress is not None and dropped.progress.buffered_tick == tick
    assert dropped.progress.skipped == 1
    released = plan(buffer, dropped.progress, later, previous_ended=True)
    assert released.submit == tick  # the buffered tick's own task, once the previous ended
    assert released.progress is not None and released.progress.buffered_tick is None


def test_a_paused_schedule_fires_nothing_and_a_new_one_nothing_before_it_began() -> None:
    s = _schedule()
    now = _at("2026-03-28 09:12:00")
    assert plan(s.model_copy(update={"paused": True}), None, now, True).submit is None
    assert plan(s.model_copy(update={"deleted": True}), None, now, True).submit is None
    fresh = plan(s.model_copy(update={"active_since": now}), None, now, True)
    assert fresh.submit is None and fresh.wake == _at("2026-03-28 09:15:00")


def test_a_ticks_task_key_names_the_schedule_and_the_tick() -> None:
    key = task_key(_schedule(), _at("2026-03-28 09:05:00"))
    assert key == "schedule:nightly@2026-03-28T08:05:00.000000Z"


@pytest.mark.parametrize(
    ("cron", "tz", "jitter", "field"),
    [
        ("*/5 * * *", "UTC", 0.0, "cron"),
        ("61 * * * *", "UTC", 0.0, "cron"),
        ("*/5 * * * *", "Mars/Olympus", 0.0, "tz"),
        ("*/5 * * * *", "UTC", -1.0, "jitter"),
    ],
)
def test_bad_timing_names_the_field(cron: str, tz: str, jitter: float, field: str) -> None:
    with pytest.raises(InvalidInput, match=rf"^{field} "):
        check_timing(cron, tz, jitter)


def test_bad_names_are_refused() -> None:
    check_name("nightly-report.v2")
    for bad in ("", "Nightly", "a/b", "-x", "x" * 65):
        with pytest.raises(InvalidInput, match=r"^name "):
            check_name(bad)
