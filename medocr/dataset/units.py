"""Dataset units: one image at one granularity, with its label and where it came from.

A unit is a certificate page, a field crop, a line, a word or a character. Its id is
stable and hierarchical, ``{source}/{certificate}/{field}/l{line}/w{word}/c{char}``, and
its ``parent`` is the id one level up. Line, word and character units are cut (with a
small pad) out of the *rectified* field crop, as the reading pipeline sees a field; their
``box`` is in that crop's pixels and ``page_box`` in page pixels.

Annotations give the boxes (``boxes == "truth"``); a field annotated with its text only
is segmented by :mod:`medocr.preprocess.segment` (``boxes == "segmenter"``), and such
units get their label only when the segment counts match the text (lines per field,
words per line, characters per word), otherwise ``text == ""``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from medocr.preprocess.segment import LineSegments, crop_box, page_box
from medocr.types import Box

LEVELS: tuple[str, ...] = ("certificate", "field", "line", "word", "char")
#: Pixels of paper kept around a unit's annotated box (within the field crop).
PADS = {"line": 4, "word": 4, "char": 2}
CHAR_SIZE = 32
PNG_COMPRESSION = 1
_PLAIN_PNG_CHUNKS = {b"IHDR", b"IDAT", b"IEND", b"pHYs", b"tEXt", b"zTXt", b"iTXt", b"tIME"}


class BadInput(Exception):  # noqa: N818 - an outcome, not a programming error
    """An input item that cannot be turned into units (recorded in the build log).

    Parameters
    ----------
    kind : str
        ``"image"`` (unreadable or missing image) or ``"annotation"`` (malformed
        annotation), or ``"registration"`` (the page does not match its template).
    reason : str
        What is wrong, without any of the item's text.
    """

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True, eq=False)
class Unit:
    """One unit before it is stored.

    Parameters
    ----------
    id, parent : str, str or None
        Stable id and the parent's id (None at the top).
    level : str
        One of :data:`LEVELS`.
    image : numpy.ndarray
        uint8 ``(H, W)``, dark ink on light paper.
    text : str
        Label, NFC-normalised with one apostrophe (``""`` for a blank field, a
        certificate, or a segmented unit that could not be aligned with the text).
    source, origin, document : str
        Input name, ``"synthetic"`` or ``"real"``, and writer/document id (splits
        never separate a document).
    meta : dict
        Optional fields for the manifest: ``field``, ``kind``, ``font``, ``box``,
        ``page_box``, ``boxes`` (truth or segmenter)...
    png : bytes or None
        The image already encoded as PNG (stored as is), when the input was one.
    """

    id: str
    parent: str | None
    level: str
    image: np.ndarray
    text: str
    source: str
    origin: str
    document: str
    meta: dict[str, Any] = field(default_factory=dict)
    png: bytes | None = None

    def row(self) -> dict[str, Any]:
        """Return the manifest row of the unit (no pixels)."""
        height, width = self.image.shape
        return {
            "id": self.id,
            "parent": self.parent,
            "level": self.level,
            "text": self.text,
            "source": self.source,
            "origin": self.origin,
            "document": self.document,
            "width": int(width),
            "height": int(height),
            **self.meta,
        }


def encode_png(image: np.ndarray) -> bytes:
    """Encode a uint8 ``(H, W)`` image as PNG (lossless, fast zlib level)."""
    ok, data = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    if not ok:
        raise ValueError(f"could not encode a {image.shape} image as PNG")
    return data.tobytes()


def plain_gray_png(data: bytes, shape: tuple[int, ...]) -> bool:
    """Tell whether `data` is a PNG that decodes, as is, to 8-bit gray pixels of `shape`.

    True for a non-interlaced 8-bit grayscale PNG of that size with no chunk that could
    change how its pixels are read (gamma, palette, transparency, EXIF orientation...):
    such bytes can be stored without re-encoding.
    """
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR" or len(data) < 33:
        return False
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if (height, width) != tuple(shape) or data[24:29] != b"\x08\x00\x00\x00\x00":
        return False
    pos = 8
    while pos + 8 <= len(data):
        length, chunk = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8]
        if chunk not in _PLAIN_PNG_CHUNKS:
            return False
        pos += 12 + length
    return True


def image_hash(image: np.ndarray) -> str:
    """Return the hex SHA-256 of a unit's size and pixels (exact-duplicate key)."""
    digest = hashlib.sha256(f"{image.shape[0]}x{image.shape[1]}:".encode())
    digest.update(np.ascontiguousarray(image).data)
    return digest.hexdigest()


def cut(image: np.ndarray, box: Box, pad: int) -> tuple[np.ndarray, Box]:
    """Cut `box` grown by `pad` out of `image`, clipped to it.

    Parameters
    ----------
    image : numpy.ndarray
        uint8 ``(H, W)``.
    box : Box
        ``(x0, y0, x1, y1)`` in `image` pixels (may reach outside it).
    pad : int
        Pixels added on every side.

    Returns
    -------
    pixels : numpy.ndarray
        uint8 ``(h, w)`` copy.
    box : Box
        The clipped box actually cut.

    Raises
    ------
    ValueError
        The box lies outside the image.
    """
    height, width = image.shape
    x0, y0 = max(box[0] - pad, 0), max(box[1] - pad, 0)
    x1, y1 = min(box[2] + pad, width), min(box[3] + pad, height)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"box {list(box)} lies outside the {width}x{height} image")
    return image[y0:y1, x0:x1].copy(), (x0, y0, x1, y1)


