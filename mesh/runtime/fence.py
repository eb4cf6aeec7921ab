"""`EffectFence`: keeps a task's effects out of the gap of a rebalance.

With Kafka's eager rebalance every member gives up all its partitions, and the new
owner of a partition starts re-running its unfinished tasks as soon as it is
assigned. A task of the old owner that wrote a step result or its outcome in that gap
would overlap the new owner's run. So effects (a durable step, a task's outcome and
its journal record) pass through this fence: `close` (on revocation) lets the effects
already under way finish, up to a grace period, and holds new ones back; `open` (on
assignment, after the tasks of lost partitions were handed back) lets them go on. A
handed-back task is cancelled while it waits here, so it never writes.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


class EffectFence:
    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._busy = 0

    def effect(self) -> EffectFence:
        """`async with fence.effect():` waits until the fence is open, then holds it for
        the effect's duration. (A plain async context manager, not a generator one: every
        task's outcome passes here.)"""
        return self

    async def __aenter__(self) -> None:
        if not self._open.is_set():  # open but for a rebalance: no wait made per effect
            await self._open.wait()
        self._hold()

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()

    def hold_if_open(self) -> bool:
        """Hold the fence for an effect if it is open (True), without a coroutine: every
        task's outcome passes here (ADR 057). False: closed; `async with` waits."""
        if not self._open.is_set():
            return False
        self._hold()
        return True

    def release(self) -> None:
        """The effect held by `hold_if_open` (or `async with`) is over."""
        self._busy -= 1
        if self._busy == 0:
            self._idle.set()

    def _hold(self) -> None:
        self._busy += 1
        self._idle.clear()

    async def close(self, grace: float) -> None:
        """Hold back new effects; wait up to `grace` s for those under way."""
        self._open.clear()
        try:
            async with asyncio.timeout(grace):
                await self._idle.wait()
        except TimeoutError:
            log.warning(
                "%d effects still under way after %.1fs of rebalance grace; a new owner "
                "may run them again",
                self._busy,
                grace,
            )

    def open(self) -> None:
        self._open.set()
