"""Streamed model output: text a task's model call generates, as it comes (ADR 022).

Records of the short-retention tokens topic, keyed by task id (the task's id is the
envelope's `task_id`). Partial results for live readers (the gateway's SSE and
LangGraph `messages` streams, `mesh task --follow`), never the record of what was
said: the whole answer is journaled with the call and its text is a progress entry
of the task's durable events.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from schemas.registry import REGISTRY

TASK_TOKENS = "mesh.task.tokens"


@REGISTRY.register(TASK_TOKENS, 1)
class TokenDelta(BaseModel):
    """A piece of one streamed answer: deltas coalesced over a short interval.

    Attributes:
        agent: the agent type whose handler made the call.
        model: the model answering (a fallback's name when the first failed).
        call: the call's journal step (`model/<hash>/<n>`): one `ctx.chat`.
        message_id: one streamed answer (a call's fallback or schema re-ask streams
            another message); unique across tasks.
        seq: the record's order within the message, from 0.
        text: the text generated since the previous record.
        done: the message's last record; `content` then holds its whole text.
    """

    agent: str
    model: str
    call: str
    message_id: str
    seq: int = Field(ge=0)
    text: str = ""
    done: bool = False
    content: str | None = None
    at: datetime
