"""Draw a template's blank printed form (used by synthesis and by form registration)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from medocr.synth.fonts import FONT_DIRS, font_files
from medocr.templates import Template

_POINTS_PER_INCH = 72
_FORMS: dict[tuple[str, str], np.ndarray] = {}


@cache
def find_print_font(bold: bool = False) -> str | None:
    """Return a path to DejaVu Sans (bold or regular) for the printed form, or None."""
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for folder in FONT_DIRS:
        for path in font_files(Path(folder).expanduser()):
            if path.name == name:
                return str(path)
    return None


@cache
def _print_font(bold: bool, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = find_print_font(bold)
    return ImageFont.load_default(size) if path is None else ImageFont.truetype(path, size)


def _draw_form(template: Template) -> np.ndarray:
    page = Image.new("L", (template.width_px, template.height_px), 255)
    draw = ImageDraw.Draw(page)
    for element in template.elements:
        width = int(element.get("thickness", 1))
        if element["type"] == "text":
            size = round(element["size_pt"] * template.dpi / _POINTS_PER_INCH)
            font = _print_font(element.get("weight") == "bold", size)
            draw.text(tuple(element["at"]), element["text"], fill=20, anchor="la", font=font)
        elif element["type"] == "line":
            draw.line([tuple(element["from"]), tuple(element["to"])], fill=30, width=width)
        else:
            x0, y0, x1, y1 = element["box"]
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=30, width=width)
    array = np.asarray(page)
    array.setflags(write=False)
    return array


def render_form(template: Template) -> np.ndarray:
    """Return the blank printed form of `template`.

    Returns
    -------
    numpy.ndarray
        Read-only uint8 ``(height_px, width_px)``, white paper, dark print; cached
        per template (by source and ``id@version``).
    """
    key = (template.source, template.ref)
    if key not in _FORMS:
        _FORMS[key] = _draw_form(template)
    return _FORMS[key]
