"""Passage retrieval for the research desk: BM25, fused with a dense ranker when given.

BM25 (agents/bm25.py) finds passages sharing the query's words; a dense ranker (an
embedding model's similarity, e.g. agents/embedding.py's) finds passages that say the
same thing in other words. With one, the two rankings are fused by reciprocal rank
fusion (Cormack et al., 2009): a passage scores sum(1 / (RRF_K + rank)) over the
rankings it is in, so neither scale (BM25's unbounded scores, cosines in [-1, 1])
needs calibrating against the other. Without one it is BM25 alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Protocol

from agents.bm25 import BM25Index, tokenize
from agents.contracts import Finding
from agents.research.corpus import Passage

RRF_K = 60  # the usual constant: damps the weight of the very first ranks
FUSE_DEPTH = 50  # how far down each ranking is fused
TITLE_WEIGHT = 2  # a topic's title is its best summary: its terms count twice


class DenseRanker(Protocol):
    """Scores every passage for a query (higher: closer); one score per text, in order.

    `texts` is the same sequence on every call (the corpus's passages), so an
    embedder can embed it once and keep the vectors. None: not ready yet (the
    corpus is still being embedded); that search is BM25's alone.
    """

    def __call__(self, query: str, texts: Sequence[str], /) -> Sequence[float] | None: ...


class Retriever:
    """Ranks a corpus's passages for free-text queries."""

    def __init__(self, passages: Sequence[Passage], *, dense: DenseRanker | None = None) -> None:
        self.passages = tuple(passages)
        self._texts = tuple(p.text for p in self.passages)
        self._dense = dense
        self._bm25 = BM25Index(
            tokenize(p.title) * TITLE_WEIGHT + tokenize(p.text) for p in self.passages
        )

    @property
    def hybrid(self) -> bool:
        return self._dense is not None

    def search(
        self, query: str, *, limit: int = 3, exclude: frozenset[str] = frozenset()
    ) -> list[Finding]:
        """The best passages for `query`, best first (`exclude`: doc ids to skip).

        The score is BM25's alone, or the fused RRF score when a dense ranker is set.
        """
        scored = self._ranked(query)
        hits = [(i, score) for i, score in scored if self.passages[i].doc_id not in exclude]
        return [self._finding(i, score) for i, score in hits[: max(limit, 0)]]

    def top_topics(self, query: str, *, limit: int) -> list[str]:
        """The topics whose passages rank best for `query`, best first (each once)."""
        topics: list[str] = []
        for index, _ in self._ranked(query):
            topic = self.passages[index].topic
            if topic not in topics:
                topics.append(topic)
            if len(topics) == limit:
                break
        return topics

    def _ranked(self, query: str) -> list[tuple[int, float]]:
        lexical = self._order(self._bm25.scores(tokenize(query)).items())
        if self._dense is None:
            return lexical
        dense_scores = self._dense(query, self._texts)
        if dense_scores is None:  # the dense side is warming up
            return lexical
        if len(dense_scores) != len(self._texts):
            raise ValueError(
                f"the dense ranker gave {len(dense_scores)} scores for {len(self._texts)} passages"
            )
        return reciprocal_rank_fusion([lexical, self._order(enumerate(dense_scores))])

    def _order(self, scores: Iterable[tuple[int, float]]) -> list[tuple[int, float]]:
        items = list(scores)
        # Ties broken by doc id, so a ranking is the same on every run.
        items.sort(key=lambda hit: (-hit[1], self.passages[hit[0]].doc_id))
        return items

    def _finding(self, index: int, score: float) -> Finding:
        passage = self.passages[index]
        return Finding(
            doc_id=passage.doc_id, title=passage.title, passage=passage.text, score=round(score, 4)
        )


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[tuple[int, float]]], *, k: int = RRF_K, depth: int = FUSE_DEPTH
) -> list[tuple[int, float]]:
    """Fuse rankings of (document, score) by their ranks; best first, ties by document.

    Only the top `depth` of each ranking count: far down, a dense ranking scores
    everything, and its tail would otherwise lift passages no ranking rates.
    """
    fused: dict[int, float] = defaultdict(float)
    for ranking in rankings:
        for rank, (index, _) in enumerate(ranking[:depth], start=1):
            fused[index] += 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda hit: (-hit[1], hit[0]))
