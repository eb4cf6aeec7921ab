"""A Server-Sent Events stream ends when the credential that opened it expires.

A request is authenticated once, when it arrives; a stream can outlive the JWT or the
console session it was opened with by hours. `credential_expires` records, on the
request's ASGI scope, when its credential stops being accepted (a JWT's `exp` plus the
clock-skew leeway; a session's end; an API key never). `EndStreamsAtExpiry` then ends an
event stream at that moment: the client reconnects, as `EventSource` does, and gets the
401 of an expired credential, so it signs in or refreshes its token. Other responses are
left alone: they end by themselves.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import MutableMapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_EXPIRES_AT = "mesh.credential_expires_at"  # epoch seconds


def credential_expires(scope: MutableMapping[str, Any], expires_at: float) -> None:
    """Record when the credential of the request in `scope` stops being accepted."""
    scope[_EXPIRES_AT] = expires_at


class EndStreamsAtExpiry:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        serving = asyncio.current_task()
        assert serving is not None
        timer: list[asyncio.TimerHandle] = []
        ended = False

        def end_stream() -> None:
            nonlocal ended
            ended = True
            serving.cancel()

        async def send_and_watch(message: Message) -> None:
            if message["type"] == "http.response.start" and _is_event_stream(message):
                expires_at = scope.get(_EXPIRES_AT)
                if expires_at is not None:
                    loop = asyncio.get_running_loop()
                    delay = max(0.0, expires_at - time.time())
                    timer.append(loop.call_at(loop.time() + delay, end_stream))
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        except asyncio.CancelledError:
            if not ended:
                raise
            serving.uncancel()  # ours: the stream ends as a complete response
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            for handle in timer:
                handle.cancel()


def _is_event_stream(message: Message) -> bool:
    content_type: bytes = dict(message.get("headers", ())).get(b"content-type", b"")
    return content_type.startswith(b"text/event-stream")
