"""BM25 ranking over the help-centre articles (the index itself: agents/bm25.py).

Pure and synchronous: the index is built once when a `KnowledgeBase` is created,
and a search only touches the postings of the query's terms.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.bm25 import BM25Index, stem, tokenize
from agents.contracts import Article

TITLE_WEIGHT = 2
SNIPPET_MAX_CHARS = 200

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

__all__ = ["HelpArticle", "KnowledgeBase", "stem", "tokenize"]


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
        self._index = BM25Index(article.terms() for article in self._articles)

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
        return self._index.scores(terms)

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
            return sum(self._index.idf(term) for term in terms & set(tokenize(sentence)))

        # max() keeps the first of equals, so a match-less query gets the opening sentence.
        best = max(sentences, key=weight)
        if len(best) <= SNIPPET_MAX_CHARS:
            return best
        return best[: SNIPPET_MAX_CHARS - 1].rstrip() + "…"
