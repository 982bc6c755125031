"""Form-aware cleaning of field crops: printed ruling, specks and margins taken out.

Works on the bool ink masks ``(H, W)`` (True = ink) of :mod:`medocr.preprocess.binarize`
and returns bool masks of the same shape.

- :func:`remove_ruling` takes the form's printed lines and box borders out of an ink
  mask, but leaves the pixels where a handwriting stroke crosses or touches a line.
- :func:`filter_components` drops specks, isolated blots and ink lying mostly in the
  crop's margin (printed labels, strokes of the neighbouring fields).
- :func:`clean_ink` chains them on the binarised ink of a field crop
  (:func:`binarize_field`), and :func:`clean_field` does both: it returns the
  handwriting alone.

Default parameters were chosen on synthetic certificates (``benchmarks/bench_segment.py``
measures them against the generator's handwriting layer and printed form).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from medocr.preprocess.binarize import (
    SAUVOLA_K,
    SAUVOLA_WINDOW,
    components,
    ink_points,
    otsu,
    run_lengths,
    sauvola,
)
from medocr.preprocess.forms import CROP_MARGIN
from medocr.types import check_plane

#: Rows of ink on each side of a detected line that belong to it (resampling fringe).
FRINGE = 2
#: Dashed (fax) lines: thin ink at most this thick covering this share of the width,
#: within this many pixels of where the form prints a line.
DASH_THICKNESS = 3
DASH_COVER = 0.3
DASH_TOLERANCE = 6
#: Sauvola's k for a second look at a field where no handwriting was found
#: (:func:`faint_ink`), and the fewest pixels it must add inside the box to be used.
FAINT_INK_K = 0.1
FAINT_INK_PIXELS = 50
#: Smaller ink components (pixels) are specks.
MIN_AREA = 6
#: Components smaller than this (pixels) with no other ink within ISOLATED_RADIUS pixels
#: are noise (an i-dot or accent has its letter close by).
ISOLATED_AREA = 40
ISOLATED_RADIUS = 20


def _check_mask(mask: np.ndarray) -> None:
    check_plane(mask, np.bool_, "expected a bool ink mask of shape (H, W)")


def _line_candidates(ink: np.ndarray, min_length: int, bridge: int, segment: int) -> np.ndarray:
    """Label the long, thin horizontal structures of a mask: int32 ``(H, W)``, 0 = none.

    A closing bridges the gaps of dashed (fax) lines, an opening with a short segment
    keeps horizontal runs (a line tilted by 1 degree still has runs of ~60 px), and only
    8-connected groups of such runs spanning `min_length` columns are kept, with the ink
    up to :data:`FRINGE` rows above and below them (resampling leaves short jagged runs
    along a thin line).
    """
    work = ink.astype(np.uint8)
    if bridge > 1:
        work = cv2.morphologyEx(work, cv2.MORPH_CLOSE, np.ones((1, bridge), np.uint8))
    opened = cv2.morphologyEx(work, cv2.MORPH_OPEN, np.ones((1, segment), np.uint8))
    count, labels, stats, _ = components(opened)
    long = stats[:, cv2.CC_STAT_WIDTH] >= min_length
    long[0] = False
    if count <= 1 or not long.any():
        return np.zeros(ink.shape, np.int32)
    height = ink.shape[0]
    fringe = np.ones((2 * FRINGE + 1, 1), np.uint8)
    out = np.zeros(ink.shape, np.int32)
    for label in np.flatnonzero(long):  # ascending: where fringes meet, the higher label
        x, y, w, h = stats[label, :4]
        rows = slice(max(y - FRINGE, 0), min(y + h + FRINGE, height))
        own = (labels[rows, x : x + w] == label).view(np.uint8)
        near = cv2.dilate(own, fringe).view(bool) & ink[rows, x : x + w]
        out[rows, x : x + w][near] = label
    return out


def _dashed_lines(
    ink: np.ndarray, rows: list[float], known: np.ndarray, runs: np.ndarray
) -> np.ndarray:
    """Label straight horizontal lines near `rows` that may be broken into dashes (fax).

    A restricted Hough transform: thin ink pixels (vertical run of at most
    :data:`DASH_THICKNESS`) are projected on rows for shears of -1.2..1.2 degrees; the
    best 3-row band within :data:`DASH_TOLERANCE` of an expected row is a line if it
    holds thin ink over :data:`DASH_COVER` of the width, spread over at least 7 of 8
    column bins. Rows where `known` (int32 ``(H, W)`` labels of lines already found)
    has a line are skipped. `runs` is ``run_lengths(ink, vertical=True)``. Returns int32
    ``(H, W)`` labels numbered after ``known.max()``, 0 = none.
    """
    height, width = ink.shape
    out = np.zeros(ink.shape, np.int32)
    found_rows = np.flatnonzero(np.count_nonzero(known, axis=1) >= DASH_COVER * width)
    todo = [r for r in rows if not np.any(np.abs(found_rows - r) <= DASH_TOLERANCE)]
    ys, xs = ink_points(ink & (runs <= DASH_THICKNESS))
    if not todo or xs.size < DASH_COVER * width:
        return out
    best = {r: (0.0, 0.0, 0.0) for r in todo}
    for slope in np.tan(np.radians(np.arange(-1.2, 1.21, 0.2))):
        offsets = np.round(ys - slope * (xs - width / 2)).astype(np.int64)
        low = int(offsets.min())
        band = np.convolve(np.bincount(offsets - low), np.ones(3), mode="same")
        for r in todo:
            lo = max(int(np.floor(r - DASH_TOLERANCE)) - low, 0)
            hi = min(int(np.ceil(r + DASH_TOLERANCE)) - low + 1, band.size)
            if hi > lo and band[lo:hi].max() > best[r][0]:
                peak = lo + int(np.argmax(band[lo:hi]))
                best[r] = (float(band[peak]), float(peak + low), float(slope))
    label = int(known.max()) + 1
    for votes, row, slope in best.values():
        if votes < DASH_COVER * width:
            continue
        near = np.abs(ys - slope * (xs - width / 2) - row) <= 1.5
        bins = np.bincount((xs[near] * 8) // width, minlength=8)
        if np.count_nonzero(bins >= 0.1 * width / 8) < 7:
            continue
        centre = row + slope * (np.arange(width) - width / 2)
        grid = np.abs(np.arange(height)[:, None] - centre[None, :]) <= 1.5 + FRINGE
        out[grid & ink & (out == 0) & (known == 0)] = label
        label += 1
    return out


def _pure_line(
    lines: np.ndarray, ink: np.ndarray, slack: float, runs: np.ndarray | None = None
) -> np.ndarray:
    """Keep the line pixels whose vertical ink run is no thicker than their line.

    `lines` labels the candidate lines (int32 ``(H, W)``, 0 = none). A line's thickness
    is the median vertical run over its pixels; where a run is thicker by more than
    ``max(2, slack * thickness)`` pixels a stroke crosses or touches the line there, and
    the whole run is left to the handwriting. `runs` is ``run_lengths(ink,
    vertical=True)`` when the caller has it. Returns bool ``(H, W)``.
    """
    ys, xs = ink_points(lines)
    out = np.zeros(lines.shape, bool)
    if ys.size == 0:
        return out
    if runs is None:
        runs = run_lengths(ink, vertical=True)
    ids, values = lines[ys, xs].astype(np.int64), runs[ys, xs].astype(np.int64)
    span = int(values.max()) + 1
    ordered = np.sort(ids * span + values)  # by line, then by run
    count = int(ids.max()) + 1
    starts = np.searchsorted(ordered, np.arange(count) * span)
    sizes = np.diff(np.append(starts, ordered.size))
    present = sizes > 0
    low = (ordered % span)[np.minimum(starts + (sizes - 1) // 2, ordered.size - 1)]
    high = (ordered % span)[np.minimum(starts + sizes // 2, ordered.size - 1)]
    thickness = np.where(present, (low + high) / 2.0, 0.0)  # each line's median run
    limit = thickness + np.maximum(2.0, slack * thickness)
    keep = values <= limit[ids]
    out[ys[keep], xs[keep]] = True
    return out


def _runs_without(column_runs: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """``run_lengths(ink, vertical=True)`` from the runs of a mask holding more ink.

    `column_runs` are the vertical runs of a mask that differs from `ink` in a few
    columns only (those of the vertical lines taken out): runs do not cross columns, so
    only those columns are measured again.
    """
    changed = np.flatnonzero(((column_runs > 0) != ink).any(axis=0))
    if changed.size == 0:
        return column_runs
    runs = column_runs.copy()
    runs[:, changed] = run_lengths(ink[:, changed], vertical=True)
    return runs


def remove_ruling(
    ink_mask: np.ndarray,
    *,
    min_length: int | tuple[int, int] | None = None,
    bridge: int = 5,
    segment: int = 25,
    slack: float = 0.5,
    edge_band: int | None = None,
    rows: Sequence[float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Remove printed ruling lines and box borders from an ink mask, sparing handwriting.

    Horizontal and vertical lines are found with long thin morphological kernels
    (tolerant to a residual tilt of about 1 degree). A line pixel is removed only where
    the ink across the line (its vertical run for a horizontal line) is about as thick
    as the line: where a handwriting stroke crosses, touches or rests on the line, the
    pixels stay, so the stroke is not cut.

    Parameters
    ----------
    ink_mask : numpy.ndarray
        bool ``(H, W)``, True = ink (e.g. from :func:`sauvola`).
    min_length : int or tuple of int, optional
        Shortest line removed, in pixels; ``(horizontal, vertical)`` to set each. By
        default 60% of the mask's width for horizontal lines and 55% of its height for
        vertical ones: in a field crop (default margin) the box borders span 58% (a
        checkbox) to 86% of it, and no handwritten stroke does.
    bridge : int
        Gaps up to this many pixels along a line are bridged (dashed fax lines).
    segment : int
        Length of the opening kernel; a stroke must run straight this far to count as
        part of a line.
    slack : float
        A crossing is a run thicker than the line by more than ``max(2, slack *
        thickness)`` pixels.
    edge_band : int, optional
        Look for vertical lines only within this many pixels of the left and right
        edges (the box borders of a field crop): a tall straight handwritten stem (an
        ``f`` or an ``l``) elsewhere is as thin and as straight as a printed line.
    rows : sequence of float, optional
        Rows where the form prints horizontal lines (box borders, writing lines): near
        them, straight lines of thin dashes are found too (a fax breaks thin lines
        into dashes too short for the opening). Not searched elsewhere, where the
        aligned bars of printed capitals could pass for one.

    Returns
    -------
    cleaned : numpy.ndarray
        bool ``(H, W)``, `ink_mask` without the ruling.
    ruling : numpy.ndarray
        bool ``(H, W)``, the pixels removed.

    Raises
    ------
    TypeError
        `ink_mask` is not a 2-D bool array.
    """
    _check_mask(ink_mask)
    height, width = ink_mask.shape
    if min_length is None:
        min_length = (max(round(0.6 * width), segment), max(round(0.55 * height), segment))
    along, across = (min_length, min_length) if isinstance(min_length, int) else min_length
    horizontal = _line_candidates(ink_mask, along, bridge, segment)
    column_runs = run_lengths(ink_mask, vertical=True)
    if rows is not None:
        horizontal += _dashed_lines(ink_mask, list(rows), horizontal, column_runs)
    vertical = _vertical_lines(ink_mask, across, bridge, segment, edge_band)
    across_lines = ink_mask & (vertical == 0)
    ruling = _pure_line(horizontal, across_lines, slack, _runs_without(column_runs, across_lines))
    ruling |= _pure_line(vertical.T, (ink_mask & (horizontal == 0)).T, slack).T
    return ink_mask & ~ruling, ruling


