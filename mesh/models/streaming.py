"""Streamed calls (`ctx.chat(..., stream=True)`, ADR 022): deltas out as they come.

A streamed call returns the same `ModelAnswer` as any call, journaled whole (a replay
streams nothing). On the way, the provider's text deltas are coalesced and handed to a
`TokenSink` (the worker's publishes them to the short-retention tokens topic,
mesh/runtime/tokens.py): the first delta at once (time to first token is what a
reader waits for), then at most one record per `MESH_TOKENS_FLUSH_INTERVAL` or per
`MESH_TOKENS_FLUSH_CHARS` characters, so a token is not a record. Each request is one
message (a fallback or a schema re-ask streams a new one); its last record is `done`
and carries the whole text (None when the request failed midway).

Tokens are partial results for live readers, published at most once: one that cannot
be published is logged and the rest of that message is not sent, while the call goes
on (the answer is what counts; the task's events get it when the call ends).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from mesh.errors import ModelUnavailable, TransportError
from mesh.models.base import ModelProvider
from mesh.models.types import ModelAnswer, ModelRequest
from schemas.envelope import new_id, utc_now
from schemas.tokens import TokenDelta

log = logging.getLogger(__name__)


class TokenSink(Protocol):
    """Where a task's streamed output goes (mesh/runtime/tokens.py `TaskTokens`)."""

    async def publish(self, delta: TokenDelta) -> None:
        """Publish one coalesced piece. Raises `TransportError`."""

    async def answered(self, call: str, answer: ModelAnswer[Any]) -> None:
        """The call's final answer, journaled: it goes to the durable task events."""


@dataclass(frozen=True)
class CallStream:
    """One streamed `ctx.chat` call: whose, which step, where its output goes."""

    sink: TokenSink
    agent: str
    call: str
    flush_interval: float
    flush_chars: int


class _Message:
    """One streamed answer's records: numbered, coalesced, stopped after a failure."""

    def __init__(self, stream: CallStream, model: str) -> None:
        self._stream = stream
        self._model = model
        self._id = new_id()
        self._seq = 0
        self._buffer: list[str] = []
        self._size = 0
        self._flushed_at = float("-inf")  # the first delta goes out at once
        self._broken = False
        self.text: list[str] = []

    async def add(self, text: str) -> None:
        self.text.append(text)
        self._buffer.append(text)
        self._size += len(text)
        now = time.monotonic()
        due = now - self._flushed_at >= self._stream.flush_interval
        if due or self._size >= self._stream.flush_chars:
            self._flushed_at = now
            await self._send(done=False, content=None)

    async def end(self, content: str | None) -> None:
        await self._send(done=True, content=content)

    async def _send(self, *, done: bool, content: str | None) -> None:
        if self._broken:
            return
        text, self._buffer, self._size = "".join(self._buffer), [], 0
        delta = TokenDelta(
            agent=self._stream.agent,
            model=self._model,
            call=self._stream.call,
            message_id=self._id,
            seq=self._seq,
            text=text,
            done=done,
            content=content,
            at=utc_now(),
        )
        self._seq += 1
        try:
            await self._stream.sink.publish(delta)
        except TransportError as exc:
            self._broken = True
            log.warning("streamed tokens of %s not published: %s", self._stream.call, exc)


async def streamed_answer(
    provider: ModelProvider, request: ModelRequest, stream: CallStream
) -> ModelAnswer[None]:
    """`provider.stream(request)`'s answer, its text deltas handed to `stream.sink`.

    Raises what `ModelProvider.chat` raises (the message then ends with no content).
    """
    message = _Message(stream, request.model)
    answer: ModelAnswer[None] | None = None
    try:
        async for chunk in provider.stream(request):
            if chunk.text:
                await message.add(chunk.text)
            if chunk.answer is not None:
                answer = chunk.answer
    except Exception:  # not a cancel: the task is then stopping, nobody waits for it
        await message.end(None)
        raise
    if answer is None:
        await message.end(None)
        raise ModelUnavailable(
            f"model {request.model!r}: the provider's stream ended without an answer",
            model=request.model,
        )
    await message.end(answer.content)
    return answer
