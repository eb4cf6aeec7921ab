"""The gateway's FastAPI application and its server (`mesh gateway`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn
from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline

from mesh.client import Client
from mesh.gateway import _operations as operations
from mesh.gateway._http_metrics import RequestMetrics
from mesh.gateway._limits import RequestSizeLimit
from mesh.gateway._openapi import complete_openapi
from mesh.gateway._problems import install_problem_handlers
from mesh.gateway._view import GatewayView
from mesh.gateway.a2a import routes as a2a
from mesh.gateway.auth import Authenticator, caller_by_method
from mesh.gateway.auth.expiry import EndStreamsAtExpiry
from mesh.gateway.console import install_console
from mesh.gateway.console import session as console_session
from mesh.gateway.gateway import Gateway
from mesh.gateway.langgraph import routes as langgraph
from mesh.gateway.native import agents, approvals, dead_letters, schedules, updates
from mesh.gateway.native import routes as native
from mesh.observability.logs import configure_logging
from mesh.observability.tenants import label_tenants
from mesh.observability.tracing import configure_tracing, shutdown_tracing
from mesh.runtime.gc_tuning import tune_for_service
from mesh.settings import Settings, load_settings
from mesh.topics import Topics
from mesh.transport.base import Transport
from mesh.transport.factory import kafka_transport

DOCS_ASSETS = "/docs/assets"  # Swagger UI's and ReDoc's files (the fastapi-offline wheel)


def create_app(settings: Settings | None = None, transport: Transport | None = None) -> FastAPI:
    """The gateway app; on `transport` when given (tests), else on the configured cluster."""
    settings = settings or load_settings()
    owns_transport = transport is None
    transport = transport or kafka_transport(settings)
    view = GatewayView(
        transport, Topics(settings.namespace), retention=settings.gateway_task_retention
    )
    client = Client(transport, settings, name="gateway", view=view)
    # Made now: the gateway's start reads it with the view, through one consumer (ADR 053).
    threads = langgraph.thread_store(client)
    gateway = Gateway(client, settings, owns_transport=owns_transport, also_follow=[threads])

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await gateway.start()
        try:
            async with langgraph.serving(app, gateway, threads):
                yield
        finally:
            await gateway.stop()

    # /docs and /redoc load their scripts and styles from this app (DOCS_ASSETS), not
    # from a CDN: they work where the gateway has no way out to the internet. Swagger
    # UI's validator badge would call out to swagger.io: it is off.
    app = FastAPIOffline(
        title="agentmesh gateway",
        version="1",
        lifespan=lifespan,
        static_url=DOCS_ASSETS,
        swagger_ui_parameters={"validatorUrl": None},
    )
    app.state.gateway = gateway
    # Read now: a bad key or key set stops the gateway at start-up (mesh/gateway/auth).
    app.state.authenticator = Authenticator(settings)
    label_tenants(settings.labelled_tenants)  # the per-tenant metrics (ADR 046)
    app.add_middleware(EndStreamsAtExpiry)  # innermost: it sees the auth's scope entry
    app.add_middleware(RequestSizeLimit, max_bytes=settings.gateway_max_request_bytes)
    app.add_middleware(RequestMetrics)  # outermost: it also counts (and traces) the 413s
    routers = [
        operations.router,
        updates.router,
        native.router,
        dead_letters.router,
        agents.router,
        approvals.router,
        schedules.router,
        console_session.router,
        langgraph.router,
        a2a.router,
    ]
    for router in routers:
        # Native and A2A routes ask for their scopes; the LangGraph API by HTTP method.
        guarded = router is langgraph.router
        app.include_router(router, dependencies=[Depends(caller_by_method)] if guarded else None)
    install_console(app)
    routes = [*app.router.routes, *(route for router in routers for route in router.routes)]
    install_problem_handlers(app, routes=routes)
    complete_openapi(app)
    return app


def run(settings: Settings | None = None) -> None:
    """Serve the gateway until SIGINT/SIGTERM (`mesh gateway`)."""
    settings = settings or load_settings()
    configure_logging(settings, name="gateway")
    configure_tracing(settings, "gateway")

    async def serve() -> None:
        # Inside the running loop: the Kafka clients the app creates need it.
        app = create_app(settings)
        # Started before uvicorn, not only by the lifespan: an unreachable broker or a
        # refused login then reaches the CLI as one line, not uvicorn's traceback.
        await app.state.gateway.start()
        config = uvicorn.Config(
            app,
            host=settings.gateway_host,
            port=settings.gateway_port,
            log_config=None,  # keep our logging configuration
            lifespan="on",
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        while not server.started and not serving.done():  # noqa: ASYNC110 (uvicorn has no event)
            await asyncio.sleep(0.05)
        # The view has caught up: out of the collector's sight, so full collections do
        # not walk every task the view holds (p99 latency; see mesh/runtime/gc_tuning.py).
        tune_for_service(settings.gc_gen0_threshold)
        await serving

    try:
        asyncio.run(serve())
    finally:
        shutdown_tracing()  # flushes the spans not yet exported
