"""Model calls: what a handler sends a model and gets back (ADR 020).

`await ctx.chat(messages, tools=..., output=Model)` (mesh/models/calls.py) calls the
agent's model (`Agent(..., model=ModelSpec(...))`, mesh/models/spec.py) through the
provider seam (mesh/models/base.py; the OpenAI-compatible adapter in
mesh/models/openai_compatible.py), as a durable step of the task journal.
"""

from mesh.models.spec import ModelSpec
from mesh.models.types import ChatMessage, ModelAnswer, ToolCall, ToolSpec, Usage

__all__ = ["ChatMessage", "ModelAnswer", "ModelSpec", "ToolCall", "ToolSpec", "Usage"]
