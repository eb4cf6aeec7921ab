"""Budgets (ADR 025) without a transport: one budget's arithmetic (reserve, settle,
release, expiry, idempotent names), the budgets a call draws from, the settings."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from mesh.budgets.book import BudgetBook
from mesh.cli._tasks import add_task_parsers, budget_line, budget_option
from mesh.errors import SettingsError, UsageError
from mesh.models.budgets import BudgetScope
from mesh.settings import Settings, load_settings
from schemas import Envelope
from schemas.envelope import Budget
from schemas.tasks import ModelUsage

LIMIT = {"usd": 1.0, "tokens": 100.0}


def _book() -> BudgetBook:
    return BudgetBook.empty("task:root")


def test_a_reservation_holds_until_settled_to_the_real_use() -> None:
    book = _book()
    assert book.reserve("a", {"usd": 0.5, "tokens": 60}, LIMIT, now=0, ttl=10)
    assert not book.reserve("b", {"usd": 0.1, "tokens": 50}, LIMIT, now=0, ttl=10)  # 110 > 100
    assert book.settle("a", {"usd": 0.2, "tokens": 15})
    assert book.spent == {"usd": 0.2, "tokens": 15}
    assert book.reserved() == {}
    assert book.reserve("b", {"usd": 0.1, "tokens": 50}, LIMIT, now=0, ttl=10)
    assert book.reserve("c", {"usd": 0.7, "tokens": 35}, LIMIT, now=0, ttl=10)  # exactly full
    assert not book.reserve("d", {"usd": 0.0, "tokens": 1}, LIMIT, now=0, ttl=10)


def test_names_make_every_operation_idempotent() -> None:
    book = _book()
    assert book.reserve("a", {"tokens": 60}, LIMIT, now=0, ttl=10)
    assert book.reserve("a", {"tokens": 60}, LIMIT, now=0, ttl=10)  # a re-run: same answer
    assert book.reserved() == {"tokens": 60}  # held once
    assert book.settle("a", {"tokens": 15})
    assert not book.settle("a", {"tokens": 15})  # a repeated settle changes nothing
    assert book.spent == {"tokens": 15}
    assert book.reserve("a", {"tokens": 60}, LIMIT, now=0, ttl=10)  # settled: nothing held
    assert book.reserved() == {}
    assert book.reserve("b", {"tokens": 60}, LIMIT, now=0, ttl=10)
    assert book.release("b")
    assert not book.release("b")
    assert book.reserved() == {} and book.spent == {"tokens": 15}


def test_a_reservation_never_settled_expires_and_a_late_settle_still_counts() -> None:
    book = _book()
    assert book.reserve("crashed", {"tokens": 90}, LIMIT, now=0, ttl=10)
    assert not book.reserve("next", {"tokens": 20}, LIMIT, now=9.9, ttl=10)
    assert book.reserve("next", {"tokens": 20}, LIMIT, now=10, ttl=10)  # the crash's is gone
    assert book.settle("crashed", {"tokens": 5})  # answered after all: the money was spent
    assert book.spent == {"tokens": 5} and book.reserved() == {"tokens": 20}


def test_a_book_rebuilt_from_its_ledger_record_is_the_same() -> None:
    book = _book()
    book.reserve("a", {"tokens": 60}, LIMIT, now=0, ttl=10)
    book.settle("b", {"tokens": 7})
    again = BudgetBook(book.state().model_validate_json(book.state().model_dump_json()))
    assert again.spent == book.spent and again.reserved() == book.reserved()
    assert not again.settle("b", {"tokens": 7})  # still remembered as settled
    assert again.limit == LIMIT


def test_the_budgets_a_call_draws_from() -> None:
    settings = Settings(
        budgets={"agent:triage": {"usd": 5, "period": "day"}, "tenant:acme": {"tokens": 10}}
    )
    now = datetime(2026, 12, 2, 13, 5, tzinfo=UTC)
    root = Envelope(type="t", task_id="r", root_task_id="r", tenant="acme", budget=Budget(usd=1))
    lines = BudgetScope.of("triage", None, root).lines(settings, now)
    assert [(line.budget, line.limit) for line in lines] == [
        ("task:r", {"usd": 1.0}),
        ("agent:triage:2026-12-02", {"usd": 5.0}),
        ("tenant:acme:2026-12-02", {"tokens": 10.0}),
    ]
    child = Envelope(type="t", task_id="c", root_task_id="r", budget=Budget(tokens=9))
    assert BudgetScope.of("other", None, child).lines(settings, now)[0].budget == "task:r"
    # An agent type's default applies to the root of a tree only.
    default = Budget(tokens=50)
    assert BudgetScope.of("x", default, Envelope(type="t", task_id="r")).tree == default
    plain_child = Envelope(type="t", task_id="c", root_task_id="r")
    assert BudgetScope.of("x", default, plain_child).tree is None
    assert BudgetScope.of("x", None, plain_child).lines(settings, now) == []  # no round trip


def test_a_budget_of_zero_or_without_a_limit_is_refused() -> None:
    with pytest.raises(ValidationError, match="greater than 0"):
        Budget(usd=0)
    with pytest.raises(ValidationError, match="needs"):
        Budget()
    with pytest.raises(SettingsError, match="MESH_BUDGETS: 'agent:a' usd"):
        load_settings(budgets={"agent:a": {"usd": -1}})
    with pytest.raises(SettingsError, match="agent:<name> or tenant:<name>"):
        load_settings(budgets={"triage": {"usd": 1}})


def test_the_submit_command_takes_a_budget() -> None:
    parser = argparse.ArgumentParser()
    add_task_parsers(parser.add_subparsers())
    args = parser.parse_args(["submit", "a", "{}", "--budget-usd", "0.5", "--budget-tokens", "9"])
    assert budget_option(args) == Budget(usd=0.5, tokens=9)
    assert budget_option(parser.parse_args(["submit", "a", "{}"])) is None
    with pytest.raises(UsageError, match="--budget-tokens must be > 0, got 0"):
        budget_option(parser.parse_args(["submit", "a", "{}", "--budget-tokens", "0"]))


def test_an_event_handlers_calls_draw_only_from_the_per_period_budgets() -> None:
    settings = Settings(budgets={"agent:x": {"usd": 5}})
    event = Envelope(type="t")  # no task
    lines = BudgetScope.of("x", Budget(usd=1), event).lines(settings, datetime.now(UTC))
    assert [line.budget.split(":")[0] for line in lines] == ["agent"]


def test_mesh_task_shows_the_budget_and_the_trees_spend() -> None:
    spent = [
        ModelUsage(agent="a", model="m", calls=1, input_tokens=100, output_tokens=50),
        ModelUsage(agent="b", model="m", calls=1, input_tokens=10, output_tokens=5, cost_usd=0.25),
    ]
    line = budget_line(Budget(usd=0.5, tokens=20000), spent)
    assert line == "budget    $0.5000, 20000 tokens for the tree; spent $0.2500, 165 tokens"
