"""Confusion-matrix pictures of classifier evaluations (matplotlib, Agg backend)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from medocr.fileio import write_atomic


def plot_confusion(metrics: dict[str, Any], path: str | Path, title: str) -> Path:
    """Draw the row-normalised confusion matrix of an evaluation as a PNG.

    Parameters
    ----------
    metrics : dict
        Output of :meth:`medocr.classify.base.CharClassifier.evaluate` (``labels``,
        ``confusion``, ``accuracy``, ``macro_f1``, ``count``).
    path : str or Path
        PNG file to write (atomically).
    title : str
        Figure title (accuracy and macro-F1 are appended).

    Returns
    -------
    Path
        `path`.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    labels = [repr(c)[1:-1] if c.isspace() else c for c in metrics["labels"]]
    counts = np.asarray(metrics["confusion"], dtype=np.float64)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    side = min(12.0, 2.5 + 0.16 * len(labels))
    figure, axes = plt.subplots(figsize=(side, side), dpi=80)
    axes.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ticks = np.arange(len(labels))
    font = 8 if len(labels) <= 40 else 5
    axes.set_xticks(ticks, labels, fontsize=font)
    axes.set_yticks(ticks, labels, fontsize=font)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if len(labels) <= 20:
        for (row, col), value in np.ndenumerate(counts):
            if value:
                colour = "white" if share[row, col] > 0.5 else "black"
                axes.text(
                    col, row, f"{value:.0f}", ha="center", va="center", fontsize=7, color=colour
                )
    axes.set_title(
        f"{title}\n{metrics['count']} chars, accuracy {metrics['accuracy']:.2%}, "
        f"macro-F1 {metrics['macro_f1']:.3f}",
        fontsize=9,
    )
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    target = Path(path)
    write_atomic(target, buffer.getvalue())
    return target
