"""End-to-end reading: page -> registered fields -> lines -> recognizer -> decoders -> results.

>>> import medocr
>>> results = medocr.read("certificate.png")              # doctest: +SKIP
>>> for field in results[0].fields:                       # doctest: +SKIP
...     print(field.name, field.text, field.confidence, field.route)

Each field kind has its reader: causes are decoded by lexicon word beam search, intervals
are ranked against the duration grammar (:mod:`medocr.grammar`), dates are parsed, and
checkboxes are read from their ink. A field that fails records its error and the others
go on (unless ``strict``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from medocr._version import __version__
from medocr.config import DEFAULT_THRESHOLDS, PipelineConfig
from medocr.errors import InputError, ModelError
from medocr.types import (
    Box,
    CertificateResult,
    FieldCrop,
    FieldResult,
    FrameProbs,
    Hypothesis,
    LineImage,
    LineResult,
    Page,
)

log = logging.getLogger(__name__)

#: Stages reported in :attr:`CertificateResult.timings` (seconds).
STAGES = ("io", "deskew", "registration", "segmentation", "recognition", "decoding")
_GRAMMAR_SHORTLIST = 24  # grammar spellings nearest to each beam reading, ranked exactly
#: How much less likely (natural log) than the beam's reading the best grammar reading
#: may be before the field is taken as written outside the grammar.
OUT_OF_GRAMMAR_NATS = 8.0


@dataclass
class _Field:
    """A field on its way through the pipeline (internal)."""

    crop: FieldCrop
    n_lines: int
    lines: list[LineImage]
    ink_pixels: int
    probs: list[FrameProbs]
    error: str | None = None


class Pipeline:
    """Reads certificates with one configuration; models are loaded once, on first use.

    Parameters
    ----------
    config : PipelineConfig, str, Path or None
        The configuration, or a JSON/YAML file holding one; None = all defaults.
    **options
        Options overriding `config` (the field names of :class:`PipelineConfig`).

    Examples
    --------
    >>> pipeline = Pipeline(cause_decoder="greedy")          # doctest: +SKIP
    >>> result = pipeline.read("scan.tif")[0]                # doctest: +SKIP
    >>> result.field("cause_1a").text                        # doctest: +SKIP
    """

    def __init__(
        self, config: PipelineConfig | str | os.PathLike[str] | None = None, **options: Any
    ) -> None:
        if config is None:
            config = PipelineConfig()
        elif not isinstance(config, PipelineConfig):
            config = PipelineConfig.from_file(config)
        self.config = config.with_options(**options) if options else config

    # --- resources, loaded on first use -----------------------------------------------------

    @cached_property
    def template(self) -> Any:
        """The form template (:class:`medocr.templates.Template`)."""
        from medocr.templates import load_template

        return load_template(self.config.template)

    @cached_property
    def recognizer(self) -> Any:
        """The line recognizer (:class:`medocr.recognize.runtime.Recognizer`)."""
        from medocr.recognize.runtime import Recognizer

        return Recognizer.load(self.config.model, backend=self.config.backend)

    @cached_property
    def lexicon(self) -> Any:
        """The cause lexicon (:class:`medocr.lexicon.Lexicon`)."""
        from medocr.lexicon import load_lexicon

        return load_lexicon(self.config.lexicon)

    @cached_property
    def interval_values(self) -> list[str]:
        """Grammar spellings of intervals that the recognizer's alphabet can write."""
        from medocr.grammar import interval_candidates

        alphabet = self.recognizer.alphabet
        return [v for v in interval_candidates() if not alphabet.unknown(v)]

    @cached_property
    def calibration(self) -> Any:
        """The bundle's :class:`~medocr.evaluate.calibration.Calibration`, or None."""
        from medocr.bundles import open_bundle, resolve
        from medocr.evaluate.calibration import CALIBRATION_FILE, Calibration

        if not self.config.calibrate:
            return None
        bundle = open_bundle(resolve(self.config.model))  # checked against its manifest
        if CALIBRATION_FILE not in bundle.hashes:
            return None
        path = bundle.folder / CALIBRATION_FILE
        try:
            return Calibration.from_dict(json.loads(bundle.read_bytes(CALIBRATION_FILE)))
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{path}: unreadable calibration ({exc})") from exc

    def threshold(self, kind: str, text: str | None = None) -> float:
        """Confidence a field of `kind` that read `text` needs for ``accept``.

        A threshold of ``PipelineConfig.thresholds`` wins; else the calibration's for the
        field's state (empty or written, when fitted) at ``max_error``; else the default.
        """
        if kind in self.config.thresholds:
            return self.config.thresholds[kind]
        fitted = (
            self.calibration.threshold(kind, self.config.max_error, text)
            if self.calibration
            else None
        )
        return fitted if fitted is not None else DEFAULT_THRESHOLDS.get(kind, 1.0)

    def _confidence(self, kind: str, raw: float, text: str) -> float:
        return self.calibration.apply(kind, raw, text) if self.calibration is not None else raw

    @cached_property
    def steps(self) -> dict[str, str]:
        """What reads: model, backend, lexicon, template, decoder and medocr versions."""
        backend = "onnx" if self.recognizer.session is not None else "tensorflow"
        return {
            "model": self.recognizer.ref,
            "backend": backend,
            "lexicon": self.lexicon.ref,
            "template": self.template.ref,
            "cause_decoder": self.config.cause_decoder
            + ("+bigram" if self._bigram is not None else ""),
            "medocr": __version__,
            "calibration": "bundle" if self.calibration is not None else "none (raw confidences)",
        }

    @cached_property
    def _bigram(self) -> Any:
        if self.config.cause_decoder != "wordbeam" or not self.config.use_bigram:
            return None
        return self.lexicon.bigrams

    # --- reading ------------------------------------------------------------------------------

    def read(self, path: str | os.PathLike[str]) -> list[CertificateResult]:
        """Read every page of an image file.

        Raises
        ------
        medocr.errors.InputError
            The file cannot be read as an image (the message names it and why).
        medocr.errors.TemplateError
            A page does not show the template.
        """
        from medocr.io import read_pages

        start = time.perf_counter()
        pages = read_pages(path)
        io_seconds = (time.perf_counter() - start) / max(1, len(pages))
        results = []
        for page in pages:
            try:
                result = self.read_page(page)
            except cv2.error as exc:  # a page OpenCV cannot process is the file's problem
                reason = f"page {page.page_index} cannot be processed ({exc.err or exc})"
                raise InputError(path, reason) from exc
            result.timings["io"] = io_seconds
            results.append(result)
        return results

    def read_page(self, page: Page) -> CertificateResult:
        """Read one page.

        Parameters
        ----------
        page : Page
            A page from :func:`medocr.io.read_pages` (any size or skew).

        Returns
        -------
        CertificateResult
            One :class:`FieldResult` per template field, in template order.

        Raises
        ------
        medocr.errors.TemplateError
            The page does not show the template (no field can be read).
        """
        timings = dict.fromkeys(STAGES, 0.0)
        registration, fields = self._cut(page, timings)
        with _timed(timings, "recognition"):
            self._recognize(fields)
        with _timed(timings, "decoding"):
            results = tuple(self._guarded(f, self._decode) for f in fields)
        return CertificateResult(
            source=page.source,
            page_index=page.page_index,
            template_id=self.template.ref,
            fields=results,
            timings=timings,
            steps=dict(self.steps),
            page_size=_original_size(page),
            registration_score=round(float(registration.score), 4),
        )

    def field_lines(self, page: Page) -> list[tuple[FieldCrop, list[np.ndarray]]]:
        """Cut every field of a page into the line images the recognizer would see.

        Parameters
        ----------
        page : Page
            A scanned certificate.

        Returns
        -------
        list of (FieldCrop, list of numpy.ndarray)
            In template order: each field's crop and its uint8 ``(h, w)`` lines, framed
            with paper (:func:`frame_line`); ``[]`` for checkboxes and empty fields. This
            is how training lines are cut from annotated certificates
            (``medocr dataset field-lines``), so that training sees what reading sees.

        Raises
        ------
        medocr.errors.TemplateError
            The page does not show the template.
        """
        _, fields = self._cut(page, dict.fromkeys(STAGES, 0.0))
        pad_x, pad_y = self.config.line_padding
        return [
            (item.crop, [frame_line(line.image, pad_x, pad_y) for line in item.lines])
            for item in fields
        ]

    # --- stages -------------------------------------------------------------------------------

    def _cut(self, page: Page, timings: dict[str, float]) -> tuple[Any, list[_Field]]:
        from medocr.preprocess.deskew import deskew
        from medocr.preprocess.forms import extract_fields, register

        with _timed(timings, "deskew"):
            upright = deskew(page) if self.config.deskew else page
        with _timed(timings, "registration"):
            registration = register(
                upright, self.template, min_score=self.config.min_registration_score
            )
            crops = extract_fields(upright, self.template, registration=registration, scan=page)
        with _timed(timings, "segmentation"):
            fields = [self._segment(crop) for crop in crops]
        return registration, fields

    def _segment(self, crop: FieldCrop) -> _Field:
        from medocr.preprocess.binarize import clean_field
        from medocr.preprocess.segment import LineSegments, find_lines, line_images, measure_line

        n_lines = self.template.field(crop.name).lines
        item = _Field(crop, n_lines, [], 0, [])
        if not crop.inside_page:
            item.error = (
                f"the field's box {list(crop.bbox)} leaves the scanned page (a cropped or "
                "partial scan?): its reading cannot be trusted"
            )
            return item
        if crop.kind == "checkbox":
            return item
        try:
            ink = clean_field(crop.image, n_lines=n_lines)
            segments = [
                LineSegments(line, (), (), measure_line(line)) for line in find_lines(ink, n_lines)
            ]
            item.ink_pixels = int(ink.sum())
            item.lines = line_images(crop, n_lines, segments=segments)
        except Exception as exc:  # noqa: BLE001 - one field never fails the page
            if self.config.strict:
                raise
            item.error = f"segmentation failed: {type(exc).__name__}: {exc}"
        return item

    def _recognize(self, fields: list[_Field]) -> None:
        pad_x, pad_y = self.config.line_padding
        images = [frame_line(line.image, pad_x, pad_y) for item in fields for line in item.lines]
        if not images:
            return
        probs = iter(self.recognizer.predict(images, batch_size=self.config.batch_size))
        for item in fields:
            item.probs = [next(probs) for _ in item.lines]

    def _guarded(self, item: _Field, read: Callable[[_Field], FieldResult]) -> FieldResult:
        crop = item.crop
        if item.error is None:
            try:
                return read(item)
            except Exception as exc:  # noqa: BLE001 - one field never fails the page
                if self.config.strict:
                    raise
                item.error = f"{type(exc).__name__}: {exc}"
        log.warning("%s field %s: %s", crop.name, crop.kind, item.error)
        return FieldResult(
            crop.name, "", 0.0, "review", None, item.error, crop.kind, None, crop.bbox
        )

    def _decode(self, item: _Field) -> FieldResult:
        kind = item.crop.kind
        if kind == "checkbox":
            return self._checkbox(item)
        if not item.lines:
            return self._empty(item)
        decode = {"cause": self._decode_cause, "interval": self._decode_interval}.get(
            kind, self._decode_date if kind == "date" else self._decode_plain
        )
        hypotheses = [decode(probs) for probs in item.probs]
        return self._result(item, hypotheses)

    # --- per field kind ---------------------------------------------------------------------

    def _decode_cause(self, probs: FrameProbs) -> Hypothesis:
        from medocr.decode import beam_search, greedy, word_beam_search

        cfg = self.config
        if cfg.cause_decoder == "greedy":
            return greedy(probs)
        if cfg.cause_decoder == "beam":
            return beam_search(probs, cfg.beam_width, cfg.n_best)
        return word_beam_search(
            probs,
            self.lexicon,
            cfg.beam_width,
            lm=self._bigram,
            lm_weight=cfg.lm_weight,
            oov_penalty=cfg.oov_penalty,
            n_best=cfg.n_best,
        )

    def _decode_plain(self, probs: FrameProbs) -> Hypothesis:
        from medocr.decode import beam_search

        return beam_search(probs, self.config.beam_width, self.config.n_best)

    def _decode_interval(self, probs: FrameProbs) -> Hypothesis:
        from medocr.grammar import parse_interval

        return self._decode_grammar(probs, self.interval_values, parse_interval)

    def _decode_date(self, probs: FrameProbs) -> Hypothesis:
        from medocr.grammar import parse_date

        return self._decode_grammar(probs, self.date_values, parse_date)

    def _decode_grammar(
        self, probs: FrameProbs, spellings: list[str], parse: Callable[[str], Any]
    ) -> Hypothesis:
        """Read a field that follows a grammar.

        The candidates are the beam readings that parse plus the grammar spellings
        nearest to the two best readings; they are ranked by exact CTC likelihood. When
        even the best candidate is far less likely than the beam's reading
        (:data:`OUT_OF_GRAMMAR_NATS`), the beam's reading is kept: the writer left the
        grammar, and the field goes to review.
        """
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein

        from medocr.decode import closed_list

        beam = self._decode_plain(probs)
        readings = [beam.text, *(text for text, _ in beam.alternatives)]
        values: dict[str, None] = dict.fromkeys(t for t in readings if t and parse(t))
        for text in readings[:2]:
            nearest = process.extract(
                text, spellings, scorer=Levenshtein.normalized_distance, limit=_GRAMMAR_SHORTLIST
            )
            values.update(dict.fromkeys(value for value, _, _ in nearest))
        if not values:
            return beam
        ranked = closed_list(probs, list(values), n_best=len(values), skip_unknown=True)
        if ranked.log_score < beam.log_score - OUT_OF_GRAMMAR_NATS:
            return beam
        return ranked

    @cached_property
    def date_values(self) -> list[str]:
        """Spellings of dates of death (``dd/mm/yyyy`` and ``dd/mm/yy``, 2000 to next year)."""
        from medocr.grammar import date_candidates

        return date_candidates()

    def _checkbox(self, item: _Field) -> FieldResult:
        from medocr.preprocess.forms import CROP_MARGIN

        density = checkbox_ink(item.crop.image, CROP_MARGIN)
        threshold = self.config.checkbox_ink
        # Logistic in the ratio to the threshold: 0.5 at the threshold, ~0.98 at 2x or 0.5x.
        p_checked = 1.0 / (1.0 + math.exp(-5.6 * math.log(max(density, 1e-6) / threshold)))
        checked = p_checked >= 0.5
        text = "X" if checked else ""
        confidence = self._confidence("checkbox", p_checked if checked else 1.0 - p_checked, text)
        return FieldResult(
            item.crop.name,
            text,
            round(confidence, 6),
            self._route("checkbox", confidence, text),
            kind="checkbox",
            value={"checked": checked, "ink": round(density, 5)},
            bbox=item.crop.bbox,
        )

    def _empty(self, item: _Field) -> FieldResult:
        kind = item.crop.kind
        raw = max(0.0, 1.0 - item.ink_pixels / self.config.empty_ink)
        confidence = self._confidence(kind, raw, "")
        return FieldResult(
            item.crop.name,
            "",
            round(confidence, 6),
            self._route(kind, confidence, ""),
            kind=kind,
            bbox=item.crop.bbox,
        )

    def _result(self, item: _Field, hypotheses: list[Hypothesis]) -> FieldResult:
        kind = item.crop.kind
        lines = tuple(
            LineResult(
                hyp.text,
                line.bbox,
                round(hypothesis_confidence(hyp), 6),
                _words(hyp, line, self.recognizer.config.height, self.config.line_padding),
            )
            for hyp, line in zip(hypotheses, item.lines, strict=True)
        )
        text = " ".join(line.text for line in lines if line.text)
        raw = float(np.prod([line.confidence for line in lines]))
        confidence = self._confidence(kind, raw, text)
        value = _normalised(kind, text)
        parsed_ok = kind not in ("interval", "date") or not text or value is not None
        route = self._route(kind, confidence, text) if parsed_ok else "review"
        return FieldResult(
            item.crop.name,
            text,
            round(confidence, 6),
            route,
            _joined(hypotheses, text),
            None,
            kind,
            value,
            item.crop.bbox,
            lines,
        )

    def _route(self, kind: str, confidence: float, text: str) -> str:
        return "accept" if confidence >= self.threshold(kind, text) else "review"