def _vertical_lines(
    ink: np.ndarray, min_length: int, bridge: int, segment: int, edge_band: int | None
) -> np.ndarray:
    """Label the vertical lines of a mask (int32 ``(H, W)``), only near the sides if asked.

    With `edge_band`, only the bands of that many columns on each side are searched
    (each band widened by `segment` columns, so that a line's group and fringe are
    found as in the whole mask, then cut back to the band).
    """
    width = ink.shape[1]
    reach = None if edge_band is None else edge_band + segment
    if reach is None or 2 * reach >= width:
        vertical = _line_candidates(np.ascontiguousarray(ink.T), min_length, bridge, segment).T
    else:
        vertical = np.zeros(ink.shape, np.int32)
        for side in (slice(0, reach), slice(width - reach, width)):
            found = _line_candidates(
                np.ascontiguousarray(ink[:, side].T), min_length, bridge, segment
            )
            vertical[:, side] = np.where(found.T > 0, found.T + vertical.max(), 0)
    if edge_band is not None:
        vertical[:, edge_band : width - edge_band] = 0
    return vertical


def filter_components(
    ink_mask: np.ndarray,
    inner: tuple[int, int, int, int] | None = None,
    *,
    min_area: int = MIN_AREA,
    isolated_area: int = ISOLATED_AREA,
    radius: int = ISOLATED_RADIUS,
    min_inside: float = 0.5,
    top_inside: float = 0.8,
    bottom_inside: float = 0.3,
) -> np.ndarray:
    """Drop specks, isolated blots and ink lying mostly outside a box (one labelling pass).

    A component (8-connected) is dropped when it is smaller than `min_area`; when
    `inner` is given and less than `min_inside` of its pixels lie inside it (printed
    labels, strokes of the neighbouring fields: `top_inside` for components cut by the
    top border of the mask, `bottom_inside` for components cut by the bottom border,
    usually the field's own descenders); or when it is smaller than `isolated_area`
    and no other kept ink lies within `radius` pixels of its box (an i-dot, an accent
    or a letter of faint writing has ink close by).

    Parameters
    ----------
    ink_mask : numpy.ndarray
        bool ``(H, W)``.
    inner : tuple of int, optional
        ``(x0, y0, x1, y1)`` box in mask pixels (the field box inside the crop margin).
    min_area : int
        Smallest component kept, in pixels.
    isolated_area : int
        Components smaller than this must have other ink near them.
    radius : int
        How far (pixels, around the component's box) to look for other ink.
    min_inside, top_inside, bottom_inside : float
        Share of a component's pixels that must lie inside `inner`.

    Returns
    -------
    numpy.ndarray
        bool ``(H, W)``.

    Raises
    ------
    TypeError
        `ink_mask` is not a 2-D bool array.
    """
    _check_mask(ink_mask)
    count, labels, stats, _ = components(ink_mask)
    keep = stats[:, cv2.CC_STAT_AREA] >= max(min_area, 1)
    if inner is not None:
        keep &= _inside(labels, stats, inner, (min_inside, top_inside, bottom_inside))
    keep[0] = False
    height, width = ink_mask.shape
    for label in np.flatnonzero(keep & (stats[:, cv2.CC_STAT_AREA] < isolated_area)):
        x, y, w, h = stats[label, :4]
        window = labels[
            max(y - radius, 0) : min(y + h + radius, height),
            max(x - radius, 0) : min(x + w + radius, width),
        ]
        keep[label] = bool(np.any(keep[window] & (window != label)))
    return keep[labels]


