"""How far field confidences can be trusted, and a calibration that makes them trustworthy.

A field is *correct* when its text equals the truth (:func:`medocr.evaluate.metrics.comparable`).
Given confidences and correctness of many fields:

- :func:`reliability` / :func:`expected_calibration_error`: does 0.9 mean right 9 times in 10?
- :func:`accuracy_coverage`: the error rate of the accepted fields as the threshold moves;
- :func:`automation_rate`: the largest share of fields that can be accepted while the
  accepted ones keep an error rate <= a target (1% by default), and the threshold for it.

:func:`fit_calibration` fits, per field kind, an isotonic map from raw confidence to the
observed probability of being correct (on a validation set), plus the thresholds that
reach 0.5%, 1% and 2% error; the :class:`~medocr.calibration.Calibration` is stored as
``calibration.json`` in the recognizer bundle and the pipeline applies it (the applied model
lives in :mod:`medocr.calibration`, below the pipeline; it is re-exported here).

Empty and written fields of one kind do not share a curve: a blank interval box read as
blank is right far more often than a written one read at the same raw confidence, and
one curve for both accepted written fields with several times the target error. Given
the texts read, each kind is fitted as ``KIND:empty`` (nothing read) and ``KIND:written``
(see :func:`calibration_key`); the plain ``KIND`` entry stays as the fallback for a
state with too few validation fields.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medocr.calibration import CALIBRATION_FILE, Calibration, KindCalibration, calibration_key

__all__ = [
    "CALIBRATION_FILE",
    "ERROR_TARGETS",
    "Calibration",
    "KindCalibration",
    "accuracy_coverage",
    "automation_rate",
    "calibration_key",
    "expected_calibration_error",
    "fit_calibration",
    "reliability",
]

#: Error rates of accepted fields the thresholds are fitted for.
ERROR_TARGETS = (0.005, 0.01, 0.02)


def _arrays(confidences: Any, correct: Any) -> tuple[np.ndarray, np.ndarray]:
    conf = np.asarray(confidences, dtype=np.float64).reshape(-1)
    right = np.asarray(correct, dtype=bool).reshape(-1)
    if conf.shape != right.shape:
        raise ValueError(f"{conf.size} confidences but {right.size} correctness flags")
    if conf.size and (not np.isfinite(conf).all() or conf.min() < 0 or conf.max() > 1):
        raise ValueError("confidences must be finite and within 0..1")
    return conf, right


def reliability(confidences: Any, correct: Any, bins: int = 10) -> list[dict[str, float]]:
    """Bin fields by confidence and compare each bin's mean confidence with its accuracy.

    Parameters
    ----------
    confidences : array-like
        ``(N,)`` values in 0..1.
    correct : array-like
        ``(N,)`` booleans.
    bins : int
        Equal-width bins over 0..1 (the last one includes 1.0).

    Returns
    -------
    list of dict
        Non-empty bins: ``low``, ``high``, ``count``, ``confidence`` (mean), ``accuracy``.
    """
    conf, right = _arrays(confidences, correct)
    index = np.minimum((conf * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        mask = index == b
        if mask.any():
            out.append({
                "low": b / bins,
                "high": (b + 1) / bins,
                "count": int(mask.sum()),
                "confidence": float(conf[mask].mean()),
                "accuracy": float(right[mask].mean()),
            })  # fmt: skip
    return out


def expected_calibration_error(confidences: Any, correct: Any, bins: int = 10) -> float:
    """Mean |accuracy - confidence| over the bins, weighted by their share of fields."""
    conf, _ = _arrays(confidences, correct)
    if conf.size == 0:
        return 0.0
    return float(
        sum(b["count"] * abs(b["accuracy"] - b["confidence"]) for b in reliability(
            confidences, correct, bins)) / conf.size
    )  # fmt: skip


def accuracy_coverage(confidences: Any, correct: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accept the most confident fields first: error rate of the accepted vs their share.

    Returns
    -------
    coverage : numpy.ndarray
        ``(K,)`` share of fields accepted (increasing), one point per distinct confidence.
    error : numpy.ndarray
        ``(K,)`` error rate among the accepted fields.
    threshold : numpy.ndarray
        ``(K,)`` the confidence threshold giving that point (accept ``>= threshold``).
    """
    conf, right = _arrays(confidences, correct)
    if conf.size == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    order = np.argsort(-conf, kind="stable")
    conf, wrong = conf[order], ~right[order]
    errors = np.cumsum(wrong)
    counts = np.arange(1, conf.size + 1)
    last = np.r_[conf[1:] != conf[:-1], True]  # ties are accepted together
    return counts[last] / conf.size, errors[last] / counts[last], conf[last]


def automation_rate(confidences: Any, correct: Any, max_error: float = 0.01) -> tuple[float, float]:
    """Largest share of fields acceptable with accepted error <= `max_error`.

    Returns
    -------
    share : float
        0..1 (0 when even the most confident fields err too often).
    threshold : float
        Confidence to accept at (``inf`` when `share` is 0).
    """
    coverage, error, threshold = accuracy_coverage(confidences, correct)
    ok = np.flatnonzero(error <= max_error)
    if ok.size == 0:
        return 0.0, float("inf")
    best = ok[-1]
    return float(coverage[best]), float(threshold[best])


def _isotonic(conf: np.ndarray, right: np.ndarray) -> tuple[list[float], list[float]]:
    from sklearn.isotonic import IsotonicRegression

    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    model.fit(conf, right.astype(np.float64))
    return [float(x) for x in model.X_thresholds_], [float(y) for y in model.y_thresholds_]


def fit_calibration(
    kinds: list[str],
    confidences: Any,
    correct: Any,
    *,
    source: str = "",
    min_fields: int = 20,
    texts: list[str] | None = None,
) -> Calibration:
    """Fit a :class:`Calibration` on validation fields.

    Parameters
    ----------
    kinds : list of str
        ``(N,)`` field kind of each field.
    confidences, correct : array-like
        ``(N,)`` raw confidences and correctness.
    source : str
        Description of the validation data, recorded.
    min_fields : int
        Kinds (and states) with fewer fields keep raw confidences (no entry).
    texts : list of str, optional
        ``(N,)`` texts read: each kind is then also fitted per state, ``KIND:empty`` and
        ``KIND:written`` (:func:`calibration_key`).

    Returns
    -------
    Calibration
    """
    conf, right = _arrays(confidences, correct)
    masks = _group_masks(kinds)
    if texts is not None:
        masks |= _group_masks([calibration_key(k, t) for k, t in zip(kinds, texts, strict=True)])
    fitted = {}
    for kind, mask in sorted(masks.items()):
        if mask.sum() < min_fields:
            continue
        x, y = _isotonic(conf[mask], right[mask])
        calibrated = np.interp(conf[mask], x, y)
        thresholds: dict[str, float | None] = {}
        for target in ERROR_TARGETS:
            threshold = automation_rate(calibrated, right[mask], target)[1]
            thresholds[f"{target:g}"] = threshold if np.isfinite(threshold) else None
        fitted[kind] = KindCalibration(x, y, thresholds, int(mask.sum()))
    return Calibration(fitted, source)


def _group_masks(keys: list[str]) -> dict[str, np.ndarray]:
    """Boolean mask ``(N,)`` of each distinct key over `keys`."""
    labels = np.asarray(keys)
    return {key: labels == key for key in set(keys)}
