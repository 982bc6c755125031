"""Binarisation of field crops, and the ink-mask primitives cleaning and segmentation use.

Every function takes a uint8 grayscale image ``(H, W)`` (dark ink on light paper) or a
bool ink mask ``(H, W)`` (True = ink).

- :func:`otsu` thresholds the whole image once; :func:`sauvola` thresholds each pixel
  against the mean and spread of its neighbourhood (integral sums via ``cv2.boxFilter``),
  which survives uneven lighting. Both return bool masks of the image's shape.
- :func:`components` labels the 8-connected components of a mask with their statistics;
  :func:`run_lengths` gives each ink pixel the length of its horizontal or vertical run.

The form-aware cleaning of a field crop (ruling removal, specks, margins, and
:func:`~medocr.preprocess.clean.clean_field` chaining them) is in
:mod:`medocr.preprocess.clean`; its names can still be imported from here.

Default parameters were chosen on synthetic certificates (``benchmarks/bench_segment.py``
measures them against the generator's handwriting layer and printed form).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from medocr._lazy import lazy_attributes
from medocr.preprocess.forms import CROP_MARGIN
from medocr.types import check_plane

if TYPE_CHECKING:  # re-exported below, for type checkers
    from medocr.preprocess.clean import (
        DASH_COVER,
        DASH_THICKNESS,
        DASH_TOLERANCE,
        FRINGE,
        ISOLATED_AREA,
        ISOLATED_RADIUS,
        MIN_AREA,
        clean_field,
        filter_components,
        remove_ruling,
    )

__all__ = [
    "CROP_MARGIN",
    "MIN_CONTRAST",
    "SAUVOLA_K",
    "SAUVOLA_R",
    "SAUVOLA_WINDOW",
    "components",
    "gray_percentile",
    "ink_points",
    "otsu",
    "run_lengths",
    "sauvola",
    # Moved to medocr.preprocess.clean, still importable from here: looked up there on
    # first use (__getattr__), since the cleaning builds on this module and importing it
    # here at load time would make an import cycle.
    "DASH_COVER",
    "DASH_THICKNESS",
    "DASH_TOLERANCE",
    "FRINGE",
    "ISOLATED_AREA",
    "ISOLATED_RADIUS",
    "MIN_AREA",
    "clean_field",
    "filter_components",
    "remove_ruling",
]

#: Sauvola window side (pixels at 200 dpi): larger than the widest pen strokes (~10 px),
#: small enough to follow the scanner's lighting (chosen by measurement).
SAUVOLA_WINDOW = 41
#: Sauvola sensitivity: higher keeps less faint ink and less paper noise.
SAUVOLA_K = 0.2
#: Dynamic range of the standard deviation for uint8 images (Sauvola's ``R``).
SAUVOLA_R = 128.0
#: Below this gray-level gap between Otsu's two classes the image holds no ink.
MIN_CONTRAST = 32.0


def _check_gray(image: np.ndarray) -> None:
    check_plane(image, np.uint8, "expected a uint8 grayscale image of shape (H, W)")


def ink_points(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the coordinates ``(ys, xs)``, each ``(N,)`` int64, of a mask's True pixels.

    The same as ``np.nonzero(mask)`` for a 2-D mask (raster order), several times
    faster: the flat indices of a contiguous bool copy, split into rows and columns.

    Parameters
    ----------
    mask : numpy.ndarray
        ``(H, W)``, any dtype (nonzero = True), any memory layout.
    """
    flat = np.flatnonzero(np.ascontiguousarray(mask, dtype=bool))
    return np.divmod(flat, mask.shape[1])