def _inside(
    labels: np.ndarray,
    stats: np.ndarray,
    inner: tuple[int, int, int, int],
    shares: tuple[float, float, float],
) -> np.ndarray:
    """Return, per label ``(count,)``, whether enough of the component lies inside `inner`."""
    x0, y0, x1, y1 = (max(v, 0) for v in inner)
    window = labels[y0:y1, x0:x1]
    inside = np.bincount(window.ravel(), minlength=len(stats)) / np.maximum(
        stats[:, cv2.CC_STAT_AREA], 1
    )
    top = stats[:, cv2.CC_STAT_TOP]
    bottom = top + stats[:, cv2.CC_STAT_HEIGHT]
    normal, at_top, at_bottom = shares
    needed = np.where(top == 0, at_top, np.where(bottom == labels.shape[0], at_bottom, normal))
    return inside >= needed


def binarize_field(
    crop_image: np.ndarray,
    *,
    window: int = SAUVOLA_WINDOW,
    k: float = SAUVOLA_K,
    method: str = "sauvola",
) -> np.ndarray:
    """Binarise a rectified field crop: every ink pixel, printed form included.

    Parameters
    ----------
    crop_image : numpy.ndarray
        uint8 ``(H, W)`` rectified field crop (:attr:`medocr.types.FieldCrop.image`).
    window, k : int, float
        Sauvola parameters (see :func:`sauvola`).
    method : str
        ``"sauvola"`` (default) or ``"otsu"``.

    Returns
    -------
    numpy.ndarray
        bool ``(H, W)``, True = ink.

    Raises
    ------
    ValueError
        Unknown `method`.
    """
    if method == "sauvola":
        return sauvola(crop_image, window, k)
    if method == "otsu":
        return otsu(crop_image)
    raise ValueError(f"unknown binarisation method {method!r}: use 'sauvola' or 'otsu'")


