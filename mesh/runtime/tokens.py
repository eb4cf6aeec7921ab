"""`TaskTokens`: where a running task's streamed model output goes (ADR 022).

Coalesced deltas go to the short-retention tokens topic, keyed by task id, for live
readers (the gateway, `mesh task --follow`); the final answer of each streamed call
goes to the task's durable events as a progress entry (its text as the message),
so the event log holds what was said, not every token.
"""

from __future__ import annotations

from typing import Any

from mesh.models.types import ModelAnswer
from mesh.runtime.lifecycle import TaskRecorder
from mesh.runtime.publisher import Publisher
from schemas import Envelope
from schemas.envelope import utc_now
from schemas.tasks import EventKind, ProgressEntry
from schemas.tokens import TASK_TOKENS, TokenDelta


class TaskTokens:
    """The `TokenSink` (mesh/models/streaming.py) of one task run."""

    def __init__(self, request: Envelope, publisher: Publisher, recorder: TaskRecorder) -> None:
        self._request = request
        self._publisher = publisher
        self._recorder = recorder

    async def publish(self, delta: TokenDelta) -> None:
        request = self._request
        envelope = Envelope(
            type=TASK_TOKENS,
            task_id=request.task_id,
            root_task_id=request.root_task_id or request.task_id,
            correlation_id=request.correlation_id,
            source=self._publisher.source,
            tenant=request.tenant,
            payload=delta.model_dump(mode="json"),
        )
        topic = self._publisher.topics.task_tokens
        await self._publisher.send(topic, envelope, key=request.task_id)

    async def answered(self, call: str, answer: ModelAnswer[Any]) -> None:
        data: dict[str, Any] = {"model_call": call, "model": answer.model}
        if answer.tool_calls:
            data["tool_calls"] = [c.model_dump(mode="json") for c in answer.tool_calls]
        entry = ProgressEntry(at=utc_now(), message=answer.content or "", data=data)
        await self._recorder.record(EventKind.PROGRESS, progress=entry)
