"""`runs.stream` in the `messages` and `messages-tuple` modes: a run's streamed model
tokens (ADR 022) as LangGraph sends an LLM's output.

The shapes are the LangGraph Agent Server's (langgraph-sdk `schema.py` names them):
- `messages-tuple`: each piece as `event: messages`, data `[chunk, metadata]`, the
  chunk an `AIMessageChunk` holding the new text;
- `messages`: `messages/metadata` `{id: {"metadata": ...}}` when an answer starts,
  `messages/partial` `[message]` with the whole text so far at each piece, and
  `messages/complete` `[message]` when it ends (the message an `AIMessage` dict).

An answer is one streamed model request (mesh/models/streaming.py), its id the
token records' `message_id`. The metadata says which agent (`langgraph_node`) and
model (`ls_model_name`) spoke, in which run.
"""

from __future__ import annotations

from typing import Any

import orjson

from mesh.views.tokens import LiveToken

MESSAGE_MODES = frozenset({"messages", "messages-tuple"})


def _frame(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _message(kind: str, message_id: str, content: str) -> dict[str, Any]:
    """A LangChain AI message (or chunk) as the server serializes it."""
    message: dict[str, Any] = {
        "content": content,
        "additional_kwargs": {},
        "response_metadata": {},
        "type": kind,
        "name": None,
        "id": message_id,
        "example": False,
        "tool_calls": [],
        "invalid_tool_calls": [],
        "usage_metadata": None,
    }
    if kind == "AIMessageChunk":
        message["tool_call_chunks"] = []
    return message


class MessageFrames:
    """The frames of one run's stream for its tokens, answer by answer."""

    def __init__(self, modes: frozenset[str], run: dict[str, str]) -> None:
        self.modes = modes & MESSAGE_MODES
        self._run = run  # run_id, thread_id, assistant_id
        self._text: dict[str, str] = {}  # message id: the text so far
        self._ended: set[str] = set()

    def frames(self, token: LiveToken) -> list[bytes]:
        delta, frames = token.delta, []
        message_id, metadata = delta.message_id, self._metadata(token)
        started = message_id in self._text
        text = self._text.get(message_id, "") + delta.text
        self._text[message_id] = text
        if "messages-tuple" in self.modes and delta.text:
            chunk = _message("AIMessageChunk", message_id, delta.text)
            frames.append(_frame("messages", [chunk, metadata]))
        if "messages" in self.modes:
            if not started:
                frames.append(_frame("messages/metadata", {message_id: {"metadata": metadata}}))
            if delta.text:
                frames.append(_frame("messages/partial", [_message("ai", message_id, text)]))
        if delta.done:
            frames += self._complete(message_id, delta.content)
        return frames

    def unfinished(self) -> list[bytes]:
        """`messages/complete` for the answers whose end this stream did not see (the
        run ended first: tokens and the run's state travel on different topics)."""
        return [f for m in list(self._text) if m not in self._ended for f in self._complete(m)]

    def _complete(self, message_id: str, content: str | None = None) -> list[bytes]:
        self._ended.add(message_id)
        if "messages" not in self.modes:
            return []
        whole = content if content is not None else self._text.get(message_id, "")
        return [_frame("messages/complete", [_message("ai", message_id, whole)])]

    def _metadata(self, token: LiveToken) -> dict[str, Any]:
        delta = token.delta
        return {
            **self._run,
            "graph_id": self._run["assistant_id"],
            "langgraph_node": delta.agent,
            "langgraph_step": 1,
            "ls_model_name": delta.model,
            "ls_model_type": "chat",
            "model_call": delta.call,
        }
