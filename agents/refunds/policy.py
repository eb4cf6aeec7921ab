"""When a refund needs a person's approval, and for how long the request stands.

Read from the environment when the agent is imported (at `mesh run` start-up), so a
bad value stops the worker at once with the variable's name:

- `REFUND_APPROVAL_THRESHOLD_CENTS` (10000, i.e. EUR 100.00): a refund above it waits
  for an approval; one at or below it is issued at once.
- `REFUND_APPROVAL_EXPIRES_IN` (86400 s, a day): how long the request waits for an
  answer, and how long an approval stands before the refund must be issued.
- `REFUND_APPROVAL_ON_EXPIRY` ("continue"): "continue" ends the task with no refund
  (status `expired`); "halt" fails it (`ApprovalExpired`), for someone to look at.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from mesh import SetupError
from mesh.approvals import OnExpiry


@dataclass(frozen=True)
class RefundPolicy:
    threshold_cents: int = 10_000
    expires_in: float = 24 * 3600.0
    on_expiry: OnExpiry = "continue"

    def needs_approval(self, amount_cents: int) -> bool:
        return amount_cents > self.threshold_cents

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> RefundPolicy:
        """The policy the `REFUND_APPROVAL_*` variables set (defaults for the unset).

        Raises:
            SetupError: a variable is set to a value it cannot take; the message names it.
        """
        default = cls()
        threshold = _number(env, "REFUND_APPROVAL_THRESHOLD_CENTS", default.threshold_cents)
        expires_in = _number(env, "REFUND_APPROVAL_EXPIRES_IN", default.expires_in)
        if threshold < 0 or threshold != int(threshold):
            raise SetupError(
                f"REFUND_APPROVAL_THRESHOLD_CENTS must be a whole number of cents >= 0, "
                f"got {env['REFUND_APPROVAL_THRESHOLD_CENTS']!r}"
            )
        if expires_in <= 0:
            raise SetupError(
                f"REFUND_APPROVAL_EXPIRES_IN must be > 0 seconds, "
                f"got {env['REFUND_APPROVAL_EXPIRES_IN']!r}"
            )
        on_expiry = env.get("REFUND_APPROVAL_ON_EXPIRY", default.on_expiry)
        if on_expiry not in ("halt", "continue"):
            raise SetupError(
                f"REFUND_APPROVAL_ON_EXPIRY must be 'halt' or 'continue', got {on_expiry!r}"
            )
        return cls(int(threshold), float(expires_in), cast(OnExpiry, on_expiry))


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return float(raw)
    except ValueError:
        raise SetupError(f"{name} must be a number, got {raw!r}") from None


def euros(cents: int) -> str:
    """`25000` as "EUR 250.00" (the sample shop's currency)."""
    return f"EUR {cents // 100}.{cents % 100:02d}"
