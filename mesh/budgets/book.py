"""`BudgetBook`: one budget's balance and the arithmetic on it (ADR 025).

No clock and no I/O: every method takes `now` (wall-clock seconds, the keeper's), so
tests drive time by hand. Amounts are by unit: "usd" and "tokens".

A reservation is named by its caller (task id, run attempt, journal step, target):
a reserve repeated under the same name (a re-delivered request, a re-run after a
crash before the settle) gets the same answer and holds nothing more; a repeated
settle or release changes nothing. A reservation whose settle never comes (its
process crashed) is dropped after its time to live, so the budget is not held
forever.
"""

from __future__ import annotations

from collections.abc import Mapping

from mesh.budgets.messages import BudgetState, Held

_EPSILON = 1e-12  # float sums of prices: do not refuse the exact remainder
_SETTLED_KEPT = 1000  # settled names remembered for idempotency (the latest ones)


class BudgetBook:
    """One budget: its limit, what was spent, what live reservations hold."""

    def __init__(self, state: BudgetState) -> None:
        self.budget = state.budget
        self.limit = dict(state.limit)
        self.spent = dict(state.spent)
        self.held = dict(state.reservations)
        self.settled = dict.fromkeys(state.settled)

    @classmethod
    def empty(cls, budget: str) -> BudgetBook:
        return cls(BudgetState(budget=budget))

    def reserved(self) -> dict[str, float]:
        total: dict[str, float] = {}
        for held in self.held.values():
            for unit, amount in held.amounts.items():
                total[unit] = total.get(unit, 0.0) + amount
        return total

    def reserve(
        self,
        name: str,
        amounts: Mapping[str, float],
        limit: Mapping[str, float],
        *,
        now: float,
        ttl: float,
    ) -> bool:
        """Hold `amounts` under `name` if they fit `limit` (the latest request's limit
        applies: a raised setting takes effect); True when held (or held before)."""
        self.expire(now)
        if name in self.held or name in self.settled:
            return True
        self.limit = dict(limit)
        reserved = self.reserved()
        for unit, cap in self.limit.items():
            total = self.spent.get(unit, 0.0) + reserved.get(unit, 0.0) + amounts.get(unit, 0.0)
            if total > cap + _EPSILON:
                return False
        self.held[name] = Held(amounts=dict(amounts), expires=now + ttl)
        return True

    def settle(self, name: str, used: Mapping[str, float]) -> bool:
        """Replace the reservation by what the call really used; True if changed.

        A settle after the reservation expired still counts: the money was spent."""
        if name in self.settled:
            return False
        self.held.pop(name, None)
        for unit, amount in used.items():
            self.spent[unit] = self.spent.get(unit, 0.0) + amount
        self.settled[name] = None
        while len(self.settled) > _SETTLED_KEPT:
            del self.settled[next(iter(self.settled))]
        return True

    def release(self, name: str) -> bool:
        """Drop a reservation whose call was never answered; True if it was held."""
        return self.held.pop(name, None) is not None

    def expire(self, now: float) -> bool:
        """Drop the reservations past their time to live; True if any was."""
        gone = [name for name, held in self.held.items() if held.expires <= now]
        for name in gone:
            del self.held[name]
        return bool(gone)

    def state(self) -> BudgetState:
        return BudgetState(
            budget=self.budget,
            limit=self.limit,
            spent=self.spent,
            reservations=self.held,
            settled=list(self.settled),
        )
