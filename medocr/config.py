"""Reading configuration: one frozen dataclass, loadable from JSON or YAML.

Every option has a documented default, so ``PipelineConfig()`` reads the shipped French
death certificate with the shipped recognizer and lexicon, offline.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from medocr.types import FIELD_KINDS

#: Confidence a field kind needs to be accepted without review. Raw (uncalibrated)
#: decoder posteriors run high, so the defaults are strict.
DEFAULT_THRESHOLDS = {"cause": 0.9, "interval": 0.9, "checkbox": 0.9, "date": 0.9, "text": 0.9}
CAUSE_DECODERS = ("wordbeam", "beam", "greedy")
BACKENDS = ("auto", "tensorflow", "onnx")


@dataclass(frozen=True)
class PipelineConfig:
    """How :class:`medocr.pipeline.Pipeline` reads a certificate.

    Parameters
    ----------
    template : str or None
        Template id or JSON file; None = the shipped ``fr-deces-volet-medical``.
    model : str
        Recognizer bundle (shipped name or folder); default ``fr-crnn-small``.
    backend : str
        ``auto`` (ONNX Runtime when the bundle has ``model.onnx``), ``tensorflow`` or
        ``onnx``.
    lexicon : str or None
        Lexicon name or folder for the causes; None = the shipped ``fr-medical``.
    cause_decoder : str
        ``wordbeam`` (lexicon word beam search, default), ``beam`` (plain prefix beam)
        or ``greedy``.
    use_bigram : bool
        Score cause words with the lexicon's bigram model (word beam only).
    lm_weight, oov_penalty : float
        Word beam search settings (see :func:`medocr.decode.word_beam_search`).
    beam_width : int
        Prefixes kept per frame by the beam decoders.
    n_best : int
        Readings kept as alternatives (and used for the confidence).
    deskew : bool
        Straighten the page before registration.
    min_registration_score : float
        Pages matching the template worse than this are refused (0..1).
    thresholds : dict of str to float
        Per field kind, the confidence needed for route ``accept``. Kinds not given take
        the threshold of the bundle's calibration (at `max_error`) when there is one, else
        :data:`DEFAULT_THRESHOLDS`.
    calibrate : bool
        Apply the recognizer bundle's ``calibration.json`` (when it has one) to the
        confidences; False reports raw decoder posteriors.
    max_error : float
        Error rate of accepted fields that the calibrated thresholds aim at
        (0.005, 0.01 or 0.02).
    checkbox_ink : float
        Share of dark pixels inside a checkbox above which it counts as ticked.
    line_padding : tuple of float
        ``(x, y)`` paper added around each cut line, as fractions of the line's height,
        before recognition: the recognizer was trained on lines framed with paper, and
        tight cuts read worse (measured on synthetic certificates: 0.3 of the height
        above and below lowered greedy CER from 58% to 39%).
    empty_ink : int
        Handwriting pixels under which a field with no segmented line is surely empty:
        the confidence of an empty reading falls linearly from 1 at 0 pixels to 0 here.
    batch_size : int
        Lines per recognizer call.
    strict : bool
        Raise on the first failing field instead of recording its error.
    """

    template: str | None = None
    model: str = "fr-crnn-small"
    backend: str = "auto"
    lexicon: str | None = None
    cause_decoder: str = "wordbeam"
    use_bigram: bool = True
    lm_weight: float = 0.3
    oov_penalty: float = -1.5
    beam_width: int = 16
    n_best: int = 5
    deskew: bool = True
    min_registration_score: float = 0.6
    thresholds: dict[str, float] = field(default_factory=dict)
    calibrate: bool = True
    max_error: float = 0.01
    checkbox_ink: float = 0.06
    line_padding: tuple[float, float] = (0.5, 0.3)
    empty_ink: int = 400
    batch_size: int = 64
    strict: bool = False

    def __post_init__(self) -> None:
        if self.cause_decoder not in CAUSE_DECODERS:
            raise ValueError(
                f"cause_decoder must be one of {', '.join(CAUSE_DECODERS)}, "
                f"got {self.cause_decoder!r}"
            )
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        unknown = sorted(set(self.thresholds) - set(FIELD_KINDS))
        if unknown:
            raise ValueError(
                f"thresholds for unknown field kinds {unknown}; kinds: {', '.join(FIELD_KINDS)}"
            )
        given = {k: float(v) for k, v in self.thresholds.items()}
        for kind, value in given.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"threshold for {kind} must be within 0..1, got {value}")
        object.__setattr__(self, "thresholds", given)
        if self.max_error not in (0.005, 0.01, 0.02):
            raise ValueError(f"max_error must be 0.005, 0.01 or 0.02, got {self.max_error}")
        padding = tuple(float(v) for v in self.line_padding)
        if len(padding) != 2 or min(padding) < 0:
            raise ValueError(f"line_padding must be two fractions >= 0, got {self.line_padding}")
        object.__setattr__(self, "line_padding", padding)
        for name in ("beam_width", "n_best", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> PipelineConfig:
        """Build a config from a mapping; unknown keys are an error naming `source`."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: a pipeline config must be a mapping, got {type(data)}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"{source}: unknown config keys {unknown}; known: {', '.join(sorted(known))}"
            )
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from exc

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> PipelineConfig:
        """Load a config from a ``.json``, ``.yaml`` or ``.yml`` file.

        Raises
        ------
        ValueError
            Unreadable file, syntax error, or bad keys/values; the message names the file.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: cannot read the pipeline config ({exc})") from exc
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise ValueError(f"{path}: not valid YAML ({exc})") from exc
        else:
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: not valid JSON ({exc})") from exc
        return cls.from_dict(data or {}, str(path))

    def with_options(self, **options: Any) -> PipelineConfig:
        """Return a copy with some options changed (unknown names are an error)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(
                f"unknown pipeline options {unknown}; known: {', '.join(sorted(known))}"
            )
        return replace(self, **options)
