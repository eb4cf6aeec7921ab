"""`Embedder`: texts in, unit-length 384-dimensional sentence vectors out.

What sentence-transformers does for all-MiniLM-L6-v2, without torch: BERT's WordPiece
tokenizer (the `tokenizers` library reading the package's `tokenizer.json`), the
encoder (`minilm.MiniLM`), the mean of the token vectors over the attention mask,
then L2 normalisation, so a dot product of two embeddings is their cosine.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
from tokenizers import Tokenizer

from agents.embedding.minilm import Floats, MiniLM, float32

# sentence-transformers' max_seq_length for this model (sentence_bert_config.json):
# longer texts are cut, as the model was trained on at most 256 word pieces.
MAX_TOKENS: Final = 256
# A forward pass takes at most this many texts, and at most this many token slots
# (texts x the longest one's tokens): past that, batching gains nothing on a CPU, and
# the attention and GELU temporaries outgrow the caches.
BATCH_SIZE: Final = 32
BATCH_TOKENS: Final = 1024
DIMENSIONS: Final = 384
# Set, any of these says how many BLAS threads the operator wants; we then keep out.
BLAS_THREAD_VARIABLES: Final = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


class Embedder:
    """all-MiniLM-L6-v2 sentence embeddings, computed with numpy.

    The weights load on the first `embed` (about a second), not on construction, so
    creating one costs nothing and an agent can pay the load off its event loop.
    `embed` is safe to call from several threads at once.
    """

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir
        self._load_lock = threading.Lock()
        self._model: MiniLM | None = None
        self._tokenizer: Tokenizer | None = None

    def load(self) -> None:
        """Read the tokenizer and weights now, if not yet (idempotent, thread-safe)."""
        with self._load_lock:
            if self._model is not None:
                return
            tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
            tokenizer.enable_truncation(max_length=MAX_TOKENS)
            # The file pads every text to 128 tokens; we pad each batch to its longest.
            tokenizer.no_padding()
            self._tokenizer = tokenizer
            self._model = MiniLM(self.model_dir)
            _one_blas_thread()

    def embed(self, texts: Sequence[str]) -> Floats:
        """Embed texts.

        Args:
            texts: Any texts; an empty one gets the vector of an empty sentence.

        Returns:
            A (len(texts), 384) float32 array whose rows have unit length, in the
            order of `texts`.
        """
        self.load()
        assert self._tokenizer is not None
        token_ids = [e.ids for e in self._tokenizer.encode_batch(list(texts))]
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        for batch in _batches(token_ids):
            out[batch] = self._embed_batch([token_ids[i] for i in batch])
        return out

    def _embed_batch(self, token_ids: list[list[int]]) -> Floats:
        assert self._model is not None
        length = max(len(ids) for ids in token_ids)
        ids = np.zeros((len(token_ids), length), dtype=np.int64)  # 0 is [PAD]
        mask = np.zeros_like(ids)
        for row, text_ids in enumerate(token_ids):
            ids[row, : len(text_ids)] = text_ids
            mask[row, : len(text_ids)] = 1
        tokens = self._model(ids, mask)
        weights = mask[:, :, None].astype(np.float32)
        mean = (tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(mean, axis=1, keepdims=True)
        return float32(mean / np.maximum(norms, 1e-12))


def _batches(token_ids: list[list[int]]) -> list[list[int]]:
    """Group text indices into forward passes, texts of similar length together so
    that little of a batch is padding (one long text would pad every short one)."""
    batches: list[list[int]] = []
    for i in sorted(range(len(token_ids)), key=lambda i: len(token_ids[i])):
        # Sorted by length, so the newest text is the longest of its batch.
        fits = batches and (len(batches[-1]) + 1) * len(token_ids[i]) <= BATCH_TOKENS
        if fits and len(batches[-1]) < BATCH_SIZE:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def _one_blas_thread() -> None:
    # A ticket is a few dozen tokens: matrices this small gain nothing from a second
    # BLAS thread, and on a busy 2-core machine OpenBLAS's threads spin against the
    # mesh's own processes (measured: 3 texts/s one at a time with its default of two
    # threads, 25/s with one). Concurrent tasks already embed on the worker's threads.
    if not any(name in os.environ for name in BLAS_THREAD_VARIABLES):
        threadpool_limits(limits=1, user_api="blas")
