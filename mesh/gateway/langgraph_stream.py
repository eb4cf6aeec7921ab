"""Long answers: `runs.wait`/`runs.join` bodies kept alive, and `runs.stream` as SSE.

A waiting response writes a newline each `KEEP_ALIVE` seconds until the JSON is
ready (JSON allows leading whitespace), so a client's read timeout, 300 s in
langgraph-sdk, never cuts a long run off. The SSE stream sends `metadata` first,
then the modes asked for as the run moves, then ends when the run has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import orjson

from mesh.gateway.conversation import IN_FLIGHT, Conversation, RunView
from mesh.gateway.langgraph_wire import run_outcome_json
from mesh.gateway.run_service import LangGraphService

KEEP_ALIVE = 1.0  # seconds between keep-alive bytes on a response still waiting
_POLL = 0.05  # seconds between looks at a streamed run


async def json_when_ready(answer: Awaitable[dict[str, Any]]) -> AsyncIterator[bytes]:
    """Newlines while `answer` is not ready, then its JSON."""
    pending = asyncio.ensure_future(answer)
    try:
        while True:
            done, _ = await asyncio.wait({pending}, timeout=KEEP_ALIVE)
            if done:
                yield orjson.dumps(pending.result())
                return
            yield b"\n"
    finally:
        pending.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pending


async def outcome_when_ended(service: LangGraphService, thread_id: str, run_id: str) -> Any:
    now, run = await service.ended(thread_id, run_id)
    return run_outcome_json(now, run)


def stream_modes(requested: str | list[str] | None) -> frozenset[str]:
    if requested is None:
        return frozenset({"values"})
    return frozenset([requested] if isinstance(requested, str) else requested)


def _frame(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def run_events(
    service: LangGraphService, thread_id: str, run_id: str, modes: frozenset[str]
) -> AsyncIterator[bytes]:
    """The run as SSE frames: metadata, then values/updates/custom as it moves, then
    `error` if it failed."""
    yield _frame("metadata", {"run_id": run_id, "attempt": 1})
    sent_values: dict[str, Any] | None = None
    sent_progress = 0
    last_byte = time.monotonic()
    while True:
        now, run = await service.run(thread_id, run_id)
        frames = []
        if "custom" in modes and run.task is not None and run.owns_task:
            for entry in run.task.progress[sent_progress:]:
                frames.append(_frame("custom", entry.model_dump(mode="json")))
            sent_progress = len(run.task.progress)
        ended = run.status not in IN_FLIGHT
        changed = now.values != sent_values
        if "values" in modes and run.submitted and (changed or (ended and run.waiting_for_human)):
            sent_values = now.values
            frames.append(_frame("values", run_outcome_json(now, run) if ended else sent_values))
        if ended:
            frames += _final_frames(now, run, modes)
        for frame in frames:
            yield frame
        if frames:
            last_byte = time.monotonic()
        if ended:
            return
        if time.monotonic() - last_byte >= KEEP_ALIVE:
            yield b": heartbeat\n\n"
            last_byte = time.monotonic()
        await asyncio.sleep(_POLL)


def _final_frames(now: Conversation, run: RunView, modes: frozenset[str]) -> list[bytes]:
    frames = []
    if "updates" in modes and run.status == "success" and now.messages:
        frames.append(_frame("updates", {run.record.assistant_id: {"messages": now.messages[-1:]}}))
    if run.status in ("error", "timeout"):
        frames.append(_frame("error", run_outcome_json(now, run)["__error__"]))
    return frames
