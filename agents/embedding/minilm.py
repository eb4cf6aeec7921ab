"""The forward pass of all-MiniLM-L6-v2 (a 6-layer BERT encoder) in plain numpy.

Why numpy and not torch: the model is small (22 M parameters, 90 MB of float32), a
ticket is a few dozen tokens, and numpy's matrix products already run on the same BLAS
that torch would use on a CPU. torch would add gigabytes to the install and ~0.5 GB of
resident memory for no speed we need. The weights are read from the model package's
`model.safetensors` into numpy arrays; the arithmetic follows Hugging Face's
`BertModel` (post-norm residual blocks, exact GELU, an additive attention mask).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load_file

Floats = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int64]

# Abramowitz and Stegun 7.1.26: erf to 1.5e-7, well inside float32's own rounding of
# the activations; numpy has no vectorised erf and scipy is not worth a dependency.
_ERF_P: Final = 0.3275911
_ERF_A: Final = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def float32(array: Any) -> Floats:
    """`array` as float32 (numpy's stubs lose the dtype of some expressions)."""
    return np.asarray(array, dtype=np.float32)


def erf(x: Floats) -> Floats:
    """The error function, elementwise, to 1.5e-7 absolute."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + _ERF_P * a)
    a1, a2, a3, a4, a5 = _ERF_A
    poly = ((((a5 * t + a4) * t + a3) * t + a2) * t + a1) * t
    return float32(sign * (1.0 - poly * np.exp(-a * a)))


def gelu(x: Floats) -> Floats:
    """BERT's GELU: the exact one, x * Phi(x), not the tanh approximation."""
    return float32(0.5 * x * (1.0 + erf(x / np.float32(math.sqrt(2.0)))))


def layer_norm(x: Floats, weight: Floats, bias: Floats, eps: float) -> Floats:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return float32((x - mean) / np.sqrt(var + eps) * weight + bias)


@dataclass(frozen=True)
class Dense:
    """A linear layer, its weight stored transposed once so a call is one matmul."""

    weight_t: Floats  # (in, out)
    bias: Floats

    def __call__(self, x: Floats) -> Floats:
        return x @ self.weight_t + self.bias


@dataclass(frozen=True)
class Norm:
    weight: Floats
    bias: Floats
    eps: float

    def __call__(self, x: Floats) -> Floats:
        return layer_norm(x, self.weight, self.bias, self.eps)


@dataclass(frozen=True)
class Layer:
    """One encoder block: self-attention, then the feed-forward net, each post-normed."""

    query: Dense
    key: Dense
    value: Dense
    attention_out: Dense
    attention_norm: Norm
    intermediate: Dense
    output: Dense
    output_norm: Norm
    heads: int

    def __call__(self, x: Floats, mask_bias: Floats) -> Floats:
        x = self.attention_norm(x + self.attention_out(self._attend(x, mask_bias)))
        return self.output_norm(x + self.output(gelu(self.intermediate(x))))

    def _attend(self, x: Floats, mask_bias: Floats) -> Floats:
        batch, length, width = x.shape
        size = width // self.heads

        def split(t: Floats) -> Floats:  # (b, l, w) -> (b, heads, l, size)
            return t.reshape(batch, length, self.heads, size).transpose(0, 2, 1, 3)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(0, 1, 3, 2) / np.float32(math.sqrt(size)) + mask_bias
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        weights = scores / scores.sum(axis=-1, keepdims=True)
        return float32((weights @ v).transpose(0, 2, 1, 3).reshape(batch, length, width))


class MiniLM:
    """The encoder: token ids and attention mask in, one 384-vector per token out."""

    def __init__(self, model_dir: Path) -> None:
        config = json.loads((model_dir / "config.json").read_text())
        w = load_file(str(model_dir / "model.safetensors"))
        eps = float(config["layer_norm_eps"])
        self.max_positions = int(config["max_position_embeddings"])
        self.words = w["embeddings.word_embeddings.weight"]
        self.positions = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"][0]
        self.embedding_norm = _norm(w, "embeddings.LayerNorm", eps)
        heads = int(config["num_attention_heads"])
        self.layers = [
            _layer(w, f"encoder.layer.{i}", eps, heads)
            for i in range(int(config["num_hidden_layers"]))
        ]
        self.width = int(config["hidden_size"])

    def __call__(self, ids: Ints, mask: Ints) -> Floats:
        """Encode a padded batch.

        Args:
            ids: (batch, length) token ids.
            mask: (batch, length), 1 for a real token and 0 for padding.

        Returns:
            (batch, length, width) token embeddings; rows at padding are meaningless.
        """
        length = ids.shape[1]
        x = self.words[ids] + self.positions[:length] + self.token_type
        x = self.embedding_norm(x)
        # Padding gets the float32 minimum added before the softmax, as BertModel does:
        # its weight underflows to exactly 0, so padding changes no real token's vector.
        mask_bias = float32((1.0 - mask[:, None, None, :]) * np.finfo(np.float32).min)
        for layer in self.layers:
            x = layer(x, mask_bias)
        return x


def _dense(w: dict[str, Floats], name: str) -> Dense:
    return Dense(np.ascontiguousarray(w[f"{name}.weight"].T), w[f"{name}.bias"])


def _norm(w: dict[str, Floats], name: str, eps: float) -> Norm:
    return Norm(w[f"{name}.weight"], w[f"{name}.bias"], eps)


def _layer(w: dict[str, Floats], prefix: str, eps: float, heads: int) -> Layer:
    return Layer(
        query=_dense(w, f"{prefix}.attention.self.query"),
        key=_dense(w, f"{prefix}.attention.self.key"),
        value=_dense(w, f"{prefix}.attention.self.value"),
        attention_out=_dense(w, f"{prefix}.attention.output.dense"),
        attention_norm=_norm(w, f"{prefix}.attention.output.LayerNorm", eps),
        intermediate=_dense(w, f"{prefix}.intermediate.dense"),
        output=_dense(w, f"{prefix}.output.dense"),
        output_norm=_norm(w, f"{prefix}.output.LayerNorm", eps),
        heads=heads,
    )
