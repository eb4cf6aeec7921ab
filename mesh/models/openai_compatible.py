"""The OpenAI-compatible adapter: OpenAI, Azure, vLLM, llama.cpp, Ollama, LiteLLM proxy.

The only module that imports `openai` (an import-linter contract keeps it so). The
SDK's own retries are off (`max_retries=0`): a retry is the mesh's decision (the next
fallback, or the task's `RetryPolicy`), and a hidden one would pay twice.

`stream` asks with `stream=True` and `stream_options={"include_usage": True}` (the
usage comes in a last chunk with no choices); tool-call deltas, which arrive as
pieces of their JSON arguments by index, are assembled into whole `ToolCall`s.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import openai

from mesh.errors import (
    FieldError,
    ModelOutputInvalid,
    ModelRateLimited,
    ModelRefused,
    ModelUnavailable,
)
from mesh.models.base import ModelProvider
from mesh.models.types import ChatMessage, ModelAnswer, ModelChunk, ModelRequest, ToolCall, Usage


class OpenAICompatible(ModelProvider):
    """A client of one OpenAI-compatible endpoint (`base_url`, e.g. `http://host/v1`)."""

    def __init__(self, endpoint: str, *, api_key: str, timeout: float) -> None:
        self.endpoint = endpoint
        # A local server wants no key, but the SDK insists on one.
        self._client = openai.AsyncOpenAI(
            base_url=endpoint, api_key=api_key or "unused", timeout=timeout, max_retries=0
        )

    async def chat(self, request: ModelRequest) -> ModelAnswer[None]:
        with _mapped_errors(request.model, self.endpoint):
            completion = await self._client.chat.completions.create(**_arguments(request))
        if not completion.choices:
            raise ModelUnavailable(
                f"model {request.model!r} at {self.endpoint} answered with no choices",
                model=request.model,
            )
        choice = completion.choices[0]
        calls = [
            (c.id, c.function.name, c.function.arguments)
            for c in choice.message.tool_calls or []
            if getattr(c, "function", None) is not None  # a custom tool: not the mesh's
        ]
        return ModelAnswer[None](
            content=choice.message.content,
            tool_calls=tuple(_tool_call(*call, model=request.model) for call in calls),
            usage=_usage(completion.usage),
            model=request.model,
            finish_reason=str(choice.finish_reason or "stop"),
        )

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelChunk]:
        parts = _StreamedParts()
        with _mapped_errors(request.model, self.endpoint):
            chunks = await self._client.chat.completions.create(
                **_arguments(request), stream=True, stream_options={"include_usage": True}
            )
            try:
                async for chunk in chunks:
                    text = parts.add(chunk)
                    if text:
                        yield ModelChunk(text=text)
            finally:
                await chunks.close()  # a consumer that stops early frees the connection
        if parts.finish_reason is None:  # every answer's last choice says why it ended
            raise ModelUnavailable(
                f"model {request.model!r} at {self.endpoint}: the stream ended before the "
                "answer did (no finish_reason)",
                model=request.model,
            )
        yield ModelChunk(answer=parts.answer(request.model))

    async def close(self) -> None:
        await self._client.close()


def _arguments(request: ModelRequest) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "model": request.model,
        "messages": [_message(m) for m in request.messages],
    }
    if request.tools:
        arguments["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                },
            }
            for t in request.tools
        ]
    if request.output_schema is not None:
        arguments["response_format"] = {
            "type": "json_schema",
            "json_schema": {
                "name": request.output_name or "output",
                "schema": request.output_schema,
            },
        }
    if request.max_tokens is not None:
        arguments["max_tokens"] = request.max_tokens
    if request.temperature is not None:
        arguments["temperature"] = request.temperature
    return arguments


def _message(message: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    return out


def _tool_call(call_id: str, name: str, text: str | None, *, model: str) -> ToolCall:
    try:
        arguments = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        arguments = exc
    if not isinstance(arguments, dict):
        raise ModelOutputInvalid(
            f"model {model!r} called tool {name!r} with arguments that are "
            f"not a JSON object: {str(text)[:200]!r}",
            model=model,
            errors=[FieldError(("tool_calls", name), "not a JSON object")],
        )
    return ToolCall(id=call_id, name=name, arguments=arguments)


@dataclass
class _StreamedParts:
    """A streamed completion put back together: text, tool calls by index (their id
    and name come in the first delta, their arguments in pieces), finish, usage."""

    text: list[str] = field(default_factory=list)
    calls: dict[int, list[str]] = field(default_factory=dict)  # index: [id, name, args]
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)

    def add(self, chunk: Any) -> str:
        """Take one chunk in; its text delta ("" when none)."""
        if chunk.usage is not None:
            self.usage = _usage(chunk.usage)
        if not chunk.choices:
            return ""
        choice = chunk.choices[0]
        self.finish_reason = choice.finish_reason or self.finish_reason
        for delta in choice.delta.tool_calls or []:
            parts = self.calls.setdefault(delta.index, ["", "", ""])
            function = delta.function
            parts[0] = delta.id or parts[0]
            parts[1] = (function and function.name) or parts[1]
            parts[2] += (function and function.arguments) or ""
        text = choice.delta.content or ""
        self.text.append(text)
        return text

    def answer(self, model: str) -> ModelAnswer[None]:
        calls = [self.calls[index] for index in sorted(self.calls)]
        return ModelAnswer[None](
            content="".join(self.text) if any(self.text) or not calls else None,
            tool_calls=tuple(_tool_call(*call, model=model) for call in calls),
            usage=self.usage,
            model=model,
            finish_reason=self.finish_reason or "stop",
        )


def _usage(usage: Any) -> Usage:
    if usage is None:
        return Usage()
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    return Usage(
        input_tokens=usage.prompt_tokens or 0,
        output_tokens=usage.completion_tokens or 0,
        cached_tokens=cached or 0,
    )


@contextlib.contextmanager
def _mapped_errors(model: str, endpoint: str) -> Iterator[None]:
    """The SDK's exceptions as the mesh's (mesh/models/base.py says which is which)."""
    where = f"model {model!r} at {endpoint}"
    try:
        yield
    except openai.APITimeoutError as exc:
        raise ModelUnavailable(f"{where} timed out (MESH_MODEL_TIMEOUT)", model=model) from exc
    except openai.APIConnectionError as exc:
        raise ModelUnavailable(f"{where} could not be reached: {exc}", model=model) from exc
    except openai.RateLimitError as exc:
        after = _retry_after(exc.response.headers.get("retry-after"))
        raise ModelRateLimited(
            f"{where} is rate limited (429, Retry-After {after!r} s)",
            model=model,
            retry_after=after,
        ) from exc
    except openai.APIStatusError as exc:
        if exc.status_code >= 500 or exc.status_code in (408, 409):
            raise ModelUnavailable(
                f"{where} failed with {exc.status_code}: {exc.message}", model=model
            ) from exc
        hint = "; check MESH_MODEL_API_KEY" if exc.status_code in (401, 403) else ""
        raise ModelRefused(
            f"{where} refused the request with {exc.status_code}: {exc.message}{hint}",
            model=model,
        ) from exc
    except openai.APIResponseValidationError as exc:
        raise ModelUnavailable(
            f"{where} answered outside the protocol: {exc}", model=model
        ) from exc
    except openai.APIError as exc:
        raise ModelUnavailable(f"{where} failed: {exc}", model=model) from exc
    except json.JSONDecodeError as exc:  # a 200 whose body is not JSON (the SDK lets it by)
        raise ModelUnavailable(
            f"{where} answered with a body that is not JSON", model=model
        ) from exc


def _retry_after(header: str | None) -> float | None:
    """Retry-After in seconds (its HTTP-date form counts as unknown)."""
    try:
        return max(0.0, float(header)) if header is not None else None
    except ValueError:
        return None
