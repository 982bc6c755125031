"""One synthetic certificate: form, handwriting, scan, and its ground truth.

Ground truth schema (``schema: "medocr-synth-truth/1"``), every box ``[x0, y0, x1, y1]``
in pixels of the final image (exclusive ends)::

    {
      "schema": "medocr-synth-truth/1",
      "id": "cert-000007", "image": "cert-000007.png",
      "medocr_version": "0.1.0", "seed": 0, "index": 7,
      "template": {"id": "fr-deces-volet-medical", "version": "1.0.0"},
      "vocabulary": "builtin+cim10",
      "image_size": [1654, 2339], "dpi": 200,
      "transform": [[...], [...], [...]],     # template pixels -> image pixels (3x3)
      "writer": {...}, "scan": {...},          # how it was drawn (WriterStyle, ScanParams)
      "fields": [
        {"name": "cause_1a", "kind": "cause",
         "box": [...],                         # template box moved by the transform
         "quad": [[x, y] x 4],                 # its four corners, clockwise from top-left
         "text": "choc septique",              # lines joined by newlines; "" when empty
         "intended": "...",                    # only when the font or capitals changed it
         "lines": [{"box": [...], "text": "choc septique",
                    "words": [{"box": [...], "text": "choc",
                               "chars": [{"char": "c", "box": [...]}, ...]}, ...]}]},
        {"name": "autopsy_yes", "kind": "checkbox", "box": [...], "quad": [...],
         "text": "X", "value": true, "mark_box": [...], "lines": []}
      ]
    }

Character boxes are clipped to the image; a character the scan pushed off the page is
left out of the boxes and of the texts. Invariants (tested): word texts joined by spaces
give the line text, line texts joined by newlines give the field text, character texts
give the word text, and every character box contains that character's ink.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from medocr._version import __version__
from medocr.geometry import box_corners, clip_box, transform_box, transform_points
from medocr.synth import augment, render
from medocr.synth.fonts import HandwritingFont, find_handwriting_fonts
from medocr.synth.text import CauseText, Vocabulary, sample_cause_text
from medocr.templates import Template, TemplateField, load_template
from medocr.templates.reference import reference_form
from medocr.types import Box

TRUTH_SCHEMA = "medocr-synth-truth/1"


@dataclass(frozen=True, eq=False)
class SynthCertificate:
    """A generated certificate.

    Parameters
    ----------
    image : numpy.ndarray
        uint8 ``(H, W)`` scanned page.
    truth : dict
        Ground truth (schema in the module docstring).
    ink : numpy.ndarray or None
        uint8 ``(H, W)`` handwriting coverage in image pixels, when asked for.
    """

    image: np.ndarray
    truth: dict[str, Any]
    ink: np.ndarray | None = None


def certificate_id(index: int) -> str:
    """File stem of certificate number `index` (``cert-000007``)."""
    return f"cert-{index:06d}"


def certificate_rng(seed: int, index: int) -> np.random.Generator:
    """Return the generator of certificate `index` of run `seed` (independent of workers)."""
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


def generate_certificate(
    seed: int,
    index: int = 0,
    *,
    template: Template | None = None,
    vocabulary: Vocabulary | None = None,
    fonts: tuple[HandwritingFont, ...] | None = None,
    keep_ink: bool = False,
    image_suffix: str = ".png",
) -> SynthCertificate:
    """Render certificate `index` of the run seeded `seed`.

    Same ``(seed, index)``, template, vocabulary and fonts give the same pixels.

    Parameters
    ----------
    seed, index : int
        Run seed and certificate number.
    template : Template, optional
        Defaults to the shipped French death certificate.
    vocabulary : Vocabulary, optional
        Defaults to :meth:`Vocabulary.default`: CIM-10 words when ``$MEDOCR_DATA`` names
        a folder holding ``cim10/``, the built-in vocabulary otherwise (never a guess from
        the working directory).
    fonts : tuple of HandwritingFont, optional
        Defaults to every handwriting font found on the machine.
    keep_ink : bool
        Also return the handwriting coverage warped into image pixels (for tests).
    image_suffix : str
        Extension recorded in ``truth["image"]``.

    Returns
    -------
    SynthCertificate
    """
    template = template or load_template()
    vocabulary = vocabulary or default_vocabulary()
    fonts = fonts or find_handwriting_fonts()
    rng = certificate_rng(seed, index)
    writer = render.sample_writer(rng, fonts)
    content = sample_cause_text(rng, vocabulary)
    layer = np.zeros((template.height_px, template.width_px), np.uint8)
    drawn = [_fill_field(layer, f, content, writer, template, rng) for f in template.fields]
    page = render.composite(reference_form(template), layer, writer.ink_level)
    scan = augment.sample_scan(rng)
    matrix = augment.homography(
        scan, (template.width_px, template.height_px), _union([f.box for f in template.fields])
    )
    warped = augment.warp(page, matrix, fill=255)
    warped_ink = augment.warp(layer, matrix, fill=0)
    image = augment.photometric(warped, warped_ink, scan, rng)
    truth = {
        "schema": TRUTH_SCHEMA,
        "id": certificate_id(index),
        "image": certificate_id(index) + image_suffix,
        "medocr_version": __version__,
        "seed": seed,
        "index": index,
        "template": {"id": template.id, "version": template.version},
        "vocabulary": vocabulary.source,
        "image_size": [template.width_px, template.height_px],
        "dpi": template.dpi,
        "transform": matrix.tolist(),
        "writer": writer.to_dict(),
        "scan": scan.to_dict(),
        "fields": [
            _field_truth(f, d, matrix, (template.width_px, template.height_px))
            for f, d in zip(template.fields, drawn, strict=True)
        ],
    }
    return SynthCertificate(image, truth, warped_ink if keep_ink else None)


_VOCABULARY: dict[str, Vocabulary] = {}


def default_vocabulary(data_dir: str | os.PathLike[str] | None = None) -> Vocabulary:
    """Return :meth:`Vocabulary.default` of `data_dir`, built once per folder.

    Parameters
    ----------
    data_dir : str or PathLike, optional
        The data folder holding ``cim10/``; default ``$MEDOCR_DATA``. Without either, the
        built-in vocabulary.

    Returns
    -------
    Vocabulary
    """
    folder = os.fspath(data_dir) if data_dir is not None else os.environ.get("MEDOCR_DATA", "")
    if folder not in _VOCABULARY:
        _VOCABULARY[folder] = Vocabulary.default(folder) if folder else Vocabulary.builtin()
    return _VOCABULARY[folder]


@dataclass
class _Drawn:
    """What was written in one field, in template pixels."""

    intended: str
    lines: list[list[list[render.WrittenChar]]]
    checked: bool | None = None
    mark_box: Box | None = None


def _field_intent(
    spec: TemplateField, template: Template, content: CauseText, rng: np.random.Generator
) -> list[str] | bool | None:
    """Decide what the writer puts in a field: its lines of text, or a checkbox state."""
    singles = [f.name for f in template.fields if f.kind == "cause" and f.lines == 1]
    multis = [f.name for f in template.fields if f.kind == "cause" and f.lines > 1]
    intervals = [f.name for f in template.fields if f.kind == "interval"]
    if spec.kind == "checkbox":
        answer = {"autopsy": content.autopsy, "pregnancy": content.pregnancy}.get(
            spec.group or "", bool(rng.random() < 0.5) if rng.random() < 0.7 else None
        )
        if answer is None:
            return None
        return (spec.value or "").lower() in (
            {"oui", "yes", "true", "1"} if answer else {"non", "no", "false", "0"}
        )
    if spec.kind == "cause" and spec.name in singles:
        index = singles.index(spec.name)
        return [content.part1[index]] if index < len(content.part1) else [""]
    if spec.kind == "cause":
        return list(content.part2) if multis.index(spec.name) == 0 else []
    if spec.kind == "interval":
        index = intervals.index(spec.name)
        return [content.intervals[index]] if index < len(content.intervals) else [""]
    if spec.kind == "date":
        return [content.death_date]
    first = next((line for line in content.part1 if line), "")
    return [first] if rng.random() < 0.7 else [""]


def _fill_field(
    layer: np.ndarray,
    spec: TemplateField,
    content: CauseText,
    writer: render.WriterStyle,
    template: Template,
    rng: np.random.Generator,
) -> _Drawn:
    intent = _field_intent(spec, template, content, rng)
    if isinstance(intent, bool) or intent is None:
        mark = render.draw_mark(layer, spec.box, writer, rng) if intent else None
        return _Drawn("X" if intent else "", [], checked=bool(intent), mark_box=mark)
    texts = [t for t in intent if t.strip()][: spec.lines]
    drawn = _Drawn("\n".join(texts), [])
    margin = 40
    for text, line_box in zip(texts, spec.line_boxes, strict=False):
        written = writer.font.substitute(text.upper() if writer.capitals else text)
        max_x = template.width_px - margin if writer.overflow else spec.box[2] - 6
        words = render.write_line(layer, " ".join(written.split()), writer, rng, line_box, max_x)
        drawn.lines.append(words)
    return drawn


def _union(boxes: list[Box]) -> Box:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _image_char_boxes(
    word: list[render.WrittenChar], matrix: np.ndarray, size: tuple[int, int]
) -> list[dict[str, Any]]:
    """Move a word's character boxes into the image, clipped; drop those scanned off the page."""
    chars = []
    for char in word:
        x0, y0, x1, y1 = clip_box(transform_box(matrix, char.box), *size)
        if x1 > x0 and y1 > y0:
            chars.append({"char": char.char, "box": [x0, y0, x1, y1]})
    return chars


