"""The data passed between medocr's stages (see DESIGN.md, "The currency between stages").

All are frozen dataclasses. Coordinates are ``(x0, y0, x1, y1)`` in pixels of the
original page (x right, y down, x1/y1 exclusive). Images are ``uint8`` grayscale
arrays of shape ``(H, W)``, ink dark on light paper.

``to_dict()`` returns JSON-ready data; image pixels are never included (only their
shape), so the image-carrying types take the image back in ``from_dict(data, image)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from medocr.text import Alphabet

Box = tuple[int, int, int, int]
FieldKind = Literal["cause", "interval", "checkbox", "text", "date"]
FIELD_KINDS: tuple[str, ...] = ("cause", "interval", "checkbox", "text", "date")
Route = Literal["accept", "review"]


def check_plane(array: Any, dtype: type[np.generic], expected: str) -> None:
    """Check that `array` is a 2-D numpy array of `dtype` (an image or a mask).

    Parameters
    ----------
    array : Any
        What a caller passed as an ``(H, W)`` array.
    dtype : numpy dtype class
        The dtype it must have (``np.uint8`` for an image, ``np.bool_`` for a mask).
    expected : str
        The message's start, saying what was expected; ``", got DTYPE SHAPE"`` follows.

    Raises
    ------
    TypeError
        `array` is not a numpy array, or has another dtype or another number of axes.
    """
    if not isinstance(array, np.ndarray) or array.dtype != dtype or array.ndim != 2:
        got = f"{getattr(array, 'dtype', type(array).__name__)} {getattr(array, 'shape', '')}"
        raise TypeError(f"{expected}, got {got}")


def _check_gray(image: np.ndarray, what: str) -> None:
    check_plane(image, np.uint8, f"{what}.image must be a uint8 array of shape (H, W)")


def _matrix(values: Any, what: str) -> np.ndarray:
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.shape != (3, 3):
        raise ValueError(f"{what} must be 3x3, got {matrix.shape}")
    return matrix


def _size(values: Any) -> tuple[int, int] | None:
    if values is None:
        return None
    width, height = (int(v) for v in values)
    return (width, height)


def _box(values: Any) -> Box:
    x0, y0, x1, y1 = (int(v) for v in values)
    return (x0, y0, x1, y1)


@dataclass(frozen=True, eq=False)
class Page:
    """One page of an input file.

    Parameters
    ----------
    image : numpy.ndarray
        uint8 grayscale, shape ``(H, W)``.
    source : str
        Path of the file the page came from.
    page_index : int
        0-based page number inside that file (multi-page TIFF).
    dpi : float or None
        Horizontal resolution when the file records it.
    transform : numpy.ndarray
        float64 ``(3, 3)`` homography from original-file pixels to this image's
        pixels (identity until a preprocessing step warps the page).
    """

    image: np.ndarray
    source: str
    page_index: int = 0
    dpi: float | None = None
    transform: np.ndarray = field(default_factory=lambda: np.eye(3))

    def __post_init__(self) -> None:
        _check_gray(self.image, "Page")
        object.__setattr__(self, "transform", _matrix(self.transform, "Page.transform"))

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of the image."""
        return (int(self.image.shape[0]), int(self.image.shape[1]))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready metadata (no pixels)."""
        return {
            "source": self.source,
            "page_index": self.page_index,
            "dpi": self.dpi,
            "shape": list(self.shape),
            "transform": self.transform.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], image: np.ndarray) -> Page:
        """Rebuild a page from :meth:`to_dict` output and its pixels."""
        return cls(
            image=image,
            source=data["source"],
            page_index=int(data.get("page_index", 0)),
            dpi=data.get("dpi"),
            transform=np.asarray(data.get("transform", np.eye(3)), dtype=np.float64),
        )


@dataclass(frozen=True, eq=False)
class FieldCrop:
    """The pixels of one template field cut out of a registered page.

    Parameters
    ----------
    name : str
        Field name from the template (``cause_1a``, ``interval_1a``, ``cause_2``...).
    kind : str
        One of :data:`FIELD_KINDS`.
    bbox : Box
        ``(x0, y0, x1, y1)`` in original-page pixels.
    image : numpy.ndarray
        uint8 ``(H, W)`` crop, rectified to template geometry (upright) with a margin.
    registration_score : float
        0..1, how well the page matched the template.
    to_page : numpy.ndarray
        float64 ``(3, 3)`` homography from crop pixels to original-page pixels, to bring
        boxes found in the crop back to the page.
    inside_page : bool
        False when the field's box leaves the scanned page (a cropped or partial scan):
        the crop then shows invented paper, and its reading must not be trusted.
    """

    name: str
    kind: str
    bbox: Box
    image: np.ndarray
    registration_score: float = 1.0
    to_page: np.ndarray = field(default_factory=lambda: np.eye(3))
    inside_page: bool = True

    def __post_init__(self) -> None:
        _check_gray(self.image, "FieldCrop")
        object.__setattr__(self, "bbox", _box(self.bbox))
        object.__setattr__(self, "to_page", _matrix(self.to_page, "FieldCrop.to_page"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready metadata (no pixels)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "bbox": list(self.bbox),
            "shape": list(self.image.shape),
            "registration_score": self.registration_score,
            "to_page": self.to_page.tolist(),
            "inside_page": self.inside_page,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], image: np.ndarray) -> FieldCrop:
        """Rebuild from :meth:`to_dict` output and the crop pixels."""
        return cls(
            data["name"],
            data["kind"],
            _box(data["bbox"]),
            image,
            float(data.get("registration_score", 1.0)),
            np.asarray(data.get("to_page", np.eye(3)), dtype=np.float64),
            bool(data.get("inside_page", True)),
        )


@dataclass(frozen=True, eq=False)
class LineImage:
    """One text line inside a field.

    Parameters
    ----------
    image : numpy.ndarray
        uint8 ``(H, W)``.
    bbox : Box
        In original-page pixels.
    field_name : str
        The parent field.
    line_index : int
        0-based line number inside the field, top to bottom.
    """

    image: np.ndarray
    bbox: Box
    field_name: str
    line_index: int = 0

    def __post_init__(self) -> None:
        _check_gray(self.image, "LineImage")
        object.__setattr__(self, "bbox", _box(self.bbox))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready metadata (no pixels)."""
        return {
            "bbox": list(self.bbox),
            "field_name": self.field_name,
            "line_index": self.line_index,
            "shape": list(self.image.shape),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], image: np.ndarray) -> LineImage:
        """Rebuild from :meth:`to_dict` output and the line pixels."""
        return cls(image, _box(data["bbox"]), data["field_name"], int(data.get("line_index", 0)))


