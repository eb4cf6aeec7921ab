"""Test helpers shipped with the library: an in-memory transport and a test mesh.

    async with TestMesh(triage, knowledge) as mesh:
        task_id = await mesh.client.submit("knowledge", {"query": "refund"})
        state = await mesh.client.wait(task_id, timeout=5)

`TestMesh` runs every agent in-process; give it a real transport to run the very
same test against a broker.
"""

from __future__ import annotations

import asyncio
import contextlib

from mesh.agent import Agent
from mesh.client import Client
from mesh.runtime.worker import Worker
from mesh.settings import Settings
from mesh.transport.base import Transport
from mesh.transport.memory import MemoryBroker, MemoryTransport

__all__ = ["MemoryBroker", "MemoryTransport", "TestMesh"]


class TestMesh:
    """Agents, their workers and a client, on one transport (in-memory by default)."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        *agents: Agent,
        transport: Transport | None = None,
        settings: Settings | None = None,
        workers_per_agent: int = 1,
    ) -> None:
        self.agents = agents
        self.transport = transport or MemoryTransport()
        self.settings = settings or Settings()
        self.workers: list[Worker] = []
        self._workers_per_agent = workers_per_agent
        self.client = Client(self.transport, self.settings)

    async def __aenter__(self) -> TestMesh:
        await self.transport.start()

        async def start_workers(agent: Agent) -> None:
            for _ in range(self._workers_per_agent):  # one at a time: they share a group
                await self.add_worker(agent)

        # Agent types join their own groups, so they start together: on Kafka each
        # join takes seconds, and one after another they would add up.
        await asyncio.gather(*(start_workers(agent) for agent in self.agents))
        await self.client.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        with contextlib.suppress(Exception):
            await self.client.stop()
        await asyncio.gather(*(worker.stop() for worker in reversed(self.workers)))
        await self.transport.stop()

    async def add_worker(self, agent: Agent, settings: Settings | None = None) -> Worker:
        worker = Worker(agent, transport=self.transport, settings=settings or self.settings)
        await worker.start()
        self.workers.append(worker)
        return worker

    def workers_of(self, agent: str) -> list[Worker]:
        return [w for w in self.workers if w.agent.name == agent]
