"""Server-Sent Events of one task: replay from the view, then follow it live."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from mesh.gateway._view import GatewayView, StoredEvent

KEEPALIVE_SECONDS = 10.0  # a comment line so proxies keep an idle stream open
# A task that has ended but whose terminal event is not (or no longer) in the view:
# how long the stream waits for it before it closes.
TERMINAL_EVENT_GRACE = 5.0


def sse_message(event: StoredEvent) -> bytes:
    """`id:` the event's id, `event:` its kind (`progress`, `succeeded`...), `data:` the
    task event as JSON (one line: JSON has no raw newlines)."""
    head = f"id: {event.id}\nevent: {event.kind}\ndata: ".encode()
    return head + event.data + b"\n\n"


async def follow_task_events(
    view: GatewayView, task_id: str, last_event_id: str | None
) -> AsyncIterator[bytes]:
    """Events after `last_event_id` (all without one), then new ones until the task ends."""
    sent = last_event_id
    idle_since = ended_since = time.monotonic()
    while True:  # a client that disconnects cancels this (StreamingResponse)
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
        await view.wait_for_events(task_id, len(history), timeout=1.0)
