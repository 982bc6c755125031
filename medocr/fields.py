"""Field readers: one public reader per field kind, from a field's recognized lines to its result.

The pipeline registers the page, cuts each field into lines and runs the recognizer; what
is left is per kind, and each kind has its reader:

- :class:`CauseReader`: lexicon word beam search (with the lexicon's bigram model), or a
  plain prefix beam, or greedy decoding;
- :class:`IntervalReader` and :class:`DateReader`: beam readings ranked against the
  duration and date grammars (:mod:`medocr.grammar`), :class:`GrammarReader`;
- :class:`PlainReader`: prefix beam search, for free text;
- :class:`CheckboxReader`: the ink inside the printed box.

Every reader follows :class:`FieldReader`: it reads a :class:`FieldInput` (the field's crop,
its lines, their frame probabilities and the handwriting ink found) into a
:class:`~medocr.types.FieldResult`, and tells the settings it reads with
(:meth:`FieldReader.settings`), which :class:`~medocr.pipeline.Pipeline` records in
``CertificateResult.steps``. Readers get what they need when they are made (decoder
parameters, lexicon, grammar spellings, a :class:`Routing`) and keep no state between
fields.

>>> from medocr.fields import CheckboxReader, FieldInput, Routing
>>> reader = CheckboxReader(Routing(), ink_threshold=0.06)
>>> reader.read(FieldInput(crop)).text                       # doctest: +SKIP
'X'

A field is routed by :class:`Routing`: its raw confidence goes through the recognizer
bundle's calibration (when there is one) and is compared with the threshold of its kind.
"""

from __future__ import annotations

import hashlib
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from medocr.config import CAUSE_DECODERS, DEFAULT_THRESHOLDS, PipelineConfig
from medocr.types import (
    Box,
    EncodedLine,
    FieldCrop,
    FieldResult,
    FrameProbs,
    Hypothesis,
    LineImage,
    LineResult,
    Route,
)

#: Grammar spellings nearest to each beam reading that are ranked exactly.
GRAMMAR_SHORTLIST = 24
#: How much less likely (natural log) than the beam's reading the best grammar reading
#: may be before the field is taken as written outside the grammar.
OUT_OF_GRAMMAR_NATS = 8.0

_DEFAULTS = PipelineConfig()
#: A grammar of :mod:`medocr.grammar`: its candidate spellings and its parser.
_Grammar = tuple[Callable[[], Sequence[str]], Callable[[str], Any]]


@dataclass(frozen=True, eq=False)
class FieldInput:
    """What a reader reads: one field, cut into lines and recognized.

    Parameters
    ----------
    crop : FieldCrop
        The field's pixels (a checkbox reader looks at these only).
    lines : tuple of LineImage
        The handwritten lines found in the field, top to bottom; empty when none was found.
    probs : tuple of FrameProbs or EncodedLine
        The recognizer's output for each line (same order): ``(T, C)`` frame
        probabilities from a CTC recognizer, or the encoded line an attention recognizer
        gives (readers decode either with their family's decoders).
    ink_pixels : int
        Handwriting pixels found in the field (>= 0): how sure an empty reading is.

    Raises
    ------
    ValueError
        `probs` and `lines` differ in length, or `ink_pixels` is negative.
    """

    crop: FieldCrop
    lines: tuple[LineImage, ...] = ()
    probs: tuple[FrameProbs | EncodedLine, ...] = ()
    ink_pixels: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", tuple(self.lines))
        object.__setattr__(self, "probs", tuple(self.probs))
        if len(self.probs) != len(self.lines):
            raise ValueError(
                f"field {self.crop.name}: {len(self.lines)} lines but "
                f"{len(self.probs)} frame probabilities"
            )
        if self.ink_pixels < 0:
            raise ValueError(
                f"field {self.crop.name}: ink_pixels must be >= 0, got {self.ink_pixels}"
            )


@runtime_checkable
class FieldReader(Protocol):
    """Reads one kind of field (see the module docstring for the readers medocr has)."""

    @property
    def kind(self) -> str:
        """The field kind read (one of :data:`medocr.types.FIELD_KINDS`)."""
        ...

    def read(self, item: FieldInput) -> FieldResult:
        """Read a field of this reader's kind: text, calibrated confidence, route."""
        ...

    def settings(self) -> dict[str, Any]:
        """Return the effective settings, JSON-ready (recorded in ``CertificateResult.steps``)."""
        ...