def components(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Label the 8-connected components of a mask, with their statistics.

    The same four outputs as ``cv2.connectedComponentsWithStats`` (connectivity 8,
    ``CV_32S``), equal to them value for value (a test holds it), in about half the
    time on field masks: OpenCV 5 labels with Grana's (BBDT) algorithm quickly, but its
    statistics pass costs several times the labelling, so the statistics here are
    summed over the horizontal runs of ink (a few per stroke and row) instead.

    Parameters
    ----------
    mask : numpy.ndarray
        bool or uint8 ``(H, W)``.

    Returns
    -------
    count : int
        Number of labels, background (label 0) included.
    labels : numpy.ndarray
        int32 ``(H, W)``.
    stats : numpy.ndarray
        int32 ``(count, 5)``: left, top, width, height, area (``cv2.CC_STAT_*``).
    centroids : numpy.ndarray
        float64 ``(count, 2)``: x, y (NaN for a label without pixels: the background of
        a mask that is all ink).
    """
    work = np.ascontiguousarray(mask, dtype=np.uint8)
    count, labels = cv2.connectedComponentsWithAlgorithm(work, 8, cv2.CV_32S, cv2.CCL_GRANA)
    height, width = work.shape
    stats = np.zeros((count, 5), np.int32)
    sums = np.zeros((count, 2), np.int64)  # sum of x and of y over each label's pixels
    if count > 1:
        _ink_statistics(work, labels, stats[1:], sums[1:])
    stats[0] = (*_paper_box(work), height * width - int(stats[1:, 4].sum()))
    sums[0] = (
        height * width * (width - 1) // 2 - int(sums[1:, 0].sum()),
        width * height * (height - 1) // 2 - int(sums[1:, 1].sum()),
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        centroids = sums / stats[:, 4:5].astype(np.float64)
    return count, labels, stats, centroids


def _ink_statistics(
    work: np.ndarray, labels: np.ndarray, stats: np.ndarray, sums: np.ndarray
) -> None:
    """Fill `stats` ``(count - 1, 5)`` and `sums` ``(count - 1, 2)`` of labels 1.. from runs."""
    padded, starts, ends = _row_runs(work)
    stride = padded.shape[1]
    rows, x0 = np.divmod(starts, stride)
    x1 = ends - rows * stride  # one past the run's last column
    run_labels = labels[rows, x0]
    order = np.argsort(run_labels, kind="stable")  # each label's runs stay in raster order
    run_labels, rows, x0, x1 = run_labels[order], rows[order], x0[order], x1[order]
    lengths = x1 - x0
    first = np.flatnonzero(np.diff(run_labels, prepend=0))
    last = np.append(first[1:], run_labels.size) - 1
    stats[:, 0] = np.minimum.reduceat(x0, first)
    stats[:, 1] = rows[first]
    stats[:, 2] = np.maximum.reduceat(x1, first) - stats[:, 0]
    stats[:, 3] = rows[last] - rows[first] + 1
    stats[:, 4] = np.add.reduceat(lengths, first)
    sums[:, 0] = np.add.reduceat((x0 + x1 - 1) * lengths, first) // 2
    sums[:, 1] = np.add.reduceat(rows * lengths, first)


def _paper_box(work: np.ndarray) -> tuple[int, int, int, int]:
    """Left, top, width, height of the background; OpenCV's values when there is none."""
    paper = work == 0
    rows = np.flatnonzero(paper.any(axis=1))
    if rows.size == 0:
        return (-1, 2**31 - 1, 0, 0)
    columns = np.flatnonzero(paper.any(axis=0))
    return (
        int(columns[0]),
        int(rows[0]),
        int(columns[-1] - columns[0] + 1),
        int(rows[-1] - rows[0] + 1),
    )


def gray_percentile(image: np.ndarray, q: float) -> float:
    """Return the `q`-th percentile of a uint8 image, from its histogram.

    Equals ``float(np.percentile(image, q))`` (linear interpolation, numpy's formula)
    but counts the 256 gray levels instead of partially sorting every pixel: about 20x
    faster on a 4-megapixel page.

    Parameters
    ----------
    image : numpy.ndarray
        uint8 array of any shape, not empty.
    q : float
        Percentile, 0..100.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        `image` is empty or not uint8, or `q` is outside 0..100.
    """
    if image.dtype != np.uint8 or image.size == 0:
        raise ValueError(f"expected a non-empty uint8 array, got {image.dtype} {image.shape}")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    flat = np.ascontiguousarray(image).reshape(1, -1)
    hist = cv2.calcHist([flat], [0], None, [256], [0, 256]).ravel()
    cumulative = np.cumsum(hist.astype(np.int64))
    rank = q / 100 * (image.size - 1)
    below = int(np.floor(rank))
    low = float(np.searchsorted(cumulative, below, side="right"))
    high = float(np.searchsorted(cumulative, min(below + 1, image.size - 1), side="right"))
    weight = rank - below
    if weight >= 0.5:  # numpy's lerp: from the upper end when nearer to it
        return high - (high - low) * (1 - weight)
    return low + (high - low) * weight


def otsu(image: np.ndarray, *, min_contrast: float = MIN_CONTRAST) -> np.ndarray:
    """Threshold an image at Otsu's global level.

    Parameters
    ----------
    image : numpy.ndarray
        uint8 ``(H, W)``, dark ink on light paper.
    min_contrast : float
        When the mean gray levels of the two Otsu classes differ by less than this, the
        image is taken as blank paper (Otsu would otherwise split the paper's noise).

    Returns
    -------
    numpy.ndarray
        bool ``(H, W)``, True = ink.

    Raises
    ------
    TypeError
        `image` is not a 2-D uint8 array.
    """
    _check_gray(image)
    if image.size == 0:
        return np.zeros(image.shape, bool)
    level, _ = cv2.threshold(image, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    ink = image <= level
    if ink.all() or not ink.any():
        return np.zeros(image.shape, bool)
    gap = float(image[~ink].mean()) - float(image[ink].mean())
    return ink if gap >= min_contrast else np.zeros(image.shape, bool)


def sauvola(
    image: np.ndarray,
    window: int = SAUVOLA_WINDOW,
    k: float = SAUVOLA_K,
    *,
    r: float = SAUVOLA_R,
) -> np.ndarray:
    """Threshold each pixel against its neighbourhood (Sauvola & Pietikäinen, 2000).

    The threshold is ``m * (1 + k * (s / r - 1))`` where ``m`` and ``s`` are the mean and
    standard deviation of the ``window x window`` neighbourhood, computed in O(1) per
    pixel with box filters on float32 sums.

    Parameters
    ----------
    image : numpy.ndarray
        uint8 ``(H, W)``, dark ink on light paper.
    window : int
        Neighbourhood side in pixels (odd; an even value is rounded up).
    k : float
        Sensitivity, usually 0.1..0.5.
    r : float
        Dynamic range of the standard deviation (128 for uint8).

    Returns
    -------
    numpy.ndarray
        bool ``(H, W)``, True = ink.

    Raises
    ------
    TypeError
        `image` is not a 2-D uint8 array.
    ValueError
        `window` < 3.
    """
    _check_gray(image)
    if window < 3:
        raise ValueError(f"sauvola window must be at least 3 pixels, got {window}")
    if image.size == 0:
        return np.zeros(image.shape, bool)
    size = (window | 1, window | 1)
    gray = image.astype(np.float32)
    mean = cv2.boxFilter(gray, cv2.CV_32F, size, borderType=cv2.BORDER_REFLECT)
    square = cv2.boxFilter(gray * gray, cv2.CV_32F, size, borderType=cv2.BORDER_REFLECT)
    std = np.sqrt(np.maximum(square - mean * mean, 0.0))
    return gray < mean * (1.0 + k * (std / r - 1.0))


def run_lengths(mask: np.ndarray, *, vertical: bool = False) -> np.ndarray:
    """Length of the horizontal (or vertical) run of True pixels each pixel belongs to.

    Parameters
    ----------
    mask : numpy.ndarray
        bool ``(H, W)``.
    vertical : bool
        Measure runs down the columns instead of along the rows.

    Returns
    -------
    numpy.ndarray
        int32 ``(H, W)``; 0 where `mask` is False.
    """
    work = np.ascontiguousarray(mask.T if vertical else mask)
    height, width = work.shape
    padded, starts, ends = _row_runs(work)
    lengths = (ends - starts).astype(np.int32)
    out = np.zeros(padded.size, np.int32)
    out[padded.ravel() != 0] = np.repeat(lengths, lengths)  # the ink pixels, in order
    out = out.reshape(height, width + 1)[:, :width]
    return np.ascontiguousarray(out.T) if vertical else out


def _row_runs(work: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Find the horizontal runs of ink of a mask ``(H, W)``, in raster order.

    Returns
    -------
    padded : numpy.ndarray
        int8 ``(H, W + 1)``: the mask as 0/1 with a column of 0 on the right, so that
        every run ends in its own row.
    starts, ends : numpy.ndarray
        int ``(R,)``: flat indices into ``padded`` of each run's first pixel and of the
        pixel after its last.
    """
    height, width = work.shape
    padded = np.zeros((height, width + 1), np.int8)
    padded[:, :width] = work != 0
    step = np.diff(padded.ravel(), prepend=np.int8(0))
    return padded, np.flatnonzero(step == 1), np.flatnonzero(step == -1)


#: The names that moved to :mod:`medocr.preprocess.clean`, looked up there on first use
#: (PEP 562): the cleaning builds on this module, so importing it here would be a cycle.
_MOVED = {name: "medocr.preprocess.clean" for name in __all__[__all__.index("DASH_COVER") :]}

__getattr__, __dir__ = lazy_attributes(__name__, _MOVED, globals())
