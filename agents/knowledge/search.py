"""BM25 ranking over the help-centre articles.

Pure and synchronous: the index is built once when a `KnowledgeBase` is created,
and a search only touches the postings of the query's terms.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.contracts import Article

K1 = 1.5
B = 0.75
TITLE_WEIGHT = 2
SNIPPET_MAX_CHARS = 200

_STOP_WORDS_TEXT = """
    a about after all am an and any are as at be been but by can could did do does
    for from get got had has have how i if in into is it its me my no not of on or
    our please so than that the their them then there these they this to too up us
    was we were what when where which who why will with would you your
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())

_WORD = re.compile(r"[a-z0-9]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def stem(word: str) -> str:
    """Reduce a lower-case word to a crude stem so inflected forms share one term.

    Strips one of -ies/-ing/-ed/-es/-s, then a final "e" and a doubled final letter.
    The last two steps run on every word, so "charge"/"charged" and
    "ship"/"shipping" end up equal without a dictionary.

    Args:
        word: A lower-case alphanumeric token.

    Returns:
        The stem; words of three letters or fewer, and numbers, are returned unchanged.
    """
    if len(word) <= 3 or word.isdigit():
        return word
    word = _strip_suffix(word)
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1].isalpha():
        word = word[:-1]
    return word


def _strip_suffix(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    for suffix in ("ing", "ed", "es", "s"):
        if not word.endswith(suffix) or len(word) - len(suffix) < 3:
            continue
        # "ss" is no plural (address), "eed" no past tense (speed).
        if (suffix == "s" and word.endswith("ss")) or (suffix == "ed" and word.endswith("eed")):
            return word
        return word[: -len(suffix)]
    return word


def tokenize(text: str) -> list[str]:
    """Split text into stemmed search terms.

    Args:
        text: Any free text.

    Returns:
        Lower-cased, stemmed terms in order, without punctuation or stop words.
    """
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in STOP_WORDS]


@dataclass(frozen=True, slots=True)
class HelpArticle:
    """One help-centre article as stored in `articles.json`."""

    id: str
    title: str
    body: str
    tags: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> HelpArticle:
        """Build an article from one JSON object (keys id, title, body, tags)."""
        return cls(
            id=str(raw["id"]),
            title=str(raw["title"]),
            body=str(raw["body"]),
            tags=tuple(str(tag) for tag in raw.get("tags", ())),
        )

    def terms(self) -> list[str]:
        """The indexed terms: the title counts twice, being the best summary of the article."""
        return (
            tokenize(self.title) * TITLE_WEIGHT
            + tokenize(self.body)
            + tokenize(" ".join(self.tags))
        )

    def sentences(self) -> list[str]:
        """The body split into sentences, for snippets."""
        return [s for s in _SENTENCE_END.split(self.body.strip()) if s]


class KnowledgeBase:
    """An in-memory BM25 index (k1=1.5, b=0.75) over help-centre articles."""

    def __init__(self, articles: Iterable[HelpArticle]) -> None:
        """Index the articles.

        Args:
            articles: The corpus; ids should be unique, since they break ties.
        """
        self._articles = list(articles)
        self._lengths: list[int] = []
        self._postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for index, article in enumerate(self._articles):
            counts = Counter(article.terms())
            self._lengths.append(sum(counts.values()))
            for term, frequency in counts.items():
                self._postings[term].append((index, frequency))
        total = len(self._articles)
        self._avg_length = sum(self._lengths) / total if total else 0.0
        # The "+1" variant of BM25's idf stays positive even for terms in most documents.
        self._idf = {
            term: math.log((total - len(docs) + 0.5) / (len(docs) + 0.5) + 1.0)
            for term, docs in self._postings.items()
        }

    @classmethod
    def from_json(cls, path: Path) -> KnowledgeBase:
        """Load and index a JSON list of articles.

        Args:
            path: A file holding a list of {"id", "title", "body", "tags"} objects.

        Returns:
            The indexed knowledge base.
        """
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(HelpArticle.from_dict(item) for item in raw)

    @classmethod
    def default(cls) -> KnowledgeBase:
        """Load the help-centre articles bundled with this package."""
        return cls.from_json(Path(__file__).parent / "articles.json")

    def __len__(self) -> int:
        return len(self._articles)

    def search(self, query: str, limit: int = 3) -> list[Article]:
        """Rank the articles against a free-text query.

        Args:
            query: Free text; stop words and punctuation are ignored.
            limit: The maximum number of articles returned.

        Returns:
            Articles with a score above zero, best first, ties broken by id.
        """
        terms = set(tokenize(query))
        scores = self._score(terms)
        ranked = sorted(scores.items(), key=lambda hit: (-hit[1], self._articles[hit[0]].id))
        return [self._hit(index, score, terms) for index, score in ranked[: max(limit, 0)]]

    def _score(self, terms: set[str]) -> dict[int, float]:
        # Each distinct term counts once: repeating a word in a ticket should not tilt it.
        scores: dict[int, float] = defaultdict(float)
        for term in terms:
            idf = self._idf.get(term, 0.0)
            for index, frequency in self._postings.get(term, ()):
                norm = K1 * (1 - B + B * self._lengths[index] / self._avg_length)
                scores[index] += idf * frequency * (K1 + 1) / (frequency + norm)
        return {index: score for index, score in scores.items() if score > 0}

    def _hit(self, index: int, score: float, terms: set[str]) -> Article:
        article = self._articles[index]
        return Article(
            id=article.id,
            title=article.title,
            score=round(score, 3),
            snippet=self._snippet(article, terms),
        )

    def _snippet(self, article: HelpArticle, terms: set[str]) -> str:
        """The body sentence sharing the most (idf-weighted) terms with the query."""
        sentences = article.sentences() or [article.body]

        def weight(sentence: str) -> float:
            return sum(self._idf.get(term, 0.0) for term in terms & set(tokenize(sentence)))

        # max() keeps the first of equals, so a match-less query gets the opening sentence.
        best = max(sentences, key=weight)
        if len(best) <= SNIPPET_MAX_CHARS:
            return best
        return best[: SNIPPET_MAX_CHARS - 1].rstrip() + "…"
