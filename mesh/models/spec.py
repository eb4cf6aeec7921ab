"""`ModelSpec`: which model an agent type calls, and how settings override it.

Declared in code on the agent (`Agent("triage", model=ModelSpec(name="gpt-4o-mini",
fallbacks=["gpt-4o"]))`); resolved against the settings each call:

1. `MESH_MODELS[agent]` (per-agent JSON) wins where it sets a field;
2. then the `ModelSpec` in code;
3. then `MESH_MODEL_NAME` / `MESH_MODEL_ENDPOINT` / `MESH_MODEL_TIMEOUT` /
   `MESH_MODEL_PROVIDER` fill what both leave unset (so `ModelSpec()` means "the mesh's
   model", e.g. the dev mesh's embedded one).

A fallback is a model name on the same endpoint, or a `ModelSpec` (a `MESH_MODELS`
object) naming its own endpoint; they are tried in order (mesh/models/calls.py).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from mesh.errors import SetupError
from mesh.model_choices import ModelChoice, ModelProviderName
from mesh.models.base import ModelTarget
from mesh.settings import Settings


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """The model an agent type calls (every field optional: settings fill the rest).

    Args:
        name: the model's name at the endpoint (None: `MESH_MODEL_NAME`).
        endpoint: an OpenAI-compatible base URL (None: `MESH_MODEL_ENDPOINT`).
        fallbacks: models tried in order when one is unavailable or rate limited
            past `MESH_MODEL_FALLBACK_WAIT`: names (same endpoint) or `ModelSpec`s.
        timeout: seconds one request may take (None: `MESH_MODEL_TIMEOUT`).
        provider: the endpoint's protocol, `"openai"` (OpenAI-compatible) or
            `"anthropic"` (the Messages API) (None: `MESH_MODEL_PROVIDER`).
        api_key_env: the environment variable holding this endpoint's API key, e.g.
            `"ANTHROPIC_API_KEY"` (None: `MESH_MODEL_API_KEY`), so a fallback on another
            provider's endpoint gets its own key; the key itself is never in code or
            JSON. A fallback on the same endpoint uses the first model's key.
    """

    name: str | None = None
    endpoint: str | None = None
    fallbacks: Sequence[str | ModelSpec] = field(default=())
    timeout: float | None = None
    provider: ModelProviderName | None = None
    api_key_env: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "fallbacks", tuple(self.fallbacks))
        if self.provider not in (None, "openai", "anthropic"):
            raise SetupError(
                f"ModelSpec(provider=...) must be 'openai' or 'anthropic', got {self.provider!r}"
            )
        if self.name is not None and not self.name.strip():
            raise SetupError(
                "ModelSpec(name=...) must not be blank; leave it None for MESH_MODEL_NAME"
            )
        if self.timeout is not None and self.timeout <= 0:
            raise SetupError(f"ModelSpec(timeout=...) must be > 0 seconds, got {self.timeout!r}")
        for fallback in self.fallbacks:
            if isinstance(fallback, str) and fallback.strip():
                continue
            if isinstance(fallback, ModelSpec) and fallback.name and not fallback.fallbacks:
                continue
            raise SetupError(
                f"ModelSpec fallback {fallback!r} must be a model name or a ModelSpec with "
                "a name and no fallbacks of its own"
            )


def resolve_targets(
    agent: str, spec: ModelSpec | None, settings: Settings, *, name: str | None = None
) -> tuple[ModelTarget, ...]:
    """The models to try, in order, for a call of `agent` (`name`: the call's choice of
    first model, as `ctx.chat(..., model=...)`).

    Raises:
        SetupError: no model name or no endpoint is set anywhere; names the setting.
    """
    spec = spec or ModelSpec()
    override = settings.models.get(agent)
    first = name or (override and override.name) or spec.name or settings.model_name
    endpoint = (override and override.endpoint) or spec.endpoint or settings.model_endpoint
    timeout = (override and override.timeout) or spec.timeout or settings.model_timeout
    provider = (override and override.provider) or spec.provider or settings.model_provider
    if not first:
        raise SetupError(
            f"agent {agent!r} calls a model but none is named: set MESH_MODEL_NAME, "
            f"ModelSpec(name=...) on the agent, or its entry in MESH_MODELS"
        )
    if not endpoint:
        raise SetupError(
            f"agent {agent!r} calls model {first!r} but no endpoint is set: set "
            "MESH_MODEL_ENDPOINT (an OpenAI-compatible base URL, e.g. http://host:8080/v1), "
            "ModelSpec(endpoint=...) on the agent, or its entry in MESH_MODELS"
        )
    fallbacks: Sequence[str | ModelSpec | ModelChoice] = spec.fallbacks
    if override is not None and override.fallbacks is not None:
        fallbacks = override.fallbacks
    key = (override and override.api_key_env) or spec.api_key_env
    targets = [ModelTarget(first, endpoint, timeout, provider, _key_env(agent, key))]
    for fallback in fallbacks:
        if isinstance(fallback, str):
            targets.append(ModelTarget(fallback, endpoint, timeout, provider, key))
        else:
            assert fallback.name is not None  # checked by ModelSpec and ModelChoice
            where = fallback.endpoint or endpoint
            speaks = fallback.provider or provider  # unnamed: the first model's protocol
            # Another endpoint never gets the first one's key: its own, or the mesh's.
            its_key = fallback.api_key_env or (key if where == endpoint else None)
            targets.append(
                ModelTarget(fallback.name, where, timeout, speaks, _key_env(agent, its_key))
            )
    return tuple(targets)


def _key_env(agent: str, variable: str | None) -> str | None:
    """`variable`, checked to hold a key (so a worker fails at start-up, not per call)."""
    if variable is not None and not os.environ.get(variable):
        raise SetupError(
            f"agent {agent!r}'s model reads its API key from ${variable} (api_key_env), "
            "which is not set: export it, or remove api_key_env to use MESH_MODEL_API_KEY"
        )
    return variable
