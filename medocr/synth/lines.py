"""Synthetic handwritten text lines, as a recognizer sees them in field crops.

A line is one writing line of a certificate field: a cause of death, an interval, a date
or a Partie II line, written by a random writer (:func:`medocr.synth.render.sample_writer`)
inside a box whose borders are sometimes visible, then degraded like a scan (blur, noise,
JPEG, contrast, fax binarisation). Much faster than whole certificates, for training
recognizers. ``medocr synth-lines`` writes them in the JSONL line-set format of
``../shared/data`` (``{"image", "text", "document"}``), one writer per line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from medocr.fileio import write_atomic, write_text_atomic
from medocr.preprocess.forms import CROP_MARGIN
from medocr.synth import augment, render
from medocr.synth.fonts import HandwritingFont, find_handwriting_fonts
from medocr.synth.text import CauseText, Vocabulary, sample_cause_text

LINE_BOX_HEIGHT = 115


@dataclass(frozen=True, eq=False)
class SynthLine:
    """One rendered line: uint8 ``(H, W)`` image (dark ink on light paper) and its text."""

    image: np.ndarray
    text: str
    font: str


def _pick_text(rng: np.random.Generator, content: CauseText) -> str:
    candidates = [t for t in content.part1 if t] + [t for t in content.part2 if t]
    candidates += [t for t in content.intervals if t]
    if rng.random() < 0.1:
        candidates = [content.death_date]
    return candidates[int(rng.integers(len(candidates)))] if candidates else content.death_date


def render_line(
    rng: np.random.Generator,
    fonts: tuple[HandwritingFont, ...],
    vocabulary: Vocabulary,
    *,
    text: str | None = None,
) -> SynthLine:
    """Render one synthetic field line.

    Parameters
    ----------
    rng : numpy.random.Generator
        Randomness for the text, the writer and the degradation.
    fonts : tuple of HandwritingFont
        Fonts to draw writers from.
    vocabulary : Vocabulary
        For the cause-of-death sampler.
    text : str, optional
        Write this instead of a sampled text (it is still adapted to the font).

    Returns
    -------
    SynthLine
        The crop covers the box plus the field-crop margins, like
        :func:`medocr.preprocess.forms.crop_field`; the text is what was drawn.
    """
    writer = render.sample_writer(rng, fonts)
    wanted = text if text is not None else _pick_text(rng, sample_cause_text(rng, vocabulary))
    written = writer.font.substitute(wanted.upper() if writer.capitals else wanted)
    written = " ".join(written.split())
    width = int(rng.integers(300, 1300))
    mx, my = CROP_MARGIN
    layer = np.zeros((LINE_BOX_HEIGHT + 2 * my, width + 2 * mx + 400), np.uint8)
    box = (mx, my, mx + width, my + LINE_BOX_HEIGHT)
    words = render.write_line(layer, written, writer, rng, box, max_x=box[2] - 6)
    drawn = " ".join("".join(c.char for c in word) for word in words)
    right = max([c.box[2] for word in words for c in word] + [box[2]])
    layer = layer[:, : right + mx]
    page = render.composite(_printed_box(rng, layer.shape, box), layer, writer.ink_level)
    return SynthLine(_degrade(page, layer, rng), drawn, writer.font.name)


def _printed_box(
    rng: np.random.Generator, shape: tuple[int, int], box: tuple[int, int, int, int]
) -> np.ndarray:
    """Blank paper with, most of the time, the printed field box or a ruling line."""
    paper = np.full(shape, 255, np.uint8)
    style = rng.choice(["box", "rule", "none"], p=[0.6, 0.25, 0.15])
    thickness = int(rng.integers(1, 3))
    x0, y0, x1, y1 = box
    if style == "box":
        cv2.rectangle(paper, (x0, y0), (x1 - 1, y1 - 1), 30, thickness)
    elif style == "rule":
        cv2.line(paper, (0, y1 - 1), (shape[1], y1 - 1), 30, thickness)
    return paper


def _degrade(page: np.ndarray, ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Small rotation, then the scan effects of :func:`medocr.synth.augment.photometric`."""
    scan = replace(augment.sample_scan(rng, max_rotation=1.5), bleed=0.0)  # no ghost of itself
    height, width = page.shape
    rotation = cv2.getRotationMatrix2D((width / 2, height / 2), scan.rotation_deg, 1.0)
    page = cv2.warpAffine(page, rotation, (width, height), borderValue=255)
    ink = cv2.warpAffine(ink, rotation, (width, height), borderValue=0)
    return augment.photometric(page, ink, scan, rng)


def write_line_set(
    out_dir: str | Path,
    count: int,
    *,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    data_dir: str | Path | None = None,
) -> Path:
    """Write `count` synthetic lines as PNG files plus ``lines.jsonl``.

    Parameters
    ----------
    out_dir : str or Path
        Output folder (created); images go to ``images/``.
    count : int
        Number of lines.
    seed : int
        Line ``i`` depends only on ``(seed, i)``.
    progress : callable, optional
        ``progress(done, total)`` every 100 lines.
    data_dir : str or Path, optional
        Data folder whose ``cim10/`` labels add words to the built-in vocabulary; default
        ``$MEDOCR_DATA``, else the built-in vocabulary only.

    Returns
    -------
    Path
        The JSONL file: one ``{"image", "text", "document", "font"}`` row per line, the
        document being the writer (``synth-SEED-I``: one writer per line).
    """
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    fonts, vocabulary = find_handwriting_fonts(), Vocabulary.default(data_dir)
    rows = []
    for index in range(count):
        rng = np.random.default_rng(np.random.SeedSequence([seed, index, 7]))
        line = render_line(rng, fonts, vocabulary)
        name = f"images/line-{seed}-{index:07d}.png"
        png = cv2.imencode(".png", line.image, [cv2.IMWRITE_PNG_COMPRESSION, 1])[1]
        write_atomic(out / name, png.tobytes())
        rows.append(
            {
                "image": name,
                "text": line.text,
                "document": f"synth-{seed}-{index}",
                "font": line.font,
            }
        )
        if progress is not None and (index + 1) % 100 == 0:
            progress(index + 1, count)
    path = out / "lines.jsonl"
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path
