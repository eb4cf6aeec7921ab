"""The research desk's corpus: Python's language reference, as shipped with Python.

`pydoc_data.topics` (the text `help("yield")` prints) holds 79 topics of the Python
Language Reference and Library Reference, about 465 KB; every CPython installation
ships it, so the desk works offline with no download. The text is the Python
documentation, (c) Python Software Foundation, under the PSF License Agreement
(https://docs.python.org/3/license.html), which permits redistributing and using it.

A topic is split into passages: its paragraphs, short ones merged up to
`PASSAGE_WORDS` words and long ones cut into windows of that many words, so every
passage is a readable citation of similar length. A passage's id is "topic#n", its
position in its topic: stable for a given Python version's documentation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache

PASSAGE_WORDS = 120  # a passage's target length: a paragraph or two
MIN_WORDS = 40  # shorter paragraphs are merged with the next one
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_UNDERLINE = re.compile(r"^[*=\-^~]{3,}$")


@dataclass(frozen=True, slots=True)
class Passage:
    """One citable piece of a topic."""

    doc_id: str  # "topic#n"
    topic: str
    title: str  # the topic's heading, e.g. 'The "yield" statement'
    text: str


def topic_title(text: str) -> str:
    """A topic's heading: its first line (the reST title above its underline)."""
    return text.strip().splitlines()[0].strip() if text.strip() else ""


def split_passages(topic: str, text: str, *, words: int = PASSAGE_WORDS) -> list[Passage]:
    """Split one topic into passages of about `words` words, ids "topic#0", "topic#1"...

    The title line and its underline are not a passage of their own; whitespace
    inside a passage is collapsed, so a passage reads as one paragraph.
    """
    title = topic_title(text)
    chunks = list(_chunks(_paragraphs(text, title), words))
    return [Passage(f"{topic}#{n}", topic, title, chunk) for n, chunk in enumerate(chunks)]


def _paragraphs(text: str, title: str) -> Iterator[list[str]]:
    for raw in _PARAGRAPH_BREAK.split(text):
        lines = [line for line in raw.strip().splitlines() if not _UNDERLINE.match(line.strip())]
        if lines and lines[0].strip() == title:
            lines = lines[1:]
        tokens = " ".join(lines).split()
        if tokens:
            yield tokens


def _chunks(paragraphs: Iterator[list[str]], words: int) -> Iterator[str]:
    """Merge short paragraphs, cut long ones, keep the order."""
    pending: list[str] = []
    for paragraph in paragraphs:
        pending.extend(paragraph)
        while len(pending) >= words + MIN_WORDS:  # a long one: a window, the rest goes on
            yield " ".join(pending[:words])
            pending = pending[words:]
        if len(pending) >= MIN_WORDS:
            yield " ".join(pending)
            pending = []
    if pending:
        yield " ".join(pending)


def passages_of(topics: Mapping[str, str], *, words: int = PASSAGE_WORDS) -> list[Passage]:
    """Every topic's passages, topics in name order (so the list is stable)."""
    return [p for name in sorted(topics) for p in split_passages(name, topics[name], words=words)]


@cache
def python_reference() -> tuple[Passage, ...]:
    """The passages of this Python's `pydoc_data.topics` (built once per process)."""
    from pydoc_data.topics import topics  # ~465 KB of text: imported on first use only

    return tuple(passages_of(topics))
