"""Field crops and page views cut from the source scans, for the review station.

Scans are decoded once and kept in a small cache (consecutive items of a queue ordered by
certificate share their page); the crop is the field's box in the scan's own pixels with
a margin of context, reduced to a width a screen shows, and encoded as PNG.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

#: Context added on each side of a field box, as a share of the box height (at least
#: `MIN_CONTEXT` pixels).
CONTEXT = 0.25
MIN_CONTEXT = 12
MAX_CROP_WIDTH = 900  # pixels sent to the browser
PAGE_VIEW_WIDTH = 600
ROUTE_COLOURS = {"accept": (60, 150, 60), "review": (30, 110, 230)}  # BGR


class PageCache:
    """The last `size` decoded pages, as gray ``(h, w)`` uint8 arrays; thread safe.

    Parameters
    ----------
    size : int
        Pages kept (an A4 page at 300 dpi is about 9 MB).
    """

    def __init__(self, size: int = 6) -> None:
        self.size = size
        self._pages: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path, page_index: int) -> np.ndarray:
        """Return the gray page ``(h, w)`` uint8 (decoded on first use).

        Raises
        ------
        medocr.errors.InputError
            The scan cannot be read any more.
        medocr.review.ReviewError
            The scan is not there any more, or has no such page.
        """
        key = (str(path), page_index)
        with self._lock:
            if key in self._pages:
                self._pages.move_to_end(key)
                return self._pages[key]
        image = _decode(path, page_index)
        with self._lock:
            self._pages[key] = image
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)
        return image


def _decode(path: Path, page_index: int) -> np.ndarray:
    from medocr.review.store import load_page

    image = load_page(path, page_index).image
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return image


def crop_with_context(
    page: np.ndarray, bbox: tuple[int, int, int, int], context: float = CONTEXT
) -> np.ndarray:
    """Cut the box with a margin of context, clipped to the page.

    Parameters
    ----------
    page : numpy.ndarray
        ``(h, w)`` uint8 page.
    bbox : tuple of int
        ``(x0, y0, x1, y1)`` in page pixels.
    context : float
        Margin as a share of the box height (at least :data:`MIN_CONTEXT` pixels).

    Returns
    -------
    numpy.ndarray
        ``(h', w')`` uint8 crop (at least 1×1, white when the box misses the page).
    """
    x0, y0, x1, y1 = bbox
    margin = max(MIN_CONTEXT, round(context * max(1, y1 - y0)))
    height, width = page.shape[:2]
    left, top = max(0, x0 - margin), max(0, y0 - margin)
    right, bottom = min(width, x1 + margin), min(height, y1 + margin)
    if right <= left or bottom <= top:
        return np.full((1, 1), 255, np.uint8)
    return page[top:bottom, left:right]


def fit_width(image: np.ndarray, max_width: int) -> np.ndarray:
    """Reduce `image` (never enlarge it) to at most `max_width` pixels wide."""
    height, width = image.shape[:2]
    if width <= max_width:
        return image
    size = (max_width, max(1, round(height * max_width / width)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def png_bytes(image: np.ndarray, compression: int = 6) -> bytes:
    """Encode a uint8 image as PNG (`compression` 0..9: higher is smaller and slower)."""
    ok, data = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, compression])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 array
        raise ValueError("the image cannot be encoded as PNG")
    return data.tobytes()


def posterise(image: np.ndarray, levels: int) -> np.ndarray:
    """Reduce a uint8 image to at most `levels` grey levels (2..256) spread over 0..255.

    On a noisy scan, 16 levels look the same to the eye and make a PNG 3 to 8 times
    smaller and faster to encode.
    """
    if not 2 <= levels <= 256:
        raise ValueError(f"levels must be within 2..256, not {levels}")
    step = 256 / levels
    table = (np.floor(np.arange(256) / step) * (255 / (levels - 1))).round().astype(np.uint8)
    return cv2.LUT(image, table)


def field_png(
    page: np.ndarray,
    bbox: tuple[int, int, int, int],
    max_width: int = MAX_CROP_WIDTH,
    *,
    levels: int | None = None,
    compression: int = 6,
) -> bytes:
    """Encode a field with its context as PNG, at most `max_width` pixels wide.

    `levels` (optional) reduces the grey levels first (:func:`posterise`); `compression`
    is the PNG compression level (0..9).
    """
    crop = fit_width(crop_with_context(page, bbox), max_width)
    return png_bytes(crop if levels is None else posterise(crop, levels), compression)


def page_view_png(
    page: np.ndarray,
    boxes: list[tuple[tuple[int, int, int, int], str]],
    highlight: tuple[int, int, int, int] | None = None,
    width: int = PAGE_VIEW_WIDTH,
) -> bytes:
    """Draw each field's box in its route's colour on a reduced page (PNG).

    Parameters
    ----------
    page : numpy.ndarray
        ``(h, w)`` uint8 page.
    boxes : list of (bbox, route)
        Field boxes in page pixels and their routes.
    highlight : tuple of int, optional
        A box drawn thicker (the field under review).
    width : int
        Width of the view in pixels.
    """
    scale = min(1.0, width / page.shape[1])
    small = fit_width(page, width)
    view = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR)
    for bbox, route in boxes:
        x0, y0, x1, y1 = (round(v * scale) for v in bbox)
        thickness = 3 if bbox == highlight else 1
        colour = ROUTE_COLOURS.get(route, (0, 0, 0))
        cv2.rectangle(view, (x0, y0), (x1, y1), colour, thickness)
    return png_bytes(view)
