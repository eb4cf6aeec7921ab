"""`TaskIndex`: newest-first orderings of task ids by status, agent, root and correlation
(the domain event that started a task tree), for paging.

Each ordering is a sorted list of `(created_at, task_id)` keys (one shared tuple per
task), so a page is a bisect plus a short walk backwards, and a cursor is just the
last key served: stable while tasks are added, and the same on every gateway replica
(both keys come from the task's records, not from arrival order).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from schemas.tasks import TaskState, TaskStatus

SortKey = tuple[float, str]


def sort_key(state: TaskState) -> SortKey:
    return (state.created_at.timestamp(), state.task_id)


@dataclass(frozen=True)
class TaskFilter:
    status: TaskStatus | None = None
    agent: str | None = None
    root: str | None = None
    correlation: str | None = None
    # The caller's tenant (mesh/gateway/auth): None sees every tenant's tasks.
    tenant: str | None = None

    def matches(self, state: TaskState) -> bool:
        return (
            (self.status is None or state.status is self.status)
            and (self.agent is None or state.agent == self.agent)
            and (self.root is None or state.root_task_id == self.root)
            and (self.correlation is None or state.correlation_id == self.correlation)
            and (self.tenant is None or state.tenant == self.tenant)
        )


class TaskIndex:
    def __init__(self) -> None:
        self._all: list[SortKey] = []
        self._by_status: dict[TaskStatus, list[SortKey]] = {}
        self._by_agent: dict[str, list[SortKey]] = {}
        # Only tasks below a root: a root task is found by its id, and indexing every
        # top-level task under itself would cost a list per task.
        self._by_root: dict[str, list[SortKey]] = {}
        # A task's correlation id is set when it is submitted and never changes.
        self._by_correlation: dict[str, list[SortKey]] = {}
        self._by_tenant: dict[str, list[SortKey]] = {}  # only tasks that have one

    def __len__(self) -> int:
        return len(self._all)

    def update(self, previous: TaskState | None, state: TaskState) -> None:
        """Index `state`, which replaces `previous` (None for a new task)."""
        if previous is None:
            key = sort_key(state)
            bisect.insort(self._all, key)
            bisect.insort(self._by_agent.setdefault(state.agent, []), key)
            if state.root_task_id and state.root_task_id != state.task_id:
                bisect.insort(self._by_root.setdefault(state.root_task_id, []), key)
            if state.correlation_id:
                bisect.insort(self._by_correlation.setdefault(state.correlation_id, []), key)
            if state.tenant:
                bisect.insort(self._by_tenant.setdefault(state.tenant, []), key)
            bisect.insort(self._by_status.setdefault(state.status, []), key)
        elif previous.status is not state.status:
            key = _remove(self._by_status[previous.status], sort_key(previous))
            bisect.insort(self._by_status.setdefault(state.status, []), key)

    def remove(self, states: Iterable[TaskState]) -> None:
        """Drop these tasks (as last indexed) from every ordering, in one pass per
        ordering touched; an ordering left empty goes too (no list per old root)."""
        doomed: dict[int, tuple[dict[Any, list[SortKey]] | None, Any, list[SortKey]]] = {}

        def drop(table: dict[Any, list[SortKey]] | None, name: Any, key: SortKey) -> None:
            keys = self._all if table is None else table.get(name)
            if keys is not None:
                doomed.setdefault(id(keys), (table, name, []))[2].append(key)

        for state in states:
            key = sort_key(state)
            drop(None, None, key)
            drop(self._by_status, state.status, key)
            drop(self._by_agent, state.agent, key)
            if state.root_task_id and state.root_task_id != state.task_id:
                drop(self._by_root, state.root_task_id, key)
            if state.correlation_id:
                drop(self._by_correlation, state.correlation_id, key)
            if state.tenant:
                drop(self._by_tenant, state.tenant, key)
        for table, name, keys in doomed.values():
            kept = _without(self._all if table is None else table[name], keys)
            if table is None:
                self._all = kept
            elif kept:
                table[name] = kept
            else:
                del table[name]

    def page(
        self,
        where: TaskFilter,
        *,
        before: SortKey | None,
        limit: int,
        lookup: Callable[[str], TaskState | None],
    ) -> list[TaskState]:
        """Up to `limit` matching tasks, newest first, older than `before` (a cursor)."""
        found: list[TaskState] = []
        for key in self._newest_first(self._candidates(where, lookup), before):
            state = lookup(key[1])
            if state is not None and where.matches(state):
                found.append(state)
                if len(found) == limit:
                    break
        return found

    def count(self, where: TaskFilter, *, lookup: Callable[[str], TaskState | None]) -> int:
        """How many tasks match, on every page: a walk of the shortest ordering that
        holds them all (ListTasks' `totalSize`)."""
        return sum(
            1
            for key in self._candidates(where, lookup)
            if (state := lookup(key[1])) is not None and where.matches(state)
        )

    def _candidates(
        self, where: TaskFilter, lookup: Callable[[str], TaskState | None]
    ) -> list[SortKey]:
        """The shortest ordering that holds every match (the others are checked after)."""
        options = [self._all]
        if where.status is not None:
            options.append(self._by_status.get(where.status, []))
        if where.agent is not None:
            options.append(self._by_agent.get(where.agent, []))
        if where.root is not None:
            below = self._by_root.get(where.root, [])
            root = lookup(where.root)
            options.append(sorted([*below, sort_key(root)]) if root is not None else below)
        if where.correlation is not None:
            options.append(self._by_correlation.get(where.correlation, []))
        if where.tenant is not None:
            options.append(self._by_tenant.get(where.tenant, []))
        return min(options, key=len)

    @staticmethod
    def _newest_first(keys: list[SortKey], before: SortKey | None) -> Iterator[SortKey]:
        end = len(keys) if before is None else bisect.bisect_left(keys, before)
        for position in range(end - 1, -1, -1):
            yield keys[position]


def _remove(keys: list[SortKey], key: SortKey) -> SortKey:
    """Remove `key` from the sorted `keys` and return the stored (shared) tuple."""
    position = bisect.bisect_left(keys, key)
    if position == len(keys) or keys[position] != key:
        return key  # not there (cannot happen while updates come in order)
    return keys.pop(position)


def _without(keys: list[SortKey], doomed: list[SortKey]) -> list[SortKey]:
    """The sorted `keys` less `doomed`: whole slices between the doomed positions are
    copied (in C), so evicting k of n keys costs O(k log n + n), not k list pops."""
    found = ((bisect.bisect_left(keys, key), key) for key in doomed)
    positions = sorted({p for p, key in found if p < len(keys) and keys[p] == key})
    kept: list[SortKey] = []
    start = 0
    for position in positions:
        kept += keys[start:position]
        start = position + 1
    kept += keys[start:]
    return kept
