"""`ModelClients`: one provider client per endpoint, for the life of a worker.

A client keeps its connections open between calls (a TLS handshake per call would
cost more than many answers take). The worker's task runner owns one and closes it
when the worker stops.
"""

from __future__ import annotations

import os

from mesh.models.base import ModelProvider, ModelTarget
from mesh.models.budgets import ModelBudgets
from mesh.models.limits import ModelLimits
from mesh.settings import Settings


class ModelClients:
    """Providers by (protocol, endpoint, timeout, key), made on first use."""

    def __init__(self, settings: Settings) -> None:
        self._api_key = settings.model_api_key
        self._providers: dict[tuple[str, str, float, str | None], ModelProvider] = {}
        # The mesh-wide rate limits; the worker puts in one with its quota client when
        # MESH_MODEL_LIMITS is set (mesh/models/limits.py).
        self.limits = ModelLimits(settings)
        # The budgets (ADR 025); the worker puts in one with the mesh's ledger.
        self.budgets = ModelBudgets(settings)

    def provider(self, target: ModelTarget) -> ModelProvider:
        key = (target.provider, target.endpoint, target.timeout, target.api_key_env)
        provider = self._providers.get(key)
        if provider is None:
            provider = _make(target, self._key(target))
            self._providers[key] = provider
        return provider

    def _key(self, target: ModelTarget) -> str:
        """The target's own key (`api_key_env`), else `MESH_MODEL_API_KEY`."""
        if target.api_key_env is not None:
            return os.environ.get(target.api_key_env, "")
        return self._api_key.get_secret_value()

    async def close(self) -> None:
        await self.budgets.stop()
        providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            await provider.close()


def _make(target: ModelTarget, api_key: str) -> ModelProvider:
    # Imported here: `import mesh` does not pay for an SDK it does not use.
    if target.provider == "anthropic":
        from mesh.models.anthropic_messages import AnthropicMessages

        return AnthropicMessages(target.endpoint, api_key=api_key, timeout=target.timeout)
    from mesh.models.openai_compatible import OpenAICompatible

    return OpenAICompatible(target.endpoint, api_key=api_key, timeout=target.timeout)
