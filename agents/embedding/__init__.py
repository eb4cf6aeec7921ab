"""Sentence embeddings (all-MiniLM-L6-v2 in numpy) for agents that route or retrieve
by meaning.

Start with `embedder()`: None when the optional `embeddings` extra or the weights are
not installed, so every user has a fallback. Nothing here imports numpy until an
embedder is found; `encoder` and `minilm` hold the arithmetic.
"""

from agents.embedding.cache import CachedEmbeddings, TextEmbedder
from agents.embedding.loading import EMBEDDINGS_ENV, embedder
from agents.embedding.ranking import DenseRanker, dense_ranker

__all__ = [
    "EMBEDDINGS_ENV",
    "CachedEmbeddings",
    "DenseRanker",
    "TextEmbedder",
    "dense_ranker",
    "embedder",
]
