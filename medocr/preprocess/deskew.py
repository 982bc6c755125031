"""Page skew estimation and correction.

The skew is the angle that makes the horizontal projection profile of the page's ink
sharpest: the printed ruling, box borders and text lines all line up with the rows when
the page is straight. The profile is computed exactly from the ink pixel coordinates
(sheared, not resampled), coarse to fine (1 degree, then quarter steps down to 0.004
degree), on an ink mask reduced to about :data:`WORK_WIDTH` pixels wide. (A Hough
line-segment estimator was tried first: at equal precision it needed a finer angle grid
and was several times slower.) Figures: ``benchmarks/bench_forms.py``.

Angle convention: degrees, positive = the page content is rotated counter-clockwise on
screen (a horizontal line of the form rises to the right), as ``cv2.getRotationMatrix2D``.
"""

from __future__ import annotations

import cv2
import numpy as np

from medocr.preprocess.binarize import gray_percentile, ink_points
from medocr.types import Page

WORK_WIDTH = 400
MAX_ANGLE = 15.0


def _ink_mask(image: np.ndarray) -> np.ndarray:
    """Reduce to about :data:`WORK_WIDTH` pixels wide and threshold (255 = ink)."""
    factor = min(1.0, WORK_WIDTH / image.shape[1])
    small = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    return cv2.adaptiveThreshold(
        small, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 15
    )


def _profile_skew(mask: np.ndarray, max_angle: float) -> float:
    """Return the angle whose shear-corrected row histogram of ink is sharpest.

    Each ink pixel ``(x, y)`` goes to row ``y + (x - cx) * tan(angle)``: a shear, which for
    small angles equals the rotation and moves no pixel out of the histogram. The
    sharpness is the sum of squared row counts; search coarse to fine.
    """
    ys, xs = ink_points(mask)
    ys = ys.astype(np.float64)
    xs = xs.astype(np.float64) - mask.shape[1] / 2
    offset = mask.shape[1] * np.tan(np.radians(max_angle)) + 1

    def sharpness(angle: float) -> float:
        rows = np.round(ys + xs * np.tan(np.radians(angle)) + offset).astype(np.int64)
        counts = np.bincount(rows)
        return float(np.dot(counts, counts))

    best, step = 0.0, 1.0
    candidates = np.arange(-max_angle, max_angle + step, step)
    while step >= 0.01:
        best = float(max(candidates, key=sharpness))
        step /= 4
        candidates = best + np.arange(-4, 5) * step
    return best


def estimate_skew(image: np.ndarray, *, max_angle: float = MAX_ANGLE) -> float:
    """Estimate the rotation of a page.

    Parameters
    ----------
    image : numpy.ndarray
        uint8 ``(H, W)`` page, dark ink on light paper.
    max_angle : float
        Largest skew considered, degrees.

    Returns
    -------
    float
        Degrees, positive = content rotated counter-clockwise; 0.0 for a blank page.
    """
    mask = _ink_mask(image)
    if not mask.any():
        return 0.0
    return _profile_skew(mask, max_angle)


def rotation_matrix(angle: float, shape: tuple[int, int]) -> np.ndarray:
    """Return the ``(3, 3)`` matrix that rotates an ``(H, W)`` image by `angle` about its centre."""
    height, width = shape
    return np.vstack([cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0), [0, 0, 1]])


def deskew(page: Page, *, angle: float | None = None, max_angle: float = MAX_ANGLE) -> Page:
    """Return the page rotated upright, with its transform updated.

    Parameters
    ----------
    page : Page
        The page.
    angle : float, optional
        Known skew; estimated with :func:`estimate_skew` when omitted.
    max_angle : float
        See :func:`estimate_skew`.

    Returns
    -------
    Page
        Same size; corners uncovered by the rotation are filled with the page's paper
        colour; ``transform`` = rotation @ ``page.transform``.
    """
    if angle is None:
        angle = estimate_skew(page.image, max_angle=max_angle)
    matrix = rotation_matrix(-angle, page.shape)
    height, width = page.shape
    paper = int(gray_percentile(page.image, 95))
    image = cv2.warpAffine(
        page.image,
        matrix[:2],
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=paper,
    )
    return Page(image, page.source, page.page_index, page.dpi, matrix @ page.transform)
