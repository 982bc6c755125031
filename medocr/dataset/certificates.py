"""Units of an annotated certificate: the page, its field crops, lines, words, characters.

Input is one ground-truth JSON in the schema of :mod:`medocr.synth.certificate`
(``medocr-synth-truth/1``) or, for annotated scans, the smaller ``medocr-truth/1``::

    {
      "schema": "medocr-truth/1",
      "id": "scan-0042",                      # unique within the folder
      "image": "scan-0042.tif",               # relative to the JSON file
      "template": {"id": "fr-deces-volet-medical"},
      "document": "cepidc-2024-000042",       # optional writer/document id
      "origin": "real",                       # optional, default "real"
      "transform": [[...], [...], [...]],     # optional template->image homography;
                                              # without it the page is registered
      "fields": [
        {"name": "cause_1a", "text": "choc septique",          # required
         "lines": [{"box": [x0, y0, x1, y1], "text": "choc septique",   # optional
                    "words": [{"box": [...], "text": "choc",
                               "chars": [{"char": "c", "box": [...]}]}]}]}
      ]
    }

Boxes are in image pixels. A field with ``lines`` gives units for exactly the annotated
lines/words/characters; a field with a non-empty ``text`` and no ``lines`` key is
segmented (``boxes: "segmenter"`` in the manifest). Field kinds come from the template.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from medocr.dataset.units import (
    PADS,
    BadInput,
    Parent,
    Unit,
    annotated_units,
    segmented_lines,
    to_crop,
)
from medocr.errors import InputError, TemplateError
from medocr.templates import Template, TemplateField, load_template
from medocr.text import normalize_text

SCHEMAS = ("medocr-synth-truth/1", "medocr-truth/1")
DEFAULT_MARGIN = (12, 18)
_TEMPLATES: dict[str, Template] = {}


def read_truth(path: Path) -> dict[str, Any]:
    """Read and check a certificate annotation (raises :class:`BadInput`)."""
    try:
        truth = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput("annotation", f"unreadable JSON ({exc})") from exc
    if not isinstance(truth, dict) or truth.get("schema") not in SCHEMAS:
        got = truth.get("schema") if isinstance(truth, dict) else type(truth).__name__
        raise BadInput("annotation", f"schema {got!r} is not one of {SCHEMAS}")
    missing = [k for k in ("id", "image", "template", "fields") if k not in truth]
    if missing:
        raise BadInput("annotation", f"missing keys {missing}")
    return truth


def certificate_document(truth: dict[str, Any], source: str) -> str:
    """Return the writer/document id of a certificate (one writer per certificate)."""
    return str(truth.get("document") or f"{source}/{truth['id']}")


def certificate_units(path: Path, source: str, levels: tuple[str, ...]) -> list[Unit]:
    """Cut every unit of the certificate annotated by the JSON file `path`.

    Parameters
    ----------
    path : Path
        Ground-truth JSON (schema in the module docstring).
    source : str
        Source name (first part of every id).
    levels : tuple of str
        Levels to emit.

    Returns
    -------
    list of Unit
        The page, then for each field its crop, lines, words and characters.

    Raises
    ------
    BadInput
        Malformed annotation, unreadable image, or a page that does not register.
    """
    from medocr.io import read_image

    truth = read_truth(path)
    try:
        page = read_image(path.parent / str(truth["image"]))
    except InputError as exc:
        raise BadInput("image", exc.reason) from exc
    try:
        template = _template(str(truth["template"]["id"]))
        return _units(truth, page.image, template, source, levels)
    except TemplateError as exc:
        raise BadInput("registration", str(exc)) from exc
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise BadInput("annotation", f"{type(exc).__name__}: {exc}") from exc


def _template(template_id: str) -> Template:
    if template_id not in _TEMPLATES:
        _TEMPLATES[template_id] = load_template(template_id)
    return _TEMPLATES[template_id]


def _units(
    truth: dict[str, Any],
    image: np.ndarray,
    template: Template,
    source: str,
    levels: tuple[str, ...],
) -> list[Unit]:
    cert_id = f"{source}/{truth['id']}"
    synthetic = truth["schema"] == SCHEMAS[0]
    font = (truth.get("writer") or {}).get("font")
    common = {
        "source": source,
        "origin": "synthetic" if synthetic else str(truth.get("origin", "real")),
        "document": certificate_document(truth, source),
    }
    matrix = _matrix(truth, image, template)
    out = []
    if "certificate" in levels:
        page = Parent(cert_id, image, None, **common, meta={"font": font, "boxes": "truth"})
        height, width = image.shape
        out.append(page.unit(cert_id, None, "certificate", (0, 0, width, height), ""))
    for field in truth["fields"]:
        spec = template.field(str(field["name"]))
        meta = {"field": spec.name, "kind": spec.kind, "font": font}
        out += _field_units(field, spec, image, matrix, cert_id, common, meta, levels)
    return out


def _matrix(truth: dict[str, Any], image: np.ndarray, template: Template) -> np.ndarray:
    """Template -> image homography: the annotated one, else a registration of the page."""
    if truth.get("transform") is not None:
        matrix = np.asarray(truth["transform"], np.float64)
        if matrix.shape != (3, 3):
            raise ValueError(f"transform must be 3x3, got {matrix.shape}")
        return matrix
    from medocr.preprocess.forms import register
    from medocr.types import Page

    return register(Page(image, str(truth["image"])), template).matrix


def _field_units(
    field: dict[str, Any],
    spec: TemplateField,
    image: np.ndarray,
    matrix: np.ndarray,
    cert_id: str,
    common: dict[str, str],
    meta: dict[str, Any],
    levels: tuple[str, ...],
) -> list[Unit]:
    from medocr.preprocess.forms import crop_field

    text = normalize_text(str(field.get("text", "")))
    lines = field.get("lines")
    margin = _margin(spec, lines or [], matrix)
    crop, to_page, _ = crop_field(image, spec, matrix, margin=margin)
    field_id = f"{cert_id}/{spec.name}"
    boxes = "truth" if lines is not None or not text.strip() else "segmenter"
    parent = Parent(field_id, crop, to_page, **common, meta={**meta, "boxes": boxes})
    out = []
    if "field" in levels:
        height, width = crop.shape
        unit = parent.unit(field_id, cert_id, "field", (0, 0, width, height), text)
        unit.meta.update(margin=list(margin), boxes="truth")
        out.append(unit)
    if not {"line", "word", "char"} & set(levels):
        return out
    if boxes == "segmenter":
        lines = _segment(crop, spec, to_page, margin, text)
        return out + annotated_units(parent, lines, levels)
    return out + annotated_units(parent, lines or [], levels, to_crop(to_page))


def _margin(
    spec: TemplateField, lines: list[dict[str, Any]], matrix: np.ndarray
) -> tuple[int, int]:
    """Crop margin wide enough for every annotated line (handwriting overflows boxes)."""
    if not lines:
        return DEFAULT_MARGIN
    from medocr.preprocess.segment import crop_box

    boxes = np.array([crop_box(tuple(line["box"]), matrix) for line in lines])
    x0, y0, x1, y1 = spec.box
    pad = PADS["line"]
    need_x = max(x0 - boxes[:, 0].min(), boxes[:, 2].max() - x1) + pad
    need_y = max(y0 - boxes[:, 1].min(), boxes[:, 3].max() - y1) + pad
    return (max(DEFAULT_MARGIN[0], int(need_x)), max(DEFAULT_MARGIN[1], int(need_y)))


def _segment(
    crop: np.ndarray, spec: TemplateField, to_page: np.ndarray, margin: tuple[int, int], text: str
) -> list[dict[str, Any]]:
    from medocr.preprocess.segment import segment_field
    from medocr.types import FieldCrop

    field_crop = FieldCrop(spec.name, spec.kind, (0, 0, 1, 1), crop, to_page=to_page)
    return segmented_lines(segment_field(field_crop, spec.lines, margin=margin), text)
