"""ASGI middleware: a SERVER span per request, so a task submitted through the gateway
is one trace with the caller's (its `traceparent` header) and with the task's hops."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mesh.gateway.http_metrics import route_template
from mesh.tracing import server_span, tracing_on


class RequestTracing:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not tracing_on():
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        with server_span(f"HTTP {scope['method']}", headers) as span:
            status = 500

            async def send_and_note(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await self.app(scope, receive, send_and_note)
            finally:
                if span is not None:
                    route = route_template(scope)
                    span.update_name(f"{scope['method']} {route}")  # bounded names
                    span.set_attribute("http.request.method", scope["method"])
                    span.set_attribute("http.route", route)
                    span.set_attribute("http.response.status_code", status)
