"""The gateway's task index: newest-first pages, filters, cursors, status moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mesh.gateway._index import TaskFilter, TaskIndex, sort_key
from schemas.tasks import TaskState, TaskStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def state(
    n: int, *, agent: str = "a", root: int | None = None, status: str = "running"
) -> TaskState:
    return TaskState(
        task_id=f"task-{n:03d}",
        agent=agent,
        type="t",
        status=TaskStatus(status),
        root_task_id=f"task-{root if root is not None else n:03d}",
        created_at=T0 + timedelta(seconds=n),
        updated_at=T0,
    )


def indexed(states: list[TaskState]) -> tuple[TaskIndex, dict[str, TaskState]]:
    index, tasks = TaskIndex(), {}
    for s in states:
        index.update(tasks.get(s.task_id), s)
        tasks[s.task_id] = s
    return index, tasks


def ids(found: list[TaskState]) -> list[int]:
    return [int(s.task_id.split("-")[1]) for s in found]


def test_pages_are_newest_first_and_a_cursor_continues_after_the_last() -> None:
    index, tasks = indexed([state(n) for n in (3, 1, 4, 0, 2)])  # arrival order is not time
    first = index.page(TaskFilter(), before=None, limit=2, lookup=tasks.get)
    rest = index.page(TaskFilter(), before=sort_key(first[-1]), limit=10, lookup=tasks.get)
    assert ids(first) == [4, 3]
    assert ids(rest) == [2, 1, 0]


def test_filters_combine_and_a_status_change_moves_the_task() -> None:
    index, tasks = indexed(
        [state(0), state(1, agent="b", root=0), state(2, root=0), state(3, agent="b")]
    )
    assert ids(index.page(TaskFilter(agent="b"), before=None, limit=9, lookup=tasks.get)) == [3, 1]
    tree = TaskFilter(root="task-000")
    assert ids(index.page(tree, before=None, limit=9, lookup=tasks.get)) == [2, 1, 0]
    both = TaskFilter(root="task-000", agent="b")
    assert ids(index.page(both, before=None, limit=9, lookup=tasks.get)) == [1]

    done = state(1, agent="b", root=0, status="succeeded")
    index.update(tasks["task-001"], done)
    tasks[done.task_id] = done
    running = TaskFilter(status=TaskStatus.RUNNING)
    assert ids(index.page(running, before=None, limit=9, lookup=tasks.get)) == [3, 2, 0]
    succeeded = TaskFilter(status=TaskStatus.SUCCEEDED)
    assert ids(index.page(succeeded, before=None, limit=9, lookup=tasks.get)) == [1]
    assert len(index) == 4


def test_removed_tasks_leave_every_ordering_and_empty_ones_go() -> None:
    states = [state(0), state(1, agent="b", root=0), state(2, root=0), state(3, agent="b")]
    index, tasks = indexed(states)
    index.remove([tasks["task-001"], tasks["task-003"]])
    for gone in ("task-001", "task-003"):
        del tasks[gone]
    assert len(index) == 2
    assert ids(index.page(TaskFilter(), before=None, limit=9, lookup=tasks.get)) == [2, 0]
    assert index.page(TaskFilter(agent="b"), before=None, limit=9, lookup=tasks.get) == []
    index.remove([tasks["task-002"]])
    assert index._by_root == {} and "b" not in index._by_agent
