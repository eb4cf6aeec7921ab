"""Steering a running task: `ctx.next_steer` and `ctx.pending_steers`.

A steering message (`mesh steer TASK "text"`, `client.steer(...)`, a parent's
`handle.steer(...)`) reaches the task's worker on its inbox and is queued for the
handler (mesh/runtime/_control.py); a human's answer to `ctx.escalate` arrives the
same way. Methods of the context itself, not an object per task; the queue is made
on the first message (ADR 033: most tasks are never steered, and a queue per
in-flight task costs ~3 KB).
"""

from __future__ import annotations

import asyncio

from schemas.tasks import Steer


class TaskSteering:
    """`TaskContext`'s steering methods (mesh/context.py)."""

    _steering_queue: asyncio.Queue[Steer] | None = None  # made on the first message

    async def next_steer(self, *, timeout: float | None = None) -> Steer | None:
        """Wait for the next steering message; None after `timeout` seconds."""
        # `asyncio.timeout`, not `wait_for`: on Python 3.11 `wait_for` can swallow a
        # cancel request that arrives together with a steering message.
        try:
            async with asyncio.timeout(timeout):
                return await self._steering.get()
        except TimeoutError:
            return None

    def pending_steers(self) -> list[Steer]:
        """Steering messages received and not yet read, without waiting."""
        steers = []
        while self._steering_queue is not None and not self._steering_queue.empty():
            steers.append(self._steering_queue.get_nowait())
        return steers

    @property
    def _steering(self) -> asyncio.Queue[Steer]:
        if self._steering_queue is None:
            self._steering_queue = asyncio.Queue()
        return self._steering_queue

    def _deliver_steer(self, steer: Steer) -> None:
        self._steering.put_nowait(steer)
