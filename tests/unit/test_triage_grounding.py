"""Triage's grounding check of a drafted reply, and the prompt that gives it its facts."""

from __future__ import annotations

import pytest

from agents.contracts import OrdersFound
from agents.triage.drafting import draft_reply
from agents.triage.grounding import MAX_DRAFT_CHARS, Facts, check_draft, cited_order_ids
from agents.triage.model_drafting import model_drafts
from agents.triage.prompt import drafting_messages, facts_for
from mesh import SetupError
from tests.unit.test_triage_logic import DELIVERED, HITS, SHIPPED, ticket

FACTS = Facts(
    orders=(SHIPPED,),
    articles=tuple(HITS.articles[:2]),  # kb-002, kb-003
    ticket_text="Where is my order ORD-1001? It has not arrived.",
)
GROUNDED = (
    "Hello Ada, your order ORD-1001 shipped on 2024-11-20 with UPS. "
    "The article kb-002 shows how to follow it."
)


def test_a_draft_citing_only_what_it_was_given_passes_with_its_citations() -> None:
    verdict = check_draft(GROUNDED, FACTS)
    assert verdict.grounded, verdict.problems
    assert verdict.order_ids == ("ORD-1001",) and verdict.article_ids == ("kb-002",)


@pytest.mark.parametrize(
    ("draft", "cited"),
    [
        ("Hello Ada, order ORD-1002 was delivered yesterday.", "ORD-1002"),
        ("Hello Ada, your order number 2024 is on its way to you.", "ORD-2024"),
        ("Hello Ada, ord 1017 is waiting for payment confirmation.", "ORD-1017"),
    ],
)
def test_a_draft_citing_an_order_it_was_not_given_is_rejected(draft: str, cited: str) -> None:
    verdict = check_draft(draft, FACTS)
    assert verdict.problems == (
        f"it cites {cited}, which the order lookup did not return "
        "(the orders it may cite: ORD-1001)",
    )


def test_a_draft_citing_an_article_it_was_not_given_is_rejected() -> None:
    verdict = check_draft("Hello Ada, see KB-008 and kb-002 for tracking your parcel.", FACTS)
    assert verdict.problems == (
        "it cites kb-008, which the knowledge search did not return "
        "(the articles it may cite: kb-002, kb-003)",
    )


def test_the_order_the_customer_named_may_be_named_back_when_the_lookup_found_none() -> None:
    facts = Facts(orders=(), articles=(), ticket_text="Where is ORD-4321?")
    assert check_draft("Hello Ada, we could not find order ORD-4321 for you.", facts).grounded
    rejected = check_draft("Hello Ada, we could not find ORD-4321, but ORD-1001 shipped.", facts)
    assert rejected.problems == (
        "it cites ORD-1001, which the order lookup did not return "
        "(the orders it may cite: ORD-4321)",
    )


@pytest.mark.parametrize(
    ("draft", "problem"),
    [
        ("", "it is empty"),
        ("Hello Ada, thanks.", "it is too short (18 characters; at least 40)"),
        ("Hello Ada, " + "x" * MAX_DRAFT_CHARS, f"it is too long ({MAX_DRAFT_CHARS + 11} "),
        ("Your order ORD-1001 shipped with UPS last week.", "it does not start with a greeting"),
        ("Hello [Name], your order ORD-1001 has shipped with UPS.", "the placeholder '[Name]'"),
        ("Hello Ada, your order shipped.\n\nBest regards, {agent}", "the placeholder '{agent}'"),
        ("Hello Ada, your order **ORD-1001** has shipped.", "it contains markup"),
        ("Hello Ada. " + "It ships soon. " * 8, "it has 9 sentences (at most 8)"),
        ("Hello Ada. It will arrive soon. It will arrive soon.", "it repeats the sentence"),
    ],
)
def test_a_draft_that_is_no_reply_is_rejected_saying_why(draft: str, problem: str) -> None:
    verdict = check_draft(draft, FACTS)
    assert any(p.startswith(problem) or problem in p for p in verdict.problems), verdict


def test_a_draft_cut_off_at_the_token_limit_is_rejected() -> None:
    assert check_draft(GROUNDED, FACTS, cut_off=True).problems == (
        "it was cut off at the token limit (write fewer, shorter sentences)",
    )


def test_order_ids_are_found_in_the_forms_customers_and_models_write_them() -> None:
    text = "ORD-1001, ord 1002, order no. 1003, order number #1004, order 1001, 2024 orders"
    assert cited_order_ids(text) == ("ORD-1001", "ORD-1002", "ORD-1003", "ORD-1004")


def test_the_prompt_gives_the_facts_the_template_cites_and_no_others() -> None:
    shipping = ticket("Where is my order ORD-1001?", "It has not arrived.")
    orders = OrdersFound(customer_email="ada@example.com", orders=[SHIPPED, DELIVERED])
    template = draft_reply(shipping, "shipping", HITS, orders)
    facts = facts_for(shipping, HITS, orders, template)
    assert [o.order_id for o in facts.orders] == ["ORD-1001"]  # the one the ticket names
    assert [a.id for a in facts.articles] == ["kb-002", "kb-003"]
    system, user = drafting_messages(shipping, "shipping", facts)
    assert system.role == "system" and "never invent" in (system.content or "")
    text = user.content or ""
    assert "Greeting to use: Hello Ada," in text
    assert "- Order ORD-1001 (2 x Trail Runner Shoes) shipped on 2024-11-20 with UPS" in text
    assert '- kb-002 "Tracking your parcel"' in text and "kb-008" not in text
    assert "ORD-1002" not in text


def test_the_prompt_says_when_a_lookup_failed_or_found_no_named_order() -> None:
    lost = ticket("Where is ORD-4321?")
    failed = facts_for(lost, None, None, draft_reply(lost, "shipping", None, None))
    told = drafting_messages(lost, "shipping", failed)[1].content or ""
    assert "Orders: the order lookup failed; say a colleague will check the orders." in told
    none = OrdersFound(customer_email="ada@example.com", orders=[])
    missing = facts_for(lost, None, none, draft_reply(lost, "shipping", None, none))
    user = drafting_messages(lost, "shipping", missing)[1].content or ""
    assert "order ORD-4321 was not found under the customer's email address" in user
    assert "Help articles: none to cite." in user


def test_the_number_of_model_drafts_is_a_knob_that_names_itself_when_wrong() -> None:
    assert model_drafts({}) == 2 and model_drafts({"TRIAGE_MODEL_DRAFTS": " 0 "}) == 0
    assert model_drafts({"TRIAGE_MODEL_DRAFTS": "3"}) == 3
    for wrong in ("4", "-1", "two"):
        with pytest.raises(SetupError, match=rf"TRIAGE_MODEL_DRAFTS must be .* got '{wrong}'"):
            model_drafts({"TRIAGE_MODEL_DRAFTS": wrong})
