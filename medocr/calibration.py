"""A recognizer bundle's confidence calibration, as the pipeline applies it.

A :class:`Calibration` maps the raw confidence of a field to the probability that it is
right, per field kind (and per state, ``KIND:empty`` / ``KIND:written``, see
:func:`calibration_key`), and holds the thresholds that keep the accepted fields under an
error target. It is stored as ``calibration.json`` (:data:`CALIBRATION_FILE`) in the
recognizer bundle. Fitting it, and measuring how trustworthy confidences are, is
evaluation's work: :mod:`medocr.evaluate.calibration` (which re-exports these names).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CALIBRATION_FILE", "Calibration", "KindCalibration", "calibration_key"]

CALIBRATION_FILE = "calibration.json"
"""Name of the calibration file in a recognizer bundle."""


def calibration_key(kind: str, text: str) -> str:
    """``KIND:empty`` when nothing was read (blank or whitespace), else ``KIND:written``."""
    return f"{kind}:{'written' if text.strip() else 'empty'}"


@dataclass(frozen=True)
class KindCalibration:
    """Calibration of one field kind: an isotonic map and thresholds per error target.

    Parameters
    ----------
    x, y : list of float
        Knots of the increasing map raw confidence -> probability of being correct
        (linear in between, clipped outside).
    thresholds : dict of str to float or None
        Calibrated confidence to accept at, per accepted-error target (``"0.01"``...);
        None when no threshold keeps the accepted fields under that error (never accept).
    fields : int
        Validation fields it was fitted on.
    """

    x: list[float]
    y: list[float]
    thresholds: dict[str, float | None]
    fields: int

    def apply(self, confidence: float) -> float:
        """Calibrated confidence of a raw one."""
        if not self.x:
            return confidence
        return float(np.interp(confidence, self.x, self.y))


@dataclass(frozen=True)
class Calibration:
    """Per field kind calibration, stored as ``calibration.json`` in a recognizer bundle."""

    kinds: dict[str, KindCalibration]
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def _model(self, kind: str, text: str | None) -> KindCalibration | None:
        """Return the entry of `kind` in the state of `text` (empty/written), else of `kind`."""
        if text is not None:
            model = self.kinds.get(calibration_key(kind, text))
            if model is not None:
                return model
        return self.kinds.get(kind)

    def apply(self, kind: str, confidence: float, text: str | None = None) -> float:
        """Calibrated confidence of a field of `kind` that read `text`.

        Unchanged for kinds it was not fitted on. With `text`, the entry of its state
        (``KIND:empty`` / ``KIND:written``) is used when fitted.
        """
        model = self._model(kind, text)
        return model.apply(confidence) if model else confidence

    def threshold(
        self, kind: str, max_error: float = 0.01, text: str | None = None
    ) -> float | None:
        """Calibrated confidence to accept at for `max_error` (state of `text` as in :meth:`apply`).

        None when the kind was not fitted for that target; ``inf`` (never accept) when no
        threshold kept the validation fields under `max_error`.
        """
        model = self._model(kind, text)
        key = f"{max_error:g}"
        if model is None or key not in model.thresholds:
            return None
        value = model.thresholds[key]
        return float("inf") if value is None else value

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return {
            "format": "medocr-calibration/1",
            "source": self.source,
            "extra": self.extra,
            "kinds": {k: vars(v) for k, v in self.kinds.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        """Inverse of :meth:`to_dict`."""
        if data.get("format") != "medocr-calibration/1":
            raise ValueError(f"not a medocr calibration (format {data.get('format')!r})")
        kinds = {k: KindCalibration(**v) for k, v in data["kinds"].items()}
        return cls(kinds, str(data.get("source", "")), dict(data.get("extra", {})))

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        """Read a ``calibration.json``."""
        return cls.from_dict(json.loads(Path(path).read_text("utf-8")))
