"""The grounding check of a reply the model drafted: it may cite only what it was given.

The model is given the facts the lookups returned (agents/triage/prompt.py): the orders
and help articles the template reply would cite, plus the ticket itself. A draft that
names an order id (ORD-nnnn, or "order 1042") or an article id (kb-nnn) outside those
is rejected: a customer told about an order or an article the desk never looked up has
been told something invented. So is a draft that is empty, too long, or not shaped
like a reply (no greeting, a "[Your Name]" placeholder, markup). The check is pure and
cheap; what happens to a rejected draft (one retry with the reason, then the template)
is agents/triage/model_drafting.py's business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from agents.contracts import Article, Order
from agents.triage.classify import ORDER_ID_PATTERN

# "order 1042", "order no. 1042", "order number #1042": a bare number named as an order.
_ORDER_NUMBER = re.compile(r"\border\s+(?:number\s+|no\.?\s*)?#?\s*(\d{4,})\b", re.IGNORECASE)
ARTICLE_ID_PATTERN: Final = re.compile(r"\bkb-\d+\b", re.IGNORECASE)
# Left for the customer's name or ours: the model filled in a form, not a reply.
_PLACEHOLDER = re.compile(r"\[[^\]\n]{1,40}\]|\{[^}\n]{0,40}\}|<[A-Za-z|/][^>\n]{0,40}>")
_MARKUP = re.compile(r"```|^\s{0,3}#{1,6}\s|\*\*", re.MULTILINE)
GREETINGS: Final = ("hello", "hi", "dear")
MIN_DRAFT_CHARS: Final = 40
MAX_DRAFT_CHARS: Final = 1500
MAX_SENTENCES: Final = 8  # the prompt asks for five; a few more is a style, not a ramble
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class Facts:
    """What a draft may cite: the lookups' orders and articles, and the ticket's text.

    Attributes:
        orders: The orders the reply may mention (those the template would cite).
        articles: The help articles it may cite.
        ticket_text: Subject and body: an order id the customer wrote may be named back.
        orders_failed: The order lookup failed, so no order's status is known.
    """

    orders: tuple[Order, ...]
    articles: tuple[Article, ...]
    ticket_text: str = ""
    orders_failed: bool = False

    @property
    def order_ids(self) -> frozenset[str]:
        named = cited_order_ids(self.ticket_text)
        return frozenset({order.order_id for order in self.orders} | set(named))

    @property
    def article_ids(self) -> frozenset[str]:
        return frozenset(article.id.lower() for article in self.articles)


@dataclass(frozen=True)
class Verdict:
    """The check's outcome for one draft.

    Attributes:
        problems: Why the draft cannot be sent, each a sentence the model can act on;
            empty when it is grounded and well-formed.
        order_ids: The order ids it cites, in order of first mention.
        article_ids: The article ids it cites, likewise.
    """

    problems: tuple[str, ...]
    order_ids: tuple[str, ...]
    article_ids: tuple[str, ...]

    @property
    def grounded(self) -> bool:
        return not self.problems

    @property
    def reason(self) -> str:
        return "; ".join(self.problems)


def cited_order_ids(text: str) -> tuple[str, ...]:
    """Every order id `text` names, normalised to "ORD-1042", in order of first mention."""
    found = [(m.start(), f"ORD-{m.group(1)}") for m in ORDER_ID_PATTERN.finditer(text)]
    found += [(m.start(), f"ORD-{m.group(1)}") for m in _ORDER_NUMBER.finditer(text)]
    return tuple(dict.fromkeys(order_id for _, order_id in sorted(found)))


def cited_article_ids(text: str) -> tuple[str, ...]:
    """Every help-article id `text` names, lower-cased, in order of first mention."""
    return tuple(dict.fromkeys(m.group(0).lower() for m in ARTICLE_ID_PATTERN.finditer(text)))


def check_draft(draft: str, facts: Facts, *, cut_off: bool = False) -> Verdict:
    """Check a drafted reply (without its sign-off) against the facts it was given.

    Args:
        draft: The model's answer, stripped.
        facts: What it was given to cite.
        cut_off: The answer stopped at its token limit (`finish_reason` "length"):
            whatever it says, its last sentence is unfinished.

    Returns:
        The verdict: every problem found (none: it may be sent) and the ids it cites.
    """
    orders, articles = cited_order_ids(draft), cited_article_ids(draft)
    problems = _format_problems(draft)
    if cut_off and draft:
        problems.append("it was cut off at the token limit (write fewer, shorter sentences)")
    if unknown := [o for o in orders if o not in facts.order_ids]:
        problems.append(
            f"it cites {_listed(unknown)}, which the order lookup did not return "
            f"(the orders it may cite: {_listed(sorted(facts.order_ids)) or 'none'})"
        )
    if unknown := [a for a in articles if a not in facts.article_ids]:
        problems.append(
            f"it cites {_listed(unknown)}, which the knowledge search did not return "
            f"(the articles it may cite: {_listed(sorted(facts.article_ids)) or 'none'})"
        )
    return Verdict(tuple(problems), orders, articles)


def _format_problems(draft: str) -> list[str]:
    if not draft:
        return ["it is empty"]
    problems = []
    if len(draft) < MIN_DRAFT_CHARS:
        problems.append(f"it is too short ({len(draft)} characters; at least {MIN_DRAFT_CHARS})")
    if len(draft) > MAX_DRAFT_CHARS:
        problems.append(f"it is too long ({len(draft)} characters; at most {MAX_DRAFT_CHARS})")
    first_word = re.split(r"[\s,!]", draft, maxsplit=1)[0].lower()
    if first_word not in GREETINGS:
        problems.append('it does not start with a greeting such as "Hello Ada,"')
    if placeholder := _PLACEHOLDER.search(draft):
        problems.append(f"it contains the placeholder {placeholder.group(0)!r}")
    if _MARKUP.search(draft):
        problems.append("it contains markup (a code fence, a heading or bold text)")
    return problems + _shape_problems(draft)


def _shape_problems(draft: str) -> list[str]:
    """A small model's usual failure: the same sentence again and again."""
    sentences = [" ".join(s.lower().split()) for s in _SENTENCE_END.split(draft) if s.strip()]
    problems = []
    if len(sentences) > MAX_SENTENCES:
        problems.append(f"it has {len(sentences)} sentences (at most {MAX_SENTENCES})")
    if (repeated := _first_repeated(sentences)) is not None:
        problems.append(f"it repeats the sentence {repeated[:60]!r}")
    return problems


def _first_repeated(sentences: list[str]) -> str | None:
    seen: set[str] = set()
    for sentence in sentences:
        if len(sentence) > 15 and sentence in seen:  # "Thanks!" twice is no ramble
            return sentence
        seen.add(sentence)
    return None


def _listed(ids: list[str] | tuple[str, ...]) -> str:
    return ", ".join(ids)
