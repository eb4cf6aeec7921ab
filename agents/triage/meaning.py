"""Ticket classification by meaning: the ticket's embedding against category descriptions.

Each category is described in a sentence and a few phrasings a customer might use
(`CATEGORY_DESCRIPTIONS`); a text's similarity to a category is its cosine with the
closest of them, so one apt phrasing is enough. As in the keyword rules, the subject
counts `SUBJECT_WEIGHT` times the body. Where embeddings are not installed, and where
the ticket resembles no description well enough to trust (`CONFIDENCE_FLOOR`), the
keyword rules of `classify` decide instead.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Final, Literal

from agents.contracts import Category
from agents.embedding import CachedEmbeddings, TextEmbedder, embedder
from agents.triage.classify import SUBJECT_WEIGHT, classify

if TYPE_CHECKING:
    from agents.embedding.minilm import Floats

CATEGORY_DESCRIPTIONS: Final[dict[Category, tuple[str, ...]]] = {
    "billing": (
        "Payments, charges and invoices: the customer was charged the wrong amount or more "
        "than once, a payment failed or a card was declined, needs an invoice or a VAT "
        "receipt, or asks about payment methods, prices, discount codes, vouchers or gift cards.",
        "I was billed twice for the same purchase",
        "There is an unexpected charge on my credit card",
        "Please send me an invoice for my purchase",
        "My discount code does not work",
        "The payment failed but the money left my bank account",
    ),
    "shipping": (
        "Delivery of an order that has not arrived yet: where the parcel is, tracking "
        "numbers, delivery times and dates, late or lost packages, the courier or carrier, "
        "changing the delivery address, shipping costs and options.",
        "Where is my package?",
        "My order has not been delivered yet",
        "The tracking link shows no updates",
        "How long does delivery take?",
        "Please deliver my order to a different address",
    ),
    "returns": (
        "Sending an item back after delivery: returns, refunds for returned goods, "
        "exchanging for another size or colour, items that arrived damaged, broken, faulty "
        "or not as ordered, warranty and repairs.",
        "I want to return an item",
        "My refund for the returned item has not arrived",
        "The product arrived broken",
        "Can I exchange this for a different size?",
        "I received the wrong item",
    ),
    "account": (
        "The customer's account with our shop: signing in, passwords and password resets, "
        "being locked out, verification codes, changing the email address or personal "
        "details, newsletter and email preferences, closing or deleting the account and "
        "personal data.",
        "I forgot my password",
        "I cannot sign in to my account",
        "Unsubscribe me from your newsletter",
        "Delete my account and my personal data",
        "Update the email address on my account",
    ),
    "technical": (
        "A technical problem with our website or mobile app: error messages, crashes, pages "
        "that do not load or freeze, buttons or the checkout not working, bugs and broken "
        "links.",
        "The website shows an error",
        "The app crashes when I open it",
        "The page will not load",
        "The checkout page is broken",
        "I found a bug on your site",
    ),
    # "other" is described too: a general question should land here because it is
    # close to these, not only because it is far from everything else.
    "other": (
        "A general question that is not about an order, a payment, a return, an account or "
        "a technical problem: our products and materials, what is in stock, stores and "
        "opening hours, the company, jobs, feedback and compliments.",
        "Do you have this product in stock?",
        "Where are your stores?",
        "I have a general question about your products",
        "I want to give you some feedback",
    ),
}

# Below this (weighted) cosine the ticket is no closer to its best category than
# unrelated English sentences are to each other (MiniLM puts those at about 0.0-0.3):
# the ranking among categories is then noise, and the keyword rules decide.
CONFIDENCE_FLOOR: Final = 0.30
# Ticket subjects and bodies remembered with their embeddings ("Refund?", "Please help.").
CACHED_TICKET_TEXTS: Final = 4096


@dataclass(frozen=True)
class Classification:
    """A ticket's category and how it was decided.

    Attributes:
        category: The category.
        method: "embeddings" when the closest description decided, "rules" when the
            keyword rules did (no embeddings installed, nothing to embed, or
            `similarity` below `CONFIDENCE_FLOOR`).
        similarity: The best category's weighted cosine, when embeddings were used.
    """

    category: Category
    method: Literal["embeddings", "rules"]
    similarity: float | None = None


class MeaningClassifier:
    """Classifies tickets with one embedder; thread-safe, descriptions embedded once."""

    def __init__(self, embedder: TextEmbedder) -> None:
        self._texts = CachedEmbeddings(embedder, max_texts=CACHED_TICKET_TEXTS)
        self._embedder = embedder
        self._lock = threading.Lock()
        self._descriptions: dict[Category, Floats] | None = None

    def similarities(self, subject: str, body: str) -> dict[Category, float]:
        """Each category's similarity to the ticket, the subject weighted over the body.

        Args:
            subject: The ticket's subject line.
            body: Its text.

        Returns:
            Per category, the weighted mean over subject and body of the cosine with the
            category's closest description; empty when both are blank.
        """
        weighted = [(t, w) for t, w in ((subject, SUBJECT_WEIGHT), (body, 1)) if t.strip()]
        if not weighted:
            return {}
        vectors = self._texts.embed([text for text, _ in weighted])
        total = sum(weight for _, weight in weighted)
        return {
            category: sum(
                weight * float((described @ vector).max())
                for (_, weight), vector in zip(weighted, vectors, strict=True)
            )
            / total
            for category, described in self._described().items()
        }

    def classify(self, subject: str, body: str) -> Classification:
        """The ticket's category: the closest description's, or the rules' when unsure."""
        similarities = self.similarities(subject, body)
        if not similarities:
            return Classification(classify(subject, body), "rules")
        best = max(similarities, key=lambda category: similarities[category])
        similarity = round(similarities[best], 3)  # for people reading the progress
        if similarity < CONFIDENCE_FLOOR:
            return Classification(classify(subject, body), "rules", similarity)
        return Classification(best, "embeddings", similarity)

    def _described(self) -> dict[Category, Floats]:
        with self._lock:
            if self._descriptions is None:
                self._descriptions = {
                    category: self._embedder.embed(texts)
                    for category, texts in CATEGORY_DESCRIPTIONS.items()
                }
            return self._descriptions


def classify_by_meaning(subject: str, body: str) -> Classification:
    """Classify a ticket with this process's embedder, or by the rules without one.

    Blocking (the first call loads the model, about a second): agents call
    `classify_ticket` instead, which runs this on a worker thread.
    """
    found = embedder()
    if found is None:
        return Classification(classify(subject, body), "rules")
    return _classifier(found).classify(subject, body)


async def classify_ticket(subject: str, body: str) -> Classification:
    """`classify_by_meaning` off the event loop."""
    return await asyncio.to_thread(classify_by_meaning, subject, body)


@cache
def _classifier(embedder: TextEmbedder) -> MeaningClassifier:
    return MeaningClassifier(embedder)
