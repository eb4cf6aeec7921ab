"""`CachedEmbeddings`: an embedder's vectors, remembered per text (bounded, LRU).

The texts an agent embeds repeat: a retriever scores the same passages for every
query, and a support desk sees the same short subjects and bodies ("Refund?",
"Please help.") many times a day. A vector is 1.5 kB, the forward pass milliseconds.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # numpy is part of the optional extra: not imported at run time here
    from agents.embedding.minilm import Floats


class TextEmbedder(Protocol):
    """Anything that turns texts into unit-length rows, such as `Embedder`."""

    def embed(self, texts: Sequence[str]) -> Floats: ...


class CachedEmbeddings:
    """Wraps an embedder; `embed` computes only the texts it has not seen recently.

    Thread-safe. Two threads that miss on the same text at once both compute it:
    cheaper than making one wait on the other's batch.
    """

    def __init__(self, embedder: TextEmbedder, *, max_texts: int = 10_000) -> None:
        if max_texts < 1:
            raise ValueError(f"max_texts={max_texts!r}: keep at least one text")
        self.embedder = embedder
        self.max_texts = max_texts
        self._vectors: OrderedDict[str, Floats] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._vectors)

    def embed(self, texts: Sequence[str]) -> Floats:
        """Like `TextEmbedder.embed`, from the cache where it can.

        Args:
            texts: Any texts; duplicates are computed once.

        Returns:
            A (len(texts), dimensions) array of unit rows, in the order of `texts`.
        """
        if not texts:
            return self.embedder.embed([])
        with self._lock:
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
            for text in known:
                self._vectors.move_to_end(text)
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            computed = self.embedder.embed(missing)
            with self._lock:
                for text, vector in zip(missing, computed, strict=True):
                    known[text] = self._vectors[text] = vector
                while len(self._vectors) > self.max_texts:
                    self._vectors.popitem(last=False)
        import numpy as np  # the extra is installed: an embedder exists

        return np.stack([known[text] for text in texts])
