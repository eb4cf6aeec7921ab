"""Reading a passage for a subtopic: the model's one-sentence reading, checked, or the
passage's own most relevant sentence.

A small model answers fluent text that can be empty, cut off or about something
else; `usable_reading` keeps an answer only when it is a sentence of some words that
shares a content word with the passage (it speaks of what it read). Otherwise the
extractive reading, the sentence of the passage with the most query terms, is used.
"""

from __future__ import annotations

import re

from agents.bm25 import tokenize

READ_INSTRUCTIONS = (
    "You read a passage of the Python language reference for a research subtopic. "
    "In one sentence, say what the passage tells about the subtopic. Use only the passage."
)
MIN_WORDS = 4
MAX_CHARS = 300
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def read_request(subtopic: str, passage: str) -> str:
    """The user message of a reading call."""
    return f"Subtopic: {subtopic}\n\nPassage:\n{passage}"


def usable_reading(answer: str | None, passage: str) -> str | None:
    """The model's reading, trimmed, or None when it is not one (see the module doc)."""
    text = " ".join((answer or "").split())
    if len(text.split()) < MIN_WORDS:
        return None
    if not set(tokenize(text)) & set(tokenize(passage)):
        return None
    return _clip(text)


def extractive_reading(passage: str, query: str) -> str:
    """The passage's sentence sharing the most terms with the query (the first of equals)."""
    sentences = [s for s in _SENTENCE_END.split(passage.strip()) if s] or [passage]
    terms = set(tokenize(query))
    best = max(sentences, key=lambda sentence: len(terms & set(tokenize(sentence))))
    return _clip(best)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1].rstrip() + "…"
