"""Load an attention recognizer bundle; encode line images into :class:`~medocr.types.EncodedLine`.

An attention bundle (kind ``attention-seq2seq``) holds ``model.keras`` (the training
model of :func:`medocr.recognize.attention.build_model`, loaded with ``safe_mode=True``)
and ``meta.json`` (alphabet, input height, normalisation, architecture, training summary,
metrics), and after ``medocr export --onnx`` ``encoder.onnx`` and ``decoder_step.onnx``.
:class:`AttentionRecognizer` runs the encoder once per batch of lines and hands each
line's memory to the decoders of :mod:`medocr.decode.seq2seq` with its decoder step (ONNX
Runtime when the bundle has the two ONNX files, else a traced TensorFlow function: one
graph for every shape).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medocr.bundles import open_bundle, resolve, write_bundle
from medocr.errors import ModelError
from medocr.recognize.attention import (
    AttentionConfig,
    frame_masks,
    memory_frames,
    register_layers,
    split_model,
)
from medocr.recognize.attention_incremental import IncrementalStep, decoder_weights, greedy_batch
from medocr.recognize.crnn import pad_batch, prepare_line
from medocr.text import Alphabet
from medocr.types import EncodedLine

KIND = "attention-seq2seq"
#: The ONNX files of an exported attention bundle (``NAME.onnx``).
ONNX_PARTS = ("encoder", "decoder_step")
#: The decoder's weights as plain arrays (written by the export with the ONNX files): the
#: incremental numpy decoder reads them without TensorFlow.
DECODER_WEIGHTS = "decoder.npz"
NORMALISATION = (
    "ink = 1 - gray / 255 (paper 0, ink 1), resized to height keeping aspect, "
    "padded on the right with 0"
)


def save_attention(
    folder: str | Path,
    model: Any,
    alphabet: Alphabet,
    config: AttentionConfig,
    *,
    training: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write an attention recognizer bundle (replacing `folder` atomically).

    Parameters
    ----------
    folder : str or Path
        Destination folder.
    model : keras.Model
        The training model (:func:`medocr.recognize.attention.build_model`).
    alphabet : Alphabet
        Its characters (end-of-sequence last).
    config : AttentionConfig
        Its architecture.
    training, metrics : dict, optional
        Training summary and measured metrics.

    Returns
    -------
    dict
        The metadata written.
    """
    return write_bundle(
        folder,
        KIND,
        lambda staging: model.save(staging / "model.keras"),
        {
            "alphabet": alphabet.to_dict(),
            "input_height": config.height,
            "normalisation": NORMALISATION,
            "architecture": config.to_dict(),
            "parameters": int(model.count_params()),
            "tokens": "characters, then end-of-sequence (index len(chars)); start token "
            "len(chars) + 1 (decoder input only)",
            "training": training or {},
            "metrics": metrics or {},
        },
    )


