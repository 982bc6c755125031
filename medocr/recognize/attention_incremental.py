"""The attention decoder in numpy, one position at a time, with caches (the fast search step).

A search asks the decoder for the next token of K prefixes, one position longer each
step. The Keras decoder recomputes every position of every prefix, and projects the whole
memory again, at each call. :class:`IncrementalStep` does the same arithmetic for the last
position only:

- the cross-attention keys and values of the line's memory are projected once per line;
- the self-attention keys and values of each prefix are kept, keyed by the prefix, so a
  prefix one token longer adds one row to its parent's.

It follows the Keras layers exactly (pre-norm blocks, LayerNormalization with its
epsilon, MultiHeadAttention's scaling and masking): a test checks it against the Keras
decoder. Weights come from :func:`decoder_weights`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medocr.recognize.attention import AttentionConfig

#: Added to the scores of masked frames (as Keras' masked softmax does).
MASKED = -1e9


def decoder_weights(decoder: Any) -> dict[str, np.ndarray]:
    """Every weight of a Keras decoder (:func:`~medocr.recognize.attention.build_decoder`).

    Returns
    -------
    dict
        float32 arrays keyed by their Keras path (``block0_self/query/kernel``, ...), and
        ``<norm>/epsilon`` for each LayerNormalization.
    """
    weights = {w.path: np.asarray(w.numpy(), np.float32) for w in decoder.weights}
    for layer in decoder.layers:
        if hasattr(layer, "epsilon"):
            weights[f"{layer.name}/epsilon"] = np.float32(layer.epsilon)
    return weights


class IncrementalStep:
    """A :class:`~medocr.types.DecoderStep` for one line, caching what repeats.

    Parameters
    ----------
    weights : dict
        From :func:`decoder_weights`.
    config : AttentionConfig
        The architecture (heads, blocks).
    memory : numpy.ndarray
        float32 ``(T, d_model)``: the line's encoder states.

    Notes
    -----
    Called with ``memory (K, T, d)``, ``frame_mask (K, T)`` and ``tokens (K, L)`` like any
    step, it uses the line's memory given at construction (each row of `memory` must be
    that line: searches repeat it per prefix) and the mask's first row. Prefixes seen
    before (their first ``L - 1`` tokens) are found in the cache; the others are computed
    from their own parents, recursively.
    """

    def __init__(self, weights: dict[str, np.ndarray], config: AttentionConfig, memory: np.ndarray):
        self.w, self.config = weights, config
        self.heads = config.heads
        self.key_dim = config.d_model // config.heads
        self.memory = memory
        self.cross = [self._memory_keys(block, memory) for block in range(config.blocks)]
        self.cache: dict[tuple[int, ...], tuple[list[np.ndarray], list[np.ndarray]]] = {}

    def _memory_keys(self, block: int, memory: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        name = f"block{block}_cross"
        keys = self._project(memory, f"{name}/key")  # (T, heads, key_dim)
        values = self._project(memory, f"{name}/value")
        return keys, values

    def _project(self, x: np.ndarray, name: str) -> np.ndarray:
        """``(N, d) -> (N, heads, key_dim)`` with a MultiHeadAttention projection."""
        kernel = self.w[f"{name}/kernel"]
        flat = x @ kernel.reshape(kernel.shape[0], -1)
        return flat.reshape(len(x), *kernel.shape[1:]) + self.w[f"{name}/bias"]

    def _output(self, out: np.ndarray, name: str) -> np.ndarray:
        """``(K, heads, key_dim) -> (K, d)``: a MultiHeadAttention's output projection."""
        kernel = self.w[f"{name}/attention_output/kernel"]
        flat = out.reshape(len(out), -1) @ kernel.reshape(-1, kernel.shape[-1])
        return flat + self.w[f"{name}/attention_output/bias"]

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        scaled = (x - mean) / np.sqrt(variance + self.w[f"{name}/epsilon"])
        return scaled * self.w[f"{name}/gamma"] + self.w[f"{name}/beta"]

    def __call__(
        self, memory: np.ndarray, frame_mask: np.ndarray, tokens: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Next-token log-probabilities ``(K, C)`` and last-block attention ``(K, T)``."""
        tokens = np.asarray(tokens, np.int64)
        if memory.shape[1:] != self.memory.shape:
            raise ValueError(
                f"this step reads a line of memory {self.memory.shape}, got rows of "
                f"{memory.shape[1:]}"
            )
        mask = np.asarray(frame_mask[0], bool) if len(frame_mask) else np.ones(0, bool)
        with _one_blas_thread():
            return self._positions(tokens, mask)

    def _positions(self, tokens: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        length = tokens.shape[1]
        parents = [tuple(row[:-1]) for row in tokens.tolist()]
        if length > 1:
            missing = sorted({p for p in parents if p not in self.cache})
            if missing:
                self._positions(np.array(missing, np.int64), mask)
        x = self.w["token_embedding/embeddings"][tokens[:, -1]]
        x = x + self.w["position_embedding/embeddings"][length - 1]
        keys, values, attention = [], [], None
        for block in range(self.config.blocks):
            past = [self.cache[p] if length > 1 else ([], []) for p in parents]
            x, new_keys, new_values = self._self_attention(x, block, past, length)
            keys.append(new_keys)
            values.append(new_values)
            x, attention = self._cross_attention(x, block, mask)
            x = x + self._feed_forward(x, block)
        for row, prefix in enumerate(tokens.tolist()):
            self.cache[tuple(prefix)] = (
                [k[row] for k in keys],
                [v[row] for v in values],
            )
        logits = self._norm(x, "final_norm") @ self.w["logits/kernel"] + self.w["logits/bias"]
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        return log_probs.astype(np.float32), attention.astype(np.float32)

    def _self_attention(
        self, x: np.ndarray, block: int, past: list[tuple[list, list]], length: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Causal self-attention of the last position over the prefix (cached rows + new)."""
        name = f"block{block}_self"
        h = self._norm(x, f"block{block}_norm0")
        query = self._project(h, f"{name}/query") / np.sqrt(self.key_dim)  # (K, heads, kd)
        key, value = self._project(h, f"{name}/key"), self._project(h, f"{name}/value")
        if length > 1:
            keys = np.stack([p[0][block] for p in past])  # (K, L-1, heads, kd)
            values = np.stack([p[1][block] for p in past])
            keys = np.concatenate([keys, key[:, None]], axis=1)
            values = np.concatenate([values, value[:, None]], axis=1)
        else:
            keys, values = key[:, None], value[:, None]
        # (K, heads, 1, kd) @ (K, heads, kd, L) -> (K, heads, 1, L)
        scores = query[:, :, None, :] @ keys.transpose(0, 2, 3, 1)
        weights = _softmax(scores)
        out = (weights @ values.transpose(0, 2, 1, 3))[:, :, 0]  # (K, heads, kd)
        return x + self._output(out, name), keys, values

    def _cross_attention(
        self, x: np.ndarray, block: int, mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        name = f"block{block}_cross"
        h = self._norm(x, f"block{block}_norm1")
        query = self._project(h, f"{name}/query") / np.sqrt(self.key_dim)
        keys, values = self.cross[block]
        # (heads, K, kd) @ (heads, kd, T) -> (heads, K, T)
        scores = query.transpose(1, 0, 2) @ keys.transpose(1, 2, 0)
        weights = _softmax(np.where(mask[None, None, :], scores, MASKED))
        out = (weights @ values.transpose(1, 0, 2)).transpose(1, 0, 2)  # (K, heads, kd)
        return x + self._output(out, name), weights.mean(axis=0)

    def _feed_forward(self, x: np.ndarray, block: int) -> np.ndarray:
        h = self._norm(x, f"block{block}_norm2")
        h = np.maximum(
            h @ self.w[f"block{block}_ffn0/kernel"] + self.w[f"block{block}_ffn0/bias"], 0
        )
        return h @ self.w[f"block{block}_ffn1/kernel"] + self.w[f"block{block}_ffn1/bias"]


def _one_blas_thread() -> Any:
    """Limit BLAS to one thread: these products are small, and threads only wait on each other.

    Measured with two busy processes on 2 cores: 88 ms a step with OpenBLAS' threads,
    22 ms with one.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)
