"""The blank form of a template, rendered once and shipped as data.

Registration (:mod:`medocr.preprocess.forms`) matches a page against the template's blank
printed form, and synthesis prints certificates on it. Drawn at read time
(:func:`medocr.templates.draw.render_form`) the form would depend on the machine's font
packages (DejaVu Sans, else Pillow's default font), and so would every registration. A
shipped template therefore carries its form as a PNG beside its JSON, rendered at release
time, and the JSON records it::

    "reference": {
      "image": "fr_deces_volet_medical.reference.png",
      "sha256": "...",          # of the PNG bytes: checked on every load
      "form_sha256": "...",     # of what it shows (page size, dpi, printed elements)
      "fonts": {"DejaVuSans.ttf": "<sha256 of the font file>", ...},
      "renderer": {"pillow": "...", "freetype": "..."}
    }

:func:`reference_form` returns that image. A template without one (a user template), or
whose printed elements changed since it was rendered, gets its form drawn now with this
machine's fonts, with a warning in the log. Render (or re-render after editing the printed
elements)::

    python -m medocr.templates.reference --update               # the shipped templates
    python -m medocr.templates.reference --update my_form.json  # writes my_form.reference.png
    python -m medocr.templates.reference --check                # exit 1 when one is stale
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from medocr.errors import TemplateError
from medocr.templates import Template, load_template, parse_template

logger = logging.getLogger(__name__)

__all__ = [
    "form_digest",
    "load_reference",
    "reference_form",
    "reference_path",
    "render_reference",
    "update_template_file",
]

_SHIPPED = "medocr:"
_REFERENCES: dict[tuple[str, str], np.ndarray] = {}


def form_digest(template: Template) -> str:
    """Return the sha256 of what the blank form shows: page size, dpi and elements.

    Parameters
    ----------
    template : Template
        The form.

    Returns
    -------
    str
        64 hex digits; it changes whenever the printed form would.
    """
    content = {
        "width_px": template.width_px,
        "height_px": template.height_px,
        "dpi": template.dpi,
        "elements": list(template.elements),
    }
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _template_folder(template: Template) -> Any:
    """Return the folder of the template's JSON (Traversable when shipped), or None."""
    if template.source.startswith(_SHIPPED):
        return resources.files("medocr.templates")
    path = Path(template.source)
    return path.parent if path.suffix.lower() == ".json" else None


def reference_path(template: Template) -> Any:
    """Return where the template's reference image lies, or None when it names none.

    Parameters
    ----------
    template : Template
        The form.

    Returns
    -------
    Path, importlib.resources.abc.Traversable or None
        ``reference.image`` beside the template's JSON file (the file may be missing);
        None for a template without a ``reference`` record or not loaded from a file.
    """
    folder = _template_folder(template)
    if template.reference is None or folder is None:
        return None
    return folder / template.reference["image"]


def load_reference(template: Template) -> np.ndarray | None:
    """Read and check the template's shipped reference image.

    Parameters
    ----------
    template : Template
        The form.

    Returns
    -------
    numpy.ndarray or None
        Read-only uint8 ``(height_px, width_px)``; None when the template names no image,
        the file is missing, or the template's printed elements changed since it was
        rendered (``form_sha256`` differs): the caller draws the form instead.

    Raises
    ------
    TemplateError
        The file's bytes do not match the recorded sha256 (corrupt or replaced), or they
        are not a gray PNG of the page size.
    """
    where = reference_path(template)
    if where is None or template.reference is None:
        return None
    if not where.is_file():
        return None
    if template.reference["form_sha256"] != form_digest(template):
        logger.warning(
            "%s: the reference image is stale (the printed elements of %s changed since it "
            "was rendered): ignored; re-render it with python -m medocr.templates.reference "
            "--update",
            where,
            template.ref,
        )
        return None
    data = where.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != template.reference["sha256"]:
        raise TemplateError(
            f"{where}: sha256 {digest} is not the {template.reference['sha256']} that "
            f"{template.ref} records: corrupt or replaced (reinstall medocr, or re-render it "
            "with python -m medocr.templates.reference --update)"
        )
    return _decode(data, where, template)


def _decode(data: bytes, where: Any, template: Template) -> np.ndarray:
    import cv2

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    expected = (template.height_px, template.width_px)
    if image is None or image.dtype != np.uint8 or image.shape != expected:
        shape = None if image is None else (image.dtype, image.shape)
        raise TemplateError(f"{where}: not a uint8 gray {expected} PNG ({shape})")
    image.setflags(write=False)
    return image


def reference_form(template: Template) -> np.ndarray:
    """Return the template's blank form: the shipped reference, else drawn now.

    Parameters
    ----------
    template : Template
        The form.

    Returns
    -------
    numpy.ndarray
        Read-only uint8 ``(height_px, width_px)``, white paper, dark print; cached per
        template (by source and ``id@version``). Without a usable reference image the
        form is drawn with this machine's fonts (:func:`medocr.templates.draw.render_form`)
        and a warning is logged once.

    Raises
    ------
    TemplateError
        The reference image fails its check (see :func:`load_reference`).
    """
    key = (template.source, template.ref)
    if key not in _REFERENCES:
        image = load_reference(template)
        if image is None:
            from medocr.templates.draw import render_form

            logger.warning(
                "template %s (%s) has no reference image: its blank form is drawn with this "
                "machine's fonts, so registration may differ between machines (python -m "
                "medocr.templates.reference --update FILE renders one)",
                template.ref,
                template.source,
            )
            image = render_form(template)
        _REFERENCES[key] = image
    return _REFERENCES[key]