class Calibrator(Protocol):
    """What routing needs of a calibration (:class:`medocr.calibration.Calibration`)."""

    def apply(self, kind: str, confidence: float, text: str | None = None) -> float:
        """Calibrated confidence of a raw one."""
        ...

    def threshold(
        self, kind: str, max_error: float = 0.01, text: str | None = None
    ) -> float | None:
        """Calibrated confidence to accept at; None when not fitted, inf for never."""
        ...


@dataclass(frozen=True)
class Routing:
    """Turns a field's raw confidence into a calibrated one and a route.

    Parameters
    ----------
    thresholds : mapping of str to float
        Per field kind, the confidence needed for ``accept``; these win over the
        calibration's.
    calibration : Calibrator or None
        Applied to raw confidences; its thresholds (at `max_error`) serve the kinds
        `thresholds` does not name. None: raw confidences, :data:`DEFAULT_THRESHOLDS`.
    max_error : float
        Error rate of accepted fields the calibrated thresholds aim at.
    """

    thresholds: Mapping[str, float] = field(default_factory=dict)
    calibration: Calibrator | None = None
    max_error: float = _DEFAULTS.max_error

    def threshold(self, kind: str, text: str | None = None) -> float:
        """Confidence a field of `kind` that read `text` needs for ``accept``.

        A threshold of `thresholds` wins; else the calibration's for the field's state
        (empty or written, when fitted) at `max_error` (``inf``: never accept); else
        :data:`DEFAULT_THRESHOLDS` (1.0 for a kind it lacks).
        """
        if kind in self.thresholds:
            return self.thresholds[kind]
        fitted = (
            self.calibration.threshold(kind, self.max_error, text)
            if self.calibration is not None
            else None
        )
        return fitted if fitted is not None else DEFAULT_THRESHOLDS.get(kind, 1.0)

    def confidence(self, kind: str, raw: float, text: str) -> float:
        """Calibrated confidence of a field of `kind` that read `text` with `raw` (0..1)."""
        return self.calibration.apply(kind, raw, text) if self.calibration is not None else raw

    def route(self, kind: str, confidence: float, text: str) -> Route:
        """``accept`` when `confidence` reaches the threshold, else ``review``."""
        return "accept" if confidence >= self.threshold(kind, text) else "review"

    def settings(self, kind: str) -> dict[str, Any]:
        """Return the thresholds used for `kind`, empty and written (None: never accepted)."""
        used = {"empty": self.threshold(kind, ""), "written": self.threshold(kind, "x")}
        return {
            "accept_at": {k: v if math.isfinite(v) else None for k, v in used.items()},
            "calibrated": self.calibration is not None,
        }


@dataclass(frozen=True)
class LineGeometry:
    """How cut lines reach the recognizer, to map its frames back to page pixels.

    Parameters
    ----------
    height : int
        The recognizer's input height in pixels.
    padding : tuple of float
        ``(x, y)`` paper added around each line before recognition, as fractions of its
        height (:func:`frame_line`).
    """

    height: int
    padding: tuple[float, float] = _DEFAULTS.line_padding

    def word_boxes(
        self, hyp: Hypothesis, line: LineImage, frames: int | None = None
    ) -> tuple[tuple[str, Box], ...]:
        """Word boxes in page pixels from the character frame spans of `hyp`.

        The recognizer sees the line framed by :func:`frame_line` (`padding`), scaled to
        `height` pixels, and emits one frame per ``WIDTH_REDUCTION`` input columns;
        given the line's number of `frames`, they are spread over the framed line
        instead (a dense line is read widened: ``Recognizer.predict``). Empty when `hyp`
        has no character spans.
        """
        from medocr.recognize.crnn import WIDTH_REDUCTION

        if len(hyp.chars) != len(hyp.text) or not hyp.text.strip():
            return ()
        x0, y0, x1, y1 = line.bbox
        h, w = line.image.shape
        framed_h = h + 2 * round(self.padding[1] * h)
        # Frames -> framed-line columns -> line-image columns -> page columns.
        scale = (x1 - x0) / max(1, w)
        if frames:
            framed_w = w + 2 * round(self.padding[0] * h)
            px_per_frame = framed_w / frames * scale
        else:
            px_per_frame = WIDTH_REDUCTION * framed_h / self.height * scale
        x0 -= round(self.padding[0] * h) * scale
        out = []
        start = None
        for index, char in enumerate([*hyp.chars, None]):
            if char is not None and char.char != " ":
                start = index if start is None else start
                continue
            if start is not None:
                spans = hyp.chars[start:index]
                left = max(line.bbox[0], int(x0 + min(s.start_frame for s in spans) * px_per_frame))
                right = int(math.ceil(x0 + max(s.end_frame for s in spans) * px_per_frame))
                word = "".join(s.char for s in spans)
                out.append((word, (min(left, x1 - 1), y0, min(max(right, left + 1), x1), y1)))
                start = None
        return tuple(out)


