"""Draw a template's blank printed form with this machine's fonts.

The form is printed in DejaVu Sans, found in the system font folders (:data:`FONT_DIRS`);
without it Pillow's default font is used. Drawing therefore depends on the machine: reading
uses the form rendered once and shipped with the template instead
(:func:`medocr.templates.reference.reference_form`); :func:`render_form` draws it now, to
render that reference, or for a template that has none.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from medocr.templates import Template

#: System font folders, searched for the print font (and by :mod:`medocr.synth.fonts` for
#: handwriting fonts).
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")
FONT_SUFFIXES = (".ttf", ".otf", ".woff")
#: File names of the print font, regular and bold.
PRINT_FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")

_POINTS_PER_INCH = 72
_FORMS: dict[tuple[str, str], np.ndarray] = {}


def font_files(folder: Path) -> list[Path]:
    """Return the font files (.ttf, .otf, .woff) under `folder`, sorted; [] if it is absent."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in FONT_SUFFIXES)


@cache
def find_print_font(bold: bool = False) -> str | None:
    """Return a path to DejaVu Sans (bold or regular) for the printed form, or None."""
    name = PRINT_FONTS[1] if bold else PRINT_FONTS[0]
    for folder in FONT_DIRS:
        for path in font_files(Path(folder).expanduser()):
            if path.name == name:
                return str(path)
    return None


@cache
def _print_font(bold: bool, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = find_print_font(bold)
    return ImageFont.load_default(size) if path is None else ImageFont.truetype(path, size)


def draw_form(template: Template) -> np.ndarray:
    """Draw the blank printed form of `template` now (not cached; see :func:`render_form`).

    Parameters
    ----------
    template : Template
        The form.

    Returns
    -------
    numpy.ndarray
        Read-only uint8 ``(height_px, width_px)``, white paper, dark print.
    """
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
    """Draw the blank printed form of `template` with this machine's fonts.

    Reading and synthesis use :func:`medocr.templates.reference.reference_form`, which
    returns the shipped reference image when the template has one.

    Parameters
    ----------
    template : Template
        The form.

    Returns
    -------
    numpy.ndarray
        Read-only uint8 ``(height_px, width_px)``, white paper, dark print; cached
        per template (by source and ``id@version``).
    """
    key = (template.source, template.ref)
    if key not in _FORMS:
        _FORMS[key] = draw_form(template)
    return _FORMS[key]
