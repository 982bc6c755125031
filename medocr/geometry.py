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
    """Clip a box at 0 and, when given, at `width` / `height`.

    A box wholly outside the page clips to an empty box on the nearest edge
    (``x0 == x1`` or ``y0 == y1``), never to an inverted one.
    """
    x_high = box[2] if width is None else width
    y_high = box[3] if height is None else height
    x0, y0 = min(max(box[0], 0), x_high), min(max(box[1], 0), y_high)
    x1, y1 = max(min(box[2], x_high), x0), max(min(box[3], y_high), y0)
    return (x0, y0, x1, y1)


def box_inside(matrix: np.ndarray, box: Box, width: int, height: int, tolerance: float) -> bool:
    """Whether `box` moved by `matrix` lies inside a ``width`` x ``height`` page.

    Parameters
    ----------
    matrix : numpy.ndarray
        ``(3, 3)`` homography from the box's frame to page pixels.
    box : Box
        The box, e.g. a template field.
    width, height : int
        The page size in pixels.
    tolerance : float
        Pixels a corner may lie beyond the page edge (registration noise).

    Returns
    -------
    bool
        True when all four corners are inside the page (within `tolerance`).
    """
    corners = transform_points(matrix, box_corners(box))
    x, y = corners[:, 0], corners[:, 1]
    return bool(
        (x >= -tolerance).all()
        and (y >= -tolerance).all()
        and (x <= width + tolerance).all()
        and (y <= height + tolerance).all()
    )
