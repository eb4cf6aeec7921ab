"""The provider seam: the one interface the mesh calls models through.

Like the transport's (mesh/transport/base.py): the core depends on `ModelProvider`
and on its own types (mesh/models/types.py); an SDK's types and exceptions never cross
it. An adapter maps its client's errors into the mesh's family at this boundary:

- `ModelUnavailable`: no answer (connection refused or reset, timeout, a 5xx, a
  response that is not the protocol's);
- `ModelRateLimited`: a 429, with its Retry-After in seconds;
- `ModelRefused`: any other 4xx.

Another provider is one module implementing this class. Streaming will be a second
method (`stream(request) -> AsyncIterator[ModelChunk]`) beside `chat`; a provider
without it will keep working through `chat`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from mesh.models.types import ModelAnswer, ModelRequest


@dataclass(frozen=True, slots=True)
class ModelTarget:
    """Where one model is served: its name, the endpoint, the request timeout (s), and
    the protocol the endpoint speaks (`openai` or `anthropic`)."""

    name: str
    endpoint: str
    timeout: float
    provider: str = "openai"


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

    @abstractmethod
    async def close(self) -> None:
        """Release connections; the provider is not used after this."""
