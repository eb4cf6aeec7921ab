"""The console's pieces that need no browser (ADR 042): the change log behind
`GET /v1/task-updates`, and the event kinds the task page listens for."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

from mesh.gateway._changes import TaskChanges
from mesh.gateway.console import STATIC
from schemas.tasks import EventKind, TaskState, TaskStatus


def state(task_id: str) -> TaskState:
    now = datetime.now(UTC)
    return TaskState(
        task_id=task_id,
        agent="a",
        type="t",
        status=TaskStatus.RUNNING,
        created_at=now,
        updated_at=now,
    )


def test_a_reader_gets_each_changed_id_once_in_the_order_of_its_latest_change() -> None:
    changes = TaskChanges(keep=10)
    seen = changes.count
    for task_id in ["x", "y", "x", "z"]:
        changes.record(state(task_id))
    assert changes.since(seen) == ["y", "x", "z"]
    assert changes.since(changes.count) == []


def test_a_reader_further_behind_than_what_is_kept_must_start_over() -> None:
    changes = TaskChanges(keep=3)
    for task_id in ["a", "b", "c", "d"]:
        changes.record(state(task_id))
    assert changes.since(0) is None
    assert changes.since(1) == ["b", "c", "d"]


async def test_waiting_returns_at_the_next_change() -> None:
    changes = TaskChanges()
    waiting = asyncio.create_task(changes.wait(changes.count, timeout=30))
    await asyncio.sleep(0)  # it waits now
    assert not waiting.done()
    changes.record(state("x"))
    await asyncio.wait_for(waiting, timeout=5)


async def test_waiting_past_a_change_already_made_returns_at_once() -> None:
    changes = TaskChanges()
    changes.record(state("x"))
    await asyncio.wait_for(changes.wait(0, timeout=30), timeout=5)


def test_the_task_page_listens_for_every_event_kind() -> None:
    script = (STATIC / "task.js").read_text()
    listed = re.search(r"EVENT_KINDS = \[(.*?)\];", script, re.S)
    assert listed is not None
    assert set(re.findall(r'"(\w+)"', listed.group(1))) == {kind.value for kind in EventKind}


def test_the_page_loads_nothing_from_the_network() -> None:
    for asset in STATIC.iterdir():
        text = asset.read_text()
        assert not re.search(r"(src|href)=\"(https?:)?//", text), asset.name
        assert "http://" not in text and "https://" not in text, asset.name
