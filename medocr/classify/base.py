"""What both character classifiers share: labels, metrics, validation split, bundle writing.

A classifier maps uint8 ``(N, H, W)`` character images (dark ink on light paper, any
size) to ``(N, C)`` probabilities over its ``classes`` (str, one character each, in
column order). :class:`CharClassifier` holds the common half: predicting labels,
evaluating (accuracy, macro-F1, confusion matrix) and writing a bundle atomically.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from medocr.bundles import write_bundle
from medocr.classify.data import as_labels, check_images, normalize_chars
from medocr.errors import ModelError

#: ``progress(message)``: one line of training progress (the CLI prints it to stderr).
Progress = Callable[[str], None]
NORMALISATION = (
    "medocr.classify.data.normalize_char: Otsu ink box (specks dropped), contrast "
    "stretched, optionally sheared upright (deskew), longer side scaled to 0.8 of the "
    "square, centred on white paper"
)


class CharClassifier:
    """Base of the character classifiers (see the module docstring).

    Attributes
    ----------
    classes : tuple of str
        Class names in column order of :meth:`predict_proba`.
    size : int
        Side of the square the images are normalised into.
    deskew : bool
        Whether the normalisation shears characters upright.
    meta : dict
        Bundle metadata (after :meth:`save` or ``load``), else ``{}``.
    history : dict
        Training curves (name -> list of float per round or epoch).
    """

    kind: ClassVar[str] = ""
    classes: tuple[str, ...]
    size: int

    def __init__(self, size: int, deskew: bool = False) -> None:
        self.size = int(size)
        self.deskew = bool(deskew)
        self.classes = ()
        self.meta: dict[str, Any] = {}
        self.history: dict[str, list[float]] = {}

    # -------------------------------------------------------------- to implement

    def predict_proba(self, X: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:  # noqa: N803
        """Return float32 ``(N, C)`` probabilities (rows sum to 1) of the images."""
        raise NotImplementedError

    # -------------------------------------------------------------- shared

    @property
    def ref(self) -> str:
        """``name@version`` id recorded in results."""
        return f"{self.meta.get('name', self.kind)}@{self.meta.get('version', 'dev')}"

    def prepare(self, X: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:  # noqa: N803
        """Normalise images to uint8 ``(N, size, size)`` (see ``normalize_chars``)."""
        return normalize_chars(X, self.size, deskew=self.deskew)

    def predict(self, X: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:  # noqa: N803
        """Return the most probable class ``(N,)`` str of each image."""
        self._check_fitted()
        proba = self.predict_proba(X)
        return np.asarray(self.classes)[proba.argmax(axis=1)] if len(proba) else np.array([])

    def evaluate(
        self,
        X: np.ndarray | Sequence[np.ndarray],  # noqa: N803
        y: Sequence[object] | np.ndarray,
        *,
        candidates: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Measure accuracy, macro-F1 and the confusion matrix on labelled images.

        Parameters
        ----------
        X : numpy.ndarray or sequence of numpy.ndarray
            uint8 ``(N, H, W)`` images, dark ink on light paper.
        y : sequence
            ``(N,)`` true labels (converted to str).
        candidates : sequence of str, optional
            Answer only among these classes (probabilities of the others set to 0), e.g.
            the digits when a model trained on every character is tested on digits.

        Returns
        -------
        dict
            ``count``, ``accuracy``, ``macro_f1`` (over the true classes present),
            ``labels`` (the confusion matrix's row/column order: the true labels and the
            predictions, sorted) and ``confusion`` (``[true][predicted]`` counts).
        """
        predicted = evaluate_predictions(self, X, candidates)
        return classification_metrics(as_labels(y), predicted)

    def _check_fitted(self) -> None:
        if not self.classes:
            raise ModelError(f"this {self.kind} classifier is not trained (call fit or load)")

    def _write_bundle(
        self, folder: str | Path, write_files: Callable[[Path], None], meta: dict[str, Any]
    ) -> dict[str, Any]:
        """Write the model files and ``meta.json`` into a staging folder, then swap it in."""
        self._check_fitted()
        full = {
            "name": self.meta.get("name", Path(folder).name),
            "version": self.meta.get("version", "dev"),
            "classes": list(self.classes),
            "input_size": self.size,
            "normalisation": NORMALISATION,
            "deskew": self.deskew,
            **meta,
        }
        self.meta = write_bundle(folder, self.kind, write_files, full)
        return self.meta


