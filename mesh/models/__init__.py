"""Model calls: what a handler sends a model and gets back (ADR 020).

`await ctx.chat(messages, tools=..., output=Model)` (mesh/models/calls.py) calls the
agent's model (`Agent(..., model=ModelSpec(...))`, mesh/models/spec.py) through the
provider seam (mesh/models/base.py; the OpenAI-compatible adapter in
mesh/models/openai_compatible.py), as a durable step of the task journal; with
`stream=True` its text goes to live readers as it is generated (mesh/models/streaming.py,
ADR 022).
"""

from mesh.models.spec import ModelSpec
from mesh.models.types import ChatMessage, ModelAnswer, ModelChunk, ToolCall, ToolSpec, Usage

__all__ = [
    "ChatMessage",
    "ModelAnswer",
    "ModelChunk",
    "ModelSpec",
    "ToolCall",
    "ToolSpec",
    "Usage",
]
