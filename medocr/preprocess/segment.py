"""Segmentation of rectified field crops into lines and words, and the field-level wrappers.

Everything here works on the handwriting ink of one crop (a bool mask ``(H, W)``, e.g.
from :func:`medocr.preprocess.clean.clean_field`) and in *crop pixels*; a
:class:`~medocr.preprocess.regions.Region` is a box ``(x0, y0, x1, y1)`` with the unit's
own ink inside it. The thin wrappers :func:`line_images` and :func:`char_images` turn the
regions of a :class:`~medocr.types.FieldCrop` into :class:`~medocr.types.LineImage` and
:class:`~medocr.types.CharImage` with boxes in original-page pixels (:func:`page_box`).

- Lines: the centres of the main connected components are grouped at their widest
  vertical gaps, never into more groups than the template's line count; the cut
  between two groups is the row of least ink between them, and every component
  (accents, dots and commas too) goes to the side of the cut its centroid lies on; a
  component with a fair share of its ink on both sides (touching lines) is cut there.
- Words: gaps in the column profile of the deslanted line are split into letter gaps
  and word gaps by Otsu's criterion on their widths, the threshold bounded by multiples
  of the line's x-height (all measured on the line itself).
- Characters: :func:`medocr.preprocess.chars.find_chars` (its names, and
  :class:`~medocr.preprocess.regions.Region` and
  :class:`~medocr.preprocess.regions.LineStats`, can still be imported from here).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from medocr.geometry import clip_box, transform_box
from medocr.preprocess.binarize import components, ink_points, run_lengths
from medocr.preprocess.chars import (
    CHAR_WIDTH,
    CONTOUR_WEIGHT,
    DISTANCE_WEIGHT,
    FRAGMENT_AREA,
    MERGE_OVERLAP,
    SPLIT_RATIO,
    find_chars,
)
from medocr.preprocess.clean import binarize_field, clean_field
from medocr.preprocess.forms import CROP_MARGIN
from medocr.preprocess.regions import LineStats, Region
from medocr.types import Box, CharImage, FieldCrop, LineImage

__all__ = [
    "LINE_PAD_X",
    "WORD_GAP_RANGE",
    "LineSegments",
    "char_images",
    "crop_box",
    "find_lines",
    "find_words",
    "line_images",
    "measure_line",
    "page_box",
    "segment_field",
    "segment_ink",
    # From medocr.preprocess.chars and medocr.preprocess.regions, still importable here.
    "CHAR_WIDTH",
    "CONTOUR_WEIGHT",
    "DISTANCE_WEIGHT",
    "FRAGMENT_AREA",
    "MERGE_OVERLAP",
    "SPLIT_RATIO",
    "LineStats",
    "Region",
    "find_chars",
]

#: Word gaps are told from letter gaps per line, within these bounds in x-heights
#: (chosen by measurement on synthetic lines).
WORD_GAP_RANGE = (0.4, 0.7)
#: Paper kept left and right of a line's ink box, as a fraction of its height
#: (measured on synthetic certificate lines: faint stroke ends kept).
LINE_PAD_X = 0.5
_SLANTS = np.round(np.arange(-0.3, 0.61, 0.05), 2)


@dataclass(frozen=True, eq=False)
class LineSegments:
    """One segmented line: the line, its words and each word's characters (crop pixels).

    Parameters
    ----------
    line : Region
        The whole line.
    words : tuple of Region
        Left to right.
    chars : tuple of tuple of Region
        For each word, its characters left to right.
    stats : LineStats
        The line's x-height, stroke width and slant.
    """

    line: Region
    words: tuple[Region, ...]
    chars: tuple[tuple[Region, ...], ...]
    stats: LineStats


# ---------------------------------------------------------------- boxes


def page_box(box: Box, to_page: np.ndarray) -> Box:
    """Map a crop box to page pixels: the axis-aligned bound of its 4 moved corners.

    Parameters
    ----------
    box : Box
        ``(x0, y0, x1, y1)`` in crop pixels.
    to_page : numpy.ndarray
        float64 ``(3, 3)`` crop -> page homography (:attr:`FieldCrop.to_page`).

    Returns
    -------
    Box
        Rounded outwards, clipped at 0.
    """
    return _moved_box(box, to_page)


def crop_box(box: Box, to_page: np.ndarray) -> Box:
    """Map a page box into crop pixels (the inverse of :func:`page_box`, for ground truth).

    Parameters
    ----------
    box : Box
        ``(x0, y0, x1, y1)`` in page pixels.
    to_page : numpy.ndarray
        float64 ``(3, 3)`` crop -> page homography.

    Returns
    -------
    Box
        Axis-aligned bound of the 4 moved corners, rounded outwards (may fall outside
        the crop).
    """
    return _moved_box(box, np.linalg.inv(to_page), clip=False)


def _moved_box(box: Box, matrix: np.ndarray, clip: bool = True) -> Box:
    moved = transform_box(matrix, box, tolerance=1e-6)
    return clip_box(moved) if clip else moved


# ---------------------------------------------------------------- line measurements


def measure_line(line: Region) -> LineStats:
    """Measure a line's x-height, stroke width and slant from its ink.

    Parameters
    ----------
    line : Region
        The line's ink.

    Returns
    -------
    LineStats
    """
    stroke = _stroke_width(line.mask)
    ys, xs = line.points()
    low, centre, high = np.quantile(ys, [0.1, 0.5, 0.9])
    x_height = max(float(high - low), 2.0 * stroke, 4.0)
    return LineStats(x_height, stroke, _slant(ys, xs, float(centre)), float(centre))


def _stroke_width(mask: np.ndarray) -> float:
    """Return the median over ink pixels of the shorter of their horizontal and vertical runs."""
    across = np.minimum(run_lengths(mask), run_lengths(mask, vertical=True))
    return float(np.median(across[mask])) if mask.any() else 1.0


def _slant(ys: np.ndarray, xs: np.ndarray, centre: float) -> float:
    """Return the shear among :data:`_SLANTS` that makes the column profile most peaked."""
    best, best_score = 0.0, -1.0
    for slant in _SLANTS:
        cols = np.round(xs + slant * (ys - centre)).astype(np.int64)
        counts = np.bincount(cols - cols.min())
        score = float(np.dot(counts, counts))
        if score > best_score + 1e-9:
            best, best_score = float(slant), score
    return best


# ---------------------------------------------------------------- lines


def find_lines(ink: np.ndarray, n_lines: int = 1) -> list[Region]:
    """Split a field's handwriting into at most `n_lines` lines, top to bottom.

    Parameters
    ----------
    ink : numpy.ndarray
        bool ``(H, W)`` handwriting of one crop (ruling already removed).
    n_lines : int
        The template's line count for the field (a maximum: empty lines give nothing).

    Returns
    -------
    list of Region
        One per non-empty line; ``[]`` for a blank crop.

    Raises
    ------
    ValueError
        `n_lines` < 1.
    """
    if n_lines < 1:
        raise ValueError(f"n_lines must be at least 1, got {n_lines}")
    count, labels, stats, centroids = components(ink)
    if count <= 1:
        return []
    ys, xs = ink_points(ink)
    owner = labels[ys, xs]
    if n_lines == 1:
        return [Region.from_points(ys, xs)]
    cuts = _line_cuts(ink, stats[1:], centroids[1:, 1], n_lines)
    line_of = np.zeros(count, np.int64)
    line_of[1:] = np.searchsorted(cuts, centroids[1:, 1])
    assigned = line_of[owner]
    for label in _bridges(stats, cuts, owner, ys):
        on = owner == label
        assigned[on] = np.searchsorted(cuts, ys[on])
    return [
        Region.from_points(ys[assigned == n], xs[assigned == n])
        for n in range(len(cuts) + 1)
        if np.any(assigned == n)
    ]


def _line_cuts(ink: np.ndarray, stats: np.ndarray, centres: np.ndarray, n_lines: int) -> np.ndarray:
    """Return the rows ``(L - 1,)`` float64 that separate the lines, top to bottom.

    The centres of the main components (at least half as tall as the typical large
    component: not dots, accents or commas) are grouped at their widest gaps (at most
    ``n_lines - 1`` of them, each wider than 0.8 typical heights); each cut is the row
    of least ink between two groups' median centres.
    """
    heights = stats[:, cv2.CC_STAT_HEIGHT].astype(np.float64)
    areas = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    height = float(np.median(heights[areas >= 0.25 * areas.max()]))
    order = np.sort(centres[heights >= 0.5 * height])
    if order.size < 2:
        return np.zeros(0)
    gaps = np.diff(order)
    widest = sorted(int(i) for i in np.argsort(gaps)[::-1][: n_lines - 1] if gaps[i] > 0.8 * height)
    if not widest:
        return np.zeros(0)
    bounds = [0, *[i + 1 for i in widest], order.size]
    middles = [float(np.median(order[a:b])) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    profile = cv2.blur(ink.sum(axis=1, dtype=np.float32).reshape(-1, 1), (1, 5)).ravel()
    cuts = []
    for upper, lower in zip(middles[:-1], middles[1:], strict=True):
        top, bottom = int(np.ceil(upper)), int(np.floor(lower)) + 1
        cuts.append(top + float(np.argmin(profile[top:bottom])) if bottom > top else upper)
    return np.asarray(cuts, np.float64)


def _bridges(stats: np.ndarray, cuts: np.ndarray, owner: np.ndarray, ys: np.ndarray) -> list[int]:
    """Return the labels of components that lie on both sides of a cut (touching lines).

    A component bridges two lines when at least a fifth of its ink lies on each side
    of a cut; a descender that only dips across keeps its line.
    """
    if cuts.size == 0:
        return []
    tops = stats[:, cv2.CC_STAT_TOP]
    bottoms = tops + stats[:, cv2.CC_STAT_HEIGHT]
    found = []
    for cut in cuts:
        for label in np.flatnonzero((tops < cut) & (bottoms > cut)):
            if label == 0:
                continue
            above = float(np.mean(ys[owner == label] < cut))
            if 0.2 <= above <= 0.8:
                found.append(int(label))
    return found


# ---------------------------------------------------------------- words


def find_words(
    line: Region,
    stats: LineStats | None = None,
    *,
    gap_range: tuple[float, float] = WORD_GAP_RANGE,
) -> list[Region]:
    """Split a line into words at the wide gaps of its deslanted column profile.

    The gaps (runs of empty columns once the line is deslanted) are split in two
    classes, letter gaps and word gaps, at the threshold that best separates them
    (Otsu's criterion on the gap widths), kept within ``gap_range`` x-heights of the
    line; with fewer than two gaps the middle of that range is used.

    Parameters
    ----------
    line : Region
        The line's ink.
    stats : LineStats, optional
        The line's measurements (computed when not given).
    gap_range : tuple of float
        Lowest and highest word-gap threshold, in x-heights.

    Returns
    -------
    list of Region
        Left to right.
    """
    stats = stats or measure_line(line)
    ys, xs = line.points()
    cols = np.round(stats.deslant(ys, xs)).astype(np.int64)
    first = int(cols.min())
    starts, ends = _runs(np.bincount(cols - first) == 0)
    widths = (ends - starts).astype(np.float64)
    low, high = (g * stats.x_height for g in gap_range)
    threshold = np.clip(_split_level(widths), low, high) if widths.size >= 2 else (low + high) / 2
    wide = widths > threshold
    cuts = first + (starts[wide] + ends[wide]) / 2.0
    word = np.searchsorted(cuts, cols)
    return [Region.from_points(ys[word == n], xs[word == n]) for n in range(len(cuts) + 1)]


def _split_level(values: np.ndarray) -> float:
    """Return Otsu's threshold of values ``(N,)``, N >= 2 (max between-class variance)."""
    ordered = np.sort(values)
    count = ordered.size
    left = np.arange(1, count)
    sums = np.cumsum(ordered)[:-1]
    mean_left = sums / left
    mean_right = (ordered.sum() - sums) / (count - left)
    score = left * (count - left) * (mean_right - mean_left) ** 2
    best = int(np.argmax(score))
    return float((ordered[best] + ordered[best + 1]) / 2)


def _runs(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the starts and (exclusive) ends ``(R,)`` of the runs of True in ``(N,)`` flags."""
    step = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return np.flatnonzero(step == 1), np.flatnonzero(step == -1)


# ---------------------------------------------------------------- fields


def segment_ink(ink: np.ndarray, n_lines: int = 1) -> list[LineSegments]:
    """Segment a crop's handwriting into lines, words and characters (crop pixels).

    Parameters
    ----------
    ink : numpy.ndarray
        bool ``(H, W)`` handwriting (e.g. :func:`~medocr.preprocess.clean.clean_field`).
    n_lines : int
        The template's line count for the field.

    Returns
    -------
    list of LineSegments
        Top to bottom; ``[]`` when the crop holds no handwriting.
    """
    out = []
    for line in find_lines(ink, n_lines):
        stats = measure_line(line)
        words = find_words(line, stats)
        chars = tuple(tuple(find_chars(word, stats)) for word in words)
        out.append(LineSegments(line, tuple(words), chars, stats))
    return out


def segment_field(
    crop: FieldCrop,
    n_lines: int = 1,
    *,
    ink: np.ndarray | None = None,
    margin: tuple[int, int] | None = CROP_MARGIN,
) -> list[LineSegments]:
    """Segment a field crop (crop pixels): :func:`clean_field` then :func:`segment_ink`.

    Parameters
    ----------
    crop : FieldCrop
        A rectified field crop (default margin of
        :func:`~medocr.preprocess.forms.extract_fields`).
    n_lines : int
        The template's line count for the field (``TemplateField.lines``).
    ink : numpy.ndarray, optional
        bool ``(H, W)`` handwriting of the crop, when already computed.
    margin : tuple of int or None
        The crop margin given to ``extract_fields`` (see :func:`clean_field`).

    Returns
    -------
    list of LineSegments
        Top to bottom; ``[]`` for a blank field.
    """
    if ink is None:
        ink = clean_field(crop.image, margin=margin, n_lines=n_lines)
    return segment_ink(ink, n_lines)


def line_images(
    crop: FieldCrop,
    n_lines: int = 1,
    *,
    segments: list[LineSegments] | None = None,
    lines: list[Region] | None = None,
    pad: int = 4,
    pad_x: float = LINE_PAD_X,
    isolate: bool = True,
    ink: np.ndarray | None = None,
) -> list[LineImage]:
    """Cut a field crop into line images with boxes in original-page pixels.

    Parameters
    ----------
    crop : FieldCrop
        A rectified field crop.
    n_lines : int
        The template's line count for the field.
    segments : list of LineSegments, optional
        The crop's segmentation (:func:`segment_field`), when already computed.
    lines : list of Region, optional
        Or only its lines (:func:`find_lines` on the crop's cleaned ink): all it takes.
    pad : int
        Pixels of paper kept around each line's ink box (within the crop).
    pad_x : float
        More kept left and right of it, as a fraction of the box's height: the ends of
        strokes too faint for the binarisation.
    isolate : bool
        Paint the crop's ink that is not the line's own (ruling, specks, printed labels,
        strokes of the other lines), with a 1-pixel rim, with the local paper gray.
        The rest keeps its gray: a faint stroke that the binarisation missed is read,
        not erased.
    ink : numpy.ndarray, optional
        bool ``(H, W)``, the crop's binarised ink before cleaning
        (:func:`~medocr.preprocess.clean.binarize_field`, computed when not given):
        what `isolate` paints.

    Returns
    -------
    list of LineImage
        Top to bottom; ``[]`` for a blank field.
    """
    if segments is not None and lines is not None:
        raise ValueError("give the crop's segments or its lines, not both")
    if lines is None:
        segments = segment_field(crop, n_lines) if segments is None else segments
        lines = [seg.line for seg in segments]
    if isolate and lines and ink is None:
        ink = binarize_field(crop.image)
    out = []
    for index, line in enumerate(lines):
        grow = round(pad_x * (line.box[3] - line.box[1]))
        image, box = _cut(crop.image, line, (pad + grow, pad), ink if isolate else None)
        out.append(LineImage(image, page_box(box, crop.to_page), crop.name, index))
    return out


def char_images(
    crop: FieldCrop,
    n_lines: int = 1,
    *,
    segments: list[LineSegments] | None = None,
    pad: int = 2,
    isolate: bool = True,
) -> list[CharImage]:
    """Cut a field crop into character images with boxes in original-page pixels.

    Parameters
    ----------
    crop : FieldCrop
        A rectified field crop.
    n_lines : int
        The template's line count for the field.
    segments : list of LineSegments, optional
        The crop's segmentation (:func:`segment_field`), when already computed.
    pad : int
        Pixels kept around each character's ink box (within the crop).
    isolate : bool
        Paint everything but the character's own ink with the local paper gray.

    Returns
    -------
    list of CharImage
        In reading order; ``char_index`` counts the characters of a line across its
        words (spaces are not characters).
    """
    segments = segment_field(crop, n_lines) if segments is None else segments
    out = []
    for line_index, seg in enumerate(segments):
        chars = [char for word in seg.chars for char in word]
        for char_index, char in enumerate(chars):
            image, box = _cut(crop.image, char, (pad, pad), None, isolate)
            out.append(
                CharImage(image, page_box(box, crop.to_page), crop.name, line_index, char_index)
            )
    return out


def _cut(
    image: np.ndarray,
    region: Region,
    pad: tuple[int, int],
    foreign: np.ndarray | None,
    isolate_all: bool = False,
) -> tuple[np.ndarray, Box]:
    """Return the gray pixels ``(h, w)`` of a region's box grown by `pad`, and that box.

    `pad` is ``(x, y)`` in pixels. Painted with the paper gray (the median of the
    pixels left alone), with a 1-pixel rim around the region's own ink spared: the
    pixels of `foreign` (bool ``(H, W)`` of the whole image) outside the region's own
    ink, or with `isolate_all` every pixel outside it.
    """
    height, width = image.shape
    x0, y0, x1, y1 = region.box
    pad_x, pad_y = pad
    box = (max(x0 - pad_x, 0), max(y0 - pad_y, 0), min(x1 + pad_x, width), min(y1 + pad_y, height))
    cut = image[box[1] : box[3], box[0] : box[2]].copy()
    if foreign is None and not isolate_all:
        return cut, box
    rim = np.ones((3, 3), np.uint8)
    own = np.zeros(cut.shape, np.uint8)
    own[y0 - box[1] : y1 - box[1], x0 - box[0] : x1 - box[0]] = region.mask
    own = cv2.dilate(own, rim).astype(bool)
    if foreign is None:
        paint = ~own
    else:
        window = foreign[box[1] : box[3], box[0] : box[2]].astype(np.uint8)
        paint = cv2.dilate(window, rim).astype(bool) & ~own
    rest = ~own & ~paint
    if paint.any():
        paper = np.median(cut[rest]) if rest.any() else np.median(cut[paint])
        cut[paint] = np.uint8(paper)
    return cut, box
