"""The research desk's dense ranker: the corpus embedded once per machine, kept on disk.

Embedding the corpus's ~1,000 passages (~170 tokens each) takes the numpy MiniLM
~65 s of a quiet core (minutes beside a busy dev mesh), too long for a question to
wait on. So the vectors
are made once per machine, on a background thread started by the first search, and
searches are BM25's alone until they exist (the ranker answers None). They are
cached in a file named by a hash of the model and of the passages' texts (the corpus
is this Python's `pydoc_data`, so another Python gets its own file), written
atomically: every later process loads ~1.5 MB at its first search. A query then
costs one embedding and one matrix-vector product.

`AGENTS_EMBEDDINGS_CACHE` names the directory (default `~/.cache/agentmesh`);
`AGENTS_EMBEDDINGS=off` (agents/embedding) turns the ranker off: BM25 alone.
"""

from __future__ import annotations

import contextlib
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
EMBED_BATCH: Final = 16  # passages per embedding call of the background thread


def _lowest_priority() -> None:
    """Nice the calling thread (Linux schedules threads as tasks): the worker's own
    threads, and every other process's, go first while the corpus is embedded."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, not permitted: as is
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def cache_directory() -> Path:
    configured = os.environ.get(CACHE_ENV, "").strip()
    return Path(configured) if configured else Path.home() / ".cache" / "agentmesh"


class CorpusRanker:
    """Scores a fixed corpus's passages for a query by cosine similarity.

    The first call loads the passages' vectors from the cache file, or starts making
    them on a background thread and answers None (BM25 alone) until they are made.
    """

    def __init__(self, model: Embedder, directory: Path) -> None:
        self._model = model
        self._directory = directory
        self._lock = threading.Lock()
        self._texts: tuple[str, ...] | None = None
        self._vectors: Floats | None = None
        self._warming: threading.Thread | None = None

    def __call__(self, query: str, texts: Sequence[str], /) -> list[float] | None:
        vectors = self._corpus_vectors(tuple(texts))
        if vectors is None:
            return None
        query_vector = self._model.embed([query])[0]
        return [float(score) for score in vectors @ query_vector]

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait for a background embedding to finish (tests, benchmarks)."""
        warming = self._warming
        if warming is not None:
            warming.join(timeout)
        return self._vectors is not None

    def _corpus_vectors(self, texts: tuple[str, ...]) -> Floats | None:
        with self._lock:
            if self._texts != texts:
                self._texts, self._vectors = texts, self._load(texts)
                if self._vectors is None:
                    self._warming = threading.Thread(
                        target=self._embed, args=(texts,), name="embed-corpus", daemon=True
                    )
                    self._warming.start()
            return self._vectors

    def _path(self, texts: tuple[str, ...]) -> Path:
        digest = hashlib.sha256("\0".join((MODEL_ID, *texts)).encode()).hexdigest()[:16]
        return self._directory / f"research-passages-{digest}.npy"

    def _load(self, texts: tuple[str, ...]) -> Floats | None:
        import numpy as np

        path = self._path(texts)
        if not path.is_file():
            return None
        try:
            vectors: Floats = np.load(path)
        except (OSError, ValueError) as exc:  # a torn or foreign file: make it again
            log.warning("ignoring the unreadable embedding cache %s (%s)", path, exc)
            return None
        return vectors if vectors.shape[0] == len(texts) else None

    def _embed(self, texts: tuple[str, ...]) -> None:
        import numpy as np

        path = self._path(texts)
        log.info(
            "embedding %d corpus passages once (searches are BM25 alone until done); cached in %s",
            len(texts),
            path,
        )
        _lowest_priority()
        # Small batches: between them the worker's event loop gets the GIL back, so its
        # heartbeats are not late (the supervisor would take the worker for lost).
        batches = [
            self._model.embed(list(texts[i : i + EMBED_BATCH]))
            for i in range(0, len(texts), EMBED_BATCH)
        ]
        vectors = np.concatenate(batches).astype(np.float32)
        self._save(path, vectors)
        with self._lock:
            if self._texts == texts:
                self._vectors = vectors
        log.info("corpus embedded: searches are hybrid from now on")

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
