"""On the in-memory transport: /readyz turns 503 when the view stops following its
topics; a webhook is refused while no signing secret is set."""

from __future__ import annotations

import httpx

from mesh.gateway.app import create_app
from mesh.gateway.gateway import Gateway
from mesh.runtime.worker import Worker
from mesh.settings import Settings
from mesh.transport.memory import MemoryTransport
from tests.gateway.agents import echo


async def test_readyz_is_503_once_the_view_stops_following() -> None:
    transport = MemoryTransport()
    await transport.start()
    app = create_app(Settings(), transport=transport)
    gateway: Gateway = app.state.gateway
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw") as http,
        ):
            assert (await http.get("/readyz")).status_code == 200
            await gateway.view.stop()
            response = await http.get("/readyz")
            assert response.status_code == 503
            assert "stopped following" in response.json()["detail"]
    finally:
        await transport.stop()


async def test_a_webhook_is_refused_while_no_secret_is_set() -> None:
    transport = MemoryTransport()
    await transport.start()
    settings = Settings()  # MESH_GATEWAY_WEBHOOK_SECRET unset
    app = create_app(settings, transport=transport)
    try:
        async with (
            Worker(echo, transport=transport, settings=settings),
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw") as http,
        ):
            body = {"agent": "echo", "input": {"text": "x"}, "webhook": "http://127.0.0.1:9/h"}
            response = await http.post("/v1/tasks", json=body)
            assert response.status_code == 422, response.text
            assert response.json()["detail"].startswith("body.webhook:")
            assert "MESH_GATEWAY_WEBHOOK_SECRET" in response.json()["detail"]
    finally:
        await transport.stop()
