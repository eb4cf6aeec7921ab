"""The model settings' types: which model an agent type calls (`MESH_MODELS`), over
which protocol, and each model's mesh-wide limits (`MESH_MODEL_LIMITS`).

Settings types (mesh/settings.py reads them), kept here to keep the settings module
about settings; `ModelSpec` (mesh/models/spec.py) resolves them per call.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The protocol an endpoint speaks: "openai" (any OpenAI-compatible server,
# mesh/models/openai_compatible.py) or "anthropic" (the Messages API,
# mesh/models/anthropic_messages.py).
ModelProviderName = Literal["openai", "anthropic"]


class ModelChoice(BaseModel):
    """A model in `MESH_MODELS`: its name, its endpoint and protocol (None: the agent's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    endpoint: str | None = None
    provider: ModelProviderName | None = None
    api_key_env: str | None = Field(default=None, min_length=1)  # see ModelSpec


class ModelOverride(BaseModel):
    """One agent type's entry of `MESH_MODELS`; what it sets wins over the code."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, min_length=1)
    endpoint: str | None = None
    fallbacks: tuple[str | ModelChoice, ...] | None = None
    timeout: float | None = Field(default=None, gt=0)
    provider: ModelProviderName | None = None
    api_key_env: str | None = Field(default=None, min_length=1)  # see ModelSpec


class ModelLimit(BaseModel):
    """One model's entry of `MESH_MODEL_LIMITS`: requests and tokens per minute of one
    provider account (an endpoint), shared by the whole mesh (ADR 024)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _some_limit(self) -> ModelLimit:
        if self.rpm is None and self.tpm is None:
            raise ValueError('a limit needs "rpm", "tpm" or both, e.g. {"rpm": 500}')
        return self