def render_reference(template: Template) -> tuple[bytes, dict[str, Any]]:
    """Draw the form now and encode it as the template's reference.

    Parameters
    ----------
    template : Template
        The form; its source names the JSON file the image will lie beside.

    Returns
    -------
    png : bytes
        The form as a gray PNG (200 dpi recorded when that is the template's).
    record : dict
        The ``reference`` record for the template JSON.

    Raises
    ------
    TemplateError
        The print font is missing: a reference must not be drawn with a fallback font.
    """
    import PIL
    from PIL import Image, features

    from medocr.templates.draw import PRINT_FONTS, draw_form, find_print_font

    fonts = {}
    for bold, name in zip((False, True), PRINT_FONTS, strict=True):
        path = find_print_font(bold)
        if path is None:
            raise TemplateError(
                f"{name} not found in the system font folders: install fonts-dejavu-core "
                "before rendering a reference form"
            )
        fonts[name] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    buffer = io.BytesIO()
    Image.fromarray(draw_form(template)).save(
        buffer, "PNG", optimize=True, dpi=(template.dpi, template.dpi)
    )
    png = buffer.getvalue()
    stem = Path(template.source.removeprefix(_SHIPPED)).stem
    record = {
        "image": f"{stem}.reference.png",
        "sha256": hashlib.sha256(png).hexdigest(),
        "form_sha256": form_digest(template),
        "fonts": fonts,
        "renderer": {"pillow": PIL.__version__, "freetype": features.version("freetype2")},
    }
    return png, record


def _json_path(template: Template) -> Path:
    if template.source.startswith(_SHIPPED):
        return Path(str(resources.files("medocr.templates") / template.source[len(_SHIPPED) :]))
    return Path(template.source)


def update_template_file(path: str | Path) -> bool:
    """Render the reference of the template in `path`; write the PNG and the JSON record.

    Parameters
    ----------
    path : str or Path
        The template JSON file (written back with one-space indents, keys in order).

    Returns
    -------
    bool
        True when the image or the record changed.
    """
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    template = parse_template(data, source=str(path))
    png, record = render_reference(template)
    image = path.with_name(record["image"])
    try:
        current = load_reference(template)
    except TemplateError:
        current = None  # corrupt: replaced below
    same_fonts = (data.get("reference") or {}).get("fonts") == record["fonts"]
    fresh = _decode(png, image, template)
    if current is not None and same_fonts and np.array_equal(current, fresh):
        return False  # same pixels: keep the file (PNG bytes vary with zlib)
    _write_readable(image, png)
    ordered: dict[str, Any] = {}
    for key, value in data.items():
        if key != "reference":
            ordered[key] = value
        if key == "page":
            ordered["reference"] = record
    ordered.setdefault("reference", record)
    text = json.dumps(ordered, indent=1, ensure_ascii=False) + "\n"
    _write_readable(path, text.encode("utf-8"))
    _REFERENCES.pop((template.source, template.ref), None)
    return True


def _write_readable(path: Path, data: bytes) -> None:
    """Write atomically, readable by all like any package file (whatever the umask)."""
    from medocr.fileio import write_atomic

    write_atomic(path, data, file_mode=0o644)


def _shipped_files() -> list[Path]:
    folder = resources.files("medocr.templates")
    return sorted(Path(str(e)) for e in folder.iterdir() if e.name.endswith(".json"))


def _check(path: Path) -> str | None:
    """Return why the reference of the template in `path` is not current, or None."""
    template = load_template(path)
    if template.reference is None:
        return "no reference"
    try:
        image = load_reference(template)
    except TemplateError as exc:
        return str(exc)
    if image is None:
        return "reference image missing or stale"
    png, _ = render_reference(template)
    if not np.array_equal(image, _decode(png, path, template)):
        return "the form drawn now differs from the reference image"
    return None


def main(argv: list[str] | None = None) -> int:
    """Render (``--update``) or check (``--check``) template reference images."""
    parser = argparse.ArgumentParser(
        prog="python -m medocr.templates.reference", description=__doc__.splitlines()[0]
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--update", action="store_true", help="render and record the images")
    mode.add_argument("--check", action="store_true", help="exit 1 when one is not current")
    parser.add_argument("files", nargs="*", help="template JSON files (default: the shipped)")
    args = parser.parse_args(argv)
    files = [Path(f) for f in args.files] or _shipped_files()
    status = 0
    for path in files:
        try:
            if args.update:
                changed = update_template_file(path)
                print(f"{'updated' if changed else 'unchanged'}: {path}")
                continue
            problem = _check(path)
        except (OSError, TemplateError, json.JSONDecodeError) as exc:
            print(f"failed: {path}: {exc}", file=sys.stderr)
            status = 1
            continue
        print(f"{'stale' if problem else 'ok'}: {path}{f' ({problem})' if problem else ''}")
        status = status or (1 if problem else 0)
    return status


if __name__ == "__main__":
    sys.exit(main())
