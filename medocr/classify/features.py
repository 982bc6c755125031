"""Histogram-of-oriented-gradients features of character squares (Dalal & Triggs layout).

OpenCV 5 moved ``cv2.HOGDescriptor`` out of the main package (into opencv_contrib's
``xobjdetect``, opencv/opencv#25198), and medocr depends on the main package only, so
the descriptor is computed here, vectorised over a batch, with the same layout and
parameters as ``cv2.HOGDescriptor(winSize=(S, S), blockSize=(b*c, b*c),
blockStride=(c, c), cellSize=(c, c), nbins)``:

1. gradients with the centred ``[-1, 0, 1]`` kernel (one-sided at the borders);
2. per cell of ``c x c`` pixels, a histogram of gradient orientations (unsigned,
   0..180 degrees, or signed, 0..360) weighted by magnitude, each vote split linearly
   between the two nearest bins and (``interpolate``) bilinearly between the nearest
   cells;
3. blocks of ``b x b`` cells, one cell apart, each normalised by L2-Hys (L2, clip at
   0.2, L2 again);
4. every block's vector, concatenated.

Several cell sizes can be concatenated (``cells=(4, 7)``: fine and coarse shapes). The
parameters used by a model travel in its bundle (:meth:`HogParams.to_dict`); the values
shipped as defaults were chosen by measurement (``benchmarks/bench_classify.py``,
section "HOG parameters" of ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from medocr.classify import defaults

L2HYS_CLIP = 0.2
#: Images per vectorised pass (bounds the memory of the intermediate arrays).
CHUNK = 1024
_EPS = 1e-6


@dataclass(frozen=True)
class HogParams:
    """Parameters of the HOG descriptor.

    Parameters
    ----------
    size : int
        Side of the square character images the descriptor reads.
    cells : tuple of int
        Cell sides in pixels; one descriptor per cell size, concatenated. Each must
        divide `size` into at least `block` cells.
    block : int
        Block side in cells (blocks move one cell at a time).
    nbins : int
        Orientation bins per cell.
    signed : bool
        Signed gradients (0..360 degrees) instead of unsigned (0..180).
    interpolate : bool
        Split each pixel's vote between the nearest cells (bilinearly), as
        ``cv2.HOGDescriptor`` does; otherwise a pixel votes for its own cell only.
    """

    size: int = defaults.SIZE
    cells: tuple[int, ...] = defaults.HOG_CELLS
    block: int = 2
    nbins: int = defaults.HOG_BINS
    signed: bool = defaults.HOG_SIGNED
    interpolate: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "cells", tuple(int(c) for c in self.cells))
        if not self.cells or self.nbins < 2 or self.block < 1:
            raise ValueError(f"invalid HOG parameters {self}: need cells, nbins >= 2, block >= 1")
        for cell in self.cells:
            if cell < 2 or self.size % cell or self.size // cell < self.block:
                raise ValueError(
                    f"HOG cell size {cell} must be >= 2, divide the image size {self.size} "
                    f"and leave at least {self.block} cells per side"
                )

    @property
    def n_features(self) -> int:
        """Length of the descriptor."""
        total = 0
        for cell in self.cells:
            blocks = self.size // cell - self.block + 1
            total += blocks * blocks * self.block * self.block * self.nbins
        return total

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (stored in a bundle's ``meta.json``)."""
        return {**asdict(self), "cells": list(self.cells), "normalisation": "L2-Hys 0.2"}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HogParams:
        """Inverse of :meth:`to_dict`."""
        return cls(
            int(data["size"]),
            tuple(data["cells"]),
            int(data["block"]),
            int(data["nbins"]),
            bool(data["signed"]),
            bool(data["interpolate"]),
        )


def hog_features(images: np.ndarray, params: HogParams) -> np.ndarray:
    """Compute the HOG descriptor of each square image.

    Parameters
    ----------
    images : numpy.ndarray
        uint8 ``(N, S, S)`` with ``S = params.size``.
    params : HogParams
        Descriptor layout.

    Returns
    -------
    numpy.ndarray
        float32 ``(N, params.n_features)``, each block L2-Hys normalised.

    Raises
    ------
    ValueError
        Images of another shape.
    """
    if images.ndim != 3 or images.shape[1:] != (params.size, params.size):
        raise ValueError(
            f"HOG expects images (N, {params.size}, {params.size}), got {images.shape}"
        )
    out = np.empty((images.shape[0], params.n_features), np.float32)
    for start in range(0, images.shape[0], CHUNK):
        out[start : start + CHUNK] = _descriptor(images[start : start + CHUNK], params)
    return out