def char_array(image: np.ndarray, size: int = CHAR_SIZE) -> np.ndarray:
    """Fit a character image into a ``(size, size)`` square, aspect kept, centred.

    Parameters
    ----------
    image : numpy.ndarray
        uint8 ``(h, w)`` character, dark ink on light paper.
    size : int
        Side of the square.

    Returns
    -------
    numpy.ndarray
        uint8 ``(size, size)``: the longer side scaled to `size`, the rest filled with
        the median gray of the image's border (its paper).
    """
    height, width = image.shape
    scale = size / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    out = np.full((size, size), np.uint8(np.median(border)), np.uint8)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    out[top : top + new_h, left : left + new_w] = resized
    return out


@dataclass(frozen=True, eq=False)
class Parent:
    """What the units cut out of one image share: id, pixels, geometry and provenance.

    Parameters
    ----------
    id : str
        Id of the unit the new ones hang under.
    image : numpy.ndarray
        uint8 ``(H, W)`` pixels to cut from (a rectified field crop, or a page).
    to_page : numpy.ndarray or None
        ``(3, 3)`` image pixels -> page pixels, None when the image is the page.
    source, origin, document : str
        As in :class:`Unit`.
    meta : dict
        Manifest fields shared by the new units (``field``, ``kind``, ``font``...).
    """

    id: str
    image: np.ndarray
    to_page: np.ndarray | None
    source: str
    origin: str
    document: str
    meta: dict[str, Any] = field(default_factory=dict)

    def unit(self, uid: str, parent: str | None, level: str, box: Box, text: str) -> Unit:
        """Cut one unit (padded per level) and return it."""
        pixels, got = cut(self.image, box, PADS.get(level, 0))
        page = got if self.to_page is None else page_box(got, self.to_page)
        meta = {**self.meta, "box": list(got), "page_box": list(page)}
        return Unit(uid, parent, level, pixels, text, self.source, self.origin, self.document, meta)


def annotated_units(
    parent: Parent,
    lines: list[dict[str, Any]],
    levels: Iterable[str],
    to_image: Callable[[Iterable[Any]], Box] | None = None,
) -> list[Unit]:
    """Cut the lines, words and characters of an annotation (synth truth schema).

    Parameters
    ----------
    parent : Parent
        The image the boxes are cut from, and the units' shared fields.
    lines : list of dict
        ``{"box", "text", "words": [{"box", "text", "chars": [{"char", "box"}]}]}``;
        ``words`` and ``chars`` may be missing.
    levels : iterable of str
        Levels to emit.
    to_image : callable, optional
        Maps an annotation box to `parent.image` pixels (default: unchanged).

    Returns
    -------
    list of Unit
        In reading order, lines before their words before their characters.

    Raises
    ------
    KeyError, TypeError, ValueError
        Malformed annotation (the caller records it).
    """
    from medocr.text import normalize_text

    wanted = set(levels)
    move = to_image or as_box
    out = []
    for i, line in enumerate(lines):
        line_id = f"{parent.id}/l{i}"
        if "line" in wanted:
            text = normalize_text(str(line["text"]))
            out.append(parent.unit(line_id, parent.id, "line", move(line["box"]), text))
        for j, word in enumerate(line.get("words") or ()):
            word_id = f"{line_id}/w{j}"
            if "word" in wanted:
                text = normalize_text(str(word["text"]))
                out.append(parent.unit(word_id, line_id, "word", move(word["box"]), text))
            if "char" in wanted:
                for k, char in enumerate(word.get("chars") or ()):
                    text = normalize_text(str(char["char"]))
                    box = move(char["box"])
                    out.append(parent.unit(f"{word_id}/c{k}", word_id, "char", box, text))
    return out


def segmented_lines(segments: list[LineSegments], text: str) -> list[dict[str, Any]]:
    """Turn a segmentation into the annotation schema, labelled where counts agree.

    Parameters
    ----------
    segments : list of LineSegments
        From :func:`medocr.preprocess.segment.segment_field` (crop pixels).
    text : str
        The field's text (lines joined by newlines).

    Returns
    -------
    list of dict
        As :func:`annotated_units` takes; a line's text is used when the field has as
        many text lines as segmented lines, a word's when the line has as many words,
        a character's when the word has as many characters; ``""`` otherwise.
    """
    texts = text.split("\n")
    lines = []
    for i, seg in enumerate(segments):
        line_text = texts[i] if len(texts) == len(segments) else ""
        words = line_text.split()
        if len(words) != len(seg.words):
            words = [""] * len(seg.words)
        lines.append(
            {
                "box": seg.line.box,
                "text": line_text,
                "words": [
                    _segmented_word(region.box, chars, word)
                    for region, chars, word in zip(seg.words, seg.chars, words, strict=True)
                ],
            }
        )
    return lines


def _segmented_word(box: Box, chars: tuple[Any, ...], text: str) -> dict[str, Any]:
    labels = list(text) if len(text) == len(chars) else [""] * len(chars)
    return {
        "box": box,
        "text": text,
        "chars": [{"char": c, "box": r.box} for r, c in zip(chars, labels, strict=True)],
    }


def as_box(values: Iterable[Any]) -> Box:
    """Return four numbers as a :data:`~medocr.types.Box` of ints (raises ValueError)."""
    x0, y0, x1, y1 = (int(v) for v in values)
    return (x0, y0, x1, y1)


def to_crop(to_page: np.ndarray) -> Callable[[Iterable[Any]], Box]:
    """Return a function mapping page boxes into the pixels of a crop (``to_page``)."""
    return lambda box: crop_box(as_box(box), to_page)
