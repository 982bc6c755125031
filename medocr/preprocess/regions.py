"""The units of handwriting that segmentation finds, in crop pixels.

A :class:`Region` is a box ``(x0, y0, x1, y1)`` with the unit's own ink inside it (a line,
a word or a character); :class:`LineStats` holds a line's measurements (x-height, stroke
width, slant) that word and character segmentation scale with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medocr.preprocess.binarize import ink_points
from medocr.types import Box


@dataclass(frozen=True, eq=False)
class Region:
    """A unit of handwriting found in a crop.

    Parameters
    ----------
    box : Box
        ``(x0, y0, x1, y1)`` in crop pixels (exclusive ends).
    mask : numpy.ndarray
        bool ``(y1 - y0, x1 - x0)``: the unit's own ink inside `box`.
    """

    box: Box
    mask: np.ndarray

    @classmethod
    def from_points(cls, ys: np.ndarray, xs: np.ndarray) -> Region:
        """Build a region from the crop coordinates ``(N,)`` of its ink pixels."""
        y0, x0 = int(ys.min()), int(xs.min())
        y1, x1 = int(ys.max()) + 1, int(xs.max()) + 1
        mask = np.zeros((y1 - y0, x1 - x0), bool)
        mask[ys - y0, xs - x0] = True
        return cls((x0, y0, x1, y1), mask)

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the crop coordinates ``(ys, xs)``, each ``(N,)``, of the region's ink."""
        ys, xs = ink_points(self.mask)
        return ys + self.box[1], xs + self.box[0]


@dataclass(frozen=True)
class LineStats:
    """Measurements of one handwritten line, in pixels.

    Parameters
    ----------
    x_height : float
        Height of the line's body: rows between the 10th and 90th percentiles of its ink
        (about the x-height of lowercase writing, the capital height of capitals).
    stroke_width : float
        Median pen width.
    slant : float
        Shear that makes strokes upright: ``x' = x + slant * (y - centre)``.
    centre : float
        Median ink row (crop pixels), which the shear turns around.
    """

    x_height: float
    stroke_width: float
    slant: float
    centre: float

    def deslant(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """Return the deslanted columns ``(N,)`` float64 of points ``(N,)``."""
        return xs + self.slant * (ys - self.centre)