def faint_ink(
    crop_image: np.ndarray,
    binarized: np.ndarray,
    *,
    margin: tuple[int, int] = CROP_MARGIN,
    k: float = FAINT_INK_K,
    min_pixels: int = FAINT_INK_PIXELS,
) -> np.ndarray | None:
    """Binarise a field crop again, more sensitively, if it holds ink the first pass missed.

    For a field where no handwriting was found: faint writing (a light ballpoint, a pale
    scan) that Sauvola's default k leaves out. Worth a second cleaning only when the
    sensitive pass finds at least `min_pixels` more ink pixels inside the field box
    (the crop without its `margin`, and 4 more pixels clear of the box's border): nearly
    never in an empty field.

    Parameters
    ----------
    crop_image : numpy.ndarray
        uint8 ``(H, W)`` rectified field crop.
    binarized : numpy.ndarray
        bool ``(H, W)``, its first binarisation (:func:`binarize_field`).
    margin : tuple of int
        Crop margin ``(x, y)`` around the field box.
    k : float
        Sauvola's k of the second pass.
    min_pixels : int
        Fewest new ink pixels inside the box that make it worth cleaning.

    Returns
    -------
    numpy.ndarray or None
        bool ``(H, W)``, the sensitive binarisation; None when it adds too little.
    """
    sensitive = binarize_field(crop_image, k=k)
    mx, my = margin[0] + 4, margin[1] + 4
    added = sensitive[my:-my, mx:-mx] & ~binarized[my:-my, mx:-mx]
    return sensitive if int(np.count_nonzero(added)) >= min_pixels else None


