"""A dense ranker: how close in meaning each passage is to a query.

Meant to be fused with a lexical ranker (BM25): embeddings find "my parcel never
came" for "package not delivered", BM25 finds exact names and numbers. Passages are
embedded once and remembered, so ranking a fixed corpus costs one query embedding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from agents.embedding.cache import CachedEmbeddings, TextEmbedder

DenseRanker = Callable[[str, Sequence[str]], list[float]]


def dense_ranker(embedder: TextEmbedder, *, max_passages: int = 10_000) -> DenseRanker:
    """Make a ranker that scores passages by cosine similarity to a query.

    Args:
        embedder: Usually `agents.embedding.embedder()` (when it is not None).
        max_passages: How many passage embeddings to keep (least recently used go).

    Returns:
        `rank(query, passages)`: one score per passage, in their order, from -1 to 1
        (in practice about 0 for unrelated texts and above 0.5 for close ones). The
        scores of one call compare with each other; fuse by rank, not raw value.
    """
    passages_seen = CachedEmbeddings(embedder, max_texts=max_passages)

    def rank(query: str, passages: Sequence[str]) -> list[float]:
        if not passages:
            return []
        query_vector = embedder.embed([query])[0]
        return [float(score) for score in passages_seen.embed(passages) @ query_vector]

    return rank
