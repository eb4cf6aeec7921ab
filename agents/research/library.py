"""The process's retriever over the corpus, and the seam for a dense ranker.

Built on first use, not at import (an agent module does no I/O when imported), on a
thread: indexing ~1,000 passages is ~0.1 s of pure-Python CPU work that would stall
the worker's loop. Retrieval is hybrid (BM25 fused with a dense ranker,
agents/research/retrieval.py) where sentence embeddings are installed
(agents/research/dense.py), BM25 alone where not; `use_dense_ranker` chooses
explicitly (tests use it to pin one or the other).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Final, Literal

from agents.research.corpus import python_reference
from agents.research.dense import corpus_ranker
from agents.research.retrieval import DenseRanker, Retriever

AUTO: Final = "auto"  # the embedding ranker when installed, else none

_lock = threading.Lock()
_dense: DenseRanker | Literal["auto"] | None = AUTO
_retriever: Retriever | None = None


def use_dense_ranker(ranker: DenseRanker | Literal["auto"] | None) -> None:
    """Rank with `ranker` as well as BM25 from now on (None: BM25 alone; "auto": the
    embedding ranker where installed)."""
    global _dense, _retriever
    with _lock:
        _dense, _retriever = ranker, None


def retriever() -> Retriever:
    """The process's retriever (built once; thread-safe)."""
    global _retriever
    with _lock:
        if _retriever is None:
            dense = corpus_ranker() if _dense == AUTO else _dense
            _retriever = Retriever(python_reference(), dense=dense)
        return _retriever


async def shared_retriever() -> Retriever:
    """`retriever()`, built off the event loop the first time."""
    return await asyncio.to_thread(retriever)