# --- text readers ----------------------------------------------------------------------------


class TextReader(ABC):
    """A reader of handwritten lines: decodes each line, joins them, routes the field.

    Parameters
    ----------
    routing : Routing
        Calibration and thresholds.
    geometry : LineGeometry
        How lines were framed and scaled (for word boxes).
    empty_ink : int
        Handwriting pixels (>= 1) under which a field with no line is surely empty: the
        confidence of an empty reading falls linearly from 1 at 0 pixels to 0 here.
    """

    #: The field kind read.
    kind: str = ""
    #: True when a text must parse to a value (else the field goes to review).
    needs_value: bool = False

    def __init__(
        self, routing: Routing, geometry: LineGeometry, *, empty_ink: int = _DEFAULTS.empty_ink
    ) -> None:
        if empty_ink < 1:
            raise ValueError(f"empty_ink must be >= 1, got {empty_ink}")
        self.routing = routing
        self.geometry = geometry
        self.empty_ink = empty_ink

    @abstractmethod
    def decode(self, probs: FrameProbs | EncodedLine) -> Hypothesis:
        """Read one line from its frame probabilities (CTC) or its encoding (attention)."""

    @abstractmethod
    def decoder_settings(self) -> dict[str, Any]:
        """Return the decoder and its parameters (JSON-ready)."""

    def value(self, text: str) -> dict[str, Any] | None:
        """Return the normalised value of a reading (duration, date), None if it has none."""
        return None

    def settings(self) -> dict[str, Any]:
        """Return decoder, parameters, ``empty_ink`` and the thresholds used (JSON-ready)."""
        return {
            **self.decoder_settings(),
            "empty_ink": self.empty_ink,
            **self.routing.settings(self.kind),
        }

    def read(self, item: FieldInput) -> FieldResult:
        """Read a field: empty when it has no line, else its lines decoded and joined.

        Raises
        ------
        ValueError
            The field is not of this reader's kind.
        """
        _check_kind(self.kind, item, type(self).__name__)
        if not item.lines:
            return self._empty(item)
        return self._result(item, [self.decode(probs) for probs in item.probs])

    def _empty(self, item: FieldInput) -> FieldResult:
        raw = max(0.0, 1.0 - item.ink_pixels / self.empty_ink)
        confidence = self.routing.confidence(self.kind, raw, "")
        return FieldResult(
            item.crop.name,
            "",
            round(confidence, 6),
            self.routing.route(self.kind, confidence, ""),
            kind=self.kind,
            bbox=item.crop.bbox,
        )

    def _result(self, item: FieldInput, hypotheses: list[Hypothesis]) -> FieldResult:
        lines = tuple(
            LineResult(
                hyp.text,
                line.bbox,
                round(hypothesis_confidence(hyp), 6),
                self.geometry.word_boxes(
                    hyp, line, len(probs.probs) if isinstance(probs, FrameProbs) else None
                ),
            )
            for hyp, line, probs in zip(hypotheses, item.lines, item.probs, strict=True)
        )
        text = " ".join(line.text for line in lines if line.text)
        raw = float(np.prod([line.confidence for line in lines]))
        confidence = self.routing.confidence(self.kind, raw, text)
        value = self.value(text) if text else None
        parsed_ok = not self.needs_value or not text or value is not None
        route: Route = self.routing.route(self.kind, confidence, text) if parsed_ok else "review"
        if not all(math.isfinite(hyp.log_score) for hyp in hypotheses):
            # a line the decoder found no possible reading for (e.g. no lexicon word fits
            # with out-of-vocabulary words forbidden): never accepted, whatever calibration
            confidence, route = 0.0, "review"
        return FieldResult(
            item.crop.name,
            text,
            round(confidence, 6),
            route,
            _joined(hypotheses, text),
            None,
            self.kind,
            value,
            item.crop.bbox,
            lines,
        )


