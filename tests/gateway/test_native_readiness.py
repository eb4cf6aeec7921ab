"""/readyz turns 503 when the view stops following its topics (in-memory transport)."""

from __future__ import annotations

import httpx

from mesh.gateway.app import Gateway, create_app
from mesh.settings import Settings
from mesh.transport.memory import MemoryTransport


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
