"""The provider seam: the one interface the mesh calls models through.

Like the transport's (mesh/transport/base.py): the core depends on `ModelProvider`
and on its own types (mesh/models/types.py); an SDK's types and exceptions never cross
it. An adapter maps its client's errors into the mesh's family at this boundary:

- `ModelUnavailable`: no answer (connection refused or reset, timeout, a 5xx, a
  response that is not the protocol's);
- `ModelRateLimited`: a 429, with its Retry-After in seconds;
- `ModelRefused`: any other 4xx.

Another provider is one module implementing this class. `stream(request)` yields
the answer's text deltas as they are generated, then the whole answer; a provider
that does not override it streams its `chat` answer as one chunk (ADR 022).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass

from mesh.models.types import ModelAnswer, ModelChunk, ModelRequest


@dataclass(frozen=True, slots=True)
class ModelTarget:
    """Where one model is served: its name, the endpoint, the request timeout (s), the
    protocol the endpoint speaks (`openai` or `anthropic`), and the environment
    variable holding its API key (None: `MESH_MODEL_API_KEY`)."""

    name: str
    endpoint: str
    timeout: float
    provider: str = "openai"
    api_key_env: str | None = None


class ModelProvider(ABC):
    """One client of one endpoint (made by `mesh.models.clients.ModelClients`)."""

    @abstractmethod
    async def chat(self, request: ModelRequest) -> ModelAnswer[None]:
        """Ask for one answer, not streamed; `parsed` is left None (the caller
        validates an output schema).

        Raises:
            ModelUnavailable: no answer (connection, timeout, 5xx).
            ModelRateLimited: 429; `retry_after` from the Retry-After header.
            ModelRefused: another 4xx.
            ModelOutputInvalid: a tool call's arguments are not a JSON object.
        """

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelChunk]:
        """Ask for one answer, streamed: chunks with `text` deltas as they come, then
        a last chunk whose `answer` is the whole answer (as `chat` returns it).

        Raises what `chat` raises, before or between chunks. This default yields the
        `chat` answer as that one last chunk (its text included).
        """
        answer = await self.chat(request)
        yield ModelChunk(text=answer.content or "", answer=answer)

    @abstractmethod
    async def close(self) -> None:
        """Release connections; the provider is not used after this."""
