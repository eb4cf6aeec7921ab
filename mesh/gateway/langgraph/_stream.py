"""Long answers: `runs.wait`/`runs.join` bodies kept alive, and `runs.stream` as SSE.

A waiting response writes a newline each `KEEP_ALIVE` seconds until the JSON is
ready (JSON allows leading whitespace), so a client's read timeout, 300 s in
langgraph-sdk, never cuts a long run off. The SSE stream sends `metadata` first,
then the modes asked for as the run moves, then ends when the run has ended. In the
`messages` modes the run's streamed model tokens come as they reach the gateway
(mesh/gateway/langgraph/_messages.py), so the stream wakes on a token as well as on
its next look at the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import orjson
from fastapi import HTTPException

from mesh.gateway.auth import Principal
from mesh.gateway.langgraph._conversation import IN_FLIGHT, Conversation, RunView
from mesh.gateway.langgraph._messages import MESSAGE_MODES, MessageFrames
from mesh.gateway.langgraph._service import LangGraphService
from mesh.gateway.langgraph._wire import run_outcome_json
from mesh.views.tokens import TokenFeed

KEEP_ALIVE = 1.0  # seconds between keep-alive bytes on a response still waiting


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


async def outcome_when_ended(
    service: LangGraphService, thread_id: str, run_id: str, caller: Principal
) -> Any:
    try:
        now, run = await service.ended(thread_id, run_id, caller=caller)
    except HTTPException as exc:  # the thread was deleted while we waited
        return {"__error__": {"error": "NotFound", "message": str(exc.detail)}}
    return run_outcome_json(now, run)


def stream_modes(requested: str | list[str] | None) -> frozenset[str]:
    """The modes asked for; `values` when none is (langgraph-sdk sends an empty
    `stream_mode` to join a run with the modes it was created with: `values`)."""
    modes = frozenset([requested] if isinstance(requested, str) else requested or []) - {""}
    return modes or frozenset({"values"})


def _frame(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def run_events(
    service: LangGraphService,
    thread_id: str,
    run_id: str,
    modes: frozenset[str],
    caller: Principal,
) -> AsyncIterator[bytes]:
    """The run as SSE frames: metadata, then values/updates/custom/messages as it
    moves, then `error` if it failed; a heartbeat comment when nothing was sent for a
    while."""
    yield _frame("metadata", {"run_id": run_id, "attempt": 1})
    stream = _RunStream(modes, service.tokens)
    last_byte = time.monotonic()
    try:
        async with contextlib.aclosing(
            service.watch(thread_id, run_id, caller=caller, pause=stream.wait)
        ) as looks:
            async for now, run in looks:
                ended = run.status not in IN_FLIGHT
                messages = stream.message_frames(run)
                if ended:  # answers whose last tokens had not come: complete them
                    messages += stream.messages.unfinished()
                for frame in [*messages, *stream.frames(now, run)]:
                    yield frame
                    last_byte = time.monotonic()
                if ended:
                    return
                if time.monotonic() - last_byte >= KEEP_ALIVE:
                    yield b": heartbeat\n\n"
                    last_byte = time.monotonic()
    except HTTPException as exc:  # the thread was deleted while we streamed
        yield _frame("error", {"error": "NotFound", "message": str(exc.detail)})


def _run_ids(run: RunView) -> dict[str, str]:
    record = run.record
    return {
        "run_id": record.run_id,
        "thread_id": record.thread_id,
        "assistant_id": record.assistant_id,
    }


class _RunStream:
    """What one stream has sent so far, so each look at the run sends only what is new."""

    def __init__(self, modes: frozenset[str], tokens: TokenFeed | None) -> None:
        self.modes = modes
        self.tokens = tokens if modes & MESSAGE_MODES else None
        self.sent_values: dict[str, Any] | None = None
        self.sent_progress = 0
        # The `messages` modes: the run's task, and the number of its last token sent.
        self.task_id: str | None = None
        self.tokens_seen = 0
        self.messages = MessageFrames(modes, {})

    def message_frames(self, run: RunView) -> list[bytes]:
        """The message frames of the tokens the run's task streamed since last time."""
        if self.tokens is None or run.task is None or not run.owns_task:
            return []
        if self.task_id != run.task.task_id:  # the run's task, first seen
            self.task_id = run.task.task_id
            self.messages = MessageFrames(self.modes, _run_ids(run))
            self.tokens_seen = 0
        found = self.tokens.after(self.task_id, self.tokens_seen)
        self.tokens_seen = max([self.tokens_seen, *(token.number for token in found)])
        return [frame for token in found for frame in self.messages.frames(token)]

    async def wait(self, seconds: float) -> None:
        """Until the next look at the run: `seconds`, or less when a token comes."""
        if self.tokens is None or self.task_id is None:
            await asyncio.sleep(seconds)
        else:
            await self.tokens.wait_for_tokens(self.task_id, self.tokens_seen, seconds)

    def frames(self, now: Conversation, run: RunView) -> list[bytes]:
        frames = []
        if "custom" in self.modes and run.task is not None and run.owns_task:
            for entry in run.task.progress[self.sent_progress :]:
                frames.append(_frame("custom", entry.model_dump(mode="json")))
            self.sent_progress = len(run.task.progress)
        ended = run.status not in IN_FLIGHT
        changed = now.values != self.sent_values
        if "values" in self.modes and run.submitted and (changed or run.waiting_for_human):
            self.sent_values = now.values
            frames.append(_frame("values", run_outcome_json(now, run) if ended else now.values))
        if ended:
            frames += _final_frames(now, run, self.modes)
        return frames


def _final_frames(now: Conversation, run: RunView, modes: frozenset[str]) -> list[bytes]:
    frames = []
    if "updates" in modes and run.status == "success" and now.messages:
        frames.append(_frame("updates", {run.record.assistant_id: {"messages": now.messages[-1:]}}))
    if run.status in ("error", "timeout"):
        frames.append(_frame("error", run_outcome_json(now, run)["__error__"]))
    return frames
