"""`TokenFeed`: streamed model output of running tasks, for live readers (ADR 022).

It follows the short-retention tokens topic from its end, without a consumer group
(every gateway replica and every `mesh task --follow` sees every task's tokens), and
keeps each task's recent deltas in memory so a reader that joins mid-answer gets the
answer so far. Tokens are partial results: a reader that joins late or misses some
still gets each whole answer from the task's durable events (a progress entry).

Memory stays bounded: a task keeps at most `KEEP_PER_TASK` records, and a task with
no new record for `IDLE_FORGET` seconds is forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass

import orjson
from pydantic import ValidationError

from mesh.topics import Topics
from mesh.transport.base import Delivery, Transport
from mesh.views.follower import TopicFollower
from schemas import decode_envelope
from schemas.tokens import TASK_TOKENS, TokenDelta

log = logging.getLogger(__name__)

KEEP_PER_TASK = 4096  # records (each tens of characters, coalesced)
IDLE_FORGET = 300.0  # seconds without a record before a task's tokens are dropped
_SWEEP_EVERY = 30.0  # seconds between looks for idle tasks


@dataclass(frozen=True, slots=True)
class LiveToken:
    """One record as received: its number in the task's feed (from 1), the delta, and
    its JSON (with `task_id`) for an SSE `data:` line."""

    number: int
    delta: TokenDelta
    data: bytes


class _TaskTokens:
    __slots__ = ("count", "last_at", "records")

    def __init__(self) -> None:
        self.records: deque[LiveToken] = deque(maxlen=KEEP_PER_TASK)
        self.count = 0
        self.last_at = time.monotonic()


class TokenFeed(TopicFollower):
    def __init__(self, transport: Transport, topics: Topics) -> None:
        super().__init__(transport, [topics.task_tokens], name="token-feed", from_end=True)
        self._tasks: dict[str, _TaskTokens] = {}
        self._swept_at = time.monotonic()

    def after(self, task_id: str, number: int) -> list[LiveToken]:
        """The task's records with a number above `number`."""
        kept = self._tasks.get(task_id)
        if kept is None or kept.count <= number:
            return []
        return [token for token in kept.records if token.number > number]

    def unfinished(self, task_id: str) -> list[LiveToken]:
        """The records of the task's answers still being generated (none `done` yet):
        what a reader that joins now has missed of them."""
        kept = self._tasks.get(task_id)
        if kept is None:
            return []
        done = {token.delta.message_id for token in kept.records if token.delta.done}
        return [token for token in kept.records if token.delta.message_id not in done]

    def last_number(self, task_id: str) -> int:
        kept = self._tasks.get(task_id)
        return kept.count if kept is not None else 0

    async def wait_for_tokens(self, task_id: str, seen: int, timeout: float) -> None:
        """Return once the task has a record numbered above `seen`, or after `timeout` s."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: self.last_number(task_id) > seen)

    def _on_record(self, record: Delivery) -> None:
        if record.value is None:
            return
        try:
            envelope = decode_envelope(record.value)
            if envelope.type != TASK_TOKENS or envelope.task_id is None:
                return
            delta = TokenDelta.model_validate(envelope.payload)
        except (ValueError, ValidationError) as exc:
            log.warning("skipping an unreadable token record: %s", exc)
            return
        kept = self._tasks.setdefault(envelope.task_id, _TaskTokens())
        kept.count += 1
        kept.last_at = time.monotonic()
        data = orjson.dumps({"task_id": envelope.task_id, **envelope.payload})
        kept.records.append(LiveToken(kept.count, delta, data))
        self._sweep(kept.last_at)

    def _sweep(self, now: float) -> None:
        if now - self._swept_at < _SWEEP_EVERY:
            return
        self._swept_at = now
        for task_id in [t for t, kept in self._tasks.items() if now - kept.last_at > IDLE_FORGET]:
            del self._tasks[task_id]
