"""A parent's view of and hold on its running children: their progress as they report
it (`ctx.children_progress()`), and the control messages their handles send
(`handle.steer`, `handle.cancel`).

Progress: a child may run in any process, so its progress is read where every
process can read it, the task-events topic, through the process's shared
`ProgressFeed` (mesh/views/progress.py). A child is watched from the moment it is
delegated (before its request is published), so none of its entries is missed.

Control: the same messages a client sends (`client.steer`, `client.cancel`), to the
child's agent inbox keyed by the child's id, so they reach the worker running it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from mesh.handles import TaskHandle
from mesh.runtime.publisher import Publisher
from mesh.views.progress import ProgressFeed, shared_progress_feed
from schemas import Envelope
from schemas.tasks import ProgressEntry

if TYPE_CHECKING:
    from mesh.context import TaskContext


class PublishedControl:
    """`ChildControl` for a worker's tasks: publishes to the child's agent inbox."""

    def __init__(self, publisher: Publisher, parent: Envelope) -> None:
        self._publisher = publisher
        self._parent = parent

    async def send(self, task_id: str, agent: str, type_: str, message: BaseModel) -> None:
        envelope = Envelope(
            type=type_,
            task_id=task_id,
            parent_task_id=self._parent.task_id,
            root_task_id=self._parent.root_task_id or self._parent.task_id,
            source=self._publisher.source,
            payload=message.model_dump(mode="json"),
        )
        inbox = self._publisher.topics.inbox(agent)
        await self._publisher.send(inbox, envelope, key=task_id)


class ChildrenProgress:
    """The progress entries of a task's children, each returned once, in report order."""

    def __init__(self, feed: ProgressFeed, context: TaskContext) -> None:
        self._feed = feed
        self._context = context
        self._returned: dict[str, int] = {}  # child id -> entries returned so far
        for handle in context.children:
            self.watch(handle.task_id)

    def watch(self, task_id: str) -> None:
        """Called by `ctx.delegate` for each child, before its request is published."""
        self._feed.watch(task_id)
        self._returned.setdefault(task_id, 0)

    def new(self) -> list[tuple[TaskHandle[Any], ProgressEntry]]:
        """The entries reported since the last call, without waiting."""
        found: list[tuple[TaskHandle[Any], ProgressEntry]] = []
        for handle in self._context.children:
            entries = self._feed.entries(handle.task_id)
            seen = self._returned.get(handle.task_id, 0)
            found.extend((handle, entry) for entry in entries[seen:])
            self._returned[handle.task_id] = len(entries)
        return found

    async def wait(self, *, timeout: float | None) -> list[tuple[TaskHandle[Any], ProgressEntry]]:
        """The entries reported since the last call; waits up to `timeout` seconds for
        one when there is none yet (then returns what there is, maybe nothing)."""
        if not (found := self.new()):
            await self._feed.wait_for_more(dict(self._returned), timeout)
            found = self.new()
        return found

    def close(self) -> None:
        for task_id in self._returned:
            self._feed.unwatch(task_id)


@asynccontextmanager
async def children_progress(
    context: TaskContext, publisher: Publisher, watchers: list[ChildrenProgress]
) -> AsyncIterator[ChildrenProgress]:
    """Follow `context`'s children's progress while the block runs; `watchers` is the
    context's list, through which `delegate` tells it of new children."""
    async with shared_progress_feed(publisher.transport, publisher.topics) as feed:
        watcher = ChildrenProgress(feed, context)
        watchers.append(watcher)
        try:
            yield watcher
        finally:
            watchers.remove(watcher)
            watcher.close()
