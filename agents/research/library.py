"""The process's retriever over the corpus, and the seam for a dense ranker.

Built on first use, not at import (an agent module does no I/O when imported), on a
thread: indexing ~1,000 passages is ~0.1 s of pure-Python CPU work that would stall
the worker's loop. `use_dense_ranker` makes retrieval hybrid (BM25 fused with the
ranker, agents/research/retrieval.py); without one, it is BM25 alone.
"""

from __future__ import annotations

import asyncio
import threading

from agents.research.corpus import python_reference
from agents.research.retrieval import DenseRanker, Retriever

_lock = threading.Lock()
_dense: DenseRanker | None = None
_retriever: Retriever | None = None


def use_dense_ranker(ranker: DenseRanker | None) -> None:
    """Rank with `ranker` as well as BM25 from now on (None: BM25 alone)."""
    global _dense, _retriever
    with _lock:
        _dense, _retriever = ranker, None


def retriever() -> Retriever:
    """The process's retriever (built once; thread-safe)."""
    global _retriever
    with _lock:
        if _retriever is None:
            _retriever = Retriever(python_reference(), dense=_dense)
        return _retriever


async def shared_retriever() -> Retriever:
    """`retriever()`, built off the event loop the first time."""
    return await asyncio.to_thread(retriever)
