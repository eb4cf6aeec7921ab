"""Circuit breaking per agent type: the rules, on plain records (no I/O).

The supervisor folds every task outcome of an agent type into its `Health` (the
recent outcomes within the policy's window). When failures reach `failure_ratio` of at
least `min_outcomes` outcomes, the circuit opens: the agent type's workers stop
starting new tasks (they wait in the inbox, parked, or go to the policy's `fallback`
agent type). After `cooldown` seconds the circuit is half-open: the workers start one
task as a probe; its success closes the circuit, its failure opens it again.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from mesh.supervision.policy import SupervisionPolicy
from schemas.supervision import CircuitState

_KEEP = 200  # outcomes kept per agent type, at most


class Health(BaseModel):
    """Recent outcomes of one agent type and its circuit (times are epoch seconds)."""

    outcomes: list[tuple[float, bool]] = Field(default_factory=list)  # (at, succeeded)
    state: Literal["closed", "open"] = "closed"
    opened_at: float = 0.0
    reason: str = ""

    def effective(
        self, now: float, policy: SupervisionPolicy
    ) -> Literal["closed", "open", "half_open"]:
        """closed, open, or half_open (open, and its cooldown is over)."""
        if self.state == "open" and now - self.opened_at >= policy.cooldown:
            return "half_open"
        return self.state


def record_outcome(
    health: Health, at: float, succeeded: bool, policy: SupervisionPolicy
) -> tuple[Health, str | None]:
    """The health after one outcome, and the circuit's new state if it changed."""
    window_start = at - policy.window
    outcomes = [o for o in health.outcomes if o[0] >= window_start][-_KEEP + 1 :]
    outcomes.append((at, succeeded))
    state = health.effective(at, policy)
    if state == "half_open":  # this outcome is the probe's (or a straggler's)
        if succeeded:
            return Health(outcomes=[(at, True)]), "closed"
        reason = "the half-open probe failed"
        return Health(outcomes=outcomes, state="open", opened_at=at, reason=reason), "open"
    if state == "open":
        return health.model_copy(update={"outcomes": outcomes}), None
    failures = sum(1 for _, ok in outcomes if not ok)
    if len(outcomes) >= policy.min_outcomes and failures / len(outcomes) >= policy.failure_ratio:
        reason = f"{failures} of the last {len(outcomes)} tasks failed"
        return Health(outcomes=outcomes, state="open", opened_at=at, reason=reason), "open"
    return health.model_copy(update={"outcomes": outcomes}), None


def circuit_state(
    agent: str, health: Health, now: float, policy: SupervisionPolicy
) -> CircuitState:
    return CircuitState(
        agent=agent,
        state=health.effective(now, policy),
        since=health.opened_at if health.state == "open" else now,
        fallback=policy.fallback,
        reason=health.reason,
    )
