"""A LangGraph run's budget (ADR 025): `config.configurable.mesh_budget` of the
run-create body, e.g. `{"config": {"configurable": {"mesh_budget": {"usd": 0.5}}}}`.

The LangGraph SDK sends `config` as given (`client.runs.create(..., config=...)`) and
`configurable` is where a graph's run-time options live, so a client sets it with
no change to the SDK. The run keeps its config, so the queued run's task gets it
when it starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from mesh.gateway._problems import FieldProblem, ProblemError
from schemas.envelope import Budget

BUDGET_KEY = "mesh_budget"
_WHERE = ("body", "config", "configurable", BUDGET_KEY)


def run_budget(config: Mapping[str, Any]) -> Budget | None:
    """The budget a run's config gives (None: none).

    Raises:
        ProblemError: a 422 naming the field, e.g. `body.config.configurable.mesh_budget.usd`.
    """
    configurable = config.get("configurable")
    raw = configurable.get(BUDGET_KEY) if isinstance(configurable, Mapping) else None
    if raw is None:
        return None
    try:
        return Budget.model_validate(raw)
    except ValidationError as exc:
        problems = [
            FieldProblem(field=".".join(map(str, (*_WHERE, *e["loc"]))), reason=e["msg"])
            for e in exc.errors()
        ]
        first = problems[0]
        raise ProblemError(422, first.field, first.reason, more=problems[1:]) from None
