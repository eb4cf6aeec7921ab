"""What model calls cost, and a task's usage as its journal tells it (ADR 021).

Each call is priced by `MESH_MODEL_PRICES` when it is answered, and the cost is
journaled with the answer (`ModelAnswer.cost_usd`): a replay keeps the price the call
had, whatever the table says by then. A task's usage is derived from its journaled
model steps (every run's, each step once), so a re-run after a crash or a retry
neither drops nor doubles a call, and a replay adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from mesh.models.types import ModelAnswer, Usage
from mesh.observability.metrics import LLM_COST, LLM_TOKENS, TENANT_LLM_COST, TENANT_LLM_TOKENS
from mesh.observability.tenants import tenant_label
from mesh.prices import ModelPrice
from schemas.tasks import ModelUsage, TaskState

# A model call's journal step name starts with this (mesh/models/calls.py).
MODEL_STEP_PREFIX = "model/"

_PER_MILLION = 1_000_000


def call_cost(model: str, usage: Usage, prices: Mapping[str, ModelPrice]) -> float:
    """The US dollars `usage` of `model` costs at `prices` (0 for a model not listed).

    Cached tokens are part of the input (as providers report them) and are charged the
    cached price instead of the input price.
    """
    price = prices.get(model)
    if price is None:
        return 0.0
    cached_price = price.input if price.cached is None else price.cached
    uncached = max(usage.input_tokens - usage.cached_tokens, 0)
    dollars = (
        uncached * price.input
        + usage.cached_tokens * cached_price
        + usage.output_tokens * price.output
    )
    return dollars / _PER_MILLION


def usage_line(agent: str, answer: ModelAnswer[Any]) -> ModelUsage:
    """One answered call of `agent` as a usage line (`calls=1`)."""
    return ModelUsage(
        agent=agent,
        model=answer.model,
        calls=1,
        input_tokens=answer.usage.input_tokens,
        output_tokens=answer.usage.output_tokens,
        cached_tokens=answer.usage.cached_tokens,
        cost_usd=answer.cost_usd,
    )


def journaled_usage(agent: str, steps: Mapping[str, Any]) -> list[ModelUsage]:
    """The usage of the model calls among a task's journaled `steps`, per model."""
    calls = []
    for name, value in steps.items():
        if not name.startswith(MODEL_STEP_PREFIX):
            continue
        try:
            calls.append(usage_line(agent, ModelAnswer[None].model_validate(value)))
        except ValidationError:
            continue  # a handler's own step that happens to be named `model/...`
    return add_usage([], calls)


def add_usage(lines: Iterable[ModelUsage], more: Iterable[ModelUsage]) -> list[ModelUsage]:
    """`lines` with `more` added: one line per (agent, model), in order of first use."""
    summed: dict[tuple[str, str], ModelUsage] = {}
    for line in (*lines, *more):
        key = (line.agent, line.model)
        known = summed.get(key)
        summed[key] = line if known is None else _plus(known, line)
    return list(summed.values())


def tree_usage(tasks: Mapping[str, TaskState], task_id: str) -> list[ModelUsage]:
    """The usage of task `task_id` and all its descendants (found through each state's
    `children`), per agent type and model; empty for an unknown task. A child not seen
    yet adds nothing until its state arrives."""
    lines: list[ModelUsage] = []
    seen: set[str] = set()
    waiting = [task_id]
    while waiting:
        state = tasks.get(current := waiting.pop())
        if state is None or current in seen:
            continue
        seen.add(current)
        lines += state.usage
        waiting += state.children
    return add_usage([], lines)


def usage_total(lines: Iterable[ModelUsage]) -> ModelUsage:
    """Every line summed into one (agent and model `*`)."""
    anywhere = (line.model_copy(update={"agent": "*", "model": "*"}) for line in lines)
    summed = add_usage([], anywhere)
    return summed[0] if summed else ModelUsage(agent="*", model="*")


def _plus(a: ModelUsage, b: ModelUsage) -> ModelUsage:
    return ModelUsage(
        agent=a.agent,
        model=a.model,
        calls=a.calls + b.calls,
        input_tokens=a.input_tokens + b.input_tokens,
        output_tokens=a.output_tokens + b.output_tokens,
        cached_tokens=a.cached_tokens + b.cached_tokens,
        # Rounded to a nano-dollar: sums of binary fractions show no 0.30000000000000004.
        cost_usd=round(a.cost_usd + b.cost_usd, 9),
    )


def count_usage(agent: str, model: str, tenant: str | None, usage: Usage, cost: float) -> None:
    """A model request's tokens and cost on the metrics: by agent type and model, and
    by tenant (its label bounded: mesh/observability/tenants.py, ADR 046)."""
    label = tenant_label(tenant)
    for kind, tokens in (
        ("input", usage.input_tokens),
        ("output", usage.output_tokens),
        ("cached", usage.cached_tokens),
    ):
        LLM_TOKENS.labels(agent, model, kind).inc(tokens)
        TENANT_LLM_TOKENS.labels(label, kind).inc(tokens)
    LLM_COST.labels(agent, model).inc(cost)
    TENANT_LLM_COST.labels(label).inc(cost)
