"""The Anthropic adapter: the Messages API (`POST /v1/messages`) through the `anthropic` SDK.

The only module that imports `anthropic` (an import-linter contract keeps it so).
Selected by `provider="anthropic"` (`ModelSpec`, `MESH_MODELS`, `MESH_MODEL_PROVIDER`);
the endpoint is the API's base URL without `/v1` (`https://api.anthropic.com`). As the
OpenAI adapter, the SDK's own retries are off (`max_retries=0`).

The mapping: system messages become `system=`; tool calls and results become
`tool_use` / `tool_result` blocks (consecutive results share one user turn);
`max_tokens`, which Anthropic requires, defaults to `DEFAULT_MAX_TOKENS`. An output
schema has no `response_format` here: it is offered as one tool whose `input_schema`
is the schema, forced by `tool_choice`, and that tool's input is the answer's JSON
`content`. `stream` reads the SDK's event stream: its text deltas as they come,
then the final message mapped as `chat` maps it. `input_tokens` counts the whole
prompt, cache reads and writes included (as OpenAI's `prompt_tokens` does);
`cached_tokens` is the cache reads.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic

from mesh.errors import ModelRateLimited, ModelRefused, ModelUnavailable
from mesh.models.base import ModelProvider
from mesh.models.types import ChatMessage, ModelAnswer, ModelChunk, ModelRequest, ToolCall, Usage

DEFAULT_MAX_TOKENS = 4096

# Anthropic's stop reasons as the OpenAI-style names the rest of the mesh uses.
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


class AnthropicMessages(ModelProvider):
    """A client of one Anthropic Messages endpoint (`base_url`, e.g. `https://api.anthropic.com`)."""

    def __init__(self, endpoint: str, *, api_key: str, timeout: float) -> None:
        self.endpoint = endpoint
        self._client = anthropic.AsyncAnthropic(
            base_url=endpoint, api_key=api_key or "unused", timeout=timeout, max_retries=0
        )

    async def chat(self, request: ModelRequest) -> ModelAnswer[None]:
        with _mapped_errors(request.model, self.endpoint):
            message = await self._client.messages.create(**_arguments(request))
        return _answer(message, request)

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelChunk]:
        with _mapped_errors(request.model, self.endpoint):
            async with self._client.messages.stream(**_arguments(request)) as events:
                async for event in events:
                    if event.type == "text" and event.text:
                        yield ModelChunk(text=event.text)
                message = await events.get_final_message()
        if message.stop_reason is None:  # the stream was cut before `message_delta`
            raise ModelUnavailable(
                f"model {request.model!r} at {self.endpoint}: the stream ended before the "
                "answer did (no stop_reason)",
                model=request.model,
            )
        yield ModelChunk(answer=_answer(message, request))

    async def close(self) -> None:
        await self._client.close()


def _answer(message: Any, request: ModelRequest) -> ModelAnswer[None]:
    """A `Message` (whole or streamed) as the mesh's answer."""
    output = _output_tool(request)
    texts: list[str] = []
    calls: list[ToolCall] = []
    answered = False
    for block in message.content:
        if block.type == "text":
            texts.append(block.text)
        elif block.type == "tool_use" and output is not None and block.name == output:
            texts = [json.dumps(block.input)]
            answered = True
        elif block.type == "tool_use":
            calls.append(ToolCall(id=block.id, name=block.name, arguments=_input(block.input)))
    finish = _FINISH.get(str(message.stop_reason), str(message.stop_reason or "stop"))
    if answered and not calls:
        finish = "stop"  # the forced output tool is the answer, not a call to make
    return ModelAnswer[None](
        content="".join(texts) if texts else None,
        tool_calls=tuple(calls),
        usage=_usage(message.usage),
        model=request.model,
        finish_reason=finish,
    )


def _output_tool(request: ModelRequest) -> str | None:
    """The name of the tool that carries an output schema (None without one)."""
    if request.output_schema is None:
        return None
    return request.output_name or "output"


