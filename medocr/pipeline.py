"""End-to-end reading: page -> registered fields -> lines -> recognizer -> decoders -> results.

>>> import medocr
>>> results = medocr.read("certificate.png")              # doctest: +SKIP
>>> for field in results[0].fields:                       # doctest: +SKIP
...     print(field.name, field.text, field.confidence, field.route)

Each field kind has its reader (:mod:`medocr.fields`): causes are decoded by lexicon word
beam search, intervals and dates are ranked against their grammars (:mod:`medocr.grammar`),
and checkboxes are read from their ink. A field that fails records its error and the others
go on (unless ``strict``). Every result records in ``steps`` what read it: the model,
lexicon, template and calibration with their hashes, the configuration and each reader's
effective settings.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from medocr._version import __version__
from medocr.config import DEFAULT_THRESHOLDS, PipelineConfig  # noqa: F401 - importable here
from medocr.errors import InputError, ModelError
from medocr.fields import OUT_OF_GRAMMAR_NATS as OUT_OF_GRAMMAR_NATS  # re-exported
from medocr.fields import (
    CauseReader,
    CheckboxReader,
    DateReader,
    FieldInput,
    FieldReader,
    IntervalReader,
    LineGeometry,
    PlainReader,
    Routing,
    frame_line,
)
from medocr.fields import checkbox_ink as checkbox_ink  # re-exported: medocr.pipeline API
from medocr.fields import hypothesis_confidence as hypothesis_confidence  # re-exported
from medocr.types import (
    FIELD_KINDS,
    CertificateResult,
    EncodedLine,
    FieldCrop,
    FieldResult,
    FrameProbs,
    LineImage,
    Page,
)

log = logging.getLogger(__name__)

#: Stages reported in :attr:`CertificateResult.timings` (seconds).
STAGES = ("io", "deskew", "registration", "segmentation", "recognition", "decoding")


@dataclass
class _Field:
    """A field on its way through the pipeline (internal)."""

    crop: FieldCrop
    n_lines: int
    lines: list[LineImage]
    ink_pixels: int
    probs: list[FrameProbs | EncodedLine]
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
        """The line recognizer, of either family (``runtime.load_recognizer``)."""
        from medocr.recognize.runtime import load_recognizer

        return load_recognizer(self.config.model, backend=self.config.backend)

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

    @property
    def calibration(self) -> Any:
        """The bundle's :class:`~medocr.calibration.Calibration`, or None."""
        return self._calibration_file[0]

    @cached_property
    def _calibration_file(self) -> tuple[Any, str | None]:
        """The bundle's calibration and the sha256 of its file; ``(None, None)`` if none."""
        from medocr.bundles import open_bundle, resolve
        from medocr.calibration import CALIBRATION_FILE, Calibration

        if not self.config.calibrate:
            return None, None
        bundle = open_bundle(resolve(self.config.model))  # checked against its manifest
        if CALIBRATION_FILE not in bundle.hashes:
            return None, None
        path = bundle.folder / CALIBRATION_FILE
        try:
            calibration = Calibration.from_dict(json.loads(bundle.read_bytes(CALIBRATION_FILE)))
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{path}: unreadable calibration ({exc})") from exc
        return calibration, bundle.hashes[CALIBRATION_FILE]

    @cached_property
    def routing(self) -> Routing:
        """Calibration and thresholds of every field kind (:class:`medocr.fields.Routing`)."""
        return Routing(self.config.thresholds, self.calibration, self.config.max_error)

    def threshold(self, kind: str, text: str | None = None) -> float:
        """Confidence a field of `kind` that read `text` needs for ``accept``.

        A threshold of ``PipelineConfig.thresholds`` wins; else the calibration's for the
        field's state (empty or written, when fitted) at ``max_error``; else the default
        (:meth:`medocr.fields.Routing.threshold`).
        """
        return self.routing.threshold(kind, text)

    @cached_property
    def readers(self) -> dict[str, FieldReader]:
        """One :class:`~medocr.fields.FieldReader` per field kind, made from the config."""
        from medocr.preprocess.forms import CROP_MARGIN

        cfg, routing = self.config, self.routing
        geometry = LineGeometry(self.recognizer.config.height, cfg.line_padding)
        beam = {"beam_width": cfg.beam_width, "n_best": cfg.n_best, "empty_ink": cfg.empty_ink}
        lm = self.lexicon.bigrams if cfg.cause_decoder == "wordbeam" and cfg.use_bigram else None
        readers: dict[str, FieldReader] = {
            "cause": CauseReader(
                routing, geometry, decoder=cfg.cause_decoder, lexicon=self.lexicon, lm=lm,
                lm_weight=cfg.lm_weight, oov_penalty=cfg.oov_penalty, **beam,
            ),
            "interval": IntervalReader(routing, geometry, self.interval_values, **beam),
            "date": DateReader(routing, geometry, self.date_values, **beam),
            "text": PlainReader(routing, geometry, **beam),
            "checkbox": CheckboxReader(routing, ink_threshold=cfg.checkbox_ink, margin=CROP_MARGIN),
        }  # fmt: skip
        return readers

    def reader(self, kind: str) -> FieldReader:
        """Return the reader of fields of `kind` (KeyError naming the kinds for another)."""
        try:
            return self.readers[kind]
        except KeyError:
            raise KeyError(
                f"no reader for field kind {kind!r}; kinds: {', '.join(FIELD_KINDS)}"
            ) from None

    @cached_property
    def steps(self) -> dict[str, Any]:
        """What reads, so that a stored result can be reproduced (JSON-ready).

        ``model``, ``lexicon``, ``template`` (refs) with ``model_sha256`` (the bundle
        digest), ``lexicon_sha256`` (its words), ``template_sha256`` (its definition) and
        ``calibration_sha256`` (``calibration.json``, None when raw confidences are
        reported); ``backend``, ``cause_decoder``, ``medocr`` (version), ``calibration``;
        ``config`` (:meth:`PipelineConfig.to_dict`) and ``readers``: per field kind the
        reader's effective settings (:meth:`medocr.fields.FieldReader.settings`: decoder
        parameters, thresholds used for empty and written fields, None for never).
        """
        backend = "onnx" if self.recognizer.session is not None else "tensorflow"
        cause = self.readers["cause"]
        bigram = isinstance(cause, CauseReader) and cause.lm is not None
        calibration, calibration_sha256 = self._calibration_file
        steps = {
            "model": self.recognizer.ref,
            "model_sha256": self.recognizer.digest or None,
            "backend": backend,
            "lexicon": self.lexicon.ref,
            "lexicon_sha256": self.lexicon.sha256,
            "template": self.template.ref,
            "template_sha256": template_sha256(self.template),
            "cause_decoder": self.config.cause_decoder + ("+bigram" if bigram else ""),
            "medocr": __version__,
            "calibration": "bundle" if calibration is not None else "none (raw confidences)",
            "calibration_sha256": calibration_sha256,
            "config": self.config.to_dict(),
            "readers": {kind: reader.settings() for kind, reader in self.readers.items()},
        }
        # As JSON gives it back (lists, not tuples; no NaN), so results round-trip equal.
        return json.loads(json.dumps(steps, ensure_ascii=False, allow_nan=False))

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
        return self.read_decoded(path, *decode_file(path))

    def read_decoded(
        self, path: str | os.PathLike[str], pages: list[Page], io_seconds: float
    ) -> list[CertificateResult]:
        """Read the pages of a file that :func:`decode_file` has decoded.

        What :meth:`read` does after decoding; ``medocr batch`` decodes the next file in
        a thread while this one is read.

        Parameters
        ----------
        path : str or PathLike
            The file the pages come from (named in errors).
        pages : list of Page
            The file's pages (:func:`medocr.io.read_pages`).
        io_seconds : float
            Time the decoding took (reported per page in ``timings["io"]``).

        Raises
        ------
        medocr.errors.InputError
            OpenCV cannot process a page.
        medocr.errors.TemplateError
            A page does not show the template.
        """
        io_seconds /= max(1, len(pages))
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
            results = tuple(self._guarded(f, self._read) for f in fields)
        return CertificateResult(
            source=page.source,
            page_index=page.page_index,
            template_id=self.template.ref,
            fields=results,
            timings=timings,
            steps=copy.deepcopy(self.steps),
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
        from medocr.preprocess.clean import binarize_field, clean_ink, faint_ink
        from medocr.preprocess.segment import find_lines, line_images

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
            binarized = binarize_field(crop.image)
            ink = clean_ink(binarized, n_lines=n_lines)
            lines = find_lines(ink, n_lines)
            sensitive = None if lines else faint_ink(crop.image, binarized)
            if sensitive is not None:  # faint writing: a second look before calling it empty
                binarized, ink = sensitive, clean_ink(sensitive, n_lines=n_lines)
                lines = find_lines(ink, n_lines)
            item.ink_pixels = int(ink.sum())
            item.lines = line_images(crop, n_lines, lines=lines, ink=binarized)
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

    def _read(self, item: _Field) -> FieldResult:
        field = FieldInput(item.crop, tuple(item.lines), tuple(item.probs), item.ink_pixels)
        return self.reader(item.crop.kind).read(field)

    @cached_property
    def date_values(self) -> list[str]:
        """Spellings of dates of death, 2000 to next year (see ``date_candidates``)."""
        from medocr.grammar import date_candidates

        return date_candidates()


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


def decode_file(path: str | os.PathLike[str]) -> tuple[list[Page], float]:
    """Decode every page of an image file (:func:`medocr.io.read_pages`), timed.

    Returns
    -------
    pages : list of Page
    seconds : float
        Time the decoding took.

    Raises
    ------
    medocr.errors.InputError
        The file cannot be read as an image.
    """
    from medocr.io import read_pages

    start = time.perf_counter()
    pages = read_pages(path)
    return pages, time.perf_counter() - start


def template_sha256(template: Any) -> str:
    """sha256 of a template's definition (every field but ``source``, as sorted JSON).

    Two templates with equal geometry, fields and printed elements have the same hash,
    wherever they were loaded from.
    """
    data = {k: v for k, v in asdict(template).items() if k != "source"}
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
