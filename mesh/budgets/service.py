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
    sets no budget pays no consumer for them (none is even made: a Kafka consumer
    made and never closed warns). Every process that has asked is a keeper too, so
    the keepers are as many as the processes using budgets.
    """

    def __init__(self, transport: Transport, settings: Settings) -> None:
        self._transport = transport
        self._settings = settings
        self.keeper: Keeper | None = None
        self.client: BudgetClient | None = None
        self._started: asyncio.Task[BudgetClient] | None = None

    async def started(self) -> BudgetClient:
        """The client, once the topics exist and this process has joined the keepers."""
        if self._started is None or (self._started.done() and self._started.exception()):
            self._started = asyncio.ensure_future(self._start())  # first use, or after a failure
        return await asyncio.shield(self._started)

    async def _start(self) -> BudgetClient:
        await self._stop_parts()  # what a failed start left
        await self._transport.ensure_topics(budget_topics(self._settings))
        self.client = BudgetClient(self._transport, self._settings)
        await self.client.start()  # reading replies before the first request goes
        self.keeper = Keeper(self._transport, self._settings)
        await self.keeper.start()
        return self.client

    async def stop(self) -> None:
        if self._started is None:
            return
        started, self._started = self._started, None
        started.cancel()
        await asyncio.wait({started})  # a start still under way ends first (no raise)
        await self._stop_parts()

    async def _stop_parts(self) -> None:
        client, keeper, self.client, self.keeper = self.client, self.keeper, None, None
        if client is not None:
            await client.stop()
        if keeper is not None:
            await keeper.stop()