class PlainReader(TextReader):
    """Free text (kind ``text``): prefix beam search, no lexicon.

    Parameters
    ----------
    routing, geometry, empty_ink
        As :class:`TextReader`.
    beam_width, n_best : int
        Prefixes kept per frame and readings kept as alternatives.
    """

    kind = "text"

    def __init__(
        self,
        routing: Routing,
        geometry: LineGeometry,
        *,
        beam_width: int = _DEFAULTS.beam_width,
        n_best: int = _DEFAULTS.n_best,
        empty_ink: int = _DEFAULTS.empty_ink,
    ) -> None:
        super().__init__(routing, geometry, empty_ink=empty_ink)
        self.beam_width = beam_width
        self.n_best = n_best

    def decode(self, probs: FrameProbs | EncodedLine) -> Hypothesis:
        """Prefix beam search (:func:`medocr.decode.beam_search`, or its attention twin)."""
        from medocr.decode import attention_beam_search, beam_search

        if isinstance(probs, EncodedLine):
            return attention_beam_search(probs, self.beam_width, self.n_best)
        return beam_search(probs, self.beam_width, self.n_best)

    def decoder_settings(self) -> dict[str, Any]:
        """Return ``decoder``, ``beam_width`` and ``n_best``."""
        return {"decoder": "beam", "beam_width": self.beam_width, "n_best": self.n_best}


class CauseReader(TextReader):
    """Causes of death: lexicon word beam search (default), plain beam or greedy.

    Parameters
    ----------
    routing, geometry, empty_ink
        As :class:`TextReader`.
    decoder : str
        ``wordbeam``, ``beam`` or ``greedy``.
    lexicon : Lexicon or None
        The cause lexicon (needed by ``wordbeam``).
    lm : BigramModel or None
        Word bigram model scoring the words (``wordbeam`` only); None = no language model.
    beam_width, n_best : int
        Prefixes kept per frame and readings kept as alternatives (beam decoders).
    lm_weight : float
        Scale of the bigram log-probabilities.
    oov_penalty : float or None
        Log-penalty per letter of a word the lexicon lacks; None forbids such words.

    Raises
    ------
    ValueError
        Unknown decoder, or ``wordbeam`` without a lexicon.
    """

    kind = "cause"

    def __init__(
        self,
        routing: Routing,
        geometry: LineGeometry,
        *,
        decoder: str = _DEFAULTS.cause_decoder,
        lexicon: Any = None,
        lm: Any = None,
        beam_width: int = _DEFAULTS.beam_width,
        n_best: int = _DEFAULTS.n_best,
        lm_weight: float = _DEFAULTS.lm_weight,
        oov_penalty: float | None = _DEFAULTS.oov_penalty,
        empty_ink: int = _DEFAULTS.empty_ink,
    ) -> None:
        super().__init__(routing, geometry, empty_ink=empty_ink)
        if decoder not in CAUSE_DECODERS:
            raise ValueError(f"decoder must be one of {', '.join(CAUSE_DECODERS)}, got {decoder!r}")
        if decoder == "wordbeam" and lexicon is None:
            raise ValueError("the wordbeam decoder needs a lexicon")
        self.decoder = decoder
        self.lexicon = lexicon
        self.lm = lm if decoder == "wordbeam" else None
        self.beam_width = beam_width
        self.n_best = n_best
        self.lm_weight = lm_weight
        self.oov_penalty = oov_penalty

    def decode(self, probs: FrameProbs | EncodedLine) -> Hypothesis:
        """Read a cause line with the chosen decoder (of the line's recognizer family)."""
        from medocr.decode import beam_search, greedy, word_beam_search

        if isinstance(probs, EncodedLine):
            return self._decode_encoded(probs)
        if self.decoder == "greedy":
            return greedy(probs)
        if self.decoder == "beam":
            return beam_search(probs, self.beam_width, self.n_best)
        return word_beam_search(
            probs,
            self.lexicon,
            self.beam_width,
            lm=self.lm,
            lm_weight=self.lm_weight,
            oov_penalty=self.oov_penalty,
            n_best=self.n_best,
        )

    def _decode_encoded(self, line: EncodedLine) -> Hypothesis:
        """Read an encoded line with the attention twin of the chosen decoder."""
        from medocr.decode import (
            attention_beam_search,
            attention_greedy,
            attention_word_beam_search,
        )

        if self.decoder == "greedy":
            return attention_greedy(line)
        if self.decoder == "beam":
            return attention_beam_search(line, self.beam_width, self.n_best)
        return attention_word_beam_search(
            line,
            self.lexicon,
            self.beam_width,
            lm=self.lm,
            lm_weight=self.lm_weight,
            oov_penalty=self.oov_penalty,
            n_best=self.n_best,
        )

    def decoder_settings(self) -> dict[str, Any]:
        """Return the decoder and the parameters it uses (with the lexicon ref for wordbeam)."""
        if self.decoder == "greedy":
            return {"decoder": "greedy"}
        out: dict[str, Any] = {
            "decoder": self.decoder,
            "beam_width": self.beam_width,
            "n_best": self.n_best,
        }
        if self.decoder == "wordbeam":
            out["lexicon"] = getattr(self.lexicon, "ref", None)
            out["lm"] = "bigram" if self.lm is not None else None
            if self.lm is not None:
                out["lm_weight"] = self.lm_weight
            out["oov_penalty"] = self.oov_penalty
        return out


