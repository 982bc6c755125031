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


class DecoderMath:
    """The decoder's arithmetic for one new position of K rows, in numpy.

    Cross-attention keys and values are given in head-major layout, shared by all rows
    (``(1, heads, kd, T)`` / ``(1, heads, T, kd)``, one line searched) or one per row
    (``(K, heads, kd, T)`` / ``(K, heads, T, kd)``, a batch of lines).

    Parameters
    ----------
    weights : dict
        From :func:`decoder_weights`.
    config : AttentionConfig
        The architecture (heads, blocks).
    """

    def __init__(self, weights: dict[str, np.ndarray], config: AttentionConfig) -> None:
        self.w, self.config = weights, config
        self.key_dim = config.d_model // config.heads

    def memory_keys(self, memory: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Cross keys ``(B, heads, kd, T)`` and values ``(B, heads, T, kd)`` of each block.

        `memory` is float32 ``(B, T, d)``.
        """
        batch, frames, _ = memory.shape
        flat = memory.reshape(batch * frames, -1)
        out = []
        for block in range(self.config.blocks):
            name = f"block{block}_cross"
            keys = self._project(flat, f"{name}/key").reshape(batch, frames, *self._heads)
            values = self._project(flat, f"{name}/value").reshape(batch, frames, *self._heads)
            out.append((keys.transpose(0, 2, 3, 1), values.transpose(0, 2, 1, 3)))
        return out

    @property
    def _heads(self) -> tuple[int, int]:
        return self.config.heads, self.key_dim

    def position(
        self,
        tokens: np.ndarray,
        past: list[tuple[np.ndarray, np.ndarray]] | None,
        cross: list[tuple[np.ndarray, np.ndarray]],
        mask: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """Read one more position.

        Parameters
        ----------
        tokens : numpy.ndarray
            int ``(K, L)`` prefixes; the last token is the new position.
        past : list of (keys, values) or None
            Per block, the self-attention keys/values of the first ``L - 1`` positions,
            ``(K, heads, L - 1, kd)`` each; None when ``L == 1``.
        cross : list of (keys, values)
            From :meth:`memory_keys` (rows shared or one per row).
        mask : numpy.ndarray
            bool ``(1 or K, T)``: frames that may be attended.

        Returns
        -------
        log_probs : numpy.ndarray
            float32 ``(K, C)``.
        attention : numpy.ndarray
            float32 ``(K, T)``: the last block's cross-attention, mean over heads.
        present : list of (keys, values)
            Per block, ``(K, heads, L, kd)`` keys/values including the new position.
        """
        x = self.w["token_embedding/embeddings"][tokens[:, -1]]
        x = x + self.w["position_embedding/embeddings"][tokens.shape[1] - 1]
        present, attention = [], None
        blocked = mask[:, None, None, :]  # (1|K, 1, 1, T)
        for block in range(self.config.blocks):
            x, keys, values = self._self_attention(x, block, past[block] if past else None)
            present.append((keys, values))
            x, attention = self._cross_attention(x, block, *cross[block], blocked)
            x = x + self._feed_forward(x, block)
        logits = self._norm(x, "final_norm") @ self.w["logits/kernel"] + self.w["logits/bias"]
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        return log_probs.astype(np.float32), attention.astype(np.float32), present

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

    def _self_attention(
        self, x: np.ndarray, block: int, past: tuple[np.ndarray, np.ndarray] | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Causal self-attention of the new position over the prefix (past rows + new)."""
        name = f"block{block}_self"
        h = self._norm(x, f"block{block}_norm0")
        query = self._project(h, f"{name}/query") / np.sqrt(self.key_dim)  # (K, heads, kd)
        key = self._project(h, f"{name}/key")[:, :, None]  # (K, heads, 1, kd)
        value = self._project(h, f"{name}/value")[:, :, None]
        if past is not None:
            key = np.concatenate([past[0], key], axis=2)
            value = np.concatenate([past[1], value], axis=2)
        weights = _softmax(query[:, :, None, :] @ key.transpose(0, 1, 3, 2))  # (K, h, 1, L)
        out = (weights @ value)[:, :, 0]  # (K, heads, kd)
        return x + self._output(out, name), key, value

    def _cross_attention(
        self, x: np.ndarray, block: int, keys: np.ndarray, values: np.ndarray, mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        name = f"block{block}_cross"
        h = self._norm(x, f"block{block}_norm1")
        query = self._project(h, f"{name}/query") / np.sqrt(self.key_dim)
        scores = query[:, :, None, :] @ keys  # (K, heads, 1, T)
        weights = _softmax(np.where(mask, scores, MASKED))
        out = (weights @ values)[:, :, 0]  # (K, heads, kd)
        return x + self._output(out, name), weights[:, :, 0].mean(axis=1)

    def _feed_forward(self, x: np.ndarray, block: int) -> np.ndarray:
        name = f"block{block}_ffn"
        h = self._norm(x, f"block{block}_norm2")
        h = np.maximum(h @ self.w[f"{name}0/kernel"] + self.w[f"{name}0/bias"], 0.0)
        return h @ self.w[f"{name}1/kernel"] + self.w[f"{name}1/bias"]


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

    def __init__(
        self, weights: dict[str, np.ndarray], config: AttentionConfig, memory: np.ndarray
    ) -> None:
        self.math = DecoderMath(weights, config)
        self.memory = memory
        with _one_blas_thread():
            self.cross = self.math.memory_keys(memory[None])
        #: prefix -> per block (keys, values), each ``(heads, len(prefix), kd)``
        self.cache: dict[tuple[int, ...], list[tuple[np.ndarray, np.ndarray]]] = {}

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
        mask = np.asarray(frame_mask[:1], bool)
        with _one_blas_thread():
            return self._positions(tokens, mask)

    def _positions(self, tokens: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        parents = [tuple(row[:-1]) for row in tokens.tolist()]
        past = None
        if tokens.shape[1] > 1:
            missing = sorted({p for p in parents if p not in self.cache})
            if missing:
                self._positions(np.array(missing, np.int64), mask)
            past = [
                (np.stack([self.cache[p][b][0] for p in parents]),
                 np.stack([self.cache[p][b][1] for p in parents]))
                for b in range(self.math.config.blocks)
            ]  # fmt: skip
        log_probs, attention, present = self.math.position(tokens, past, self.cross, mask)
        for row, prefix in enumerate(tokens.tolist()):
            self.cache[tuple(prefix)] = [(keys[row], values[row]) for keys, values in present]
        return log_probs, attention


def greedy_batch(
    weights: dict[str, np.ndarray],
    config: AttentionConfig,
    memory: np.ndarray,
    frame_mask: np.ndarray,
) -> list[list[int]]:
    """Greedy readings of a batch of lines, decoded together position by position.

    Parameters
    ----------
    weights : dict
        From :func:`decoder_weights`.
    config : AttentionConfig
        Start/end tokens and the maximum length.
    memory : numpy.ndarray
        float32 ``(B, T, d_model)``.
    frame_mask : numpy.ndarray
        float32 ``(B, T)``.

    Returns
    -------
    list of list of int
        Character ids of each line (end token excluded). A line stops at the end token,
        at ``max_length`` characters or at as many characters as it has frames; finished
        lines leave the batch.
    """
    math = DecoderMath(weights, config)
    frames = frame_mask.sum(axis=1).astype(int)
    limits = np.minimum(config.max_length, np.maximum(frames, 1))
    readings: list[list[int]] = [[] for _ in range(len(memory))]
    live = np.arange(len(memory))
    tokens = np.full((len(memory), 1), config.start, np.int64)
    mask = frame_mask > 0
    with _one_blas_thread():
        cross = math.memory_keys(memory)
        past = None
        while len(live):
            log_probs, _, past = math.position(tokens, past, cross, mask)
            chosen = np.argmax(log_probs, axis=-1)
            for row, token in zip(live, chosen, strict=True):
                if token != config.end:
                    readings[row].append(int(token))
            going = (chosen != config.end) & (tokens.shape[1] < limits[live])
            live, tokens = live[going], np.concatenate([tokens, chosen[:, None]], axis=1)[going]
            past = [(k[going], v[going]) for k, v in past]
            cross = [(k[going], v[going]) for k, v in cross]
            mask = mask[going]
    return readings


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
