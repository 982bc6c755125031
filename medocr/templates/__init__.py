"""Certificate form templates: JSON data describing a printed form and its fields.

A template file (schema ``format_version`` 1) holds::

    {
      "format_version": 1,
      "id": "fr-deces-volet-medical",          # stable id, recorded in every result
      "version": "1.0.0",
      "title": "...",
      "page": {"width_mm": 210, "height_mm": 297, "dpi": 200,
               "width_px": 1654, "height_px": 2339},
      "reference": {"image": "my_form.reference.png",   # optional: the blank form rendered
                    "sha256": "...", "form_sha256": "...", ...},   # once (see below)
      "elements": [                              # what is printed on the blank form
        {"type": "text", "text": "...", "at": [x, y], "size_pt": 10,
         "font": "sans" | "serif", "weight": "regular" | "bold"},
        {"type": "line", "from": [x, y], "to": [x, y], "thickness": 2},
        {"type": "box", "box": [x0, y0, x1, y1], "thickness": 2}
      ],
      "fields": [                                # what the doctor fills in
        {"name": "cause_1a", "kind": "cause", "box": [x0, y0, x1, y1],
         "label": "Partie I ligne a", "lines": 1,
         "expected": {"content": "medical-text", "lexicon": "fr-medical"}},
        {"name": "autopsy_yes", "kind": "checkbox", "box": [...], "label": "...",
         "lines": 1, "expected": {"content": "checkbox"},
         "group": "autopsy", "value": "oui"}
      ]
    }

Coordinates are pixels at the template's reference ``dpi``, ``(x0, y0, x1, y1)`` with
x right and y down; text ``at`` is the top-left corner of the text. ``kind`` is one of
``cause``, ``interval``, ``checkbox``, ``text``, ``date``. Checkboxes of one question share
a ``group`` and each gives the ``value`` it stands for.

Shipped templates live in this package folder; a user template is any file that
follows the schema: ``load_template("my_form.json")``.

``reference`` names the blank form rendered once, at release time, and stored as a PNG
beside the JSON (:mod:`medocr.templates.reference`): registration matches pages against
it, so reading does not depend on the fonts of the machine. A template without one has its
form drawn at read time with this machine's fonts (with a warning);
``python -m medocr.templates.reference --update my_form.json`` renders it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from medocr.errors import TemplateError
from medocr.types import FIELD_KINDS, Box

DEFAULT_TEMPLATE = "fr-deces-volet-medical"
FORMAT_VERSION = 1
_ELEMENT_TYPES = ("text", "line", "box")
_MM_PER_INCH = 25.4


@dataclass(frozen=True)
class TemplateField:
    """One fillable field of a form.

    Parameters
    ----------
    name : str
        Unique field name (``cause_1a``...).
    kind : str
        One of ``cause``, ``interval``, ``checkbox``, ``text``, ``date``.
    box : Box
        ``(x0, y0, x1, y1)`` in template pixels.
    label : str
        Human-readable label.
    lines : int
        Number of writing lines inside the box (ruled lines for multi-line fields).
    expected : dict
        What the field is expected to contain (``content`` and kind-specific hints).
    group, value : str or None
        For checkboxes: the question they belong to and the answer they stand for.
    """

    name: str
    kind: str
    box: Box
    label: str
    lines: int
    expected: dict[str, Any]
    group: str | None = None
    value: str | None = None

    @property
    def line_boxes(self) -> list[Box]:
        """The field box cut into ``lines`` equal horizontal bands, top to bottom."""
        x0, y0, x1, y1 = self.box
        step = (y1 - y0) / self.lines
        return [
            (x0, round(y0 + i * step), x1, round(y0 + (i + 1) * step)) for i in range(self.lines)
        ]


@dataclass(frozen=True)
class Template:
    """A validated form template (see the module docstring for the file schema).

    Parameters
    ----------
    id, version, title : str
        Identity of the form model.
    width_px, height_px : int
        Page size in pixels at `dpi`.
    width_mm, height_mm : float
        Physical page size.
    dpi : int
        Reference resolution of every coordinate in the template.
    elements : tuple of dict
        Printed elements (text, lines, boxes).
    fields : tuple of TemplateField
        Fillable fields, in reading order.
    source : str
        Where the template was loaded from.
    reference : dict or None
        The ``reference`` record of the file (the shipped blank-form image: ``image``,
        ``sha256``, ``form_sha256``...), or None.
    """

    id: str
    version: str
    title: str
    width_px: int
    height_px: int
    width_mm: float
    height_mm: float
    dpi: int
    elements: tuple[dict[str, Any], ...]
    fields: tuple[TemplateField, ...]
    source: str
    reference: dict[str, Any] | None = None

    def field(self, name: str) -> TemplateField:
        """Return the field called `name` (KeyError naming the known fields otherwise)."""
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        raise KeyError(
            f"template {self.id} has no field {name!r}; fields: "
            f"{', '.join(f.name for f in self.fields)}"
        )

    @property
    def ref(self) -> str:
        """``id@version``, as recorded in results."""
        return f"{self.id}@{self.version}"


def list_templates() -> list[str]:
    """Return the ids of the templates shipped with medocr."""
    folder = resources.files(__name__)
    ids = []
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            ids.append(json.loads(entry.read_text(encoding="utf-8"))["id"])
    return sorted(ids)


def load_template(name_or_path: str | Path | None = None) -> Template:
    """Load and validate a template.

    Parameters
    ----------
    name_or_path : str, Path or None
        A shipped template id (see :func:`list_templates`), a path to a JSON file, or
        None for the default French death certificate (:data:`DEFAULT_TEMPLATE`).

    Returns
    -------
    Template

    Raises
    ------
    TemplateError
        Unknown id, unreadable file, invalid JSON, or a schema violation (the message
        names the file and the offending key).
    """
    name = DEFAULT_TEMPLATE if name_or_path is None else str(name_or_path)
    path = Path(name)
    if path.suffix.lower() == ".json" or path.exists():
        return _load_file(path)
    for entry in resources.files(__name__).iterdir():
        if entry.name.endswith(".json"):
            data = _parse(entry.read_text(encoding="utf-8"), entry.name)
            if data.get("id") == name:
                return parse_template(data, source=f"medocr:{entry.name}")
    raise TemplateError(
        f"unknown template {name!r}: shipped templates are "
        f"{', '.join(list_templates())}; or give a path to a .json file"
    )


def _load_file(path: Path) -> Template:
    if not path.is_file():
        raise TemplateError(f"{path}: template file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{path}: cannot read template ({exc})") from exc
    return parse_template(_parse(text, str(path)), source=str(path))


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TemplateError(
            f"{source}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    if not isinstance(data, dict):
        raise TemplateError(f"{source}: a template must be a JSON object")
    return data


def parse_template(data: dict[str, Any], source: str = "<dict>") -> Template:
    """Validate template data (already parsed JSON) and build a :class:`Template`.

    Raises
    ------
    TemplateError
        With `source` and the offending key in the message.
    """
    check = _Checker(source)
    version = check.get(data, "format_version", int)
    if version != FORMAT_VERSION:
        check.fail(f"format_version {version} is not supported (expected {FORMAT_VERSION})")
    page = check.get(data, "page", dict)
    width_px = check.positive(page, "width_px", int, "page.")
    height_px = check.positive(page, "height_px", int, "page.")
    width_mm = check.positive(page, "width_mm", (int, float), "page.")
    height_mm = check.positive(page, "height_mm", (int, float), "page.")
    dpi = check.positive(page, "dpi", int, "page.")
    for axis, px, mm in (("width", width_px, width_mm), ("height", height_px, height_mm)):
        expected = mm / _MM_PER_INCH * dpi
        if not math.isclose(px, expected, rel_tol=0.01, abs_tol=2):
            check.fail(f"page.{axis}_px is {px} but {mm} mm at {dpi} dpi is {expected:.0f} px")
    size = (width_px, height_px)
    elements = tuple(
        check.element(e, i, size) for i, e in enumerate(check.get(data, "elements", list))
    )
    fields = tuple(check.field(f, i, size) for i, f in enumerate(check.get(data, "fields", list)))
    if not fields:
        check.fail("fields is empty: a template needs at least one field")
    names = [f.name for f in fields]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        check.fail(f"duplicate field names: {', '.join(duplicates)}")
    return Template(
        id=check.get(data, "id", str),
        version=check.get(data, "version", str),
        title=str(data.get("title", "")),
        width_px=width_px,
        height_px=height_px,
        width_mm=float(width_mm),
        height_mm=float(height_mm),
        dpi=dpi,
        elements=elements,
        fields=fields,
        source=source,
        reference=check.reference(data.get("reference")),
    )


class _Checker:
    """Schema checks that raise :class:`TemplateError` naming the source and key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, reason: str) -> None:
        raise TemplateError(f"{self.source}: {reason}")

    def get(self, obj: dict[str, Any], key: str, kind: Any, where: str = "") -> Any:
        if key not in obj:
            self.fail(f"missing key {where}{key}")
        value = obj[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            self.fail(f"{where}{key} must be {names}, got {type(value).__name__} {value!r:.40}")
        return value

    def positive(self, obj: dict[str, Any], key: str, kind: Any, where: str) -> Any:
        value = self.get(obj, key, kind, where)
        if value <= 0:
            self.fail(f"{where}{key} must be positive, got {value}")
        return value

    def point(self, value: Any, where: str, size: tuple[int, int]) -> tuple[int, int]:
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ):
            self.fail(f"{where} must be [x, y] integers, got {value!r:.60}")
        x, y = value
        if not (0 <= x <= size[0] and 0 <= y <= size[1]):
            self.fail(f"{where} {value} lies outside the {size[0]}x{size[1]} page")
        return (x, y)

    def box(self, value: Any, where: str, size: tuple[int, int]) -> Box:
        if (
            not isinstance(value, list)
            or len(value) != 4
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ):
            self.fail(f"{where} must be [x0, y0, x1, y1] integers, got {value!r:.60}")
        x0, y0, x1, y1 = value
        if x1 <= x0 or y1 <= y0:
            self.fail(f"{where} {value} is empty (need x0 < x1 and y0 < y1)")
        self.point([x0, y0], where, size)
        self.point([x1, y1], where, size)
        return (x0, y0, x1, y1)

    def reference(self, record: Any) -> dict[str, Any] | None:
        if record is None:
            return None
        if not isinstance(record, dict):
            self.fail("reference must be an object")
        image = self.get(record, "image", str, "reference.")
        if not image or Path(image).name != image or image in (".", ".."):
            self.fail(f"reference.image must be a file name beside the template, got {image!r}")
        for key in ("sha256", "form_sha256"):
            digest = self.get(record, key, str, "reference.")
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                self.fail(f"reference.{key} must be 64 lowercase hex digits, got {digest!r:.70}")
        return dict(record)

    def element(self, elem: Any, index: int, size: tuple[int, int]) -> dict[str, Any]:
        where = f"elements[{index}]."
        if not isinstance(elem, dict):
            self.fail(f"elements[{index}] must be an object")
        kind = self.get(elem, "type", str, where)
        if kind not in _ELEMENT_TYPES:
            self.fail(
                f"{where}type {kind!r} is unknown (expected one of {', '.join(_ELEMENT_TYPES)})"
            )
        if kind == "text":
            self.get(elem, "text", str, where)
            self.point(self.get(elem, "at", list, where), where + "at", size)
            self.positive(elem, "size_pt", (int, float), where)
        elif kind == "line":
            self.point(self.get(elem, "from", list, where), where + "from", size)
            self.point(self.get(elem, "to", list, where), where + "to", size)
        else:
            self.box(self.get(elem, "box", list, where), where + "box", size)
        return dict(elem)

    def field(self, spec: Any, index: int, size: tuple[int, int]) -> TemplateField:
        where = f"fields[{index}]."
        if not isinstance(spec, dict):
            self.fail(f"fields[{index}] must be an object")
        name = self.get(spec, "name", str, where)
        where = f"fields[{index}] ({name})."
        kind = self.get(spec, "kind", str, where)
        if kind not in FIELD_KINDS:
            self.fail(f"{where}kind {kind!r} is unknown (expected one of {', '.join(FIELD_KINDS)})")
        box = self.box(self.get(spec, "box", list, where), where + "box", size)
        lines = spec.get("lines", 1)
        if not isinstance(lines, int) or isinstance(lines, bool) or lines < 1:
            self.fail(f"{where}lines must be a positive integer, got {lines!r}")
        expected = spec.get("expected", {})
        if not isinstance(expected, dict):
            self.fail(f"{where}expected must be an object")
        group, value = spec.get("group"), spec.get("value")
        if kind == "checkbox" and (not isinstance(group, str) or not isinstance(value, str)):
            self.fail(f"{where}a checkbox needs string 'group' and 'value' keys")
        return TemplateField(
            name=name,
            kind=kind,
            box=box,
            label=str(spec.get("label", name)),
            lines=lines,
            expected=dict(expected),
            group=group,
            value=value,
        )