def _arguments(request: ModelRequest) -> dict[str, Any]:
    system = [m.content or "" for m in request.messages if m.role == "system"]
    arguments: dict[str, Any] = {
        "model": request.model,
        "messages": _messages(request.messages),
        "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
    }
    if system:
        arguments["system"] = "\n\n".join(system)
    tools: list[dict[str, Any]] = [
        {"name": t.name, "description": t.description, "input_schema": t.parameters}
        for t in request.tools
    ]
    output = _output_tool(request)
    if output is not None:
        tools.append(
            {
                "name": output,
                "description": "Give the answer: its input is the answer, as this schema.",
                "input_schema": request.output_schema,
            }
        )
        # With tools of its own the model may still call them; otherwise it must answer.
        forced = {"type": "tool", "name": output} if not request.tools else {"type": "any"}
        arguments["tool_choice"] = forced
    if tools:
        arguments["tools"] = tools
    if request.temperature is not None:
        # This SDK's signature has no `temperature`; the API takes it for the models that
        # still do (one that does not refuses the request: `ModelRefused`).
        arguments["extra_body"] = {"temperature": request.temperature}
    return arguments


def _messages(messages: tuple[ChatMessage, ...]) -> list[dict[str, Any]]:
    """The turns as content blocks; consecutive turns of one role share a message."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return out


def _blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [
            {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id or "",
                "content": message.content or "",
            }
        ]
    blocks: list[dict[str, Any]] = []
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    for call in message.tool_calls:
        blocks.append(
            {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
        )
    return blocks


def _input(value: object) -> dict[str, Any]:
    # The SDK parses `input` as a JSON object; anything else is wrapped, never dropped.
    return value if isinstance(value, dict) else {"input": value}


def _usage(usage: Any) -> Usage:
    if usage is None:
        return Usage()
    read = getattr(usage, "cache_read_input_tokens", None) or 0
    written = getattr(usage, "cache_creation_input_tokens", None) or 0
    return Usage(
        input_tokens=(usage.input_tokens or 0) + read + written,
        output_tokens=usage.output_tokens or 0,
        cached_tokens=read,
    )


@contextlib.contextmanager
def _mapped_errors(model: str, endpoint: str) -> Iterator[None]:
    """The SDK's exceptions as the mesh's (mesh/models/base.py says which is which)."""
    where = f"model {model!r} at {endpoint}"
    try:
        yield
    except anthropic.APITimeoutError as exc:
        raise ModelUnavailable(f"{where} timed out (MESH_MODEL_TIMEOUT)", model=model) from exc
    except anthropic.APIConnectionError as exc:
        raise ModelUnavailable(f"{where} could not be reached: {exc}", model=model) from exc
    except anthropic.RateLimitError as exc:
        after = _retry_after(exc.response.headers.get("retry-after"))
        raise ModelRateLimited(
            f"{where} is rate limited (429, Retry-After {after!r} s)",
            model=model,
            retry_after=after,
        ) from exc
    except anthropic.APIStatusError as exc:
        # 529 (overloaded) is a 5xx: unavailable, so the next fallback answers.
        if exc.status_code >= 500 or exc.status_code in (408, 409):
            raise ModelUnavailable(
                f"{where} failed with {exc.status_code}: {exc.message}", model=model
            ) from exc
        hint = "; check MESH_MODEL_API_KEY" if exc.status_code in (401, 403) else ""
        raise ModelRefused(
            f"{where} refused the request with {exc.status_code}: {exc.message}{hint}",
            model=model,
        ) from exc
    except anthropic.APIResponseValidationError as exc:
        raise ModelUnavailable(
            f"{where} answered outside the protocol: {exc}", model=model
        ) from exc
    except anthropic.APIError as exc:
        raise ModelUnavailable(f"{where} failed: {exc}", model=model) from exc
    except json.JSONDecodeError as exc:  # a 200 whose body is not JSON
        raise ModelUnavailable(
            f"{where} answered with a body that is not JSON", model=model
        ) from exc


def _retry_after(header: str | None) -> float | None:
    """Retry-After in seconds (its HTTP-date form counts as unknown)."""
    try:
        return max(0.0, float(header)) if header is not None else None
    except ValueError:
        return None
