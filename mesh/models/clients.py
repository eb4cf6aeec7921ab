"""`ModelClients`: one provider client per endpoint, for the life of a worker.

A client keeps its connections open between calls (a TLS handshake per call would
cost more than many answers take). The worker's task runner owns one and closes it
when the worker stops.
"""

from __future__ import annotations

from mesh.models.base import ModelProvider, ModelTarget
from mesh.settings import Settings


class ModelClients:
    """Providers by (endpoint, timeout), made on first use."""

    def __init__(self, settings: Settings) -> None:
        self._api_key = settings.model_api_key
        self._providers: dict[tuple[str, float], ModelProvider] = {}

    def provider(self, target: ModelTarget) -> ModelProvider:
        key = (target.endpoint, target.timeout)
        provider = self._providers.get(key)
        if provider is None:
            # Imported here: `import mesh` does not pay for the SDK.
            from mesh.models.openai_compatible import OpenAICompatible

            provider = OpenAICompatible(
                target.endpoint, api_key=self._api_key.get_secret_value(), timeout=target.timeout
            )
            self._providers[key] = provider
        return provider

    async def close(self) -> None:
        providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            await provider.close()
