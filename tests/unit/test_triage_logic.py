"""Triage: ticket classification, order-id extraction, query building and reply drafting."""

from __future__ import annotations

import pytest

from agents.contracts import Article, KnowledgeHits, Order, OrdersFound, TriageTicket
from agents.triage.classify import classify, extract_order_id
from agents.triage.drafting import draft_reply, knowledge_query

SHIPPED = Order(
    order_id="ORD-1001",
    status="shipped",
    total_cents=19790,
    placed_at="2024-11-18",
    shipped_at="2024-11-20",
    carrier="UPS",
    tracking="1Z999AA10085131377",
    items=["2 x Trail Runner Shoes"],
)
DELIVERED = Order(
    order_id="ORD-1002",
    status="delivered",
    total_cents=7900,
    placed_at="2024-10-02",
    shipped_at="2024-10-04",
    carrier="DPD",
    tracking="01500070643907",
)
CANCELLED = Order(order_id="ORD-1009", status="cancelled", total_cents=500, placed_at="2024-05-22")
HITS = KnowledgeHits(
    articles=[
        Article(id="kb-002", title="Tracking your parcel", score=6.9, snippet="..."),
        Article(id="kb-003", title="My parcel is lost or late", score=4.6, snippet="..."),
        Article(id="kb-008", title="Changing the delivery address", score=3.4, snippet="..."),
    ]
)


# Twelve sample tickets, one or more per category (tests/unit/test_triage_by_meaning.py
# routes the same ones by meaning).
SAMPLE_TICKETS = [
    ("Where is my order ORD-1001?", "It has not arrived.", "shipping"),
    ("Tracking number does not work", "", "shipping"),
    ("I was charged twice for my order", "Please help.", "billing"),
    ("Need a VAT invoice", "", "billing"),
    ("How do I return a jacket that does not fit?", "", "returns"),
    ("Still waiting for my refund", "I sent the shoes back two weeks ago.", "returns"),
    ("Parcel arrived damaged", "The box was crushed.", "returns"),
    ("Cannot reset my password", "", "account"),
    ("Please delete my account", "", "account"),
    ("The app crashes on startup", "", "technical"),
    ("Do you sell gift wrapping?", "Just curious.", "other"),
    ("", "", "other"),
]


def ticket(subject: str, body: str = "", email: str = "ada@example.com") -> TriageTicket:
    return TriageTicket(ticket_id="T-1", customer_email=email, subject=subject, body=body)


@pytest.mark.parametrize(("subject", "body", "category"), SAMPLE_TICKETS)
def test_classify_typical_tickets(subject: str, body: str, category: str) -> None:
    assert classify(subject, body) == category


def test_classify_payment_words_outweigh_refund() -> None:
    assert classify("Refund for a double charge", "") == "billing"


def test_classify_subject_outweighs_body() -> None:
    # Unweighted this is 3 to 3, and the tie would go to billing.
    assert classify("Return a jacket", "I paid by card.") == "returns"


def test_classify_breaks_ties_by_priority() -> None:
    # One billing and one shipping pattern, equal weights: billing comes first.
    assert classify("payment delivery", "") == "billing"


@pytest.mark.parametrize(
    ("text", "order_id"),
    [
        ("Where is my order ORD-1042?", "ORD-1042"),
        ("order ord-1001 and ORD-1002", "ORD-1001"),
        ("ORD 1007 never came", "ORD-1007"),
        ("re: ORD#1010", "ORD-1010"),
        ("my order 1042", None),
        ("RECORD-1042", None),
        ("", None),
    ],
)
def test_extract_order_id(text: str, order_id: str | None) -> None:
    assert extract_order_id(text) == order_id


def test_knowledge_query_adds_category_words_and_drops_order_ids() -> None:
    query = knowledge_query(ticket("Where is ORD-1001?"), "shipping")
    assert "ORD" not in query and "1001" not in query
    assert query.startswith("Where is")
    assert "tracking" in query


def test_knowledge_query_is_never_empty() -> None:
    assert knowledge_query(ticket(""), "other").strip()


def test_reply_mentions_tracking_of_shipped_order_and_cites_articles() -> None:
    t = ticket("Where is my order ORD-1001?", "It has not arrived.")
    orders = OrdersFound(customer_email=t.customer_email, orders=[SHIPPED])
    reply = draft_reply(t, "shipping", HITS, orders)
    assert reply.ticket_id == "T-1"
    assert reply.category == "shipping"
    assert reply.reply.startswith("Hello Ada,")
    assert "Where is my order ORD-1001?" in reply.reply
    assert "UPS" in reply.reply and "1Z999AA10085131377" in reply.reply
    assert "2 x Trail Runner Shoes" in reply.reply
    assert "see kb-002" in reply.reply and "see kb-003" in reply.reply
    assert "kb-008" not in reply.reply
    assert reply.article_ids == ["kb-002", "kb-003"]
    assert reply.order_ids == ["ORD-1001"]
    assert reply.reply.rstrip().endswith("The Support Desk")


def test_reply_without_order_id_mentions_relevant_orders_only() -> None:
    orders = OrdersFound(customer_email="ada@example.com", orders=[SHIPPED, CANCELLED, DELIVERED])
    reply = draft_reply(ticket("My parcel is late"), "shipping", None, orders)
    assert reply.order_ids == ["ORD-1001", "ORD-1002"]
    assert "was delivered" in reply.reply and "01500070643907" in reply.reply


def test_reply_says_when_named_order_is_not_the_customers() -> None:
    orders = OrdersFound(customer_email="ada@example.com", orders=[])
    reply = draft_reply(ticket("Where is ORD-1003?"), "shipping", HITS, orders)
    assert "could not find order ORD-1003" in reply.reply
    assert reply.order_ids == []


def test_reply_handles_failed_lookups() -> None:
    reply = draft_reply(ticket("Where is my order ORD-1001?"), "shipping", None, None)
    assert "could not look up your orders" in reply.reply
    assert reply.article_ids == [] and reply.order_ids == []
    assert "see kb-" not in reply.reply
    assert reply.reply.startswith("Hello Ada,")


def test_reply_for_account_question_skips_orders() -> None:
    orders = OrdersFound(customer_email="ada@example.com", orders=[SHIPPED])
    reply = draft_reply(
        ticket("Cannot reset my password", email="x1@example.com"), "account", HITS, orders
    )
    assert reply.order_ids == []
    assert "ORD-1001" not in reply.reply and "look up your orders" not in reply.reply
    assert reply.reply.startswith("Hello,")
