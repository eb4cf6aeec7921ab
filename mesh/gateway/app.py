"""The gateway's FastAPI application and its server (`mesh gateway`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI

from mesh.client import Client
from mesh.gateway import langgraph, native
from mesh.gateway.problems import install_problem_handlers
from mesh.logs import configure_logging
from mesh.settings import Settings, load_settings
from mesh.transport.base import Transport


class Gateway:
    """What every route shares: a mesh client (producer + materialized view)."""

    def __init__(self, client: Client, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    async def start(self) -> None:
        await self.client.start()

    async def stop(self) -> None:
        await self.client.stop()


def create_app(settings: Settings | None = None, transport: Transport | None = None) -> FastAPI:
    """The gateway app; on `transport` when given (tests), else on the configured cluster."""
    settings = settings or load_settings()
    client = (
        Client(transport, settings, name="gateway")
        if transport is not None
        else Client.connect(settings)
    )
    gateway = Gateway(client, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()

    app = FastAPI(title="agentmesh gateway", version="1", lifespan=lifespan)
    app.state.gateway = gateway
    install_problem_handlers(app)
    app.include_router(native.router)
    app.include_router(langgraph.router)
    return app


def run(settings: Settings | None = None) -> None:
    """Serve the gateway until SIGINT/SIGTERM (`mesh gateway`)."""
    settings = settings or load_settings()
    configure_logging(settings, name="gateway")
    config = uvicorn.Config(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_config=None,  # keep our logging configuration
        lifespan="on",
    )
    uvicorn.Server(config).run()
