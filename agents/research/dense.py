"""The research desk's dense ranker: the corpus embedded once per machine, kept on disk.

Embedding the corpus's ~1,000 passages takes the numpy MiniLM ~12 s of one core, too
long for every researcher process to pay on its first question. The vectors are
cached in a file named by a hash of the model and of the passages' texts (the corpus
is this Python's `pydoc_data`, so another Python gets its own file), written
atomically: the first process on a machine computes them, every later one loads
~1.5 MB. A query then costs one embedding and one matrix-vector product.

`AGENTS_EMBEDDINGS_CACHE` names the directory (default `~/.cache/agentmesh`);
`AGENTS_EMBEDDINGS=off` (agents/embedding) turns the ranker off: BM25 alone.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from agents.embedding import embedder

if TYPE_CHECKING:
    from agents.embedding.encoder import Embedder
    from agents.embedding.minilm import Floats

log = logging.getLogger(__name__)

CACHE_ENV: Final = "AGENTS_EMBEDDINGS_CACHE"
MODEL_ID: Final = "all-MiniLM-L6-v2"  # part of the cache key: new weights, new file


def cache_directory() -> Path:
    configured = os.environ.get(CACHE_ENV, "").strip()
    return Path(configured) if configured else Path.home() / ".cache" / "agentmesh"


class CorpusRanker:
    """Scores a fixed corpus's passages for a query by cosine similarity.

    The passages' vectors are made (or loaded) on the first call, on the caller's
    thread: callers run searches off their event loop.
    """

    def __init__(self, model: Embedder, directory: Path) -> None:
        self._model = model
        self._directory = directory
        self._lock = threading.Lock()
        self._texts: tuple[str, ...] | None = None
        self._vectors: Floats | None = None

    def __call__(self, query: str, texts: Sequence[str], /) -> list[float]:
        vectors = self._corpus_vectors(tuple(texts))
        query_vector = self._model.embed([query])[0]
        return [float(score) for score in vectors @ query_vector]

    def _corpus_vectors(self, texts: tuple[str, ...]) -> Floats:
        with self._lock:
            if self._vectors is None or self._texts != texts:
                self._vectors, self._texts = self._load_or_embed(texts), texts
            return self._vectors

    def _load_or_embed(self, texts: tuple[str, ...]) -> Floats:
        import numpy as np

        digest = hashlib.sha256("\0".join((MODEL_ID, *texts)).encode()).hexdigest()[:16]
        path = self._directory / f"research-passages-{digest}.npy"
        if path.is_file():
            try:
                vectors: Floats = np.load(path)
                if vectors.shape[0] == len(texts):
                    return vectors
            except (OSError, ValueError) as exc:  # a torn or foreign file: make it again
                log.warning("ignoring the unreadable embedding cache %s (%s)", path, exc)
        log.info("embedding %d corpus passages once; cached in %s", len(texts), path)
        vectors = self._model.embed(list(texts)).astype(np.float32)
        self._save(path, vectors)
        return vectors

    def _save(self, path: Path, vectors: Floats) -> None:
        import numpy as np

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Written beside, then renamed: a process reading it never sees half a file.
            with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npy", delete=False) as f:
                np.save(f, vectors)
            os.replace(f.name, path)
        except OSError as exc:  # a read-only home still ranks, it just embeds again next time
            log.warning("could not cache corpus embeddings in %s (%s)", path, exc)


def corpus_ranker() -> CorpusRanker | None:
    """The dense ranker for the research corpus; None without embeddings (BM25 alone)."""
    model = embedder()
    return None if model is None else CorpusRanker(model, cache_directory())
