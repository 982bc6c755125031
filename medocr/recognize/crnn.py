"""The CRNN line recognizer: convolutions + 2 bidirectional LSTMs + softmax, CTC, blank last.

Input: a grayscale line image resized to the model's height, variable width, encoded as
*ink* = ``1 - gray / 255`` (paper 0, full ink 1) so that padding with 0 is blank paper.
The network reduces the height to 1/16 and the width to 1/4: a line ``W`` pixels wide
gives ``ceil(W / 4)`` frames. Output: per-frame logits ``(T, C)``; the model returns
probabilities only, decoding is :mod:`medocr.decode`'s job.

TensorFlow is imported only inside the functions that need it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

PRESETS: dict[str, dict[str, Any]] = {
    # ~1.2M parameters. Narrow early convolutions: at full resolution they are memory-bound
    # on a CPU, and halving them made a training step several times faster on 2 cores.
    "small": {"filters": (16, 32, 64, 96, 192), "dense": 256, "lstm": 128, "dropout": 0.25},
    # ~6M parameters: for a GPU.
    "large": {"filters": (64, 128, 256, 256, 512), "dense": 384, "lstm": 256, "dropout": 0.3},
    # a few thousand parameters: for tests.
    "tiny": {"filters": (4, 8, 8, 8, 8), "dense": 16, "lstm": 8, "dropout": 0.0},
}
WIDTH_REDUCTION = 4
HEIGHT_REDUCTION = 16


@dataclass(frozen=True)
class CRNNConfig:
    """Shape of a CRNN.

    Parameters
    ----------
    height : int
        Input height in pixels (a multiple of 16).
    num_classes : int
        Alphabet size + 1 (blank last).
    filters : tuple of int
        Channels of the 5 convolution blocks.
    dense : int
        Width of the projection before the LSTMs.
    lstm : int
        Units per direction of each of the 2 bidirectional LSTMs.
    dropout : float
        Dropout before and between the LSTMs.
    """

    height: int
    num_classes: int
    filters: tuple[int, ...] = PRESETS["small"]["filters"]
    dense: int = 256
    lstm: int = 128
    dropout: float = 0.25

    @classmethod
    def preset(cls, name: str, height: int, num_classes: int) -> CRNNConfig:
        """Return the named preset (``small``, ``large``, ``tiny``) for a height and alphabet."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
        return cls(height=height, num_classes=num_classes, **PRESETS[name])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        data = asdict(self)
        data["filters"] = list(self.filters)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CRNNConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**data, "filters": tuple(data["filters"])})