def clean_ink(
    ink_mask: np.ndarray,
    *,
    margin: tuple[int, int] | None = CROP_MARGIN,
    min_area: int = MIN_AREA,
    n_lines: int = 1,
) -> np.ndarray:
    """Return the handwriting of a field crop's binarised ink (:func:`binarize_field`).

    Ruling removal (vertical lines only near the crop's sides, where the box borders
    are), then components lying mostly in the crop's margin (printed labels, strokes of
    the neighbouring fields), specks and small isolated blots are dropped.

    Parameters
    ----------
    ink_mask : numpy.ndarray
        bool ``(H, W)``, the crop's ink.
    margin : tuple of int or None
        Crop margin ``(x, y)`` around the field box, as given to
        :func:`medocr.preprocess.forms.extract_fields`; None keeps ink anywhere.
    min_area : int
        Smallest ink component kept, in pixels.
    n_lines : int
        Writing lines of the field (``TemplateField.lines``): with `margin`, tells
        where the printed lines are (box top and bottom, and between writing lines).

    Returns
    -------
    numpy.ndarray
        bool ``(H, W)``, True = handwriting ink.
    """
    height, width = ink_mask.shape
    if margin is None:
        ink, _ = remove_ruling(ink_mask)
        return filter_components(ink, min_area=min_area)
    mx, my = margin
    rows = [my + i * (height - 2 * my) / n_lines for i in range(n_lines + 1)]
    ink, _ = remove_ruling(ink_mask, edge_band=3 * mx, rows=rows)
    return filter_components(ink, (mx, my, width - mx, height - my), min_area=min_area)


def clean_field(
    crop_image: np.ndarray,
    *,
    margin: tuple[int, int] | None = CROP_MARGIN,
    window: int = SAUVOLA_WINDOW,
    k: float = SAUVOLA_K,
    min_area: int = MIN_AREA,
    method: str = "sauvola",
    n_lines: int = 1,
) -> np.ndarray:
    """Return the handwriting ink of a rectified field crop.

    :func:`binarize_field` then :func:`clean_ink` (see them for the parameters).

    Returns
    -------
    numpy.ndarray
        bool ``(H, W)``, True = handwriting ink.

    Raises
    ------
    ValueError
        Unknown `method`.
    """
    ink = binarize_field(crop_image, window=window, k=k, method=method)
    return clean_ink(ink, margin=margin, min_area=min_area, n_lines=n_lines)
