"""The gateway app on the in-memory transport, with in-process workers, called through
a real httpx client over ASGI: fast tests of what needs no broker."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from mesh import Agent
from mesh.gateway.app import create_app
from mesh.gateway.gateway import Gateway
from mesh.runtime.worker import Worker
from mesh.settings import Settings
from mesh.transport.base import Transport
from mesh.transport.memory import MemoryTransport
from schemas import Envelope
from schemas.envelope import utc_now
from schemas.tasks import AGENT_CARD, AgentCard


@dataclass
class MemoryGateway:
    app: FastAPI
    gateway: Gateway
    http: httpx.AsyncClient
    transport: Transport

    async def publish_card(self, card: AgentCard) -> None:
        """An agent card as a worker of another process would publish it; returns once
        the gateway's view holds it."""
        publisher = self.gateway.client.publisher
        envelope = Envelope(
            type=AGENT_CARD, source=publisher.source, payload=card.model_dump(mode="json")
        )
        await publisher.send(publisher.topics.agents, envelope, key=card.name)
        await self.gateway.view.catch_up()
        assert self.gateway.view.agents[card.name] == card

    async def end_offsets(self, topic: str) -> int:
        """Records `topic` holds (0 for a topic never created)."""
        return sum(p.end for p in await self.transport.offsets([topic]))


@contextlib.asynccontextmanager
async def memory_gateway(
    *agents: Agent, settings: Settings | None = None, transport: Transport | None = None
) -> AsyncIterator[MemoryGateway]:
    """The app started (its lifespan), `agents` running, an httpx client on the app."""
    settings = settings or Settings()
    transport = transport or MemoryTransport()
    await transport.start()
    app = create_app(settings, transport=transport)
    try:
        async with contextlib.AsyncExitStack() as stack:
            for agent in agents:
                await stack.enter_async_context(
                    Worker(agent, transport=transport, settings=settings)
                )
            await stack.enter_async_context(app.router.lifespan_context(app))
            http = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw")
            )
            yield MemoryGateway(app, app.state.gateway, http, transport)
    finally:
        await transport.stop()


def card(name: str, task_type: str, input_schema: dict[str, object]) -> AgentCard:
    return AgentCard(
        name=name,
        task_type=task_type,
        task_version=1,
        input_schema=input_schema,
        updated_at=utc_now(),
    )
