"""Character classifiers (the design card's baselines) and the segmentation path.

- :class:`HogLgbmClassifier`: HOG features + LightGBM multiclass (bundle kind ``hog-lgbm``);
- :class:`CnnClassifier`: a small Keras CNN trained with augmentation (kind ``char-cnn``);
- :func:`load_classifier`: load either from a bundle folder;
- :func:`read_line_by_chars`: line or field image -> character segmentation -> classifier
  probabilities -> :func:`medocr.decode.lexicon_search` -> :class:`~medocr.types.Hypothesis`.

Both classifiers share one interface: ``fit(X, y, X_val=None, y_val=None, *, seed,
progress)``, ``predict_proba(X) -> (N, C)``, ``predict(X)``, ``evaluate(X, y)``,
``save(folder)`` and ``load(folder)``, with ``X`` uint8 ``(N, H, W)`` characters (dark
ink on light paper, any size; :func:`medocr.classify.data.normalize_chars` puts them
into the model's square) and ``classes`` the column order. Attributes load lazily:
``import medocr.classify`` imports neither LightGBM nor TensorFlow.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from medocr._lazy import lazy_attributes
from medocr.bundles import read_meta, resolve
from medocr.errors import ModelError

if TYPE_CHECKING:
    from medocr.classify.base import CharClassifier

_LAZY = {
    "CharClassifier": "medocr.classify.base",
    "HogLgbmClassifier": "medocr.classify.hog_lgbm",
    "CnnClassifier": "medocr.classify.cnn",
    "CnnConfig": "medocr.classify.cnn",
    "HogParams": "medocr.classify.features",
    "hog_features": "medocr.classify.features",
    "CharData": "medocr.classify.data",
    "normalize_chars": "medocr.classify.data",
    "load_mnist_digits": "medocr.classify.data",
    "load_sklearn_digits": "medocr.classify.data",
    "load_char_dataset": "medocr.classify.train",
    "CharReading": "medocr.classify.segpath",
    "classifier_alphabet": "medocr.classify.segpath",
    "line_char_probs": "medocr.classify.segpath",
    "read_line_by_chars": "medocr.classify.segpath",
    "read_field_chars": "medocr.classify.segpath",
    "ClassifierTrainConfig": "medocr.classify.train",
    "train_classifier": "medocr.classify.train",
}
_LOADERS = {"hog-lgbm": "HogLgbmClassifier", "char-cnn": "CnnClassifier"}

__all__ = ["load_classifier", *sorted(_LAZY)]


def load_classifier(name_or_path: str | Path) -> CharClassifier:
    """Load a character classifier bundle of either kind, verifying its files.

    Parameters
    ----------
    name_or_path : str or Path
        Bundle folder (e.g. ``OUT/model`` of ``medocr train classifier``), or the name of
        a shipped bundle.

    Returns
    -------
    CharClassifier
        A :class:`HogLgbmClassifier` or a :class:`CnnClassifier`.

    Raises
    ------
    ModelError
        Not a bundle, altered files, or a bundle of another kind (e.g. a recognizer).
    """
    folder = resolve(name_or_path)
    kind = read_meta(folder).get("kind")
    if kind not in _LOADERS:
        raise ModelError(
            f"{folder}: bundle kind {kind!r} is not a character classifier "
            f"(expected one of {sorted(_LOADERS)})"
        )
    return __getattr__(_LOADERS[kind]).load(folder)


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
