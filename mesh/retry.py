"""What happens when a handler raises: retry later, or dead-letter with the reason.

A handler states its intent with an exception type carrying data (`Retry`,
`Reject`, both in `mesh.errors`); anything else is retriable until the agent's
`RetryPolicy` runs out of attempts. Errors that cannot succeed on a second try
(rejected or invalid input) go straight to the dead-letter queue. One function,
`RetryPolicy.decide`, makes the call, so the worker never grows an `isinstance` ladder.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mesh.errors import (
    BudgetExceeded,
    InvalidInput,
    ModelCallLimitExceeded,
    Reject,
    Retry,
    SetupError,
    StepTooLarge,
)
from schemas.registry import SchemaError

# Never worth a second attempt, whatever the policy says.
ALWAYS_PERMANENT: tuple[type[BaseException], ...] = (
    Reject,
    InvalidInput,
    ValidationError,
    StepTooLarge,
    SetupError,
    SchemaError,  # e.g. `emit` or `delegate` of a model that was never registered
    ModelCallLimitExceeded,  # a retry would replay the task's calls and stop again
    BudgetExceeded,  # the spend is recorded: a retry would be refused again
)


@dataclass(frozen=True)
class RetryLater:
    """Run the task again in `delay` seconds as attempt `attempt`."""

    delay: float
    attempt: int


@dataclass(frozen=True)
class GiveUp:
    """Retry no more: park the task in the dead-letter queue with `reason`."""

    reason: str


class RetryPolicy(BaseModel):
    """How an agent retries failed tasks (exponential backoff with jitter).

    Attributes:
        max_attempts: runs in all, the first included (1: never retry).
        initial_delay: seconds before the second attempt.
        multiplier: each further delay is this many times the previous one.
        max_delay: upper bound of a computed delay, in seconds.
        jitter: +/- this fraction of randomness, so retries of many tasks spread out.
        permanent: exception types that go straight to the dead-letter queue.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    max_attempts: int = Field(default=3, ge=1, le=1000)
    initial_delay: float = Field(default=1.0, gt=0)
    multiplier: float = Field(default=2.0, ge=1.0)
    max_delay: float = Field(default=300.0, gt=0)
    jitter: float = Field(default=0.1, ge=0.0, le=1.0)
    permanent: tuple[type[BaseException], ...] = ()

    @model_validator(mode="after")
    def _delays_in_order(self) -> RetryPolicy:
        if self.max_delay < self.initial_delay:
            raise ValueError(
                f"max_delay ({self.max_delay}) must be at least initial_delay "
                f"({self.initial_delay}); raise max_delay"
            )
        return self

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1 for the first run)."""
        base = min(self.max_delay, self.initial_delay * self.multiplier ** (attempt - 1))
        return base * (1 + random.uniform(-self.jitter, self.jitter))

    def decide(self, error: BaseException, attempt: int) -> RetryLater | GiveUp:
        """The fate of a task whose attempt number `attempt` raised `error`."""
        if isinstance(error, (*ALWAYS_PERMANENT, *self.permanent)):
            return GiveUp(f"{type(error).__name__} is permanent: {error}")
        if attempt >= self.max_attempts:
            return GiveUp(f"{type(error).__name__}: {error} (failed all {attempt} attempts)")
        if isinstance(error, Retry) and error.after is not None:
            return RetryLater(delay=error.after, attempt=attempt + 1)  # the caller's hint
        return RetryLater(delay=self.delay(attempt), attempt=attempt + 1)