def _field_truth(
    spec: TemplateField, drawn: _Drawn, matrix: np.ndarray, size: tuple[int, int]
) -> dict[str, Any]:
    lines = []
    for words in drawn.lines:
        word_truth = []
        for word in words:
            chars = _image_char_boxes(word, matrix, size)
            if not chars:
                continue
            word_truth.append(
                {
                    "box": _union_list([c["box"] for c in chars]),
                    "text": "".join(c["char"] for c in chars),
                    "chars": chars,
                }
            )
        if word_truth:
            lines.append(
                {
                    "box": _union_list([w["box"] for w in word_truth]),
                    "text": " ".join(w["text"] for w in word_truth),
                    "words": word_truth,
                }
            )
    text = "X" if drawn.checked else "\n".join(line["text"] for line in lines)
    quad = transform_points(matrix, box_corners(spec.box))
    truth: dict[str, Any] = {
        "name": spec.name,
        "kind": spec.kind,
        "box": list(transform_box(matrix, spec.box)),
        "quad": [[round(x, 2), round(y, 2)] for x, y in quad],
        "text": text,
    }
    if drawn.intended != text and spec.kind != "checkbox":
        truth["intended"] = drawn.intended
    if spec.kind == "checkbox":
        truth["value"] = bool(drawn.checked)
        if drawn.mark_box is not None:
            truth["mark_box"] = list(transform_box(matrix, drawn.mark_box))
    truth["lines"] = lines
    return truth


def _union_list(boxes: list[list[int]]) -> list[int]:
    return list(_union([tuple(b) for b in boxes]))  # type: ignore[misc]
