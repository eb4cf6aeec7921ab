"""`Budgets`: a process's keeper and client together, started on first use."""

from __future__ import annotations

import asyncio

from mesh.budgets.client import BudgetClient
from mesh.budgets.keeper import Keeper
from mesh.settings import Settings
from mesh.topics import budget_topics
from mesh.transport.base import Transport


class Budgets:
    """This process's member of the keepers' group and its budget client.

    Started by the first call a budget applies to, not with the worker: a mesh that
    sets no budget pays no consumer for them. Every process that has asked is a
    keeper too, so the keepers are as many as the processes using budgets.
    """

    def __init__(self, transport: Transport, settings: Settings) -> None:
        self._transport = transport
        self._settings = settings
        self.keeper = Keeper(transport, settings)
        self.client = BudgetClient(transport, settings)
        self._started: asyncio.Task[None] | None = None

    async def started(self) -> BudgetClient:
        """The client, once the topics exist and this process has joined the keepers."""
        if self._started is None or (self._started.done() and self._started.exception()):
            self._started = asyncio.ensure_future(self._start())  # first use, or after a failure
        await asyncio.shield(self._started)
        return self.client

    async def _start(self) -> None:
        await self._transport.ensure_topics(budget_topics(self._settings))
        await self.client.start()  # reading replies before the first request goes
        await self.keeper.start()

    async def stop(self) -> None:
        if self._started is None:
            return
        started, self._started = self._started, None
        started.cancel()
        await asyncio.wait({started})  # a start still under way ends first (no raise)
        await self.client.stop()
        await self.keeper.stop()
