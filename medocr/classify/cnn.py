"""A small convolutional character classifier (Keras 3), the deep-learning baseline.

Architecture (``CnnConfig``): three blocks of two 3x3 convolutions with batch
normalisation and ReLU (``filters`` per block), max pooling and dropout between blocks,
global average pooling, a hidden dense layer, dropout, a softmax layer. With the default
``(32, 64, 128)`` filters and 128 hidden units it has about 304k parameters (plus 129
per class).

Training augments every batch (random shift, rotation and zoom, Keras preprocessing
layers placed before the network and not saved with it), uses Adam, halves the learning
rate when the validation loss stalls, and stops early (best weights restored).

The bundle (kind ``char-cnn``) holds ``model.keras`` (Keras native format, loaded with
``safe_mode=True``) and ``meta.json`` with the classes, the input size, the
normalisation, the architecture, the training summary and the metrics. TensorFlow is
imported on first use only.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medocr.bundles import read_meta, resolve
from medocr.classify import defaults
from medocr.classify.base import (
    CharClassifier,
    Progress,
    check_training_data,
    encode_labels,
    validation_split,
)
from medocr.errors import ModelError

KIND = "char-cnn"
MODEL_FILE = "model.keras"
MAX_PARAMETERS = 500_000
#: Batch-norm moving-statistics momentum. Keras' 0.99 needs thousands of steps to forget
#: its initial variance of 1 (the first layer's is ~0.004): after a few epochs of a small
#: set, inference-mode accuracy was 15% while training-mode accuracy was 85%.
BN_MOMENTUM = 0.9


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class CnnConfig:
    """Architecture and training augmentation of :class:`CnnClassifier`.

    Parameters
    ----------
    size : int
        Side of the square input.
    filters : tuple of int
        Convolution filters of each block (two 3x3 convolutions per block).
    dense : int
        Units of the hidden dense layer after global pooling (0: none).
    dropout : float
        Dropout after each block and before the output layer.
    shift : float
        Largest random translation, as a share of the side.
    rotation : float
        Largest random rotation, in degrees.
    zoom : float
        Largest random zoom in or out, as a share.
    """

    size: int = defaults.SIZE
    filters: tuple[int, ...] = (32, 64, 128)
    dense: int = 128
    dropout: float = 0.25
    shift: float = 0.1
    rotation: float = 10.0
    zoom: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return {**asdict(self), "filters": list(self.filters)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CnnConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**data, "filters": tuple(data["filters"])})


def build_network(config: CnnConfig, num_classes: int) -> Any:
    """Build the (uncompiled) classifier network.

    Parameters
    ----------
    config : CnnConfig
        Architecture.
    num_classes : int
        Output classes.

    Returns
    -------
    keras.Model
        Input float32 ``(B, size, size, 1)`` ink (paper 0, ink 1); output softmax
        ``(B, num_classes)``.
    """
    import keras
    from keras import layers

    inputs = keras.Input((config.size, config.size, 1), name="ink")
    x = inputs
    for depth, filters in enumerate(config.filters):
        for _ in range(2):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
            x = layers.Activation("relu")(x)
        if depth < len(config.filters) - 1:
            x = layers.MaxPooling2D()(x)
            x = layers.Dropout(config.dropout)(x)
    x = layers.GlobalAveragePooling2D()(x)
    if config.dense:
        x = layers.Dense(config.dense, activation="relu")(x)
    x = layers.Dropout(config.dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name="char_cnn")


def augmenter(config: CnnConfig, seed: int) -> Any:
    """Return the training augmentation (Keras layers; active only when training)."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            layers.RandomTranslation(config.shift, config.shift, fill_mode="constant", seed=seed),
            layers.RandomRotation(config.rotation / 360.0, fill_mode="constant", seed=seed + 1),
            layers.RandomZoom(config.zoom, config.zoom, fill_mode="constant", seed=seed + 2),
        ],
        name="augment",
    )


def to_ink(images: np.ndarray) -> np.ndarray:
    """Map normalised uint8 ``(N, S, S)`` to the network input float32 ``(N, S, S, 1)``."""
    return (1.0 - images.astype(np.float32) / 255.0)[..., None]


