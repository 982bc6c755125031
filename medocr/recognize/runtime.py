"""Load a recognizer bundle and turn line images into :class:`~medocr.types.FrameProbs`.

A recognizer bundle (kind ``crnn-ctc``) holds ``model.keras`` (Keras native format, loaded
with ``safe_mode=True``), optionally ``model.onnx``, and ``meta.json`` with the alphabet,
the input height, the normalisation, the architecture, the training summary (data and
attributions) and metrics. :class:`Recognizer` uses ONNX Runtime when the bundle has an
ONNX file and the package is installed, TensorFlow otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medocr.bundles import open_bundle, resolve, write_bundle
from medocr.errors import ModelError
from medocr.recognize.crnn import CRNNConfig, frame_count, pad_batch, prepare_line, softmax
from medocr.text import Alphabet
from medocr.types import FrameProbs

KIND = "crnn-ctc"
NORMALISATION = (
    "ink = 1 - gray / 255 (paper 0, ink 1), resized to height keeping aspect, "
    "padded on the right with 0"
)
DEFAULT_MODEL = "fr-crnn-small"
#: Most padded columns (at the model's height) in one network call: 64 lines of 128 px, or
#: 8 of 1,024. Bounds the memory the runtime keeps for its largest call (about 25 MiB
#: for ``small``), which otherwise grows with the widest page met in a batch.
MAX_BATCH_COLUMNS = 8192
#: Environment variable: how many threads ONNX Runtime may use in this process (unset:
#: its default, one per core). ``medocr batch --workers K`` sets it in each worker.
THREADS_ENV = "MEDOCR_THREADS"
#: Fewest frames per character a line is read with (``Recognizer.predict``): denser
#: lines are widened and read again. 3 is where greedy CER fell most on the validation
#: sets (``benchmarks/bench_val_sets.py --frames-per-char 0 2.5 3 3.5``).
MIN_FRAMES_PER_CHAR = 3.0
#: Most a dense line is widened by (more hurt some sets).
MAX_WIDENING = 1.4


def save_recognizer(
    folder: str | Path,
    model: Any,
    alphabet: Alphabet,
    config: CRNNConfig,
    *,
    training: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write a recognizer bundle (replacing `folder` atomically).

    Parameters
    ----------
    folder : str or Path
        Destination folder.
    model : keras.Model
        The CRNN (logits output).
    alphabet : Alphabet
        Its characters (blank last).
    config : CRNNConfig
        Its architecture.
    training, metrics : dict, optional
        Training summary (data, attributions, command) and measured metrics.

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
            "training": training or {},
            "metrics": metrics or {},
        },
    )


@dataclass(eq=False)
class Recognizer:
    """A loaded line recognizer.

    Parameters
    ----------
    model : keras.Model or None
        The Keras model (None when running on ONNX Runtime only).
    alphabet : Alphabet
        Output classes (blank last).
    config : CRNNConfig
        Architecture, including the input height.
    meta : dict
        The bundle's metadata.
    session : onnxruntime.InferenceSession or None
        Used instead of `model` when set.
    digest : str
        sha256 of the bundle's manifest (:attr:`medocr.bundles.Bundle.digest`): which files
        were read; empty for a model that was not loaded from a bundle.
    folder : Path or None
        The bundle folder it was loaded from.
    """

    model: Any
    alphabet: Alphabet
    config: CRNNConfig
    meta: dict[str, Any]
    session: Any = None
    _forward: Any = field(default=None, repr=False)  # traced once: one graph for all widths
    digest: str = ""
    folder: Path | None = None

    @property
    def ref(self) -> str:
        """``name@version+sha12`` id recorded in results (the sha is the bundle digest's).

        meta.json names the model, the digest says which files were read: a copy with
        other weights or another alphabet never passes for the shipped model.
        """
        ref = f"{self.meta.get('name', 'crnn')}@{self.meta.get('version', 'dev')}"
        return f"{ref}+{self.digest[:12]}" if self.digest else ref

    @property
    def family(self) -> str:
        """``ctc``: the decoders this recognizer's output needs."""
        return "ctc"

    @classmethod
    def load(cls, name_or_path: str | Path = DEFAULT_MODEL, *, backend: str = "auto") -> Recognizer:
        """Load a bundle by path or shipped name, verifying its files.

        Parameters
        ----------
        name_or_path : str or Path
            Bundle folder, or the name of a shipped bundle.
        backend : {"auto", "tensorflow", "onnx"}
            ``auto`` uses ONNX Runtime when the bundle has ``model.onnx`` and
            onnxruntime is installed.

        Raises
        ------
        ModelError
            Missing, altered or foreign bundle (see :func:`medocr.bundles.read_meta`).
        """
        bundle = open_bundle(resolve(name_or_path), KIND)
        folder, meta = bundle.folder, bundle.meta
        alphabet, config = _contract(folder, meta)
        if backend not in ("auto", "tensorflow", "onnx"):
            raise ModelError(f"{backend!r}: unknown backend (auto, tensorflow or onnx)")
        has_onnx = "model.onnx" in bundle.hashes
        if backend == "onnx" or (backend == "auto" and has_onnx and _has_onnxruntime()):
            if not has_onnx:
                raise ModelError(f"{folder}: no model.onnx in this bundle (run medocr export)")
            data = bundle.read_bytes("model.onnx")
            onnx_threads()  # a bad setting is the caller's error, not the bundle's
            try:
                session = onnx_session(data)
            except Exception as exc:  # onnxruntime's own exception types: bad graph or bytes
                raise ModelError(f"{folder}: cannot load model.onnx ({exc})") from exc
            inputs, outputs = session.get_inputs(), session.get_outputs()
            if len(inputs) != 1 or not outputs:
                raise ModelError(
                    f"{folder}: model.onnx has {len(inputs)} inputs and {len(outputs)} "
                    f"outputs, expected 1 image input and a logits output"
                )
            _check_shapes(folder, "model.onnx", config, inputs[0].shape, outputs[0].shape)
            _size_arena(session, config.height)
            return cls(None, alphabet, config, meta, session, digest=bundle.digest, folder=folder)
        if "model.keras" not in bundle.hashes:
            raise ModelError(f"{folder}: no model.keras in this bundle")
        import keras

        try:
            model = keras.saving.load_model(folder / "model.keras", compile=False, safe_mode=True)
        except Exception as exc:  # Keras raises many types for a bad archive or config
            raise ModelError(f"{folder}: cannot load model.keras ({exc})") from exc
        try:
            in_shape, out_shape = model.input_shape, model.output_shape
        except (AttributeError, ValueError) as exc:
            raise ModelError(f"{folder}: model.keras has no single input and output") from exc
        _check_shapes(folder, "model.keras", config, in_shape, out_shape)
        return cls(model, alphabet, config, meta, digest=bundle.digest, folder=folder)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Run the network on a padded batch ``(B, H, W, 1)``; return logits ``(B, T, C)``."""
        if self.session is not None:
            name = self.session.get_inputs()[0].name
            return self.session.run(None, {name: batch})[0]
        if self._forward is None:
            import tensorflow as tf

            spec = tf.TensorSpec([None, self.config.height, None, 1], tf.float32)
            self._forward = tf.function(
                lambda x: self.model(x, training=False), input_signature=[spec]
            )
        return np.asarray(self._forward(batch))

    def predict(
        self,
        images: Sequence[np.ndarray],
        *,
        batch_size: int = 64,
        shifts: Sequence[int] = (0,),
        min_frames_per_char: float | None = MIN_FRAMES_PER_CHAR,
    ) -> list[FrameProbs]:
        """Recognise line images.

        Parameters
        ----------
        images : sequence of numpy.ndarray
            uint8 ``(h, w)`` grayscale lines, dark ink on light paper.
        batch_size : int
            Most lines per network call; lines are sorted by width so batches pad
            little, and a call holds at most :data:`MAX_BATCH_COLUMNS` padded columns.
        shifts : sequence of int, optional
            Test-time augmentation: each line is also read moved this many pixels down
            (negative: up) at the model's height, the rows it leaves blank, and the
            probabilities of all the readings are averaged (the frames do not move, so
            they line up). Default ``(0,)``: one plain reading. ``(-2, 0, 2)`` costs
            three network passes (``benchmarks/bench_val_sets.py --shifts`` measures
            what it gains).
        min_frames_per_char : float or None
            Dense writing: a line read with fewer frames per character than this (its
            greedy reading's length) is read again widened by the factor that gives it
            this many, at most :data:`MAX_WIDENING` (the model's 4-pixel frames cannot
            tell apart letters, or a doubled ``11``, that sit closer than that). None:
            one pass as the line comes.

        Returns
        -------
        list of FrameProbs
            One per image, in input order: float32 ``(T, C)`` probabilities,
            ``T = ceil(W / 4)`` for a line ``W`` columns wide at the model's height
            (once widened, if it was).

        Raises
        ------
        ValueError
            `shifts` empty, or a shift of the model's height or more.
        """
        height = self.config.height
        if not shifts or any(abs(int(s)) >= height for s in shifts):
            raise ValueError(f"shifts must be a non-empty list of ints within ±{height - 1}")
        probs = self._read(images, batch_size, shifts)
        if min_frames_per_char:
            factors = {
                index: factor
                for index, p in enumerate(probs)
                if (factor := widening(p, min_frames_per_char)) > 1.0
            }
            widened = [widen(images[i], factor) for i, factor in factors.items()]
            for index, again in zip(factors, self._read(widened, batch_size, shifts), strict=True):
                probs[index] = again
        return [FrameProbs(p, self.alphabet) for p in probs]

    def _read(
        self, images: Sequence[np.ndarray], batch_size: int, shifts: Sequence[int]
    ) -> list[np.ndarray]:
        """Probabilities ``(T_i, C)`` of each line, averaged over `shifts`."""
        prepared = [prepare_line(image, self.config.height) for image in images]
        totals: list[np.ndarray] = []
        for shift in shifts:
            moved = [shift_rows(line, int(shift)) for line in prepared]
            for index, probs in enumerate(self._probabilities(moved, batch_size)):
                if index == len(totals):
                    totals.append(probs)
                else:
                    totals[index] = totals[index] + probs
        return [np.ascontiguousarray(t if len(shifts) == 1 else t / len(shifts)) for t in totals]

    def _probabilities(self, prepared: list[np.ndarray], batch_size: int) -> list[np.ndarray]:
        """Run prepared lines ``(H, W_i)`` through the network; ``(T_i, C)`` probabilities each."""
        results: list[np.ndarray] = [np.empty(0)] * len(prepared)
        for chunk in batches_by_width([line.shape[1] for line in prepared], batch_size):
            batch, widths_in_batch = pad_batch([prepared[i] for i in chunk])
            probs = softmax(self.logits(batch))
            for row, index in enumerate(chunk):
                frames = int(frame_count(int(widths_in_batch[row])))
                results[index] = probs[row, :frames]
        return results


def widening(probs: np.ndarray, min_frames_per_char: float) -> float:
    """Factor (>= 1) to widen a line by for `min_frames_per_char` frames per character.

    `probs` ``(T, C)`` (blank last) of the line as read; its characters are counted on
    its greedy reading. 1.0 for a line with enough frames or no character; at most
    :data:`MAX_WIDENING`.
    """
    # The greedy reading's length, counted here: medocr.decode sits above this layer.
    best = probs.argmax(axis=1)
    starts = np.append(True, best[1:] != best[:-1])
    chars = int(np.count_nonzero(starts & (best != probs.shape[1] - 1)))
    if chars == 0 or len(best) >= min_frames_per_char * chars:
        return 1.0
    return min(MAX_WIDENING, min_frames_per_char * chars / len(best))


def widen(image: np.ndarray, factor: float) -> np.ndarray:
    """Stretch a uint8 line ``(h, w)`` horizontally: ``(h, round(w * factor))``."""
    import cv2

    height, width = image.shape
    return cv2.resize(
        image, (max(1, round(width * factor)), height), interpolation=cv2.INTER_LINEAR
    )


def shift_rows(line: np.ndarray, shift: int) -> np.ndarray:
    """Move a prepared line ``(H, W)`` `shift` rows down (up when negative), blank-filled."""
    if shift == 0:
        return line
    moved = np.zeros_like(line)
    if shift > 0:
        moved[shift:] = line[:-shift]
    else:
        moved[:shift] = line[-shift:]
    return moved


def batches_by_width(widths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Cut lines, narrowest first, into network calls of bounded size.

    Each call takes at most `batch_size` lines and at most :data:`MAX_BATCH_COLUMNS`
    columns once padded to its widest line (a wider line goes alone), so the memory
    ONNX Runtime keeps for its largest call does not depend on how many pages are read.

    Parameters
    ----------
    widths : sequence of int
        Width of each line at the model's height.
    batch_size : int
        Most lines per call.

    Returns
    -------
    list of numpy.ndarray
        The line indices of each call; together, the lines sorted by width (stable).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    order = np.argsort(widths, kind="stable")
    chunks, start = [], 0
    for end in range(1, len(order) + 1):
        widest = widths[order[end - 1]]
        if end - start > batch_size or (
            end - start > 1 and (end - start) * widest > MAX_BATCH_COLUMNS
        ):
            chunks.append(order[start : end - 1])
            start = end - 1
    if start < len(order):
        chunks.append(order[start:])
    return chunks


def load_recognizer(name_or_path: str | Path = DEFAULT_MODEL, *, backend: str = "auto") -> Any:
    """Load a line recognizer bundle of either family, as its ``meta.json`` kind says.

    Parameters
    ----------
    name_or_path : str or Path
        Bundle folder, or the name of a shipped bundle.
    backend : {"auto", "tensorflow", "onnx"}
        As :meth:`Recognizer.load` (the attention family runs on TensorFlow only).

    Returns
    -------
    Recognizer or AttentionRecognizer
        ``kind`` ``crnn-ctc`` gives a :class:`Recognizer` (frame probabilities for the CTC
        decoders), ``attention-seq2seq`` an
        :class:`~medocr.recognize.attention_runtime.AttentionRecognizer` (encoded lines
        for the sequence decoders).

    Raises
    ------
    ModelError
        Missing, altered or foreign bundle, or one of another kind.
    """
    from medocr.recognize import attention_runtime

    folder = resolve(name_or_path)
    kind = open_bundle(folder).meta.get("kind")
    if kind == KIND:
        return Recognizer.load(folder, backend=backend)
    if kind == attention_runtime.KIND:
        return attention_runtime.AttentionRecognizer.load(folder, backend=backend)
    raise ModelError(
        f"{folder}: bundle kind {kind!r} is not a line recognizer "
        f"({KIND!r} or {attention_runtime.KIND!r})"
    )


def _contract(folder: Path, meta: dict[str, Any]) -> tuple[Alphabet, CRNNConfig]:
    """Alphabet and architecture from meta.json, consistent with each other.

    Raises
    ------
    ModelError
        Malformed alphabet or architecture; ``input_height`` other than the architecture's
        height; ``num_classes`` other than the alphabet size + 1 (the blank).
    """
    try:
        alphabet = Alphabet.from_dict(meta["alphabet"])
        config = CRNNConfig.from_dict(meta["architecture"])
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
            f"{len(alphabet.chars)} characters + blank = {alphabet.num_classes}"
        )
    return alphabet, config


def _check_shapes(
    folder: Path, name: str, config: CRNNConfig, inputs: Sequence[Any], outputs: Sequence[Any]
) -> None:
    """Check that the network takes ``(B, height, W, 1)`` and gives ``(B, T, alphabet + 1)``.

    Raises
    ------
    ModelError
        Another input height or channel count, or another number of output classes,
        than meta.json says (dimensions left free in the file are not checked).
    """
    inputs, outputs = list(inputs or []), list(outputs or [])
    if len(inputs) != 4 or len(outputs) != 3:
        raise ModelError(
            f"{folder}: {name} takes {inputs} and gives {outputs}, expected "
            f"(batch, {config.height}, width, 1) -> (batch, frames, {config.num_classes})"
        )
    height, channels, classes = inputs[1], inputs[3], outputs[2]
    if isinstance(height, int) and height != config.height:
        raise ModelError(
            f"{folder}: {name} takes lines {height} pixels high, meta.json says "
            f"input_height {config.height}"
        )
    if isinstance(channels, int) and channels != 1:
        raise ModelError(f"{folder}: {name} takes {channels} channels, expected 1 (grayscale)")
    if isinstance(classes, int) and classes != config.num_classes:
        raise ModelError(
            f"{folder}: {name} gives {classes} classes, meta.json's alphabet has "
            f"{config.num_classes - 1} characters + blank = {config.num_classes}"
        )
    if not all(isinstance(d, int) for d in (height, classes)):
        raise ModelError(
            f"{folder}: {name} leaves its input height or class count free ({inputs} -> "
            f"{outputs}); cannot check it against meta.json"
        )


def onnx_threads() -> int | None:
    """Threads ONNX Runtime may use in this process: :data:`THREADS_ENV`, or None (unset).

    Raises
    ------
    ValueError
        The variable is set to something else than a whole number >= 1.
    """
    import os

    threads = os.environ.get(THREADS_ENV, "").strip()
    if not threads:
        return None
    if not threads.isdigit() or int(threads) < 1:
        raise ValueError(f"{THREADS_ENV}={threads!r}: expected a whole number (>= 1)")
    return int(threads)


def onnx_session(model: bytes | str) -> Any:
    """Open an ONNX graph for reading on the CPU, with medocr's session options.

    The thread pool does not spin between runs (the other stages of reading need the
    cores), and holds :func:`onnx_threads` threads when that is set.

    Parameters
    ----------
    model : bytes or str
        The graph's bytes, or a path to its file.

    Returns
    -------
    onnxruntime.InferenceSession
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    threads = onnx_threads()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _size_arena(session: Any, height: int) -> None:
    """Run the largest call :meth:`Recognizer.predict` makes once, on blank paper.

    ONNX Runtime keeps the memory of its largest call in its arena: sized at load, the
    reading process's memory no longer steps up when the first wide page comes, dozens
    or thousands of pages into a batch (measured: half the growth over 800 pages).
    """
    blank = np.zeros((1, height, MAX_BATCH_COLUMNS, 1), np.float32)
    session.run(None, {session.get_inputs()[0].name: blank})


def _has_onnxruntime() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True
