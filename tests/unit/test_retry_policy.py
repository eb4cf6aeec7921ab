"""`RetryPolicy.decide`: the one place a failure becomes a retry or a dead letter."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mesh import Agent, InvalidInput, Reject, Retry, RetryPolicy, SetupError
from mesh.retry import GiveUp, RetryLater
from mesh.settings import Settings
from mesh.topics import retry_tier
from schemas.registry import UnknownMessageType


def test_failures_are_retried_with_growing_delays_until_attempts_run_out() -> None:
    policy = RetryPolicy(max_attempts=4, initial_delay=1.0, multiplier=3.0, jitter=0.0)
    decisions = [policy.decide(ValueError("boom"), attempt) for attempt in (1, 2, 3, 4)]
    assert decisions[:3] == [RetryLater(1.0, 2), RetryLater(3.0, 3), RetryLater(9.0, 4)]
    assert decisions[3] == GiveUp("ValueError: boom (failed all 4 attempts)")


def test_delays_stay_within_jitter_and_the_maximum() -> None:
    policy = RetryPolicy(initial_delay=10.0, multiplier=10.0, max_delay=50.0, jitter=0.2)
    delays = [policy.delay(attempt) for attempt in (1, 2, 3) for _ in range(200)]
    assert all(8.0 <= d <= 12.0 for d in delays[:200])
    assert all(40.0 <= d <= 60.0 for d in delays[200:])
    assert len({round(d, 6) for d in delays[:200]}) > 1  # jitter spreads them


@pytest.mark.parametrize(
    "error",
    [
        Reject("no"),
        InvalidInput("bad"),
        PermissionError("denied"),
        UnknownMessageType("Draft is not registered"),  # from emit/delegate: a code bug
    ],
    ids=type,
)
def test_permanent_errors_are_dead_lettered_on_the_first_attempt(error: Exception) -> None:
    policy = RetryPolicy(max_attempts=5, permanent=(PermissionError,))
    decision = policy.decide(error, 1)
    assert decision == GiveUp(f"{type(error).__name__} is permanent: {error}")


def test_a_retry_after_hint_replaces_the_backoff_but_still_counts() -> None:
    policy = RetryPolicy(max_attempts=2, initial_delay=1.0)
    assert policy.decide(Retry("slow down", after=42.0), 1) == RetryLater(42.0, 2)
    assert isinstance(policy.decide(Retry("slow down", after=42.0), 2), GiveUp)


def test_bad_policies_and_hints_fail_with_what_to_change() -> None:
    with pytest.raises(ValidationError, match="must be at least initial_delay"):
        RetryPolicy(initial_delay=10.0, max_delay=1.0)
    with pytest.raises(ValidationError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="cannot be negative"):
        Retry(after=-1.0)
    with pytest.raises(SetupError, match=r"retry must be a mesh\.RetryPolicy"):
        Agent("billing", retry={"max_attempts": 3})  # type: ignore[arg-type]


def test_a_delay_goes_to_the_shortest_tier_that_covers_it() -> None:
    settings = Settings(retry_tiers=(1.0, 5.0, 30.0))
    assert [retry_tier(settings, d) for d in (0.2, 1.0, 2.0, 29.0, 600.0)] == [
        1.0,
        1.0,
        5.0,
        30.0,
        30.0,
    ]
    with pytest.raises(ValidationError, match="ascending"):
        Settings(retry_tiers=(5.0, 1.0))