class CnnClassifier(CharClassifier):
    """Small CNN over normalised character squares.

    Parameters
    ----------
    config : CnnConfig, optional
        Architecture and augmentation (default ``CnnConfig()``).
    deskew : bool
        Shear characters upright before the network (see ``normalize_char``).
    epochs : int
        Upper bound on training epochs.
    patience : int
        Stop when the validation loss has not improved for this many epochs.
    batch_size : int
        Images per step.
    learning_rate : float
        Initial Adam learning rate.
    augment : bool
        Train with augmentation.
    """

    kind = KIND

    def __init__(
        self,
        config: CnnConfig | None = None,
        *,
        deskew: bool = defaults.DESKEW,
        epochs: int = 30,
        patience: int = 5,
        batch_size: int = 64,
        learning_rate: float = 1e-3,
        augment: bool = True,
    ) -> None:
        self.config = config or CnnConfig()
        super().__init__(self.config.size, deskew)
        self.epochs = epochs
        self.patience = patience
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.augment = augment
        self.model: Any = None

    def fit(
        self,
        X: np.ndarray,  # noqa: N803
        y: Sequence[object] | np.ndarray,
        X_val: np.ndarray | None = None,  # noqa: N803
        y_val: Sequence[object] | np.ndarray | None = None,
        *,
        seed: int = 0,
        progress: Progress | None = _stderr,
        steps_per_epoch: int | None = None,
    ) -> CnnClassifier:
        """Train with augmentation and early stopping on the validation loss.

        Parameters
        ----------
        X : numpy.ndarray
            uint8 ``(N, H, W)`` training characters, dark ink on light paper.
        y : sequence
            ``(N,)`` labels (str or int; stored as str).
        X_val, y_val : optional
            Validation set (default: 10% of X held out, seeded).
        seed : int
            Seed of the split, the weights, the shuffling and the augmentation.
        progress : callable or None
            Receives one line per epoch (default: stderr).
        steps_per_epoch : int, optional
            Cap on steps per epoch (tests); default one pass over X.

        Returns
        -------
        CnnClassifier
            `self`, trained (``model``, ``history``).

        Raises
        ------
        ValueError
            Bad shapes, fewer than 2 classes, validation labels unknown to training, or
            an architecture over :data:`MAX_PARAMETERS` parameters.
        """
        import keras

        X, labels = check_training_data(X, y)  # noqa: N806
        X, labels, X_val, y_val = validation_split(X, labels, X_val, y_val, seed)  # noqa: N806
        classes = tuple(sorted(set(labels.tolist())))
        if len(classes) < 2:
            raise ValueError(f"need at least 2 classes to train, got {list(classes)}")
        train_x, train_y = to_ink(self.prepare(X)), encode_labels(labels, classes)
        val_x, val_y = to_ink(self.prepare(X_val)), encode_labels(y_val, classes, "y_val")
        keras.utils.set_random_seed(seed)
        network = build_network(self.config, len(classes))
        if network.count_params() > MAX_PARAMETERS:
            raise ValueError(
                f"the CNN has {network.count_params()} parameters, over {MAX_PARAMETERS}"
            )
        trainer = network
        if self.augment:
            inputs = keras.Input(network.input_shape[1:])
            trainer = keras.Model(inputs, network(augmenter(self.config, seed)(inputs)))
        trainer.compile(
            optimizer=keras.optimizers.Adam(self.learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        dataset = _train_dataset(train_x, train_y, self.batch_size, seed, steps_per_epoch)
        started = time.perf_counter()
        callbacks = [
            keras.callbacks.EarlyStopping(
                "val_loss", patience=self.patience, restore_best_weights=True
            ),
            keras.callbacks.ReduceLROnPlateau(
                "val_loss", factor=0.5, patience=max(1, self.patience // 2), min_lr=1e-5
            ),
        ]
        if progress is not None:
            callbacks.append(_epoch_printer(progress, started))
        fitted = trainer.fit(
            dataset,
            epochs=self.epochs,
            validation_data=(val_x, val_y),
            callbacks=callbacks,
            shuffle=False,  # the tf.data pipeline shuffles (seeded)
            verbose=0,
        )
        self.model, self.classes = network, classes
        self.history = {k: [float(v) for v in vals] for k, vals in fitted.history.items()}
        return self

    def predict_proba(self, X: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:  # noqa: N803
        """Return class probabilities.

        Parameters
        ----------
        X : numpy.ndarray or sequence of numpy.ndarray
            uint8 ``(N, H, W)``, or a sequence of uint8 ``(h, w)`` images of any sizes;
            dark ink on light paper.

        Returns
        -------
        numpy.ndarray
            float32 ``(N, C)``, columns in the order of ``classes``, rows summing to 1.
        """
        self._check_fitted()
        if len(X) == 0:
            return np.zeros((0, len(self.classes)), np.float32)
        ink = to_ink(self.prepare(X))
        parts = [
            np.asarray(self.model(ink[start : start + 512], training=False), np.float64)
            for start in range(0, ink.shape[0], 512)
        ]
        proba = np.concatenate(parts)
        return (proba / proba.sum(axis=1, keepdims=True)).astype(np.float32)

    def save(
        self,
        folder: str | Path,
        *,
        training: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Write the bundle (``model.keras`` + ``meta.json``), replacing `folder` atomically.

        Parameters
        ----------
        folder : str or Path
            Destination folder.
        training, metrics : dict, optional
            Training summary (data, attributions, command) and measured metrics.

        Returns
        -------
        dict
            The metadata written.
        """
        return self._write_bundle(
            folder,
            lambda staging: self.model.save(staging / MODEL_FILE),
            {
                "architecture": self.config.to_dict(),
                "parameters": int(self.model.count_params()),
                "fit": {
                    "epochs": self.epochs,
                    "patience": self.patience,
                    "batch_size": self.batch_size,
                    "learning_rate": self.learning_rate,
                    "augment": self.augment,
                },
                "training": training or {},
                "metrics": metrics or {},
            },
        )

    @classmethod
    def load(cls, name_or_path: str | Path) -> CnnClassifier:
        """Load a ``char-cnn`` bundle, verifying its files.

        Raises
        ------
        ModelError
            Missing, altered or foreign bundle, an unloadable ``model.keras``, or a
            model whose output size disagrees with the classes in ``meta.json``.
        """
        folder = resolve(name_or_path)
        meta = read_meta(folder, KIND)
        try:
            config = CnnConfig.from_dict(meta["architecture"])
            classes = tuple(str(c) for c in meta["classes"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{folder}: bad char-cnn metadata ({exc})") from exc
        import keras

        try:
            model = keras.saving.load_model(folder / MODEL_FILE, compile=False, safe_mode=True)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{folder / MODEL_FILE}: cannot load the Keras model ({exc})") from exc
        if model.output_shape[-1] != len(classes):
            raise ModelError(
                f"{folder / MODEL_FILE}: {model.output_shape[-1]} outputs, "
                f"{len(classes)} classes in meta.json"
            )
        classifier = cls(config, deskew=bool(meta.get("deskew", False)))
        classifier.model, classifier.classes, classifier.meta = model, classes, meta
        return classifier


def _train_dataset(
    images: np.ndarray, labels: np.ndarray, batch_size: int, seed: int, steps: int | None
) -> Any:
    """Shuffled ``tf.data`` batches ``(B, S, S, 1)``, ``(B,)`` of the training set."""
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((images, labels))
    data = data.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    data = data.batch(batch_size)
    if steps is not None:
        data = data.repeat().take(steps)
    return data.prefetch(tf.data.AUTOTUNE)


def _epoch_printer(progress: Progress, started: float) -> Any:
    """Return a Keras callback sending one line per epoch to `progress`."""
    import keras

    class EpochPrinter(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            logs = logs or {}
            scores = " ".join(
                f"{name} {logs[key]:.4f}"
                for key, name in (
                    ("loss", "loss"),
                    ("accuracy", "acc"),
                    ("val_loss", "val_loss"),
                    ("val_accuracy", "val_acc"),
                )
                if key in logs
            )
            progress(f"cnn: epoch {epoch + 1}: {scores} ({time.perf_counter() - started:.1f}s)")

    return EpochPrinter()
