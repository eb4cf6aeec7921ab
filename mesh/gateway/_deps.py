"""`GatewayDep`: how a route reaches the `Gateway` (one FastAPI dependency).

    async def route(gateway: GatewayDep) -> ...

`create_app` keeps the gateway on `app.state`; routes ask for it here, so no router
imports the app.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from mesh.gateway.gateway import Gateway


def current_gateway(connection: HTTPConnection) -> Gateway:
    """The gateway serving this request (`create_app` puts it on `app.state`)."""
    gateway: Gateway = connection.app.state.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(current_gateway)]
