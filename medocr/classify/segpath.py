"""The segmentation path: line or field image -> characters -> classifier -> lexicon -> text.

This is the classical path the CTC recognizer is compared with::

    image ──segment_field──▶ words of characters ──char_images──▶ CharImage*
      ──predict_proba──▶ (N, C) ──+ space rows──▶ lexicon_search ──▶ Hypothesis

:func:`line_char_probs` does the first half and returns the probability matrix in the
columns of an :class:`~medocr.text.Alphabet` (the classifier's classes plus
the space), one row per segmented character and a one-hot space row between words and
between lines; :func:`read_line_by_chars` runs :func:`~medocr.decode.lexicon_search` on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from medocr.classify.base import CharClassifier
from medocr.decode.correct import DEFAULT_MAX_DISTANCE, lexicon_search
from medocr.preprocess.forms import CROP_MARGIN
from medocr.preprocess.segment import char_images, segment_field
from medocr.text import Alphabet
from medocr.types import CharImage, FieldCrop, Hypothesis, LineImage

SPACE = " "
_AUTO: Any = object()


@dataclass(frozen=True, eq=False)
class CharReading:
    """Segmented characters of a line or field and their class probabilities.

    Parameters
    ----------
    probs : numpy.ndarray
        float32 ``(P, len(alphabet.chars))``: one row per character, plus a one-hot
        space row between words and between lines (``P = N + spaces``).
    alphabet : Alphabet
        Column order of `probs`.
    chars : tuple of CharImage
        The ``N`` segmented characters, in reading order (boxes in page pixels).
    rows : tuple of int
        For each character, its row in `probs`.
    """

    probs: np.ndarray
    alphabet: Alphabet
    chars: tuple[CharImage, ...]
    rows: tuple[int, ...]


def classifier_alphabet(classifier: CharClassifier) -> Alphabet:
    """Return the alphabet of a classifier's classes followed by the space (if missing).

    Raises
    ------
    ValueError
        A class that is not a single character.
    """
    chars = tuple(classifier.classes)
    return Alphabet(chars if SPACE in chars else (*chars, SPACE))


def _as_crop(image: np.ndarray | LineImage | FieldCrop) -> FieldCrop:
    if isinstance(image, FieldCrop):
        return image
    if isinstance(image, LineImage):
        return FieldCrop(image.field_name, "cause", image.bbox, image.image)
    if isinstance(image, np.ndarray) and image.ndim == 2 and image.dtype == np.uint8:
        height, width = image.shape
        return FieldCrop("line", "cause", (0, 0, width, height), image)
    raise ValueError(
        "expected a FieldCrop, a LineImage or a uint8 (H, W) array, got "
        f"{type(image).__name__} {getattr(image, 'dtype', '')} {getattr(image, 'shape', '')}"
    )


def line_char_probs(
    image: np.ndarray | LineImage | FieldCrop,
    classifier: CharClassifier,
    *,
    n_lines: int = 1,
    margin: tuple[int, int] | None = _AUTO,
) -> CharReading:
    """Segment a line (or a field of `n_lines` lines) and classify its characters.

    Parameters
    ----------
    image : numpy.ndarray, LineImage or FieldCrop
        uint8 ``(H, W)``, dark ink on light paper.
    classifier : CharClassifier
        A trained character classifier (its classes must be single characters).
    n_lines : int
        Writing lines in the image (the template's line count for a field).
    margin : tuple of int or None, optional
        Crop margin around the field box, whose ink is ignored (see
        :func:`~medocr.preprocess.clean.clean_field`); default ``CROP_MARGIN`` for a
        :class:`FieldCrop` (as cut by ``extract_fields``), None (keep all ink) otherwise.

    Returns
    -------
    CharReading
        Probabilities in the columns of :func:`classifier_alphabet`.
    """
    crop = _as_crop(image)
    if margin is _AUTO:
        margin = CROP_MARGIN if isinstance(image, FieldCrop) else None
    segments = segment_field(crop, n_lines, margin=margin)
    chars = char_images(crop, n_lines, segments=segments)
    alphabet = classifier_alphabet(classifier)
    columns = np.array([alphabet.chars.index(c) for c in classifier.classes], np.intp)
    images = [c.image for c in chars]
    probs = classifier.predict_proba(images) if images else np.zeros((0, len(columns)))
    counts = [len(word) for seg in segments for word in seg.chars if word]
    breaks = len(counts) - 1 if counts else 0
    out = np.zeros((len(chars) + breaks, len(alphabet.chars)), np.float32)
    rows, row, done = [], 0, 0
    for number, count in enumerate(counts):
        if number:
            out[row, alphabet.chars.index(SPACE)] = 1.0
            row += 1
        block = np.arange(row, row + count)
        out[np.ix_(block, columns)] = probs[done : done + count]
        rows.extend(block.tolist())
        row, done = row + count, done + count
    return CharReading(out, alphabet, tuple(chars), tuple(rows))


def read_line_by_chars(
    image: np.ndarray | LineImage | FieldCrop,
    classifier: CharClassifier,
    lexicon: Any,
    *,
    n_lines: int = 1,
    margin: tuple[int, int] | None = _AUTO,
    n_best: int = 5,
    max_distance: float | None = DEFAULT_MAX_DISTANCE,
) -> Hypothesis:
    """Read a line (or field) by character segmentation, classification and lexicon search.

    Parameters
    ----------
    image : numpy.ndarray, LineImage or FieldCrop
        uint8 ``(H, W)``, dark ink on light paper.
    classifier : CharClassifier
        A trained character classifier.
    lexicon : Lexicon-like, mapping, iterable of str, or LexiconTrie
        The accepted words (see :func:`medocr.decode.lexicon_search`).
    n_lines : int
        Writing lines in the image.
    margin : tuple of int or None, optional
        See :func:`line_char_probs`.
    n_best : int
        Readings returned (the best plus alternatives).
    max_distance : float or None
        Out-of-vocabulary threshold per letter (see :func:`~medocr.decode.lexicon_search`).

    Returns
    -------
    Hypothesis
        Text, score, alternatives, words with their lexicon status; character spans
        count rows of :attr:`CharReading.probs` (characters and word breaks). The empty
        hypothesis for an image without handwriting.
    """
    reading = line_char_probs(image, classifier, n_lines=n_lines, margin=margin)
    return lexicon_search(
        reading.probs, reading.alphabet, lexicon, n_best, max_distance=max_distance
    )


def read_field_chars(
    crops: Sequence[FieldCrop],
    classifier: CharClassifier,
    lexicon: Any,
    lines: Sequence[int] | None = None,
) -> list[Hypothesis]:
    """Read several field crops with :func:`read_line_by_chars`.

    Parameters
    ----------
    crops : sequence of FieldCrop
        Rectified field crops (``extract_fields`` output).
    classifier : CharClassifier
        A trained character classifier.
    lexicon : Lexicon-like
        The accepted words.
    lines : sequence of int, optional
        Writing lines per crop (the template's ``TemplateField.lines``; default 1 each).

    Returns
    -------
    list of Hypothesis
        One per crop, in order.
    """
    counts = list(lines) if lines is not None else [1] * len(crops)
    if len(counts) != len(crops):
        raise ValueError(f"{len(counts)} line counts for {len(crops)} crops")
    return [
        read_line_by_chars(crop, classifier, lexicon, n_lines=n)
        for crop, n in zip(crops, counts, strict=True)
    ]
