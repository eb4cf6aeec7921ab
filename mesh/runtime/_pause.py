"""A worker's pause switch: whether its agent type is paused (ADR 039).

`PauseSwitch` follows the pause records (mesh/views/pauses.py) for one agent type.
Until it has read the topic to its end it *holds* (a worker that starts while its
type is paused must not start a task first and read the pause after); then it holds
while the type is paused. Admission asks it before starting a task: held tasks wait
in the backlog, where a cancel still reaches them and their state says why.

Pausing stops admission, not consumption: the inbox also carries steering, cancel and
the outcomes of children, which running tasks (a parent waiting for its children)
need to finish. Pausing the inbox's partitions on the consumer would hold those back
too. The backlog is bounded as always: once it is full the worker stops fetching
(backpressure, mesh/runtime/worker.py) until the type is resumed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from mesh.errors import TransportError
from mesh.topics import Topics
from mesh.transport.base import Transport
from mesh.views.follower import SharedFollowers, TopicFollower
from mesh.views.pauses import PauseBoard
from schemas.supervision import AgentPause

log = logging.getLogger(__name__)
_CATCH_UP = 60.0  # seconds to read the switch at start before the worker gives up
# Reads a worker's control followers with other workers' (mesh/runtime/worker_group.py):
# called with the followers and the worker's stop; False when it stopped first.
SharedControl = Callable[[Sequence[TopicFollower], asyncio.Event], Awaitable[bool]]
Control = SharedControl | None


class PauseSwitch:
    def __init__(
        self, transport: Transport, topics: Topics, agent: str, *, shared: Control = None
    ) -> None:
        """`shared`: read the switch with the process's other workers' through one
        consumer, which the caller owns (ADR 052); None: through one of our own."""
        self._transport = transport
        self._shared = shared
        self._agent = agent
        # Called once the switch lets tasks start (set by the worker's admission).
        self.on_release: Callable[[], None] = lambda: None
        self._board = PauseBoard(transport, topics, on_change=self._changed, name=f"pause-{agent}")
        self._read = False  # the topic has been read to its end once

    @property
    def holds(self) -> bool:
        """No task may start: the type is paused, or the switch is not read yet."""
        return not self._read or self.paused

    @property
    def paused(self) -> bool:
        switch = self._board.switches.get(self._agent)
        return switch is not None and switch.paused

    @property
    def reason(self) -> str:
        switch = self._board.switches.get(self._agent)
        return switch.reason if switch is not None else ""

    async def run(self, stopping: asyncio.Event, *, also: Sequence[TopicFollower] = ()) -> None:
        """Follow the switch until `stopping`; tasks may start once it has been read.

        `also`: followers of other small topics (the worker's circuit) to read through
        the same consumer, so the process sends one fetch for both (ADR 048)."""
        if self._shared is not None:
            if await self._shared([self._board, *also], stopping):
                await self._follow(stopping)
            return
        followers = SharedFollowers(
            self._transport, [self._board, *also], name=f"control-{self._agent}"
        )
        await followers.start()
        try:
            await self._follow(stopping)
        finally:
            await followers.stop()

    async def _follow(self, stopping: asyncio.Event) -> None:
        """Read the switch to its end, let tasks start unless paused, wait for the stop."""
        try:
            await self._board.catch_up(timeout=_CATCH_UP)
        except TimeoutError:
            raise TransportError(
                f"could not read the pause switch of {self._agent!r} within {_CATCH_UP:g} s"
            ) from None
        self._read = True
        if self.paused:
            log.warning("agent %r is paused: starting no task until it is resumed", self._agent)
        else:
            self.on_release()
        await stopping.wait()

    def _changed(self, switch: AgentPause) -> None:
        if switch.agent != self._agent or not self._read:
            return
        if switch.paused:
            log.warning("agent %r paused (%s): in-flight tasks finish", self._agent, switch.reason)
        else:
            log.warning("agent %r resumed", self._agent)
            self.on_release()
