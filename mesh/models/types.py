"""What a model call takes and gives: messages, tools, tool calls, usage, the answer.

Provider-neutral: an adapter (mesh/models/openai_compatible.py) translates these to
and from its SDK's types, which never leave it.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

Role = Literal["system", "user", "assistant", "tool"]


class ToolCall(BaseModel):
    """A model's request to call tool `name` with `arguments` (parsed JSON)."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ChatMessage(BaseModel):
    """One message of a conversation.

    `tool_calls` only on an assistant message; `tool_call_id` only on a tool message
    (the result of the call with that id).
    """

    model_config = ConfigDict(frozen=True)

    role: Role
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    @classmethod
    def system(cls, content: str) -> ChatMessage:
        return cls(role="system", content=content)

    @classmethod
    def user(cls, content: str) -> ChatMessage:
        return cls(role="user", content=content)

    @classmethod
    def assistant(cls, content: str | None, tool_calls: tuple[ToolCall, ...] = ()) -> ChatMessage:
        return cls(role="assistant", content=content, tool_calls=tool_calls)

    @classmethod
    def tool(cls, tool_call_id: str, content: str) -> ChatMessage:
        return cls(role="tool", content=content, tool_call_id=tool_call_id)


class ToolSpec(BaseModel):
    """A tool offered to the model: its name, what it does, its arguments' JSON Schema."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})

    @classmethod
    def from_model(cls, name: str, arguments: type[BaseModel], description: str = "") -> ToolSpec:
        """A tool whose arguments are `arguments` (a pydantic model's JSON Schema)."""
        return cls(name=name, description=description, parameters=arguments.model_json_schema())


class Usage(BaseModel):
    """Tokens a call used; `cached_tokens` is the part of the input the provider had
    cached (billed lower by most)."""

    model_config = ConfigDict(frozen=True)

    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cached_tokens: int = Field(default=0, ge=0)

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
        )


class ModelAnswer(BaseModel, Generic[T]):
    """What `ctx.chat` returns.

    Attributes:
        content: the answer's text (None when it only calls tools).
        tool_calls: the tools the model asks to call, in order.
        usage: the tokens the call used (with an output schema's one re-ask included).
        model: the model that answered (a fallback's name when the first failed).
        finish_reason: why it stopped (`stop`, `length`, `tool_calls`, ...).
        parsed: with `output=Model`, the answer validated into `Model`; else None.
        cost_usd: what the call cost in US dollars, priced by MESH_MODEL_PRICES when
            it was answered (journaled with it: a replay keeps it); 0 for a model
            not in the table.
    """

    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = Field(default_factory=Usage)
    model: str
    finish_reason: str = "stop"
    parsed: T | None = None
    cost_usd: float = Field(default=0.0, ge=0)


class ModelRequest(BaseModel):
    """What the mesh asks one provider for: the seam's input (mesh/models/base.py)."""

    model_config = ConfigDict(frozen=True)

    model: str
    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...] = ()
    output_name: str | None = None  # the output schema's name (a model class name)
    output_schema: dict[str, Any] | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)


class ModelChunk(BaseModel):
    """One piece of a streamed answer (`ModelProvider.stream`): a text delta as it
    arrives, and last one chunk with the whole `answer` (its usage included)."""

    model_config = ConfigDict(frozen=True)

    text: str = ""
    answer: ModelAnswer[None] | None = None
