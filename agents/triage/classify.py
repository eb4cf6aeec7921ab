"""Ticket classification by weighted keyword rules, and order-id extraction.

Deliberately simple and explainable: each category has patterns with weights, a
ticket's score per category is the sum of the weights of the patterns it contains,
and the best category wins.

Where refunds belong: a refund is almost always the end of a return ("I sent it
back, where is my money?"), so "refund" counts for `returns`. Payment problems
("charged twice", "invoice") count for `billing`, and outweigh "refund" when a
ticket says both.
"""

from __future__ import annotations

import re
from typing import Final

from agents.contracts import Category

# Patterns are word prefixes, so "charg" covers charge, charged and charging.
_RULES: Final[dict[Category, tuple[tuple[str, int], ...]]] = {
    "billing": (
        (r"charg", 3),
        (r"twice|double|duplicate", 2),
        (r"invoice|receipt|vat\b", 3),
        (r"payment|paid\b|pay\b|billing|billed", 2),
        (r"credit card|debit card|card\b|paypal|klarna", 1),
        (r"promo|coupon|discount|voucher|gift card", 2),
        (r"price match|overcharg", 3),
    ),
    "shipping": (
        (r"where(.s| is) (my )?(order|parcel|package|delivery|ord\b)", 4),
        (r"deliver|shipping|shipped|dispatch", 2),
        (r"track", 3),
        (r"parcel|package|courier|carrier", 2),
        (r"not (yet )?(arrived|received)|hasn.t arrived|never arrived|late\b|delay", 3),
        (r"(parcel|package|order) (is |was |got )?lost|lost in transit", 3),
        (r"address|customs|pickup", 1),
    ),
    "returns": (
        (r"return", 3),
        (r"refund|money back", 3),
        (r"exchange|swap|wrong size|does not fit|doesn.t fit|too (small|big|large)", 3),
        (r"damaged|broken|faulty|defect|cracked", 3),
        (r"warranty|repair", 2),
    ),
    "account": (
        (r"password|log ?in|sign ?in|locked out", 3),
        (r"account|profile", 2),
        (r"two.factor|2fa|verification code|reset", 2),
        (r"unsubscribe|newsletter|email preferences|delete my", 2),
    ),
    "technical": (
        (r"app\b|website|site\b|browser", 2),
        (r"error|crash|bug|broken link|not loading|won.t load|blank page|freez", 3),
        (r"checkout (fails|failed|not working)|page", 1),
    ),
}

# Ties go to the category whose mistakes cost most: money first, then goods in transit.
PRIORITY: Final[tuple[Category, ...]] = ("billing", "returns", "shipping", "account", "technical")

# The subject is the customer's own summary, so it outweighs the body.
SUBJECT_WEIGHT: Final = 2

_COMPILED = {
    category: tuple((re.compile(rf"\b(?:{pattern})", re.IGNORECASE), w) for pattern, w in rules)
    for category, rules in _RULES.items()
}

# Order numbers as customers type them: "ORD-1042", "ord 1042", "ORD#1042".
ORDER_ID_PATTERN: Final = re.compile(r"\bORD[-\s#]?(\d{4,})\b", re.IGNORECASE)


def score(text: str) -> dict[Category, int]:
    """Score a text against every category's rules.

    Args:
        text: Any ticket text.

    Returns:
        Each category's summed weight; a pattern counts once however often it occurs.
    """
    return {
        category: sum(weight for pattern, weight in rules if pattern.search(text))
        for category, rules in _COMPILED.items()
    }


def classify(subject: str, body: str) -> Category:
    """Pick the category of a support ticket.

    Args:
        subject: The ticket's subject line.
        body: The ticket's text, possibly empty.

    Returns:
        The highest-scoring category, ties broken by `PRIORITY`, or "other" when no
        rule matches.
    """
    subject_scores, body_scores = score(subject), score(body)
    totals = {c: SUBJECT_WEIGHT * subject_scores[c] + body_scores[c] for c in PRIORITY}
    best = max(PRIORITY, key=lambda category: totals[category])  # max keeps the first of equals
    return best if totals[best] > 0 else "other"


def extract_order_id(text: str) -> str | None:
    """Find the first order number in a text, in the canonical "ORD-1042" form.

    Args:
        text: Free text; "ord-1042", "ORD 1042" and "ORD#1042" are all recognised.

    Returns:
        The normalised order id, or None when the text names none.
    """
    match = ORDER_ID_PATTERN.search(text)
    return f"ORD-{match.group(1)}" if match else None
