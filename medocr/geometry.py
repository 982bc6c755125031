"""Box and point geometry under homographies, shared by synthesis, forms and segmentation.

Boxes are ``(x0, y0, x1, y1)`` with exclusive ends; matrices are ``(3, 3)`` homographies.
"""

from __future__ import annotations

import cv2
import numpy as np

from medocr.types import Box


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a homography to points.

    Parameters
    ----------
    matrix : numpy.ndarray
        ``(3, 3)``.
    points : numpy.ndarray
        ``(N, 2)`` x, y.

    Returns
    -------
    numpy.ndarray
        float64 ``(N, 2)``.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 1, 2)
    return cv2.perspectiveTransform(pts, np.asarray(matrix, np.float64)).reshape(-1, 2)


def box_corners(box: Box) -> np.ndarray:
    """Return the four corners ``(4, 2)`` of an exclusive box, clockwise from top-left."""
    x0, y0, x1, y1 = box
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def transform_box(matrix: np.ndarray, box: Box, *, tolerance: float = 0.0) -> Box:
    """Return the axis-aligned box (rounded outwards) containing `box` moved by `matrix`.

    Parameters
    ----------
    matrix : numpy.ndarray
        ``(3, 3)`` homography.
    box : Box
        The box to move.
    tolerance : float
        Corners within this distance of an integer round to it instead of outwards
        (absorbs float noise of exact integer mappings).

    Returns
    -------
    Box
        Not clipped: see :func:`clip_box`.
    """
    pts = transform_points(matrix, box_corners(box))
    low = np.floor(pts.min(axis=0) + tolerance)
    high = np.ceil(pts.max(axis=0) - tolerance)
    return (int(low[0]), int(low[1]), int(high[0]), int(high[1]))


def clip_box(box: Box, width: int | None = None, height: int | None = None) -> Box:
    """Clip a box at 0 and, when given, at `width` / `height`."""
    x0, y0, x1, y1 = max(box[0], 0), max(box[1], 0), box[2], box[3]
    if width is not None:
        x1 = min(x1, width)
    if height is not None:
        y1 = min(y1, height)
    return (x0, y0, x1, y1)
