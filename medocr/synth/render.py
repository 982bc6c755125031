"""Drawing: the printed form, and a writer's handwriting into its fields.

Coordinates here are template pixels. Handwriting is drawn glyph by glyph into an
``(H, W)`` uint8 *ink layer* (0 = no ink, 255 = full ink) so that every character's
box is the exact bounding box of its own ink; the scan simulation
(:mod:`medocr.synth.augment`) moves the boxes with the same transform as the pixels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from medocr.synth.fonts import HandwritingFont
from medocr.types import Box

INKS = {"black": (15, 55), "blue-black": (45, 80), "blue": (70, 115)}


@dataclass(frozen=True)
class WriterStyle:
    """How one doctor writes: drawn once per certificate.

    Parameters
    ----------
    font : HandwritingFont
        The handwriting font.
    size_ratio : float
        Font size (em) as a fraction of the writing-line height.
    slant : float
        Horizontal shear, ``tan`` of the lean angle; positive leans right.
    drift_amplitude, drift_period : float
        Baseline wave, in pixels.
    spacing_jitter : float
        Standard deviation of each letter's advance, as a fraction of the advance.
    word_gap : float
        Width of a space relative to the font's own.
    stroke : int
        -1 thin pen (eroded glyphs), 0 normal, 1 bold (outlined glyphs).
    ink : str
        Ink name (key of :data:`INKS`); `ink_level` is its gray value on the page.
    ink_level : int
        0..255 gray of full ink.
    capitals : bool
        This writer writes everything in capitals.
    baseline_offset : float
        Where the baseline sits in a writing line, as a fraction of its height from the
        bottom (small values write on or across the ruling).
    overflow : bool
        The writer lets long text run past the field box instead of writing smaller.
    """

    font: HandwritingFont
    size_ratio: float
    slant: float
    drift_amplitude: float
    drift_period: float
    spacing_jitter: float
    word_gap: float
    stroke: int
    ink: str
    ink_level: int
    capitals: bool
    baseline_offset: float
    overflow: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (font by name)."""
        data = asdict(self)
        data["font"] = self.font.name
        return data


def sample_writer(rng: np.random.Generator, fonts: tuple[HandwritingFont, ...]) -> WriterStyle:
    """Draw a random writer style from `fonts`."""
    ink = str(rng.choice(list(INKS), p=[0.45, 0.25, 0.30]))
    low, high = INKS[ink]
    return WriterStyle(
        font=fonts[int(rng.integers(len(fonts)))],
        size_ratio=float(rng.uniform(0.42, 0.68)),
        slant=float(rng.choice([0.0, rng.uniform(-0.12, 0.35)], p=[0.3, 0.7])),
        drift_amplitude=float(rng.uniform(0.0, 4.0)),
        drift_period=float(rng.uniform(250.0, 900.0)),
        spacing_jitter=float(rng.uniform(0.0, 0.08)),
        word_gap=float(rng.uniform(0.8, 1.8)),
        stroke=int(rng.choice([-1, 0, 1], p=[0.2, 0.55, 0.25])),
        ink=ink,
        ink_level=int(rng.integers(low, high + 1)),
        capitals=bool(rng.random() < 0.15),
        baseline_offset=float(rng.uniform(0.12, 0.42)),
        overflow=bool(rng.random() < 0.2),
    )


@dataclass(frozen=True)
class Glyph:
    """A rendered character: tight uint8 ink patch and its placement.

    ``ink`` has shape ``(h, w)``; its top-left corner goes at
    ``(pen_x + dx, baseline + dy)``; the pen then moves by ``advance``.
    """

    ink: np.ndarray
    dx: int
    dy: int
    advance: float


@lru_cache(maxsize=64)
def _pil_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@lru_cache(maxsize=8192)
def glyph(path: str, size: int, char: str, stroke: int, slant: float) -> Glyph:
    """Render one character of a font, sheared by `slant` around its baseline.

    Parameters
    ----------
    path : str
        Font file.
    size : int
        Font size in pixels.
    char : str
        A single character.
    stroke : int
        -1 thin (eroded), 0 plain, 1 bold.
    slant : float
        Horizontal shear (positive leans right); quantise it to keep the cache useful.

    Returns
    -------
    Glyph
        Empty ``(0, 0)`` ink for characters without ink (spaces).
    """
    font = _pil_font(path, size)
    advance = float(font.getlength(char))
    left, top, right, bottom = font.getbbox(char, anchor="ls", stroke_width=max(stroke, 0))
    pad = 2 + int(abs(slant) * (bottom - top))
    width, height = right - left + 2 * pad, bottom - top + 2 * pad
    if right <= left or bottom <= top:
        return Glyph(np.zeros((0, 0), np.uint8), 0, 0, advance)
    canvas = Image.new("L", (width, height), 0)
    ImageDraw.Draw(canvas).text(
        (pad - left, pad - top),
        char,
        font=font,
        fill=255,
        anchor="ls",
        stroke_width=max(stroke, 0),
        stroke_fill=255,
    )
    ink = np.asarray(canvas)
    baseline_row = pad - top
    if slant:
        shear = np.float32([[1, -slant, slant * baseline_row], [0, 1, 0]])
        ink = cv2.warpAffine(ink, shear, (width, height), flags=cv2.INTER_LINEAR)
    if stroke < 0 and size >= 28:
        ink = cv2.erode(ink, np.ones((2, 2), np.uint8))
    return _tight(ink, left - pad, -baseline_row, advance)