def frame_count(width: Any) -> Any:
    """Frames produced for an input ``width`` pixels wide: ``ceil(ceil(width / 2) / 2)``.

    Works on ints, numpy arrays and tensors alike (integer arithmetic only).
    """
    return ((width + 1) // 2 + 1) // 2


def build_model(config: CRNNConfig) -> Any:
    """Build the Keras model (uncompiled) mapping ``(B, H, W, 1)`` ink to ``(B, T, C)`` logits.

    Parameters
    ----------
    config : CRNNConfig
        Architecture.

    Returns
    -------
    keras.Model
        Named ``crnn``; input ``image``, output ``logits``.
    """
    import keras
    from keras import layers

    image = keras.Input(shape=(config.height, None, 1), name="image")
    x = line_features(image, config)
    logits = layers.Dense(config.num_classes, name="logits")(x)
    return keras.Model(image, logits, name="crnn")


def line_features(image: Any, config: Any) -> Any:
    """Build the CRNN's body: convolutions, projection and 2 BiLSTMs, as Keras functional layers.

    Shared by the CTC model and the attention encoder (:mod:`medocr.recognize.attention`),
    with the same layer names, so that one's weights can start the other.

    Parameters
    ----------
    image : KerasTensor
        ``(B, height, W, 1)`` ink.
    config : CRNNConfig or AttentionConfig
        Anything with ``height``, ``filters``, ``dense``, ``lstm`` and ``dropout``.

    Returns
    -------
    KerasTensor
        ``(B, ceil(W / 4), 2 * lstm)`` frame features.
    """
    from keras import layers

    if config.height % HEIGHT_REDUCTION:
        raise ValueError(f"height {config.height} is not a multiple of {HEIGHT_REDUCTION}")
    x = image
    pools = ((2, 2), (2, 2), None, (2, 1), (2, 1))
    for index, (channels, pool) in enumerate(zip(config.filters, pools, strict=True)):
        x = layers.Conv2D(channels, 3, padding="same", use_bias=False, name=f"conv{index}")(x)
        x = layers.BatchNormalization(name=f"bn{index}")(x)
        x = layers.ReLU(name=f"relu{index}")(x)
        if pool is not None:
            x = layers.MaxPooling2D(pool, strides=pool, padding="same", name=f"pool{index}")(x)
    x = layers.Permute((2, 1, 3), name="width_first")(x)
    features = (config.height // HEIGHT_REDUCTION) * config.filters[-1]
    x = layers.Reshape((-1, features), name="frames")(x)
    x = layers.Dense(config.dense, activation="relu", name="project")(x)
    x = layers.Dropout(config.dropout, name="drop0")(x)
    for index in range(2):
        lstm = layers.LSTM(config.lstm, return_sequences=True, name=f"lstm{index}")
        x = layers.Bidirectional(lstm, name=f"bilstm{index}")(x)
        x = layers.Dropout(config.dropout, name=f"drop{index + 1}")(x)
    return x


def prepare_line(image: np.ndarray, height: int) -> np.ndarray:
    """Resize a line to `height` keeping its aspect and encode it as ink.

    Parameters
    ----------
    image : numpy.ndarray
        uint8 ``(h, w)`` grayscale line, dark ink on light paper.
    height : int
        Model input height.

    Returns
    -------
    numpy.ndarray
        float32 ``(height, W)`` with ``W = max(4, round(w * height / h))``, values
        ``1 - gray / 255``.
    """
    if image.dtype != np.uint8 or image.ndim != 2 or min(image.shape) == 0:
        raise ValueError(
            f"a line image must be a non-empty uint8 (h, w) array, got {image.dtype} {image.shape}"
        )
    h, w = image.shape
    width = max(WIDTH_REDUCTION, round(w * height / h))
    resized = cv2.resize(
        image, (width, height), interpolation=cv2.INTER_AREA if h > height else cv2.INTER_LINEAR
    )
    return 1.0 - resized.astype(np.float32) / 255.0


def pad_batch(lines: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack prepared lines ``(H, W_i)`` into ``(B, H, max W, 1)``, 0-padded; widths ``(B,)``."""
    widths = np.array([line.shape[1] for line in lines], np.int32)
    height = lines[0].shape[0]
    batch = np.zeros((len(lines), height, int(widths.max()), 1), np.float32)
    for row, line in enumerate(lines):
        batch[row, :, : line.shape[1], 0] = line
    return batch, widths


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis of ``(..., C)`` logits, as float32 probabilities."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)


def transfer_weights(source: Any, target: Any, old_chars: int) -> None:
    """Copy every layer's weights; the output layer keeps old characters and the blank."""
    for layer in target.layers:
        if not layer.weights:
            continue
        weights = source.get_layer(layer.name).get_weights()
        if layer.name == "logits":
            new_kernel, new_bias = layer.get_weights()
            new_kernel[:, :old_chars], new_bias[:old_chars] = (
                weights[0][:, :old_chars],
                weights[1][:old_chars],
            )
            new_kernel[:, -1], new_bias[-1] = weights[0][:, -1], weights[1][-1]
            weights = [new_kernel, new_bias]
        layer.set_weights(weights)


def start_model(
    preset: str, height: int, num_classes: int, base: Any = None
) -> tuple[Any, CRNNConfig]:
    """Build the model a training run starts from: a preset, or a loaded bundle's network.

    Parameters
    ----------
    preset : str
        Architecture preset, used when there is no `base`.
    height : int
        Input height (a `base` keeps its own).
    num_classes : int
        Output classes of the run's alphabet (which extends the base's, if any).
    base : Recognizer, optional
        Loaded bundle to fine-tune: its architecture is kept, its weights copied (see
        :func:`transfer_weights`).

    Returns
    -------
    model : keras.Model
    config : CRNNConfig
    """
    if base is None:
        config = CRNNConfig.preset(preset, height, num_classes)
        return build_model(config), config
    config = CRNNConfig.from_dict({**base.config.to_dict(), "num_classes": num_classes})
    model = build_model(config)
    transfer_weights(base.model, model, len(base.alphabet.chars))
    return model, config