class GrammarReader(TextReader):
    """A field that follows a grammar: beam readings ranked against its spellings.

    The candidates are the beam readings that parse plus the grammar spellings nearest to
    the two best readings (:data:`GRAMMAR_SHORTLIST` each); they are ranked by exact CTC
    likelihood (:func:`medocr.decode.closed_list`). When even the best candidate is far
    less likely than the beam's reading (:data:`OUT_OF_GRAMMAR_NATS`), the beam's reading
    is kept: the writer left the grammar, and the field goes to review (its text has no
    value).

    Parameters
    ----------
    routing, geometry, empty_ink
        As :class:`TextReader`.
    spellings : sequence of str
        The grammar's spellings to rank.
    parse : callable
        ``text -> value or None``: whether a reading belongs to the grammar.
    beam_width, n_best : int
        Of the prefix beam search that proposes readings.
    """

    needs_value = True

    def __init__(
        self,
        routing: Routing,
        geometry: LineGeometry,
        spellings: Sequence[str],
        parse: Callable[[str], Any],
        *,
        beam_width: int = _DEFAULTS.beam_width,
        n_best: int = _DEFAULTS.n_best,
        empty_ink: int = _DEFAULTS.empty_ink,
    ) -> None:
        super().__init__(routing, geometry, empty_ink=empty_ink)
        self.spellings = list(spellings)
        self.parse = parse
        self.beam_width = beam_width
        self.n_best = n_best

    def decode(self, probs: FrameProbs | EncodedLine) -> Hypothesis:
        """Return the likeliest grammar spelling, or the beam's reading when far likelier.

        Candidates are ranked by CTC likelihood, or by the attention decoder's sequence
        log-likelihood for an encoded line (same natural-log scale as its beam's scores).
        """
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein

        from medocr.decode import (
            attention_beam_search,
            attention_closed_list,
            beam_search,
            closed_list,
        )

        encoded = isinstance(probs, EncodedLine)
        search = attention_beam_search if encoded else beam_search
        beam = search(probs, self.beam_width, self.n_best)
        readings = [beam.text, *(text for text, _ in beam.alternatives)]
        values: dict[str, None] = dict.fromkeys(t for t in readings if t and self.parse(t))
        for text in readings[:2]:
            nearest = process.extract(
                text, self.spellings, scorer=Levenshtein.normalized_distance,
                limit=GRAMMAR_SHORTLIST,
            )  # fmt: skip
            values.update(dict.fromkeys(value for value, _, _ in nearest))
        if not values:
            return beam
        rank = attention_closed_list if encoded else closed_list
        ranked = rank(probs, list(values), n_best=len(values), skip_unknown=True)
        if ranked.log_score < beam.log_score - OUT_OF_GRAMMAR_NATS:
            return beam
        return ranked

    def decoder_settings(self) -> dict[str, Any]:
        """Return beam parameters, the spellings (count and sha256), shortlist and cut-off."""
        digest = hashlib.sha256("\n".join(self.spellings).encode("utf-8")).hexdigest()
        return {
            "decoder": "beam+grammar",
            "beam_width": self.beam_width,
            "n_best": self.n_best,
            "spellings": len(self.spellings),
            "spellings_sha256": digest,
            "shortlist": GRAMMAR_SHORTLIST,
            "out_of_grammar_nats": OUT_OF_GRAMMAR_NATS,
        }


