"""The records between budget clients, keepers and the ledger (ADR 025).

`BudgetRequest` goes on the requests topic keyed by budget id, so every request about
one budget reaches the one keeper owning its partition. `BudgetState` is the ledger:
a compacted topic keyed by budget id, written before the keeper answers, read back
whole by a keeper that gets the partition. `BudgetReply` goes on the replies topic
keyed by the asking client's id. Internal records, not registered contracts: unknown
fields are ignored (rolling upgrades).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Held(BaseModel):
    """A live reservation: its amounts by unit, until `expires` (keeper's wall clock)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    amounts: dict[str, float]
    expires: float


class BudgetState(BaseModel):
    """A budget's balance, as the ledger keeps it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    budget: str
    limit: dict[str, float] = Field(default_factory=dict)
    spent: dict[str, float] = Field(default_factory=dict)
    reservations: dict[str, Held] = Field(default_factory=dict)
    settled: list[str] = Field(default_factory=list)


class BudgetRequest(BaseModel):
    """Reserve, settle or release one reservation of one budget.

    Attributes:
        request: the asker's id for this request (the reply carries it).
        client: where the reply goes (its key on the replies topic).
        reservation: the reservation's name (task, attempt, step, target).
        amounts: reserve: the estimate; settle: what was used; release: unused.
        limit: the budget's limit by unit, as the asker's task or settings give it.
        ttl: seconds the keeper holds a reservation whose settle does not come.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    op: Literal["reserve", "settle", "release"]
    request: str
    client: str
    budget: str
    reservation: str
    amounts: dict[str, float] = Field(default_factory=dict)
    limit: dict[str, float] = Field(default_factory=dict)
    ttl: float = Field(default=300.0, gt=0)


class BudgetReply(BaseModel):
    """The keeper's answer, with the balance after the request."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    request: str
    client: str
    budget: str
    granted: bool
    limit: dict[str, float]
    spent: dict[str, float]
    reserved: dict[str, float]
