"""Character segmentation of a handwritten word (crop pixels).

Connected components of a word are merged when they overlap horizontally (accents,
i-dots, broken strokes) or when a small piece touches a neighbour, and split when wider
than a character should be, at the minima of the deslanted column profile where the
upper contour is low (ligatures).

Cursive writing defeats character segmentation (letters are joined, and the count of
letters in a joined word is only estimated from its width): the figures in
``benchmarks/RESULTS.md`` show it, and the CTC line recognizer exists for that reason.
"""

from __future__ import annotations

import numpy as np

from medocr.preprocess.binarize import components
from medocr.preprocess.regions import LineStats, Region

#: Expected character width, in x-heights (measured on synthetic print-like writing).
CHAR_WIDTH = 1.0
#: A component wider than this many expected character widths is split.
SPLIT_RATIO = 1.5
#: Two components whose deslanted spans overlap by this share of the narrower one merge.
MERGE_OVERLAP = 0.5
#: Weight of the distance to even spacing in the cost of a cut (per character width).
DISTANCE_WEIGHT = 1.0
#: Weight of the contour gap (upper to lower contour, in line heights) in a cut's cost.
CONTOUR_WEIGHT = 1.0
#: Groups smaller than this many ``stroke_width * x_height`` join a touching neighbour.
FRAGMENT_AREA = 0.5


def find_chars(
    word: Region,
    stats: LineStats,
    *,
    char_width: float = CHAR_WIDTH,
    split_ratio: float = SPLIT_RATIO,
    merge_overlap: float = MERGE_OVERLAP,
    fragment_area: float = FRAGMENT_AREA,
) -> list[Region]:
    """Cut a word into characters.

    Connected components are merged when their deslanted column spans overlap by
    `merge_overlap` of the narrower one (accents and dots with their letter, pieces of
    a broken stroke), and a small group joins a neighbour it almost touches; then a
    group wider than ``split_ratio * char_width * x_height`` is cut into
    ``round(width / (char_width * x_height))`` pieces where a cut costs least (few ink
    pixels, a small gap between the upper and lower contours) near even spacing.

    Parameters
    ----------
    word : Region
        The word's ink.
    stats : LineStats
        Measurements of the word's line.
    char_width : float
        Expected character width in x-heights.
    split_ratio : float
        How much wider than `char_width` a group must be to be split.
    merge_overlap : float
        Overlap share (of the narrower span) that merges two components.
    fragment_area : float
        Groups with fewer than ``fragment_area * stroke_width * x_height`` pixels join
        a neighbour within one stroke width (0 disables).

    Returns
    -------
    list of Region
        Left to right.
    """
    count, labels, _, _ = components(word.mask)
    ys, xs = word.points()
    owner = labels[ys - word.box[1], xs - word.box[0]] - 1
    cols = stats.deslant(ys, xs)
    low = np.full(count - 1, np.inf)
    high = np.full(count - 1, -np.inf)
    np.minimum.at(low, owner, cols)
    np.maximum.at(high, owner, cols)
    group = _merge_spans(low, high, merge_overlap)
    if fragment_area > 0:
        group = _merge_fragments(group, low, high, owner, stats, fragment_area)
    group = group[owner]
    expected = char_width * stats.x_height
    chars = []
    for number in np.unique(group):
        pick = group == number
        for piece in _split(cols[pick], ys[pick], expected, split_ratio):
            chars.append((float(cols[pick][piece].min()), ys[pick][piece], xs[pick][piece]))
    chars.sort(key=lambda c: c[0])
    return [Region.from_points(y, x) for _, y, x in chars]


def _merge_spans(low: np.ndarray, high: np.ndarray, overlap: float) -> np.ndarray:
    """Return group ids ``(N,)`` of spans ``[low, high]`` ``(N,)`` chained by large overlaps."""
    parent = np.arange(low.size)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    widths = high - low + 1
    for i in range(low.size):
        for j in range(i + 1, low.size):
            shared = min(high[i], high[j]) - max(low[i], low[j]) + 1
            if shared >= overlap * min(widths[i], widths[j]):
                parent[root(i)] = root(j)
    return np.array([root(i) for i in range(low.size)], np.int64)