@dataclass(frozen=True, eq=False)
class CharImage:
    """One segmented character.

    Parameters
    ----------
    image : numpy.ndarray
        uint8 ``(H, W)``.
    bbox : Box
        In original-page pixels.
    field_name : str
        The parent field.
    line_index, char_index : int
        Position of the character: line inside the field, character inside the line.
    """

    image: np.ndarray
    bbox: Box
    field_name: str
    line_index: int = 0
    char_index: int = 0

    def __post_init__(self) -> None:
        _check_gray(self.image, "CharImage")
        object.__setattr__(self, "bbox", _box(self.bbox))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready metadata (no pixels)."""
        return {
            "bbox": list(self.bbox),
            "field_name": self.field_name,
            "line_index": self.line_index,
            "char_index": self.char_index,
            "shape": list(self.image.shape),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], image: np.ndarray) -> CharImage:
        """Rebuild from :meth:`to_dict` output and the character pixels."""
        return cls(
            image,
            _box(data["bbox"]),
            data["field_name"],
            int(data.get("line_index", 0)),
            int(data.get("char_index", 0)),
        )


@dataclass(frozen=True, eq=False)
class FrameProbs:
    """Per-frame class probabilities of a CTC recognizer.

    Parameters
    ----------
    probs : numpy.ndarray
        float32 ``(T, C)``; each row sums to 1; column ``C - 1`` is the blank.
    alphabet : Alphabet
        ``alphabet.num_classes`` must equal ``C``.
    """

    probs: np.ndarray
    alphabet: Alphabet

    def __post_init__(self) -> None:
        probs = self.probs
        if not isinstance(probs, np.ndarray) or probs.ndim != 2 or probs.dtype != np.float32:
            raise TypeError("FrameProbs.probs must be a float32 array of shape (T, C)")
        if probs.shape[1] != self.alphabet.num_classes:
            raise ValueError(
                f"FrameProbs has {probs.shape[1]} classes but the alphabet has "
                f"{self.alphabet.num_classes} (blank included)"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (probabilities as nested lists)."""
        return {"probs": self.probs.tolist(), "alphabet": self.alphabet.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FrameProbs:
        """Inverse of :meth:`to_dict`."""
        return cls(
            np.asarray(data["probs"], dtype=np.float32), Alphabet.from_dict(data["alphabet"])
        )


class DecoderStep(Protocol):
    """One step of an attention decoder, over a batch of prefixes (no state kept).

    Called as ``step(memory, frame_mask, tokens)`` with

    - ``memory``: float32 ``(K, T, D)`` encoder states of the line (repeated per prefix);
    - ``frame_mask``: float32 ``(K, T)``, 1 for the line's frames, 0 for padding;
    - ``tokens``: int32 ``(K, L)`` prefixes, each starting with the start token
      (``alphabet.num_classes``), then character ids;

    it returns ``(log_probs, attention)``: float32 ``(K, V)`` natural-log probabilities of
    the next token (``V = alphabet.num_classes``: the characters, then end-of-sequence at
    index ``V - 1``, where a CTC alphabet has its blank) and float32 ``(K, T)`` attention
    weights of the last position over the frames (each row sums to 1).
    """

    def __call__(
        self, memory: np.ndarray, frame_mask: np.ndarray, tokens: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return the next-token log-probabilities and the attention (see the class)."""
        ...


@dataclass(frozen=True, eq=False)
class EncodedLine:
    """An attention recognizer's encoding of one line: what its decoders search.

    The attention family's counterpart of :class:`FrameProbs`: instead of per-frame
    probabilities it carries the encoder's states and the decoder step that reads them
    (:mod:`medocr.decode.seq2seq` searches it: greedy, beam, lexicon beam, closed list).

    Parameters
    ----------
    memory : numpy.ndarray
        float32 ``(T, D)`` encoder states, one per frame (4 input pixels per frame).
    alphabet : Alphabet
        Output characters; token ``alphabet.num_classes - 1`` is end-of-sequence and
        ``alphabet.num_classes`` the start token (input only).
    step : DecoderStep
        The recognizer's decoder step.
    max_length : int
        Most characters a reading of this line may have (the search stops there).
    """

    memory: np.ndarray
    alphabet: Alphabet
    step: DecoderStep
    max_length: int

    def __post_init__(self) -> None:
        memory = self.memory
        if not isinstance(memory, np.ndarray) or memory.ndim != 2 or memory.dtype != np.float32:
            raise TypeError("EncodedLine.memory must be a float32 array of shape (T, D)")
        if self.max_length < 0:
            raise ValueError(f"EncodedLine.max_length must be >= 0, got {self.max_length}")

    @property
    def end(self) -> int:
        """The end-of-sequence token id (``alphabet.num_classes - 1``)."""
        return self.alphabet.num_classes - 1

    @property
    def start(self) -> int:
        """The start token id (``alphabet.num_classes``)."""
        return self.alphabet.num_classes


@dataclass(frozen=True)
class CharSpan:
    """A decoded character with the frames it came from and its confidence (0..1)."""

    char: str
    start_frame: int
    end_frame: int
    confidence: float


@dataclass(frozen=True)
class WordHypothesis:
    """A decoded word, whether the lexicon knows it, and its canonical lexicon form."""

    text: str
    in_lexicon: bool
    canonical: str | None = None


@dataclass(frozen=True)
class Hypothesis:
    """A decoder's reading of one line or field.

    Parameters
    ----------
    text : str
        The best reading.
    log_score : float
        Natural-log score of the best reading (decoder-specific scale).
    chars : tuple of CharSpan
        One entry per character of `text` (spaces included).
    words : tuple of WordHypothesis
        The words of `text`, in order.
    alternatives : tuple of (str, float)
        N-best readings after the first, with their log scores.
    """

    text: str
    log_score: float
    chars: tuple[CharSpan, ...] = ()
    words: tuple[WordHypothesis, ...] = ()
    alternatives: tuple[tuple[str, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return {
            "text": self.text,
            "log_score": self.log_score,
            "chars": [[c.char, c.start_frame, c.end_frame, c.confidence] for c in self.chars],
            "words": [[w.text, w.in_lexicon, w.canonical] for w in self.words],
            "alternatives": [[t, s] for t, s in self.alternatives],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Hypothesis:
        """Inverse of :meth:`to_dict`."""
        return cls(
            text=data["text"],
            log_score=float(data["log_score"]),
            chars=tuple(
                CharSpan(str(c), int(s), int(e), float(p)) for c, s, e, p in data.get("chars", [])
            ),
            words=tuple(WordHypothesis(str(t), bool(k), c) for t, k, c in data.get("words", [])),
            alternatives=tuple((str(t), float(s)) for t, s in data.get("alternatives", [])),
        )


@dataclass(frozen=True)
class LineResult:
    """One written line of a field: text, where it is, how sure.

    Parameters
    ----------
    text : str
        What medocr read on the line.
    bbox : Box
        The line's ink box in original-page pixels.
    confidence : float
        0..1 score of `text` (see :class:`FieldResult`).
    words : tuple of tuple (str, Box)
        Each word with its estimated box in original-page pixels (from the character
        frame spans), for ALTO/PAGE exports.
    """

    text: str
    bbox: Box
    confidence: float
    words: tuple[tuple[str, Box], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return {
            "text": self.text,
            "bbox": list(self.bbox),
            "confidence": self.confidence,
            "words": [{"text": t, "bbox": list(b)} for t, b in self.words],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LineResult:
        """Inverse of :meth:`to_dict`."""
        words = tuple((str(w["text"]), _box(w["bbox"])) for w in data.get("words", []))
        return cls(str(data["text"]), _box(data["bbox"]), float(data["confidence"]), words)


@dataclass(frozen=True)
class FieldResult:
    """The reading of one field.

    Parameters
    ----------
    name : str
        Field name from the template.
    text : str
        What medocr read ("" for an empty field; "X" for a ticked checkbox).
    confidence : float
        0..1 score that `text` is exactly right. Raw decoder posteriors unless the
        pipeline was given a calibration; the field kind's threshold applies to it.
    route : str
        ``"accept"`` when `confidence` passes the field kind's threshold, else ``"review"``.
    hypothesis : Hypothesis or None
        The decoder output behind `text` (lines joined by a space).
    error : str or None
        Set instead of raising when this field failed (non-strict reading).
    kind : str
        The field kind (one of ``FIELD_KINDS``), "" when unknown.
    value : dict or None
        The text normalised by the field kind's grammar: intervals
        (:meth:`medocr.grammar.Duration.to_dict`), dates (``{"date": "YYYY-MM-DD"}``),
        checkboxes (``{"checked": bool}``); None when the text does not parse.
    bbox : Box or None
        The field box in original-page pixels.
    lines : tuple of LineResult
        The written lines, top to bottom (empty for an empty field or a checkbox).
    """

    name: str
    text: str
    confidence: float
    route: Route
    hypothesis: Hypothesis | None = None
    error: str | None = None
    kind: str = ""
    value: dict[str, Any] | None = None
    bbox: Box | None = None
    lines: tuple[LineResult, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return {
            "name": self.name,
            "kind": self.kind,
            "text": self.text,
            "confidence": self.confidence,
            "route": self.route,
            "value": self.value,
            "bbox": list(self.bbox) if self.bbox is not None else None,
            "lines": [line.to_dict() for line in self.lines],
            "hypothesis": self.hypothesis.to_dict() if self.hypothesis else None,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FieldResult:
        """Inverse of :meth:`to_dict`."""
        hyp = data.get("hypothesis")
        bbox = data.get("bbox")
        return cls(
            data["name"],
            data["text"],
            float(data["confidence"]),
            data["route"],
            Hypothesis.from_dict(hyp) if hyp else None,
            data.get("error"),
            str(data.get("kind", "")),
            data.get("value"),
            _box(bbox) if bbox is not None else None,
            tuple(LineResult.from_dict(line) for line in data.get("lines", [])),
        )


@dataclass(frozen=True)
class CertificateResult:
    """Everything medocr read on one page, and how.

    Parameters
    ----------
    source : str
        Input file path.
    page_index : int
        Page inside that file.
    template_id : str
        Template the page was registered to.
    fields : tuple of FieldResult
        In template order.
    timings : dict of str to float
        Seconds per stage.
    steps : dict of str to Any
        What read the page, JSON-ready: model ``id@version+digest``, lexicon
        ``name@version+sha``, template, calibration, medocr version (strings), their
        sha256 hashes, the configuration and each field reader's effective settings
        (:attr:`medocr.pipeline.Pipeline.steps`).
    page_size : tuple of int or None
        ``(width, height)`` of the original page in pixels.
    registration_score : float or None
        How well the template matched the page (0..1).
    """

    source: str
    page_index: int
    template_id: str
    fields: tuple[FieldResult, ...]
    timings: dict[str, float] = field(default_factory=dict)
    steps: dict[str, Any] = field(default_factory=dict)
    page_size: tuple[int, int] | None = None
    registration_score: float | None = None

    def field(self, name: str) -> FieldResult:
        """Return the result of the field called `name` (KeyError naming the fields)."""
        for result in self.fields:
            if result.name == name:
                return result
        raise KeyError(f"no field {name!r}; fields: {', '.join(f.name for f in self.fields)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return {
            "source": self.source,
            "page_index": self.page_index,
            "template_id": self.template_id,
            "fields": [f.to_dict() for f in self.fields],
            "timings": dict(self.timings),
            "steps": dict(self.steps),
            "page_size": list(self.page_size) if self.page_size else None,
            "registration_score": self.registration_score,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CertificateResult:
        """Inverse of :meth:`to_dict`."""
        return cls(
            data["source"],
            int(data.get("page_index", 0)),
            data["template_id"],
            tuple(FieldResult.from_dict(f) for f in data["fields"]),
            dict(data.get("timings", {})),
            dict(data.get("steps", {})),
            _size(data.get("page_size")),
            data.get("registration_score"),
        )

    def to_json(self, indent: int | None = 2) -> str:
        """Serialise to JSON text (UTF-8 characters kept as they are)."""
        import json

        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)