def _descriptor(images: np.ndarray, params: HogParams) -> np.ndarray:
    """HOG of a chunk of uint8 images ``(n, S, S)``: float32 ``(n, F)``."""
    magnitude, angle = _gradients(images.astype(np.float32) / 255.0)
    span = 2 * np.pi if params.signed else np.pi
    position = (angle % span) * (params.nbins / span) - 0.5  # bin centres at k + 0.5
    low = np.floor(position)
    share = (position - low).astype(np.float32)
    low = low.astype(np.int64) % params.nbins
    high = (low + 1) % params.nbins
    parts = [
        _blocks(
            _cell_histograms(magnitude, low, high, share, cell, params.nbins, params.interpolate),
            params.block,
        )
        for cell in params.cells
    ]
    return np.concatenate(parts, axis=1)


def _gradients(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return magnitude and angle (radians, -pi..pi), both ``(N, S, S)``, of float images."""
    gx = np.empty_like(images)
    gy = np.empty_like(images)
    gx[:, :, 1:-1] = images[:, :, 2:] - images[:, :, :-2]
    gx[:, :, 0] = images[:, :, 1] - images[:, :, 0]
    gx[:, :, -1] = images[:, :, -1] - images[:, :, -2]
    gy[:, 1:-1] = images[:, 2:] - images[:, :-2]
    gy[:, 0] = images[:, 1] - images[:, 0]
    gy[:, -1] = images[:, -1] - images[:, -2]
    return np.hypot(gx, gy), np.arctan2(gy, gx)


def _cell_histograms(
    magnitude: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    share: np.ndarray,
    cell: int,
    nbins: int,
    interpolate: bool,
) -> np.ndarray:
    """Return orientation histograms ``(N, S/cell, S/cell, nbins)`` of every cell."""
    n, size, _ = magnitude.shape
    weights = _cell_weights(size, cell, interpolate)
    out = np.empty((n, weights.shape[1], weights.shape[1], nbins), np.float32)
    to_low, to_high = magnitude * (1.0 - share), magnitude * share
    for b in range(nbins):
        votes = np.where(low == b, to_low, 0.0) + np.where(high == b, to_high, 0.0)
        out[..., b] = np.einsum("nyx,yi,xj->nij", votes, weights, weights, optimize=True)
    return out


def _cell_weights(size: int, cell: int, interpolate: bool) -> np.ndarray:
    """Share ``(size, size // cell)`` of each pixel row (or column) given to each cell.

    Without interpolation a pixel belongs to its cell; with it, its vote is split
    linearly between the two nearest cell centres (clamped at the borders).
    """
    per_side = size // cell
    weights = np.zeros((size, per_side), np.float32)
    pixels = np.arange(size)
    if not interpolate:
        weights[pixels, pixels // cell] = 1.0
        return weights
    position = np.clip((pixels + 0.5) / cell - 0.5, 0, per_side - 1)
    lower = np.floor(position).astype(int)
    upper = np.minimum(lower + 1, per_side - 1)
    frac = (position - lower).astype(np.float32)
    np.add.at(weights, (pixels, lower), 1.0 - frac)
    np.add.at(weights, (pixels, upper), frac)
    return weights


def _blocks(cells: np.ndarray, block: int) -> np.ndarray:
    """Return L2-Hys normalised blocks of ``block x block`` cells, flattened ``(N, F)``."""
    n, per_side, _, nbins = cells.shape
    count = per_side - block + 1
    out = np.empty((n, count, count, block * block * nbins), np.float32)
    for y in range(count):
        for x in range(count):
            out[:, y, x] = cells[:, y : y + block, x : x + block].reshape(n, -1)
    out /= np.sqrt((out**2).sum(axis=-1, keepdims=True) + _EPS)
    np.minimum(out, L2HYS_CLIP, out=out)
    out /= np.sqrt((out**2).sum(axis=-1, keepdims=True) + _EPS)
    return out.reshape(n, -1)
