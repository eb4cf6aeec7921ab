"""`GET /v1/task-updates`: a live task list's feed (Server-Sent Events, ADR 042).

First `event: ready` (load the list now: every change after it comes on this
stream), then `event: task` with the task's document each time a matching task's
state changes, `event: gone` (`{"task_id": ...}`) when it changed out of the
`status` asked for; `event: reset` when the reader fell so far behind that changes were
dropped (load the list again). Frames have no `id:`: a reconnecting client loads its
list again on `ready`, which also makes any gateway replica as good as another.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from mesh.gateway._changes import TaskChanges
from mesh.gateway._deps import GatewayDep
from mesh.gateway._index import TaskFilter
from mesh.gateway._json_body import JsonBodyRoute
from mesh.gateway._problems import problem_responses
from mesh.gateway._view import GatewayView
from mesh.gateway.native._models import task_document
from mesh.gateway.native._sse import KEEPALIVE_SECONDS
from mesh.gateway.native.routes import Reader
from schemas.tasks import TaskStatus

router = APIRouter(prefix="/v1", tags=["native"], route_class=JsonBodyRoute)

READY = b"retry: 1000\nevent: ready\ndata: {}\n\n"  # browsers reconnect after 1 s
RESET = b"event: reset\ndata: {}\n\n"


@router.get(
    "/task-updates",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **problem_responses(422)},
)
async def task_updates(
    gateway: GatewayDep,
    caller: Reader,
    status: TaskStatus | None = None,
    agent: Annotated[str | None, Query(max_length=200)] = None,
    root: Annotated[str | None, Query(max_length=200)] = None,
) -> StreamingResponse:
    """Server-Sent Events: `ready` once, then a `task` frame (the task's document, as
    `GET /v1/tasks` lists it) whenever a task that matches the filters changes, a
    `gone` frame (its `task_id`) when one changes to another status than `status`;
    until the client disconnects. `reset`: changes were missed, load the list again."""
    where = TaskFilter(status=status, agent=agent, root=root, tenant=caller.tenant)
    return StreamingResponse(
        follow_task_changes(gateway.view, gateway.changes, where),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def follow_task_changes(
    view: GatewayView, changes: TaskChanges, where: TaskFilter
) -> AsyncIterator[bytes]:
    seen = changes.count
    yield READY
    idle_since = time.monotonic()
    while True:  # a client that disconnects cancels this (StreamingResponse)
        changed = changes.since(seen)
        seen = changes.count
        for frame in [RESET] if changed is None else _frames(view, changed, where):
            yield frame
            idle_since = time.monotonic()
        if time.monotonic() - idle_since > KEEPALIVE_SECONDS:
            yield b": keepalive\n\n"
            idle_since = time.monotonic()
        await changes.wait(seen, timeout=1.0)


def _frames(view: GatewayView, task_ids: list[str], where: TaskFilter) -> list[bytes]:
    any_status = dataclasses.replace(where, status=None)
    frames = []
    for task_id in task_ids:
        state = view.tasks.get(task_id)  # None: it has left the view since
        if state is None:
            continue
        if where.matches(state):
            document = task_document(view.with_held(state), view.webhooks.get(task_id))
            frames.append(b"event: task\ndata: " + document + b"\n\n")
        elif where.status is not None and any_status.matches(state):
            frames.append(b"event: gone\ndata: " + orjson.dumps({"task_id": task_id}) + b"\n\n")
    return frames
