"""`TaskChanges`: which tasks' states changed, in order, for live task lists (the
console's, through `GET /v1/task-updates`).

The view calls it with every state it applies; a reader remembers the count it has
seen and asks for the ids changed since. Only the latest `keep` ids are held: a reader
further behind is told so (it reloads its list), so memory stays bounded however
many tasks change.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from schemas.tasks import TaskState

KEEP_CHANGES = 10_000


class TaskChanges:
    def __init__(self, *, keep: int = KEEP_CHANGES) -> None:
        self._ids: deque[str] = deque(maxlen=keep)
        self.count = 0  # changes seen since start; a reader's position
        self._waiters: set[asyncio.Event] = set()

    def record(self, state: TaskState) -> None:
        """A view's change listener: plain and quick (it runs in the view's loop)."""
        self._ids.append(state.task_id)
        self.count += 1
        for waiter in self._waiters:
            waiter.set()
        self._waiters.clear()

    def since(self, seen: int) -> list[str] | None:
        """The distinct ids changed after position `seen`, oldest change first; None
        when more changed than are held (the reader must start over)."""
        missed = self.count - seen
        if missed > len(self._ids):
            return None
        newest_first = (self._ids[-position] for position in range(1, missed + 1))
        return list(dict.fromkeys(newest_first))[::-1]  # each id once, at its latest

    async def wait(self, seen: int, *, timeout: float) -> None:
        """Return once there is a change after position `seen`, or after `timeout` s."""
        if self.count > seen:
            return
        changed = asyncio.Event()
        self._waiters.add(changed)
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await changed.wait()
        finally:
            self._waiters.discard(changed)
