"""ASGI middleware: a request body over `max_bytes` gets 413 before anything parses it.

A declared Content-Length is checked up front; a chunked body is counted as it
streams in, and the request is answered with 413 once the count passes the limit.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mesh.gateway._problems import PROBLEM_JSON, ProblemError


class BodyTooLarge(ProblemError):
    """Raised from `receive`: an HTTPException, so the body parser passes it on as is
    and the problem handler answers 413."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, "body", _reason(max_bytes))


class RequestSizeLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def noting_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, noting_send)
        except BodyTooLarge:
            if not started:
                await self._too_large(send)

    async def _too_large(self, send: Send) -> None:
        body = orjson.dumps(
            {
                "type": "about:blank",
                "title": "Content Too Large",
                "status": 413,
                "detail": f"body: {_reason(self.max_bytes)}",
                "errors": [{"field": "body", "reason": _reason(self.max_bytes)}],
            }
        )
        headers = [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _reason(max_bytes: int) -> str:
    return f"larger than the limit of {max_bytes} bytes (MESH_GATEWAY_MAX_REQUEST_BYTES)"
