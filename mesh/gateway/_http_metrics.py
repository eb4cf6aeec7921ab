"""ASGI middleware observing each request: counted and timed by route template (bounded
labels), and traced as a SERVER span that continues the caller's `traceparent`, so a
task submitted through the gateway is one trace with its caller and its hops."""

from __future__ import annotations

import time

from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mesh.observability.metrics import GATEWAY_REQUEST_SECONDS, GATEWAY_REQUESTS
from mesh.observability.tracing import server_span, tracing_on

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500  # an exception before the response starts

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        headers = (
            {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            if tracing_on()
            else {}
        )
        with server_span(f"HTTP {scope['method']}", headers) as span:
            try:
                await self.app(scope, receive, send_and_note)
            finally:
                method = scope["method"] if scope["method"] in _METHODS else "OTHER"
                route = route_template(scope)
                GATEWAY_REQUESTS.labels(method, route, str(status)).inc()
                GATEWAY_REQUEST_SECONDS.labels(method, route).observe(time.perf_counter() - began)
                if span is not None:
                    span.update_name(f"{method} {route}")  # bounded names, like the labels
                    span.set_attribute("http.request.method", method)
                    span.set_attribute("http.route", route)
                    span.set_attribute("http.response.status_code", status)


def route_template(scope: Scope) -> str:
    """The matched route's path template; one label for every unmatched path."""
    route = scope.get("route")
    return route.path if isinstance(route, Route) else "unmatched"