class _MedocrGrammarReader(GrammarReader):
    """A :class:`GrammarReader` for one of :mod:`medocr.grammar`'s grammars.

    Parameters
    ----------
    routing, geometry
        As :class:`TextReader`.
    spellings : sequence of str or None
        The spellings to rank; None = all the grammar's candidates (``_grammar``).
    **options
        ``beam_width``, ``n_best``, ``empty_ink`` (:class:`GrammarReader`).
    """

    def __init__(
        self,
        routing: Routing,
        geometry: LineGeometry,
        spellings: Sequence[str] | None = None,
        **options: Any,
    ) -> None:
        candidates, parse = self._grammar()
        chosen = candidates() if spellings is None else spellings
        super().__init__(routing, geometry, chosen, parse, **options)

    @staticmethod
    @abstractmethod
    def _grammar() -> _Grammar:
        """Return the grammar's ``(candidates, parse)`` functions."""


class IntervalReader(_MedocrGrammarReader):
    """Intervals (durations) against the duration grammar; value: the parsed duration.

    Parameters
    ----------
    routing, geometry
        As :class:`TextReader`.
    spellings : sequence of str or None
        The spellings to rank; None = every :func:`medocr.grammar.interval_candidates`
        (the pipeline keeps those the recognizer's alphabet can write).
    **options
        ``beam_width``, ``n_best``, ``empty_ink`` (:class:`GrammarReader`).
    """

    kind = "interval"

    @staticmethod
    def _grammar() -> _Grammar:
        """Return :func:`medocr.grammar.interval_candidates` and ``parse_interval``."""
        from medocr.grammar import interval_candidates, parse_interval

        return interval_candidates, parse_interval

    def value(self, text: str) -> dict[str, Any] | None:
        """Return the duration (:meth:`medocr.grammar.Duration.to_dict`), None if unparsed."""
        duration = self.parse(text)
        return duration.to_dict() if duration is not None else None


class DateReader(_MedocrGrammarReader):
    """Dates against the date grammar; value: ``{"date": "YYYY-MM-DD"}``.

    Parameters
    ----------
    routing, geometry
        As :class:`TextReader`.
    spellings : sequence of str or None
        The spellings to rank; None = :func:`medocr.grammar.date_candidates` (2000 to
        next year).
    **options
        ``beam_width``, ``n_best``, ``empty_ink`` (:class:`GrammarReader`).
    """

    kind = "date"

    @staticmethod
    def _grammar() -> _Grammar:
        """Return :func:`medocr.grammar.date_candidates` and ``parse_date``."""
        from medocr.grammar import date_candidates, parse_date

        return date_candidates, parse_date

    def value(self, text: str) -> dict[str, Any] | None:
        """Return ``{"date": ISO date}``, None when `text` is not a date."""
        iso = self.parse(text)
        return {"date": iso} if iso is not None else None


# --- checkboxes ------------------------------------------------------------------------------


class CheckboxReader:
    """Checkboxes: ticked when enough ink lies inside the printed box.

    Parameters
    ----------
    routing : Routing
        Calibration and thresholds.
    ink_threshold : float
        Share of dark pixels inside the box (strictly between 0 and 1) at which it counts
        as ticked (:func:`checkbox_ink`).
    margin : tuple of int or None
        ``(x, y)`` crop margin around the printed box; None = the margin field crops have
        (:data:`medocr.preprocess.forms.CROP_MARGIN`).
    """

    kind = "checkbox"

    def __init__(
        self,
        routing: Routing,
        *,
        ink_threshold: float = _DEFAULTS.checkbox_ink,
        margin: tuple[int, int] | None = None,
    ) -> None:
        if not 0.0 < ink_threshold < 1.0:
            raise ValueError(f"ink_threshold must be strictly between 0 and 1, got {ink_threshold}")
        if margin is None:
            from medocr.preprocess.forms import CROP_MARGIN

            margin = CROP_MARGIN
        self.routing = routing
        self.ink_threshold = ink_threshold
        self.margin = (int(margin[0]), int(margin[1]))

    def read(self, item: FieldInput) -> FieldResult:
        """``X`` when ticked, ``""`` otherwise; value ``{"checked", "ink"}``.

        The confidence is logistic in the ratio of the ink to the threshold: 0.5 at the
        threshold, ~0.98 at twice or half of it (before calibration).

        Raises
        ------
        ValueError
            The field is not a checkbox.
        """
        _check_kind(self.kind, item, type(self).__name__)
        density = checkbox_ink(item.crop.image, self.margin)
        ratio = max(density, 1e-6) / self.ink_threshold
        p_checked = 1.0 / (1.0 + math.exp(-5.6 * math.log(ratio)))
        checked = p_checked >= 0.5
        text = "X" if checked else ""
        confidence = self.routing.confidence(
            self.kind, p_checked if checked else 1.0 - p_checked, text
        )
        return FieldResult(
            item.crop.name,
            text,
            round(confidence, 6),
            self.routing.route(self.kind, confidence, text),
            kind=self.kind,
            value={"checked": checked, "ink": round(density, 5)},
            bbox=item.crop.bbox,
        )

    def settings(self) -> dict[str, Any]:
        """Return ``ink_threshold``, ``margin`` and the thresholds used (JSON-ready)."""
        return {
            "ink_threshold": self.ink_threshold,
            "margin": list(self.margin),
            **self.routing.settings(self.kind),
        }


