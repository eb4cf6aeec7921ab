"""Server-Sent Events of one task: replay from the view, then follow it live.

Interleaved with the task's events come its streamed model tokens (ADR 022) as
`event: token` frames, sent as they reach the gateway's token feed. A token frame
has no `id:`, so a client's `Last-Event-ID` stays the last durable event's and a
reconnect resumes the events exactly; tokens are live only (a reconnect gets the
tokens of answers still being generated, and each whole answer is a progress event).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from mesh.gateway._view import GatewayView, StoredEvent
from mesh.views.tokens import LiveToken, TokenFeed

KEEPALIVE_SECONDS = 10.0  # a comment line so proxies keep an idle stream open
# A task that has ended but whose terminal event is not (or no longer) in the view:
# how long the stream waits for it before it closes.
TERMINAL_EVENT_GRACE = 5.0


def sse_message(event: StoredEvent) -> bytes:
    """`id:` the event's id, `event:` its kind (`progress`, `succeeded`...), `data:` the
    task event as JSON (one line: JSON has no raw newlines)."""
    head = f"id: {event.id}\nevent: {event.kind}\ndata: ".encode()
    return head + event.data + b"\n\n"


def sse_token(token: LiveToken) -> bytes:
    """`event: token`, `data:` the token record as JSON (`task_id`, `message_id`, `seq`,
    `text`, `done`, ...; schemas/tokens.py); no `id:`."""
    return b"event: token\ndata: " + token.data + b"\n\n"


async def follow_task_events(
    view: GatewayView, task_id: str, last_event_id: str | None, tokens: TokenFeed | None = None
) -> AsyncIterator[bytes]:
    """Events after `last_event_id` (all without one), then new ones and the task's
    streamed tokens until the task ends."""
    sent = last_event_id
    joined = tokens.unfinished(task_id) if tokens is not None else []
    tokens_seen = tokens.last_number(task_id) if tokens is not None else 0
    idle_since = ended_since = time.monotonic()
    while True:  # a client that disconnects cancels this (StreamingResponse)
        if tokens is not None:  # tokens first: the terminal event ends the stream
            for token in [*joined, *tokens.after(task_id, tokens_seen)]:
                yield sse_token(token)
                tokens_seen, idle_since = max(tokens_seen, token.number), time.monotonic()
            joined = []
        for event in view.events_after(task_id, sent):
            yield sse_message(event)
            sent, idle_since = event.id, time.monotonic()
            if event.terminal:
                return
        history = view.events.get(task_id, [])
        state = view.tasks.get(task_id)
        if state is not None and state.status.is_terminal:
            if any(event.terminal for event in history):
                return  # resumed after the terminal event: nothing more will come
            if time.monotonic() - ended_since > TERMINAL_EVENT_GRACE:
                return
        else:
            ended_since = time.monotonic()
        if time.monotonic() - idle_since > KEEPALIVE_SECONDS:
            yield b": keepalive\n\n"
            idle_since = time.monotonic()
        await _either(view, task_id, len(history), tokens, tokens_seen)


async def _either(
    view: GatewayView, task_id: str, events: int, tokens: TokenFeed | None, seen: int
) -> None:
    """Return once the task has a new event or a new token, or after a second."""
    if tokens is None:
        await view.wait_for_events(task_id, events, timeout=1.0)
        return
    waits = {
        asyncio.ensure_future(view.wait_for_events(task_id, events, timeout=1.0)),
        asyncio.ensure_future(tokens.wait_for_tokens(task_id, seen, timeout=1.0)),
    }
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
        for wait in waits:
            with contextlib.suppress(asyncio.CancelledError):
                await wait
