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

from medocr.bundles import read_meta, resolve, write_bundle
from medocr.errors import ModelError
from medocr.recognize.alphabet import Alphabet
from medocr.recognize.crnn import CRNNConfig, frame_count, pad_batch, prepare_line, softmax
from medocr.types import FrameProbs

KIND = "crnn-ctc"
NORMALISATION = (
    "ink = 1 - gray / 255 (paper 0, ink 1), resized to height keeping aspect, "
    "padded on the right with 0"
)
DEFAULT_MODEL = "fr-crnn-small"


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
    """

    model: Any
    alphabet: Alphabet
    config: CRNNConfig
    meta: dict[str, Any]
    session: Any = None
    _forward: Any = field(default=None, repr=False)  # traced once: one graph for all widths

    @property
    def ref(self) -> str:
        """``name@epoch`` style id recorded in results."""
        return f"{self.meta.get('name', 'crnn')}@{self.meta.get('version', 'dev')}"

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
        folder = resolve(name_or_path)
        meta = read_meta(folder, KIND)
        alphabet = Alphabet.from_dict(meta["alphabet"])
        config = CRNNConfig.from_dict(meta["architecture"])
        onnx_file = folder / "model.onnx"
        if backend == "onnx" or (backend == "auto" and onnx_file.exists() and _has_onnxruntime()):
            if not onnx_file.exists():
                raise ModelError(f"{folder}: no model.onnx in this bundle (run medocr export)")
            import onnxruntime

            session = onnxruntime.InferenceSession(
                str(onnx_file), providers=["CPUExecutionProvider"]
            )
            return cls(None, alphabet, config, meta, session)
        import keras

        try:
            model = keras.saving.load_model(folder / "model.keras", compile=False, safe_mode=True)
        except (OSError, ValueError) as exc:
            raise ModelError(f"{folder}: cannot load model.keras ({exc})") from exc
        return cls(model, alphabet, config, meta)

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

    def predict(self, images: Sequence[np.ndarray], *, batch_size: int = 64) -> list[FrameProbs]:
        """Recognise line images.

        Parameters
        ----------
        images : sequence of numpy.ndarray
            uint8 ``(h, w)`` grayscale lines, dark ink on light paper.
        batch_size : int
            Lines per network call; lines are sorted by width so batches pad little.

        Returns
        -------
        list of FrameProbs
            One per image, in input order: float32 ``(ceil(W / 4), C)`` probabilities.
        """
        prepared = [prepare_line(image, self.config.height) for image in images]
        order = np.argsort([line.shape[1] for line in prepared], kind="stable")
        results: list[FrameProbs | None] = [None] * len(prepared)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch, widths = pad_batch([prepared[i] for i in chunk])
            probs = softmax(self.logits(batch))
            for row, index in enumerate(chunk):
                frames = int(frame_count(int(widths[row])))
                results[index] = FrameProbs(
                    np.ascontiguousarray(probs[row, :frames]), self.alphabet
                )
        return [r for r in results if r is not None]


def _has_onnxruntime() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True