# --- helpers ---------------------------------------------------------------------------------


def hypothesis_confidence(hyp: Hypothesis) -> float:
    """Posterior of a reading among its n-best alternatives (0..1).

    With alternatives, ``1 / sum(exp(score_i - score_best))``; without (greedy), the
    probability of the best path, ``exp(log_score)``.
    """
    if not math.isfinite(hyp.log_score):
        return 0.0
    if not hyp.alternatives:
        return float(min(1.0, math.exp(hyp.log_score)))
    rest = [s for _, s in hyp.alternatives if math.isfinite(s)]
    return 1.0 / (1.0 + sum(math.exp(s - hyp.log_score) for s in rest))


def checkbox_ink(image: np.ndarray, margin: tuple[int, int]) -> float:
    """Share of dark pixels in the inner part of a checkbox crop.

    Parameters
    ----------
    image : numpy.ndarray
        uint8 ``(H, W)`` rectified checkbox crop with `margin` around the box.
    margin : tuple of int
        ``(x, y)`` crop margin around the printed box.

    Returns
    -------
    float
        0..1: dark pixels (darker than the paper by 40% of the paper-to-ink range) in
        the box shrunk by 20% on each side (clear of the printed frame).
    """
    mx, my = margin
    box = image[my : image.shape[0] - my, mx : image.shape[1] - mx]
    if box.size == 0:
        return 0.0
    h, w = box.shape
    inner = box[int(0.2 * h) : h - int(0.2 * h), int(0.2 * w) : w - int(0.2 * w)]
    paper = float(np.percentile(image, 90))
    darkest = float(np.percentile(image, 1))
    if paper - darkest < 40:
        return 0.0
    return float((inner < paper - 0.4 * (paper - darkest)).mean())


def frame_line(image: np.ndarray, pad_x: float, pad_y: float) -> np.ndarray:
    """Surround a cut line with paper.

    Parameters
    ----------
    image : numpy.ndarray
        uint8 ``(h, w)`` line.
    pad_x, pad_y : float
        Paper added left/right and above/below, as fractions of ``h``.

    Returns
    -------
    numpy.ndarray
        uint8 ``(h + 2 * round(pad_y * h), w + 2 * round(pad_x * h))``, the border filled
        with the line's paper gray (its median: a line is mostly paper, and the gray of
        noisy paper varies more than its 95th percentile tells).
    """
    import cv2

    h = image.shape[0]
    py, px = round(pad_y * h), round(pad_x * h)
    paper = int(np.median(image))
    return cv2.copyMakeBorder(image, py, py, px, px, cv2.BORDER_CONSTANT, value=paper)


def _check_kind(kind: str, item: FieldInput, reader: str) -> None:
    if item.crop.kind != kind:
        raise ValueError(
            f"{reader} reads {kind} fields, not field {item.crop.name} of kind {item.crop.kind!r}"
        )


def _joined(hypotheses: list[Hypothesis], text: str) -> Hypothesis:
    if len(hypotheses) == 1:
        return hypotheses[0]
    return Hypothesis(
        text,
        float(sum(h.log_score for h in hypotheses)),
        tuple(c for h in hypotheses for c in h.chars),
        tuple(w for h in hypotheses for w in h.words),
    )