def _tight(ink: np.ndarray, dx: int, dy: int, advance: float) -> Glyph:
    rows = np.flatnonzero(ink.max(axis=1) > 24)
    cols = np.flatnonzero(ink.max(axis=0) > 24)
    if rows.size == 0:
        return Glyph(np.zeros((0, 0), np.uint8), 0, 0, advance)
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return Glyph(np.ascontiguousarray(ink[r0:r1, c0:c1]), dx + int(c0), dy + int(r0), advance)


@dataclass
class WrittenChar:
    """A character drawn on the ink layer, with its ink box in template pixels."""

    char: str
    box: Box


def write_line(
    layer: np.ndarray,
    text: str,
    writer: WriterStyle,
    rng: np.random.Generator,
    line_box: Box,
    max_x: int,
) -> list[list[WrittenChar]]:
    """Handwrite `text` into one writing line of `layer`.

    Parameters
    ----------
    layer : numpy.ndarray
        uint8 ``(H, W)`` ink layer of the whole page, modified in place.
    text : str
        Text already adapted to the writer (capitals, font substitutions).
    writer : WriterStyle
        The writer.
    rng : numpy.random.Generator
        Source of per-letter jitter.
    line_box : Box
        The writing line (template pixels); writing starts near its left edge and sits
        on a baseline near its bottom.
    max_x : int
        Right limit: the text is written smaller if it would pass it.

    Returns
    -------
    list of list of WrittenChar
        The words, each a list of its characters with their ink boxes.
    """
    x0, y0, x1, y1 = line_box
    height = y1 - y0
    size = max(12, round(height * writer.size_ratio))
    start = x0 + int(rng.uniform(0.01, 0.08) * (x1 - x0))
    natural = _pil_font(writer.font.path, size).getlength(text) * (1 + 0.5 * writer.word_gap / 10)
    if start + natural > max_x:
        size = max(12, int(size * (max_x - start) / natural))
    baseline = y1 - writer.baseline_offset * height
    slant = round(writer.slant, 2)
    phase = rng.uniform(0, 2 * np.pi)
    space = _pil_font(writer.font.path, size).getlength(" ") * writer.word_gap
    pen = float(start)
    words: list[list[WrittenChar]] = [[]]
    for char in text:
        if char == " ":
            pen += space * rng.uniform(0.8, 1.3)
            if words[-1]:
                words.append([])
            continue
        shape = glyph(writer.font.path, size, char, writer.stroke, slant)
        drift = writer.drift_amplitude * np.sin(2 * np.pi * pen / writer.drift_period + phase)
        box = _paste(layer, shape, pen, baseline + drift + rng.normal(0, 0.6))
        if box is not None:
            words[-1].append(WrittenChar(char, box))
        pen += shape.advance * (1 + rng.normal(0, writer.spacing_jitter))
    return [word for word in words if word]


def _paste(layer: np.ndarray, shape: Glyph, pen_x: float, baseline: float) -> Box | None:
    """Max-blend a glyph onto `layer`; return its ink box clipped to the page, or None."""
    h, w = shape.ink.shape
    if h == 0:
        return None
    gx0, gy0 = round(pen_x) + shape.dx, round(baseline) + shape.dy
    px0, py0 = max(gx0, 0), max(gy0, 0)
    px1, py1 = min(gx0 + w, layer.shape[1]), min(gy0 + h, layer.shape[0])
    if px1 <= px0 or py1 <= py0:
        return None
    patch = shape.ink[py0 - gy0 : py1 - gy0, px0 - gx0 : px1 - gx0]
    np.maximum(layer[py0:py1, px0:px1], patch, out=layer[py0:py1, px0:px1])
    return (px0, py0, px1, py1)


def draw_mark(layer: np.ndarray, box: Box, writer: WriterStyle, rng: np.random.Generator) -> Box:
    """Tick a checkbox with a hand-drawn cross or check mark; return the mark's ink box."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    jitter = rng.normal(0, 0.08, size=(6, 2)) * (w, h)
    if rng.random() < 0.6:
        unit = [[(0.15, 0.15), (0.85, 0.85)], [(0.85, 0.15), (0.15, 0.85)]]
    else:
        unit = [[(0.1, 0.55), (0.4, 0.85), (0.95, -0.05)]]
    thickness = int(rng.integers(2, 5)) + max(writer.stroke, 0)
    k = 0
    points_all = []
    for stroke in unit:
        points = []
        for ux, uy in stroke:
            points.append((x0 + ux * w + jitter[k, 0], y0 + uy * h + jitter[k, 1]))
            k += 1
        pts = np.round(np.array(points)).astype(np.int32)
        cv2.polylines(layer, [pts], False, 255, thickness=thickness, lineType=cv2.LINE_AA)
        points_all.append(pts)
    allpts = np.concatenate(points_all)
    pad = thickness
    return (
        int(allpts[:, 0].min() - pad),
        int(allpts[:, 1].min() - pad),
        int(allpts[:, 0].max() + pad + 1),
        int(allpts[:, 1].max() + pad + 1),
    )


def composite(form: np.ndarray, layer: np.ndarray, ink_level: int) -> np.ndarray:
    """Lay the ink layer over the printed form (darkest wins).

    Parameters
    ----------
    form : numpy.ndarray
        uint8 ``(H, W)`` printed page.
    layer : numpy.ndarray
        uint8 ``(H, W)`` ink coverage, 0..255.
    ink_level : int
        Gray value of full ink.

    Returns
    -------
    numpy.ndarray
        uint8 ``(H, W)`` page.
    """
    ink = 255 - (layer.astype(np.uint16) * (255 - ink_level) // 255).astype(np.uint8)
    return np.minimum(form, ink)
