"""What the model is told when it drafts a reply: the ticket and only the facts found.

The facts are the ones the template reply would use (agents/triage/drafting.py picks
the relevant orders and the best articles), each with the id the draft may cite, so
the grounding check (agents/triage/grounding.py) can hold the draft to exactly them.
The model signs nothing: the desk's sign-off is appended to a draft that passes.
"""

from __future__ import annotations

from typing import Final

from agents.contracts import Category, KnowledgeHits, OrdersFound, ReplyDrafted, TriageTicket
from agents.triage.classify import extract_order_id
from agents.triage.drafting import describe_order, greeting
from agents.triage.grounding import MAX_DRAFT_CHARS, Facts
from mesh import ChatMessage

INSTRUCTIONS: Final = (
    "You write the reply of an online shop's support desk to a customer's ticket. "
    "Use only the facts given with the ticket; never invent orders, order numbers, "
    "articles, dates, amounts or tracking numbers. Name an order or a help article "
    "only by an id listed with the ticket. "
    'Start with "Hello <first name>," (or "Hello," without a name), write at most '
    "five short sentences in plain text, and do not sign the reply."
)


def facts_for(
    ticket: TriageTicket,
    hits: KnowledgeHits | None,
    orders: OrdersFound | None,
    template: ReplyDrafted,
) -> Facts:
    """The facts a draft may use: the orders and articles the template reply cites.

    Args:
        ticket: The ticket being answered.
        hits: The knowledge search result, or None when that lookup failed.
        orders: The order lookup result, or None when that lookup failed.
        template: The template's reply to the same ticket.
    """
    cited_orders = set(template.order_ids)
    cited_articles = set(template.article_ids)
    return Facts(
        orders=tuple(o for o in (orders.orders if orders else []) if o.order_id in cited_orders),
        articles=tuple(a for a in (hits.articles if hits else []) if a.id in cited_articles),
        ticket_text=f"{ticket.subject} {ticket.body}",
        orders_failed=orders is None,
    )


def drafting_messages(ticket: TriageTicket, category: Category, facts: Facts) -> list[ChatMessage]:
    """The conversation that asks for a draft.

    Args:
        ticket: The ticket being answered.
        category: Its category, from classification.
        facts: What the draft may use and cite.
    """
    lines = [
        f"Ticket subject: {ticket.subject.strip() or '(none)'}",
        f"Ticket text: {ticket.body.strip() or '(none)'}",
        f"Category: {category}",
        f"Greeting to use: {greeting(ticket.customer_email)}",
        "",
        *_order_lines(facts),
        "",
        *_article_lines(facts),
        "",
        f"Write the reply (at most {MAX_DRAFT_CHARS} characters).",
    ]
    return [ChatMessage.system(INSTRUCTIONS), ChatMessage.user("\n".join(lines))]


def retry_message(reason: str) -> ChatMessage:
    """What follows a rejected draft in the conversation: why, and to write it again."""
    return ChatMessage.user(
        f"That reply cannot be sent: {reason}. Write the reply again, using only the "
        "facts given and citing only the ids given."
    )


def _order_lines(facts: Facts) -> list[str]:
    if facts.orders_failed:
        return ["Orders: the order lookup failed; say a colleague will check the orders."]
    named = extract_order_id(facts.ticket_text)
    if named and named not in {o.order_id for o in facts.orders}:
        return [f"Orders: order {named} was not found under the customer's email address."]
    if not facts.orders:
        return ["Orders: none to mention."]
    described = (f"- {describe_order(order)}" for order in facts.orders)
    return ["Orders you may mention (no others):", *described]


def _article_lines(facts: Facts) -> list[str]:
    if not facts.articles:
        return ["Help articles: none to cite."]
    return [
        "Help articles you may cite (no others):",
        *(f'- {a.id} "{a.title}": {a.snippet}' for a in facts.articles),
    ]
