"""Reading configuration: one frozen dataclass, loadable from JSON or YAML.

Every option has a documented default, so ``PipelineConfig()`` reads the shipped French
death certificate with the shipped recognizer and lexicon, offline.

Every option is checked, from a file or from Python alike, by one rule per field
(:data:`_RULES`): a value of the wrong type or out of range is a :class:`ValueError`
naming the option, the value and what is expected, never a silent conversion (a string
``"false"`` is not a boolean, ``2.7`` is not a beam width).
"""

from __future__ import annotations

import json
import math
import numbers
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from medocr.types import FIELD_KINDS

#: Confidence a field kind needs to be accepted without review. Raw (uncalibrated)
#: decoder posteriors run high, so the defaults are strict.
DEFAULT_THRESHOLDS = {"cause": 0.9, "interval": 0.9, "checkbox": 0.9, "date": 0.9, "text": 0.9}
CAUSE_DECODERS = ("wordbeam", "beam", "greedy")
BACKENDS = ("auto", "tensorflow", "onnx")
MAX_ERRORS = (0.005, 0.01, 0.02)


@dataclass(frozen=True)
class PipelineConfig:
    """How :class:`medocr.pipeline.Pipeline` reads a certificate.

    Every value is checked when the config is made (constructor, :meth:`from_dict`,
    :meth:`from_file`, :meth:`with_options`); the ranges below are enforced.

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
    lm_weight : float
        Scale of the bigram log-probabilities in word beam search; finite, >= 0.
    oov_penalty : float or None
        Word beam search log-penalty per letter of a word the lexicon does not have;
        finite, <= 0. None forbids such words (causes are then read as lexicon words
        only). See :func:`medocr.decode.word_beam_search`.
    beam_width : int
        Prefixes kept per frame by the beam decoders, 1..1024.
    n_best : int
        Readings kept as alternatives (and used for the confidence), 1..1024; a beam
        decoder returns at most `beam_width` of them.
    deskew : bool
        Straighten the page before registration.
    min_registration_score : float
        Pages matching the template worse than this are refused (0..1).
    thresholds : dict of str to float
        Per field kind, the confidence (0..1) needed for route ``accept``. Kinds not given
        take the threshold of the bundle's calibration (at `max_error`) when there is one,
        else :data:`DEFAULT_THRESHOLDS`.
    calibrate : bool
        Apply the recognizer bundle's ``calibration.json`` (when it has one) to the
        confidences; False reports raw decoder posteriors.
    max_error : float
        Error rate of accepted fields that the calibrated thresholds aim at
        (0.005, 0.01 or 0.02).
    checkbox_ink : float
        Share of dark pixels inside a checkbox above which it counts as ticked; strictly
        between 0 and 1.
    line_padding : tuple of float
        ``(x, y)`` paper added around each cut line, as fractions of the line's height
        (each 0..10), before recognition: the recognizer was trained on lines framed with
        paper, and tight cuts read worse (measured on synthetic certificates: 0.3 of the
        height above and below lowered greedy CER from 58% to 39%).
    empty_ink : int
        Handwriting pixels (>= 1) under which a field with no segmented line is surely
        empty: the confidence of an empty reading falls linearly from 1 at 0 pixels to 0
        here.
    batch_size : int
        Lines per recognizer call, 1..4096.
    strict : bool
        Raise on the first failing field instead of recording its error.

    Raises
    ------
    ValueError
        A value of the wrong type or out of range, naming every bad option. Booleans must
        be real booleans (JSON ``true``/``false``), integers real integers (``16``, not
        ``16.0`` nor ``true``), numbers ints or floats (not strings nor booleans).
    """

    template: str | None = None
    model: str = "fr-crnn-small"
    backend: str = "auto"
    lexicon: str | None = None
    cause_decoder: str = "wordbeam"
    use_bigram: bool = True
    lm_weight: float = 0.3
    oov_penalty: float | None = -1.5
    beam_width: int = 64
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
        problems = []
        for option in fields(self):
            try:
                value = _RULES[option.name](option.name, getattr(self, option.name))
            except ValueError as exc:
                problems.append(str(exc))
            else:
                object.__setattr__(self, option.name, value)
        if problems:
            raise ValueError("; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<dict>") -> PipelineConfig:
        """Build a config from a mapping; unknown keys and bad values name `source`."""
        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: a pipeline config must be a mapping, got {_shown(data)}")
        known = {f.name for f in fields(cls)}
        unknown = sorted((k for k in data if k not in known), key=repr)
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

        An empty YAML file gives the defaults.

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
        return cls.from_dict({} if data is None else data, str(path))

    def with_options(self, **options: Any) -> PipelineConfig:
        """Return a copy with some options changed (unknown names are an error)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(
                f"unknown pipeline options {unknown}; known: {', '.join(sorted(known))}"
            )
        return replace(self, **options)


# --- validation rules: one per field, each (name, value) -> normalised value ----------------

_Rule = Callable[[str, Any], Any]


def _shown(value: Any) -> str:
    """`value` as an error message shows it: its repr (shortened) and its type."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _is_number(value: Any) -> bool:
    """Tell whether `value` is an int or float (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _boolean() -> _Rule:
    """Require a real bool: the strings "false" or "no" are refused, not read as true."""

    def check(name: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError(
                f"{name} must be a boolean (true or false, unquoted), got {_shown(value)}"
            )
        return value

    return check


def _integer(low: int, high: int | None = None) -> _Rule:
    """Require an int (Python or NumPy; not a bool, nor a float like 16.0) in range."""
    span = f">= {low}" if high is None else f">= {low} and <= {high}"

    def check(name: str, value: Any) -> int:
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            raise ValueError(f"{name} must be an integer {span}, got {_shown(value)}")
        value = int(value)
        if value < low or (high is not None and value > high):
            raise ValueError(f"{name} must be {span}, got {value}")
        return value

    return check


def _number(
    low: float = -math.inf,
    high: float = math.inf,
    *,
    open_low: bool = False,
    open_high: bool = False,
) -> _Rule:
    """Require a finite int or float (not a bool nor a string) within the bounds."""
    if low > -math.inf and high < math.inf and not (open_low or open_high):
        limits = f"within {low:g}..{high:g}"
    else:
        bounds = []
        if low > -math.inf:
            bounds.append(f"{'>' if open_low else '>='} {low:g}")
        if high < math.inf:
            bounds.append(f"{'<' if open_high else '<='} {high:g}")
        limits = " and ".join(bounds)

    def check(name: str, value: Any) -> float:
        if not _is_number(value):
            raise ValueError(f"{name} must be a number {limits}, got {_shown(value)}")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number {limits}, got {value}")
        if (value <= low if open_low else value < low) or (
            value >= high if open_high else value > high
        ):
            raise ValueError(f"{name} must be {limits}, got {value!r}")
        return value

    return check


def _optional(rule: _Rule, meaning: str) -> _Rule:
    """Allow None (meaning `meaning`) besides what `rule` accepts."""

    def check(name: str, value: Any) -> Any:
        if value is None:
            return None
        try:
            return rule(name, value)
        except ValueError as exc:
            raise ValueError(f"{exc}; null is also allowed ({meaning})") from None

    return check


def _choice(options: tuple[Any, ...]) -> _Rule:
    """Require one of `options`, of the same kind (a string, or a number)."""
    listed = ", ".join(str(o) for o in options)

    def check(name: str, value: Any) -> Any:
        for option in options:
            # Kinds must agree: True is not 1, and "0.01" is not 0.01.
            alike = _is_number(value) if _is_number(option) else isinstance(value, type(option))
            if alike and value == option:
                return option
        raise ValueError(f"{name} must be one of {listed}, got {_shown(value)}")

    return check


def _text() -> _Rule:
    """Require a non-empty string; a path object is turned into one."""

    def check(name: str, value: Any) -> str:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must be a non-empty string, got {_shown(value)}")
        return value

    return check


def _pair(item: _Rule) -> _Rule:
    """Require a list or tuple of two values, each checked by `item`; give a tuple."""

    def check(name: str, value: Any) -> tuple[Any, Any]:
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise ValueError(f"{name} must be a list of two numbers [x, y], got {_shown(value)}")
        return (item(f"{name}[0]", value[0]), item(f"{name}[1]", value[1]))

    return check


def _thresholds(item: _Rule) -> _Rule:
    """Require a mapping of known field kinds to values checked by `item`; give a dict."""

    def check(name: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ValueError(
                f"{name} must be a mapping of field kind to number, e.g. "
                f'{{"cause": 0.95}}, got {_shown(value)}'
            )
        unknown = sorted((k for k in value if k not in FIELD_KINDS), key=repr)
        if unknown:
            raise ValueError(
                f"{name} for unknown field kinds {unknown}; kinds: {', '.join(FIELD_KINDS)}"
            )
        return {kind: item(f"threshold for {kind}", v) for kind, v in value.items()}

    return check


_UNIT = _number(0.0, 1.0)

#: The check of every :class:`PipelineConfig` field, in one place.
_RULES: dict[str, _Rule] = {
    "template": _optional(_text(), "the shipped template"),
    "model": _text(),
    "backend": _choice(BACKENDS),
    "lexicon": _optional(_text(), "the shipped lexicon"),
    "cause_decoder": _choice(CAUSE_DECODERS),
    "use_bigram": _boolean(),
    "lm_weight": _number(0.0),
    "oov_penalty": _optional(_number(high=0.0), "words outside the lexicon forbidden"),
    "beam_width": _integer(1, 1024),
    "n_best": _integer(1, 1024),
    "deskew": _boolean(),
    "min_registration_score": _UNIT,
    "thresholds": _thresholds(_UNIT),
    "calibrate": _boolean(),
    "max_error": _choice(MAX_ERRORS),
    "checkbox_ink": _number(0.0, 1.0, open_low=True, open_high=True),
    "line_padding": _pair(_number(0.0, 10.0)),
    "empty_ink": _integer(1),
    "batch_size": _integer(1, 4096),
    "strict": _boolean(),
}