def evaluate_predictions(
    classifier: CharClassifier,
    X: np.ndarray | Sequence[np.ndarray],  # noqa: N803
    candidates: Sequence[str] | None = None,
) -> np.ndarray:
    """Return the predicted labels ``(N,)`` str, optionally among `candidates` only."""
    classifier._check_fitted()
    proba = classifier.predict_proba(X)
    if candidates is not None:
        allowed = np.isin(np.asarray(classifier.classes), list(candidates))
        if not allowed.any():
            raise ValueError(f"none of the candidates {list(candidates)} is a class of the model")
        proba = np.where(allowed, proba, -1.0)
    return np.asarray(classifier.classes)[proba.argmax(axis=1)]


def classification_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """Accuracy, macro-F1 and confusion matrix of str labels ``(N,)`` and predictions ``(N,)``.

    Returns
    -------
    dict
        See :meth:`CharClassifier.evaluate`.
    """
    from sklearn.metrics import confusion_matrix, f1_score

    if truth.shape != predicted.shape:
        raise ValueError(f"{truth.shape[0]} labels for {predicted.shape[0]} images")
    if truth.size == 0:
        return {"count": 0, "accuracy": None, "macro_f1": None, "labels": [], "confusion": []}
    present = np.unique(truth)
    labels = np.unique(np.concatenate([truth, predicted]))
    with warnings.catch_warnings():  # one class only: sklearn warns, the figures are right
        warnings.simplefilter("ignore", UserWarning)
        f1 = f1_score(truth, predicted, labels=present, average="macro", zero_division=0)
        confusion = confusion_matrix(truth, predicted, labels=labels)
    return {
        "count": int(truth.size),
        "accuracy": float((truth == predicted).mean()),
        "macro_f1": float(f1),
        "labels": labels.tolist(),
        "confusion": confusion.tolist(),
    }


def encode_labels(
    y: Sequence[object] | np.ndarray, classes: tuple[str, ...], what: str = "y"
) -> np.ndarray:
    """Map str labels to class indices ``(N,)`` int32.

    Raises
    ------
    ValueError
        A label that is not one of `classes` (the message lists a few).
    """
    labels = as_labels(y)
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(labels.tolist()) - set(index))
    if unknown:
        raise ValueError(f"{what} has labels that are not training classes: {unknown[:10]}")
    return np.array([index[c] for c in labels.tolist()], np.int32)


def check_training_data(
    X: np.ndarray,  # noqa: N803
    y: Sequence[object] | np.ndarray,
    what: str = "X",
) -> tuple[np.ndarray, np.ndarray]:
    """Check images ``(N, H, W)`` uint8 and labels ``(N,)``; return them (labels as str)."""
    check_images(X, what)
    labels = as_labels(y)
    if labels.shape[0] != X.shape[0]:
        raise ValueError(f"{what} has {X.shape[0]} images but {labels.shape[0]} labels")
    if X.shape[0] == 0:
        raise ValueError(f"{what} is empty")
    return X, labels


def validation_split(
    X: np.ndarray,  # noqa: N803
    y: np.ndarray,
    X_val: np.ndarray | None,  # noqa: N803
    y_val: Sequence[object] | np.ndarray | None,
    seed: int,
    share: float = 0.1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(X, y, X_val, y_val)``: the given validation set, or `share` of X (seeded).

    Raises
    ------
    ValueError
        Only one of `X_val`, `y_val` given, or a training set too small to split.
    """
    if (X_val is None) != (y_val is None):
        raise ValueError("give both X_val and y_val, or neither")
    if X_val is not None and y_val is not None:
        X_val, y_val = check_training_data(X_val, y_val, "X_val")  # noqa: N806
        return X, y, X_val, y_val
    if X.shape[0] < 2:
        raise ValueError("need at least 2 training images to hold some out for validation")
    order = np.random.default_rng(seed).permutation(X.shape[0])
    count = max(1, round(share * X.shape[0]))
    held, kept = order[:count], order[count:]
    return X[kept], y[kept], X[held], y[held]
