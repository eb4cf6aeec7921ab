"""`ModelLimits`: model calls under the mesh-wide rate limits (mesh/quota, ADR 024).

`MESH_MODEL_LIMITS` names models; each (model name, endpoint) is one resource, one
provider account's model, so the same model name at two endpoints is two accounts.
A request takes one request and its estimated tokens (the prompt's characters / 4,
plus `max_tokens` or `DEFAULT_OUTPUT_TOKENS`) before it is sent and settles to its
real usage after. It waits in its task's priority order for at most
`MESH_MODEL_FALLBACK_WAIT`; past that it fails as `ModelRateLimited` with no
Retry-After, so the next fallback model is tried (mesh/models/calls.py), and after
the last, the task's `RetryPolicy` runs it again later: no wait holds a partition.
A provider's 429 with a Retry-After pauses the resource for the whole mesh.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from mesh.errors import ModelRateLimited
from mesh.models.base import ModelTarget
from mesh.models.types import ModelRequest, Usage
from mesh.observability.metrics import LLM_RATE_LIMIT_WAIT
from mesh.quota.client import Permit, QuotaClient
from mesh.settings import Settings

DEFAULT_OUTPUT_TOKENS = 512  # reserved for an answer when a call sets no max_tokens
_CHARS_PER_TOKEN = 4  # a rough estimate for English text; settled to the real usage


@dataclass
class Admitted:
    """Handed to the call admitted: it reports the usage its answer came with."""

    permit: Permit | None = None

    def used(self, usage: Usage) -> None:
        if self.permit is not None:
            self.permit.settle({"tokens": usage.input_tokens + usage.output_tokens})
            self.permit = None


class ModelLimits:
    """Admits model requests through a `QuotaClient` (none: every request at once)."""

    def __init__(self, settings: Settings, quota: QuotaClient | None = None) -> None:
        self._limits = settings.model_limits
        self._wait = settings.model_fallback_wait
        self._quota = quota

    def resource(self, target: ModelTarget) -> str | None:
        """The resource `target` draws from; None when its model has no limit."""
        if self._quota is None or target.name not in self._limits:
            return None
        return f"model:{target.name}@{target.endpoint}"

    @asynccontextmanager
    async def admit(
        self, agent: str, target: ModelTarget, request: ModelRequest, *, priority: int
    ) -> AsyncIterator[Admitted]:
        """Hold the request until the mesh's limit admits it; settle it after.

        Raises:
            ModelRateLimited: not admitted within `MESH_MODEL_FALLBACK_WAIT` (no
                Retry-After: the next fallback is tried).
        """
        resource = self.resource(target)
        if resource is None or self._quota is None:
            yield Admitted()
            return
        permit = await self._acquire(agent, target, resource, request, priority)
        admitted = Admitted(permit)
        try:
            yield admitted
        except ModelRateLimited as exc:
            if exc.retry_after:
                self._quota.pause(resource, exc.retry_after)
            raise
        finally:
            admitted.used(Usage(input_tokens=input_tokens(request)))  # no answer: its input

    async def _acquire(
        self, agent: str, target: ModelTarget, resource: str, request: ModelRequest, priority: int
    ) -> Permit:
        assert self._quota is not None
        limit = self._limits[target.name]
        capacity = {"requests": limit.rpm, "tokens": limit.tpm}
        output = request.max_tokens or DEFAULT_OUTPUT_TOKENS
        amounts = {"requests": 1.0, "tokens": float(input_tokens(request) + output)}
        started = time.monotonic()
        try:
            return await self._quota.acquire(
                resource,
                capacity={d: float(v) for d, v in capacity.items() if v is not None},
                amounts=amounts,
                priority=priority,
                timeout=self._wait,
            )
        except TimeoutError:
            raise ModelRateLimited(
                f"model {target.name!r} at {target.endpoint}: no capacity under "
                f"MESH_MODEL_LIMITS within MESH_MODEL_FALLBACK_WAIT ({self._wait:g} s)",
                model=target.name,
            ) from None
        finally:
            LLM_RATE_LIMIT_WAIT.labels(agent, target.name).observe(time.monotonic() - started)


def input_tokens(request: ModelRequest) -> int:
    """A rough estimate of the request's input tokens (its characters / 4)."""
    chars = sum(len(m.content or "") for m in request.messages)
    chars += sum(len(t.model_dump_json()) for t in request.tools)
    chars += len(str(request.output_schema or ""))
    return chars // _CHARS_PER_TOKEN + 1