def _merge_fragments(
    group: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    owner: np.ndarray,
    stats: LineStats,
    fragment_area: float,
) -> np.ndarray:
    """Join small groups to a neighbour they (almost) touch: pieces of broken strokes.

    `group`, `low` and `high` are ``(N,)`` per component, `owner` ``(P,)`` gives each
    pixel's component. Returns the new group id ``(N,)`` of each component.
    """
    ids = sorted(np.unique(group), key=lambda g: float(low[group == g].min()))
    area = np.bincount(group[owner], minlength=group.size)
    spans = {g: (float(low[group == g].min()), float(high[group == g].max())) for g in ids}
    small = fragment_area * stats.stroke_width * stats.x_height
    target = {g: g for g in ids}
    for i, g in enumerate(ids):
        if area[g] >= small:
            continue
        best, best_gap = g, stats.stroke_width + 1.0
        for j in (i - 1, i + 1):
            if 0 <= j < len(ids) and target[ids[j]] != g:
                other = spans[ids[j]]
                gap = max(other[0] - spans[g][1], spans[g][0] - other[1])
                if gap <= best_gap:
                    best, best_gap = ids[j], gap
        target[g] = best
    out = group.copy()
    for g in ids:
        final, seen = g, {g}
        while target[final] not in seen:
            final = target[final]
            seen.add(final)
        out[group == g] = final
    return out


def _split(cols: np.ndarray, ys: np.ndarray, expected: float, ratio: float) -> list[np.ndarray]:
    """Cut a group's pixels into character pieces (index arrays into the ``(N,)`` inputs).

    `cols` are the pixels' deslanted columns and `ys` their rows. Cuts go where the
    cost (:func:`_cut_cost`) is lowest near evenly spaced positions.
    """
    first = float(cols.min())
    width = float(cols.max()) - first + 1
    if width <= ratio * expected:
        return [np.arange(cols.size)]
    pieces = max(2, int(round(width / expected)))
    bins = np.round(cols - first).astype(np.int64)
    cost = _cut_cost(bins, ys)
    cuts: list[float] = []
    previous = 0.0
    step = width / pieces
    for k in range(1, pieces):
        ideal = k * step
        lo = int(max(previous + 0.3 * expected, ideal - 0.4 * step))
        hi = min(int(min(width - 0.3 * expected, ideal + 0.4 * step)) + 1, cost.size)
        if hi <= lo:
            continue
        window = np.arange(lo, hi)
        total = cost[window] + DISTANCE_WEIGHT * np.abs(window - ideal) / step
        previous = float(window[int(np.argmin(total))])
        cuts.append(previous)
    part = np.searchsorted(np.asarray(cuts), bins, side="right")
    return [np.flatnonzero(part == n) for n in range(len(cuts) + 1) if np.any(part == n)]


def _cut_cost(bins: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Return the cost ``(W,)`` of a cut at each column: ink count and contour gap.

    Contour analysis: the vertical extent between the upper and the lower contour is
    small where two letters touch (the upper contour dips, the lower one rises) or
    where a ligature joins them, and large across a letter's bowl, whose column count
    is low.
    """
    counts = np.bincount(bins).astype(np.float64)
    top = np.full(counts.size, np.inf)
    bottom = np.full(counts.size, -np.inf)
    np.minimum.at(top, bins, ys.astype(np.float64))
    np.maximum.at(bottom, bins, ys.astype(np.float64))
    span = max(float(ys.max() - ys.min()) + 1, 1.0)
    extent = np.where(counts > 0, (bottom - top + 1) / span, 0.0)
    scale = float(np.median(counts[counts > 0]))
    cost = counts / scale + CONTOUR_WEIGHT * extent
    return np.convolve(cost, np.ones(3) / 3, mode="same")
