"""`ProgressFeed`: progress entries of chosen tasks, live, for a parent that watches its
children work (`ctx.children_progress()`, mesh/runtime/children.py).

It follows the task-events topic from its end without a consumer group, like the
token feed (mesh/views/tokens.py): a child may run in any process, and its progress
events are on that topic whoever runs it. Only the entries of watched tasks are
kept, and a task's entries are dropped when it is unwatched, so memory follows what
the process's running parents watch, not the mesh's traffic.

One feed per transport is shared by every parent in the process (`shared_progress_feed`):
the first watcher starts it, the last one to leave stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pydantic import ValidationError

from mesh.topics import Topics
from mesh.transport.base import Delivery, Transport
from mesh.views.follower import TopicFollower
from schemas import decode_envelope
from schemas.tasks import TASK_EVENT, EventKind, ProgressEntry, TaskEvent

log = logging.getLogger(__name__)


class ProgressFeed(TopicFollower):
    def __init__(self, transport: Transport, topics: Topics) -> None:
        super().__init__(transport, [topics.task_events], name="progress-feed", from_end=True)
        self._entries: dict[str, list[ProgressEntry]] = {}  # watched task id -> entries

    def watch(self, task_id: str) -> None:
        """Keep the progress of `task_id` from now on (records read from now on)."""
        self._entries.setdefault(task_id, [])

    def unwatch(self, task_id: str) -> None:
        self._entries.pop(task_id, None)

    def entries(self, task_id: str) -> list[ProgressEntry]:
        """The watched task's progress entries so far, in the order reported."""
        return list(self._entries.get(task_id, ()))

    async def wait_for_more(self, counts: dict[str, int], timeout: float | None) -> None:
        """Return once a task in `counts` has more entries than counted, or after `timeout`."""

        def more() -> bool:
            return any(len(self._entries.get(t, ())) > n for t, n in counts.items())

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(more)

    def _on_record(self, record: Delivery) -> None:
        if record.value is None:
            return
        try:
            envelope = decode_envelope(record.value)
            watched = self._entries.get(envelope.task_id or "")
            if envelope.type != TASK_EVENT or watched is None:
                return
            event = TaskEvent.model_validate(envelope.payload)
        except (ValueError, ValidationError) as exc:
            log.warning("skipping an unreadable task event: %s", exc)
            return
        if event.kind is EventKind.PROGRESS and event.progress is not None:
            watched.append(event.progress)


class _Shared:
    def __init__(self, feed: ProgressFeed) -> None:
        self.feed = feed
        self.users = 0
        self.ready = asyncio.Lock()


_feeds: dict[int, _Shared] = {}  # id(transport) -> the feed on it


@asynccontextmanager
async def shared_progress_feed(transport: Transport, topics: Topics) -> AsyncIterator[ProgressFeed]:
    """This process's feed on `transport`, started for the first user, stopped after the last."""
    shared = _feeds.get(id(transport))
    if shared is None:
        shared = _feeds[id(transport)] = _Shared(ProgressFeed(transport, topics))
    shared.users += 1
    try:
        async with shared.ready:  # a second user waits until the first has started it
            if not shared.feed.following:
                await shared.feed.start()
        yield shared.feed
    finally:
        shared.users -= 1
        if shared.users == 0:
            del _feeds[id(transport)]
            await shared.feed.stop()