@dataclass(eq=False)
class AttentionRecognizer:
    """A loaded attention line recognizer.

    Parameters
    ----------
    model : keras.Model
        The training model; its ``encoder`` and ``decoder`` do the work.
    alphabet : Alphabet
        Output characters (end-of-sequence last).
    config : AttentionConfig
        Architecture, including the input height.
    meta : dict
        The bundle's metadata.
    digest : str
        sha256 of the bundle's manifest; empty when not loaded from a bundle.
    folder : Path or None
        The bundle folder it was loaded from.
    """

    model: Any
    alphabet: Alphabet
    config: AttentionConfig
    meta: dict[str, Any]
    digest: str = ""
    folder: Path | None = None
    session: OnnxAttention | None = None  # used instead of `model` when set
    _encode: Any = field(default=None, repr=False)
    _step: Any = field(default=None, repr=False)
    _weights: dict[str, np.ndarray] | None = field(default=None, repr=False)

    @property
    def decoder_weights(self) -> dict[str, np.ndarray]:
        """The decoder's weights as numpy arrays (for :class:`IncrementalStep`)."""
        if self._weights is None:
            self._weights = decoder_weights(split_model(self.model)[1])
        return self._weights

    @property
    def ref(self) -> str:
        """``name@version+sha12`` id recorded in results."""
        ref = f"{self.meta.get('name', 'attention')}@{self.meta.get('version', 'dev')}"
        return f"{ref}+{self.digest[:12]}" if self.digest else ref

    @property
    def family(self) -> str:
        """``attention``: the decoders this recognizer's output needs."""
        return "attention"

    @classmethod
    def load(cls, name_or_path: str | Path, *, backend: str = "auto") -> AttentionRecognizer:
        """Load a bundle by path or shipped name, verifying its files.

        Parameters
        ----------
        name_or_path : str or Path
            Bundle folder, or the name of a shipped bundle.
        backend : {"auto", "tensorflow", "onnx"}
            ``auto`` uses ONNX Runtime when the bundle has ``encoder.onnx`` and
            ``decoder_step.onnx`` and onnxruntime is installed.

        Raises
        ------
        ModelError
            Missing, altered or foreign bundle; ``onnx`` asked of a bundle without them.
        """
        from medocr.recognize.runtime import _has_onnxruntime

        bundle = open_bundle(resolve(name_or_path), KIND)
        folder, meta = bundle.folder, bundle.meta
        if backend not in ("auto", "tensorflow", "onnx"):
            raise ModelError(f"{backend!r}: unknown backend (auto, tensorflow or onnx)")
        alphabet, config = _contract(folder, meta)
        files = [f"{name}.onnx" for name in ONNX_PARTS] + [DECODER_WEIGHTS]
        has_onnx = all(name in bundle.hashes for name in files)
        if backend == "onnx" or (backend == "auto" and has_onnx and _has_onnxruntime()):
            if not has_onnx:
                raise ModelError(
                    f"{folder}: no encoder.onnx, decoder_step.onnx and {DECODER_WEIGHTS} in "
                    "this bundle (run medocr export --onnx)"
                )
            parts = {name: bundle.read_bytes(f"{name}.onnx") for name in ONNX_PARTS}
            try:
                session = OnnxAttention.from_bytes(parts)
                weights = _read_weights(bundle.read_bytes(DECODER_WEIGHTS))
            except Exception as exc:  # onnxruntime's and numpy's own types: bad bytes
                raise ModelError(f"{folder}: cannot load its ONNX files ({exc})") from exc
            _check_onnx(folder, session, weights, config)
            loaded = cls(None, alphabet, config, meta, bundle.digest, folder, session)
            loaded._weights = weights
            return loaded
        if "model.keras" not in bundle.hashes:
            raise ModelError(f"{folder}: no model.keras in this bundle")
        import keras

        register_layers()
        try:
            model = keras.saving.load_model(folder / "model.keras", compile=False, safe_mode=True)
            split_model(model)
        except Exception as exc:  # Keras raises many types for a bad archive or config
            raise ModelError(f"{folder}: cannot load model.keras ({exc})") from exc
        _check_model(folder, model, config)
        return cls(model, alphabet, config, meta, bundle.digest, folder)

    # ----- network calls ---------------------------------------------------------------------
    def encode(self, batch: np.ndarray) -> np.ndarray:
        """Run the encoder on a padded batch ``(B, H, W, 1)``; return memory ``(B, T, d)``."""
        if self.session is not None:
            return self.session.encode(batch)
        if self._encode is None:
            import tensorflow as tf

            encoder, _ = split_model(self.model)
            spec = tf.TensorSpec([None, self.config.height, None, 1], tf.float32)
            self._encode = tf.function(lambda x: encoder(x, training=False), input_signature=[spec])
        return np.asarray(self._encode(batch))

    def step(
        self, memory: np.ndarray, frame_mask: np.ndarray, tokens: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Run the decoder step (:class:`medocr.types.DecoderStep`): next-token log-probabilities.

        Parameters
        ----------
        memory : numpy.ndarray
            float32 ``(K, T, d_model)``.
        frame_mask : numpy.ndarray
            float32 ``(K, T)``.
        tokens : numpy.ndarray
            int32 ``(K, L)`` prefixes (start token first).

        Returns
        -------
        log_probs : numpy.ndarray
            float32 ``(K, num_classes)``.
        attention : numpy.ndarray
            float32 ``(K, T)``.
        """
        if self.session is not None:
            return self.session.step(memory, frame_mask, tokens)
        if self._step is None:
            self._step = self.traced_step()
        log_probs, attention = self._step(
            np.asarray(memory, np.float32),
            np.asarray(frame_mask, np.float32),
            np.asarray(tokens, np.int32),
        )
        return np.asarray(log_probs), np.asarray(attention)

    def traced_step(self, *, named: bool = False) -> Any:
        """Return the decoder step as a ``tf.function`` with a fixed signature (any K, T, L).

        With `named`, it returns ``{"log_probs", "attention"}`` (the ONNX export's outputs).
        """
        import tensorflow as tf

        _, decoder = split_model(self.model)
        d_model = self.config.d_model
        signature = [
            tf.TensorSpec([None, None, d_model], tf.float32),
            tf.TensorSpec([None, None], tf.float32),
            tf.TensorSpec([None, None], tf.int32),
        ]

        def step(memory: Any, frame_mask: Any, tokens: Any) -> Any:
            logits, attention = decoder([memory, frame_mask, tokens], training=False)
            log_probs, last = tf.nn.log_softmax(logits[:, -1]), attention[:, -1]
            return {"log_probs": log_probs, "attention": last} if named else (log_probs, last)

        return tf.function(step, input_signature=signature)

    # ----- reading ---------------------------------------------------------------------------
    def predict(self, images: Sequence[np.ndarray], *, batch_size: int = 64) -> list[EncodedLine]:
        """Encode line images for the sequence decoders.

        Parameters
        ----------
        images : sequence of numpy.ndarray
            uint8 ``(h, w)`` grayscale lines, dark ink on light paper.
        batch_size : int
            Most lines per encoder call (sorted by width so batches pad little; at most
            :data:`~medocr.recognize.runtime.MAX_BATCH_COLUMNS` padded columns a call).

        Returns
        -------
        list of EncodedLine
            One per image, in input order: float32 ``(ceil(W / 4), d_model)`` memory and
            a decoder step for that line (:class:`IncrementalStep`: numpy, cached).
        """
        results: list[EncodedLine | None] = [None] * len(images)
        for chunk, memory, frames in self._encoded_batches(images, batch_size):
            for row, index in enumerate(chunk):
                count = int(frames[row])
                line = np.ascontiguousarray(memory[row, :count])
                step = IncrementalStep(self.decoder_weights, self.config, line)
                results[index] = EncodedLine(
                    line, self.alphabet, step, min(self.config.max_length, count)
                )
        return [r for r in results if r is not None]

    def read_greedy(self, images: Sequence[np.ndarray], *, batch_size: int = 64) -> list[str]:
        """Greedy readings of line images, decoded a batch at a time (the fast path)."""
        texts: list[str] = [""] * len(images)
        for chunk, memory, frames in self._encoded_batches(images, batch_size):
            mask = frame_masks(frames, memory.shape[1])
            readings = greedy_batch(self.decoder_weights, self.config, memory, mask)
            for index, labels in zip(chunk, readings, strict=True):
                texts[index] = self.alphabet.decode(labels)
        return texts

    def _encoded_batches(self, images: Sequence[np.ndarray], batch_size: int) -> Any:
        from medocr.recognize.runtime import batches_by_width

        prepared = [prepare_line(image, self.config.height) for image in images]
        for chunk in batches_by_width([line.shape[1] for line in prepared], batch_size):
            batch, widths_in_batch = pad_batch([prepared[i] for i in chunk])
            yield chunk, self.encode(batch), memory_frames(widths_in_batch)


class OnnxAttention:
    """The encoder and the decoder step on ONNX Runtime (files of ``medocr export --onnx``).

    Parameters
    ----------
    encoder, step : onnxruntime.InferenceSession
        ``encoder.onnx`` and ``decoder_step.onnx``.
    """

    def __init__(self, encoder: Any, step: Any) -> None:
        self.encoder, self.decoder_step = encoder, step
        self._image = encoder.get_inputs()[0].name

    @classmethod
    def from_bytes(cls, parts: dict[str, bytes]) -> OnnxAttention:
        """Open the two graphs from their bytes (keys ``encoder`` and ``decoder_step``)."""
        from medocr.recognize.runtime import onnx_session

        return cls(onnx_session(parts["encoder"]), onnx_session(parts["decoder_step"]))

    def encode(self, batch: np.ndarray) -> np.ndarray:
        """``(B, H, W, 1)`` ink -> float32 ``(B, T, d)`` memory."""
        return self.encoder.run(None, {self._image: batch})[0]

    def step(
        self, memory: np.ndarray, frame_mask: np.ndarray, tokens: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`AttentionRecognizer.step`."""
        feeds = {
            "memory": np.asarray(memory, np.float32),
            "frame_mask": np.asarray(frame_mask, np.float32),
            "tokens": np.asarray(tokens, np.int32),
        }
        log_probs, attention = self.decoder_step.run(["log_probs", "attention"], feeds)
        return log_probs, attention


def _read_weights(data: bytes) -> dict[str, np.ndarray]:
    """Read the arrays of a ``decoder.npz`` (no pickles: ``allow_pickle=False``)."""
    import io

    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def _contract(folder: Path, meta: dict[str, Any]) -> tuple[Alphabet, AttentionConfig]:
    """Alphabet and architecture from meta.json, consistent with each other.

    Raises
    ------
    ModelError
        Malformed alphabet or architecture, another ``input_height`` than the
        architecture's, or another class count than the alphabet's.
    """
    try:
        alphabet = Alphabet.from_dict(meta["alphabet"])
        config = AttentionConfig.from_dict(meta["architecture"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelError(
            f"{folder}: meta.json has no usable alphabet and architecture ({exc})"
        ) from exc
    height = meta.get("input_height")
    if height != config.height or not isinstance(height, int) or height <= 0:
        raise ModelError(
            f"{folder}: meta.json input_height {height!r} differs from the architecture's "
            f"height {config.height!r}"
        )
    if config.num_classes != alphabet.num_classes:
        raise ModelError(
            f"{folder}: meta.json architecture has {config.num_classes!r} classes, its alphabet "
            f"{len(alphabet.chars)} characters + end = {alphabet.num_classes}"
        )
    return alphabet, config


def _check_onnx(
    folder: Path, session: OnnxAttention, weights: dict[str, np.ndarray], config: AttentionConfig
) -> None:
    """Check the ONNX graphs and ``decoder.npz`` against meta.json, as :func:`_check_model`.

    Raises
    ------
    ModelError
        The encoder takes another line height or channel count, or gives another memory
        width than ``d_model``; the decoder step or the decoder's weights give another class
        count (dimensions left free in a graph are not checked).
    """
    image = list(session.encoder.get_inputs()[0].shape or [])
    memory = list(session.encoder.get_outputs()[0].shape or [])
    steps = {out.name: list(out.shape or []) for out in session.decoder_step.get_outputs()}
    kernel = weights.get("logits/kernel")
    expected = (config.height, 1, config.d_model, config.num_classes)
    found = (
        image[1] if len(image) == 4 else None,
        image[3] if len(image) == 4 else None,
        memory[-1] if memory else None,
        steps.get("log_probs", [None])[-1],
    )
    fixed = [(f, e) for f, e in zip(found, expected, strict=True) if isinstance(f, int)]
    shape = None if kernel is None else tuple(kernel.shape)
    if len(image) != 4 or any(f != e for f, e in fixed) or shape != expected[2:]:
        raise ModelError(
            f"{folder}: the ONNX files take (batch, {found[0]}, width, {found[1]}) lines, give "
            f"a {found[2]}-wide memory and {found[3]} classes, decoder.npz logits {shape}; "
            f"meta.json says ({config.height}, width, 1), d_model {config.d_model} and "
            f"{config.num_classes} classes"
        )


def _check_model(folder: Path, model: Any, config: AttentionConfig) -> None:
    """Check that the network takes ``height``-px lines and gives ``num_classes`` logits.

    Raises
    ------
    ModelError
        Another input height, channel count or class count than meta.json says.
    """
    encoder, decoder = split_model(model)
    _, height, _, channels = encoder.input_shape
    classes = decoder.output_shape[0][-1]
    if (height, channels, classes) != (config.height, 1, config.num_classes):
        raise ModelError(
            f"{folder}: model.keras takes ({height}, W, {channels}) lines and gives {classes} "
            f"classes; meta.json says ({config.height}, W, 1) and {config.num_classes}"
        )