# --- helpers ---------------------------------------------------------------------------------


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] += time.perf_counter() - start


def _original_size(page: Page) -> tuple[int, int]:
    height, width = page.shape
    return (width, height)


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


def _normalised(kind: str, text: str) -> dict[str, Any] | None:
    if not text:
        return None
    if kind == "interval":
        from medocr.grammar import parse_interval

        duration = parse_interval(text)
        return duration.to_dict() if duration is not None else None
    if kind == "date":
        from medocr.grammar import parse_date

        iso = parse_date(text)
        return {"date": iso} if iso is not None else None
    return None


def _joined(hypotheses: list[Hypothesis], text: str) -> Hypothesis:
    if len(hypotheses) == 1:
        return hypotheses[0]
    return Hypothesis(
        text,
        float(sum(h.log_score for h in hypotheses)),
        tuple(c for h in hypotheses for c in h.chars),
        tuple(w for h in hypotheses for w in h.words),
    )


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
        with the line's paper gray (its 95th percentile).
    """
    import cv2

    h = image.shape[0]
    py, px = round(pad_y * h), round(pad_x * h)
    paper = int(np.percentile(image, 95))
    return cv2.copyMakeBorder(image, py, py, px, px, cv2.BORDER_CONSTANT, value=paper)


def _words(
    hyp: Hypothesis, line: LineImage, height: int, padding: tuple[float, float]
) -> tuple[tuple[str, Box], ...]:
    """Word boxes in page pixels from the character frame spans.

    The recognizer sees the line framed by :func:`frame_line` (`padding`), scaled to
    `height` pixels, and emits one frame per ``WIDTH_REDUCTION`` input columns.
    """
    from medocr.recognize.crnn import WIDTH_REDUCTION

    if len(hyp.chars) != len(hyp.text) or not hyp.text.strip():
        return ()
    x0, y0, x1, y1 = line.bbox
    h, w = line.image.shape
    framed_h = h + 2 * round(padding[1] * h)
    # Frames -> framed-line columns -> line-image columns -> page columns.
    scale = (x1 - x0) / max(1, w)
    px_per_frame = WIDTH_REDUCTION * framed_h / height * scale
    x0 -= round(padding[0] * h) * scale
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


def read(path: str | os.PathLike[str], **options: Any) -> list[CertificateResult]:
    """Read a certificate image with the default pipeline (one result per page).

    Parameters
    ----------
    path : str or PathLike
        An image file (PNG, JPEG, TIFF incl. multi-page, BMP...).
    **options
        :class:`PipelineConfig` fields, e.g. ``cause_decoder="greedy"``, ``strict=True``,
        or ``config="my-config.yaml"``.

    Returns
    -------
    list of CertificateResult
    """
    config = options.pop("config", None)
    return _cached_pipeline(config, tuple(sorted(options.items()))).read(path)


_PIPELINES: dict[Any, Pipeline] = {}


def _cached_pipeline(config: Any, options: tuple[tuple[str, Any], ...]) -> Pipeline:
    key = (str(config) if config is not None else None, repr(options))
    if key not in _PIPELINES:
        _PIPELINES[key] = Pipeline(Path(config) if config is not None else None, **dict(options))
    return _PIPELINES[key]
