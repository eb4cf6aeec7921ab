"""Drafting a reply to a ticket from whatever facts the delegated lookups returned.

Either lookup may have failed (None): the reply then says less, never fails.
"""

from __future__ import annotations

from typing import Final

from agents.contracts import (
    Article,
    Category,
    KnowledgeHits,
    Order,
    OrdersFound,
    ReplyDrafted,
    TriageTicket,
)
from agents.triage.classify import ORDER_ID_PATTERN, extract_order_id

# Words appended to the search query so a vague subject still reaches the right articles.
CATEGORY_QUERY_WORDS: Final[dict[Category, str]] = {
    "billing": "payment charge invoice",
    "shipping": "delivery tracking parcel",
    "returns": "return refund",
    "account": "account password sign in",
    "technical": "app error",
    "other": "contact support",
}

# Without an order id in the ticket, the orders worth mentioning per category: a
# delivery question is about orders on their way (or "delivered" but missing), a return
# about goods the customer has. Other categories mention no orders.
RELEVANT_STATUSES: Final[dict[Category, frozenset[str]]] = {
    "billing": frozenset({"placed", "paid", "shipped", "delivered", "cancelled", "refunded"}),
    "shipping": frozenset({"paid", "shipped", "delivered"}),
    "returns": frozenset({"shipped", "delivered", "refunded"}),
}
MAX_ORDERS: Final = 3
MAX_ARTICLES: Final = 2
MAX_ITEMS: Final = 3
SIGN_OFF: Final = "Kind regards,\nThe Support Desk"


def knowledge_query(ticket: TriageTicket, category: Category) -> str:
    """Build the knowledge-base search query for a ticket.

    Args:
        ticket: The ticket being triaged.
        category: Its category, from `classify`.

    Returns:
        The subject without order ids (they match no article) plus the category's
        words; never empty.
    """
    subject = ORDER_ID_PATTERN.sub(" ", ticket.subject)
    return " ".join(f"{subject} {CATEGORY_QUERY_WORDS[category]}".split())


def draft_reply(
    ticket: TriageTicket,
    category: Category,
    hits: KnowledgeHits | None,
    orders: OrdersFound | None,
) -> ReplyDrafted:
    """Compose the reply to a ticket.

    Args:
        ticket: The ticket being answered.
        category: Its category, from `classify`.
        hits: The knowledge search result, or None when that lookup failed.
        orders: The order lookup result, or None when that lookup failed.

    Returns:
        The drafted reply, with the ids of the articles and orders it cites.
    """
    named_order = extract_order_id(f"{ticket.subject} {ticket.body}")
    cited_orders = _relevant_orders(category, named_order, orders)
    articles = hits.articles[:MAX_ARTICLES] if hits else []
    paragraphs = [
        greeting(ticket.customer_email),
        _acknowledgement(ticket.subject),
        _orders_paragraph(category, named_order, orders, cited_orders),
        _articles_paragraph(articles),
        "If anything is still unclear, just reply to this message and we will help.",
        SIGN_OFF,
    ]
    return ReplyDrafted(
        ticket_id=ticket.ticket_id,
        category=category,
        reply="\n\n".join(p for p in paragraphs if p),
        article_ids=[article.id for article in articles],
        order_ids=[order.order_id for order in cited_orders],
    )


def greeting(email: str) -> str:
    """How a reply greets the owner of `email`: "Hello Ada," or "Hello,"."""
    # "ada.lovelace@..." -> "Ada"; a local part that is no plain name gets no name at all.
    name = email.split("@", 1)[0].split(".", 1)[0]
    return f"Hello {name.capitalize()}," if name.isalpha() and len(name) > 1 else "Hello,"


def _acknowledgement(subject: str) -> str:
    subject = subject.strip()
    if not subject:
        return "Thank you for getting in touch."
    return f'Thank you for getting in touch about "{subject}".'


def _relevant_orders(
    category: Category, named_order: str | None, orders: OrdersFound | None
) -> list[Order]:
    if orders is None:
        return []
    if named_order:
        return [order for order in orders.orders if order.order_id == named_order]
    statuses = RELEVANT_STATUSES.get(category, frozenset())
    return [order for order in orders.orders if order.status in statuses][:MAX_ORDERS]


def _orders_paragraph(
    category: Category, named_order: str | None, orders: OrdersFound | None, cited: list[Order]
) -> str:
    wanted = named_order is not None or category in RELEVANT_STATUSES
    if not wanted:
        return ""
    if orders is None:
        return "We could not look up your orders just now; a colleague will check them for you."
    if not cited:
        if named_order:
            return f"We could not find order {named_order} under your email address."
        return "We could not find a matching order under your email address."
    return " ".join(describe_order(order) for order in cited)


def describe_order(order: Order) -> str:
    """One sentence on an order's status, with carrier and tracking once it has shipped.

    Args:
        order: An order from the order database.

    Returns:
        A sentence such as "Order ORD-1001 (2 x Trail Runner Shoes) shipped on
        2024-11-20 with UPS, tracking number 1Z999AA10085131377."
    """
    items = f" ({', '.join(order.items[:MAX_ITEMS])})" if order.items else ""
    what = f"Order {order.order_id}{items}"
    total = f"{order.total_cents / 100:.2f} EUR"
    match order.status:
        case "placed":
            return f"{what}, placed on {order.placed_at}, is waiting for payment confirmation."
        case "paid":
            return f"{what}, placed on {order.placed_at}, is paid and being prepared for dispatch."
        case "shipped":
            return f"{what} shipped{_shipment(order)}."
        case "delivered":
            return f"{what} was delivered; it shipped{_shipment(order)}."
        case "cancelled":
            return f"{what} was cancelled, so nothing further will be charged for it."
        case "refunded":
            return f"{what} has been refunded ({total} to your original payment method)."
        case _:
            return f"{what} has the status {order.status}."


def _shipment(order: Order) -> str:
    parts = [f" on {order.shipped_at}" if order.shipped_at else ""]
    parts.append(f" with {order.carrier}" if order.carrier else "")
    parts.append(f", tracking number {order.tracking}" if order.tracking else "")
    return "".join(parts)


def _articles_paragraph(articles: list[Article]) -> str:
    if not articles:
        return ""
    cited = [f'"{article.title}" (see {article.id})' for article in articles]
    return "These help articles may answer your question: " + " and ".join(cited) + "."
