"""`MESH_BUDGETS`: what an agent type or a tenant may spend per period (ADR 025).

`MESH_BUDGETS='{"agent:triage": {"usd": 5, "period": "day"}, "tenant:acme":
{"tokens": 2000000, "period": "month"}}'`. Each period (UTC) is a budget of its own
in the mesh-wide ledger, `agent:triage:2026-12-02`, so a new day starts at zero.
Below mesh.settings (which declares the field) and imported by nothing else above it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WrapValidator, model_validator
from pydantic_core import PydanticCustomError

Period = Literal["hour", "day", "month"]
_FORMATS: dict[str, str] = {"hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d", "month": "%Y-%m"}


class PeriodBudget(BaseModel):
    """One entry of `MESH_BUDGETS`: USD and/or tokens per period, both > 0 when set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    usd: float | None = Field(default=None, gt=0)
    tokens: int | None = Field(default=None, gt=0)
    period: Period = "day"

    @model_validator(mode="after")
    def _some_limit(self) -> PeriodBudget:
        if self.usd is None and self.tokens is None:
            raise ValueError('a budget needs "usd", "tokens" or both, e.g. {"usd": 5}')
        return self

    def limit(self) -> dict[str, float]:
        units = {"usd": self.usd, "tokens": self.tokens}
        return {unit: float(v) for unit, v in units.items() if v is not None}

    def budget_id(self, key: str, now: datetime) -> str:
        """The ledger's id for `key` (e.g. `agent:triage`) in the period holding `now`."""
        return f"{key}:{now.strftime(_FORMATS[self.period])}"


def budgets_named_by_key(budgets: Any, handler: Any) -> Any:
    """A wrap validator of `MESH_BUDGETS`: keys are `agent:<name>` or `tenant:<name>`,
    and errors name the entry."""
    try:
        table = handler(budgets)
    except ValidationError as exc:
        message = "; ".join(_problem(error) for error in exc.errors())
        raise PydanticCustomError("budgets", message) from None
    for key in table:
        kind, _, name = key.partition(":")
        if kind not in ("agent", "tenant") or not name:
            raise PydanticCustomError("budgets", f"{key!r}: a key is agent:<name> or tenant:<name>")
    return table


def _problem(error: Any) -> str:
    if not error["loc"]:
        return 'must be a JSON object: {"agent:<name>": {"usd": ..., "period": "day"}}'
    key, *field = error["loc"]
    where = f"{key!r}" + (f" {field[0]}" if field else "")
    return f"{where}: {error['msg']}"


# The type of `Settings.budgets`: the table, validated with errors naming the entry.
BudgetTable = Annotated[dict[str, PeriodBudget], WrapValidator(budgets_named_by_key)]
