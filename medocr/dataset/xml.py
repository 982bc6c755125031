"""Pages in the standard HTR exchange formats: ALTO (v2-v4) and PAGE XML.

Each file describes one page image (ALTO ``sourceImageInformation/fileName``, PAGE
``Page/@imageFilename``, relative to the XML file) and its text lines, with a polygon
(ALTO ``Shape/Polygon``, PAGE ``Coords``) or a box (ALTO ``HPOS VPOS WIDTH HEIGHT``).
A line's box is the bound of its polygon. Words (ALTO ``String``, PAGE ``Word``) and
characters (``Glyph``) with geometry give word and character units. Line text: ALTO
``String/@CONTENT`` joined by spaces, PAGE the line's own ``TextEquiv/Unicode``.
Coordinates must be pixels (ALTO ``MeasurementUnit`` ``pixel``, or none given).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from medocr.dataset.units import BadInput, Parent, Unit, annotated_units
from medocr.errors import InputError

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


def _descendants(element: ET.Element, name: str) -> list[ET.Element]:
    return [node for node in element.iter() if _local(node.tag) == name]


def _points_box(points: str) -> tuple[int, int, int, int]:
    values = [float(v) for v in _NUMBER.findall(points)]
    if len(values) < 4 or len(values) % 2:
        raise ValueError(f"bad polygon {points[:60]!r}")
    xs, ys = values[0::2], values[1::2]
    return (int(min(xs)), int(min(ys)), int(round(max(xs))) + 1, int(round(max(ys))) + 1)


def parse_page_xml(path: Path) -> tuple[str, list[dict[str, Any]]]:
    """Read an ALTO or PAGE XML file.

    Parameters
    ----------
    path : Path
        The XML file.

    Returns
    -------
    image : str
        The page image file named by the XML.
    lines : list of dict
        Annotation schema of :func:`medocr.dataset.units.annotated_units` (page pixels).

    Raises
    ------
    BadInput
        Not well-formed XML, neither ALTO nor PAGE, or missing geometry.
    """
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise BadInput("annotation", f"unreadable XML ({exc})") from exc
    kind = _local(root.tag)
    try:
        if kind == "alto":
            return _alto(root)
        if kind == "PcGts":
            return _page(root)
    except (KeyError, ValueError, TypeError) as exc:
        raise BadInput("annotation", f"{kind}: {type(exc).__name__}: {exc}") from exc
    raise BadInput("annotation", f"root element <{kind}> is neither <alto> nor <PcGts>")


def _alto(root: ET.Element) -> tuple[str, list[dict[str, Any]]]:
    unit = [e.text or "" for e in _descendants(root, "MeasurementUnit")]
    if unit and unit[0].strip() != "pixel":
        raise ValueError(f"MeasurementUnit {unit[0].strip()!r} (only pixel is supported)")
    names = [e.text or "" for e in _descendants(root, "fileName")]
    if not names or not names[0].strip():
        raise ValueError("no sourceImageInformation/fileName")
    lines = []
    for line in _descendants(root, "TextLine"):
        words = [_alto_string(s) for s in _children(line, "String")]
        text = " ".join(w["text"] for w in words)
        lines.append(
            {"box": _alto_box(line), "text": text, "words": [w for w in words if w["box"]]}
        )
    return names[0].strip(), lines


def _alto_box(element: ET.Element) -> tuple[int, int, int, int] | None:
    polygons = [p for s in _children(element, "Shape") for p in _children(s, "Polygon")]
    if polygons:
        return _points_box(polygons[0].attrib["POINTS"])
    if "HPOS" not in element.attrib:
        return None
    x, y = float(element.attrib["HPOS"]), float(element.attrib["VPOS"])
    w, h = float(element.attrib["WIDTH"]), float(element.attrib["HEIGHT"])
    return (int(x), int(y), int(round(x + w)), int(round(y + h)))


def _alto_string(element: ET.Element) -> dict[str, Any]:
    chars = [
        {"char": g.attrib.get("CONTENT", ""), "box": _alto_box(g)}
        for g in _children(element, "Glyph")
    ]
    return {
        "box": _alto_box(element),
        "text": element.attrib.get("CONTENT", ""),
        "chars": [c for c in chars if c["box"]],
    }


def _page(root: ET.Element) -> tuple[str, list[dict[str, Any]]]:
    pages = _descendants(root, "Page")
    if not pages or not pages[0].attrib.get("imageFilename"):
        raise ValueError("no Page/@imageFilename")
    lines = []
    for line in _descendants(pages[0], "TextLine"):
        words: list[dict[str, Any]] = [
            {"box": _coords(w), "text": _equiv(w), "chars": _glyphs(w)}
            for w in _children(line, "Word")
        ]
        text = _equiv(line) or " ".join(w["text"] for w in words)
        lines.append({"box": _coords(line), "text": text, "words": words})
    return pages[0].attrib["imageFilename"], lines


def _coords(element: ET.Element) -> tuple[int, int, int, int]:
    coords = _children(element, "Coords")
    if not coords:
        raise ValueError(f"<{_local(element.tag)}> without <Coords>")
    return _points_box(coords[0].attrib["points"])


def _glyphs(word: ET.Element) -> list[dict[str, Any]]:
    return [{"char": _equiv(g), "box": _coords(g)} for g in _children(word, "Glyph")]


def _equiv(element: ET.Element) -> str:
    for equiv in _children(element, "TextEquiv"):
        for unicode in _children(equiv, "Unicode"):
            return unicode.text or ""
    return ""


def xml_units(path: Path, source: str, levels: tuple[str, ...]) -> list[Unit]:
    """Cut the line, word and character units of an ALTO or PAGE XML page.

    The page is one document (``{source}/{file stem}``); lines hang under it
    (``parent`` is that document id, which is not itself a unit).

    Raises
    ------
    BadInput
        Malformed XML or unreadable page image.
    """
    from medocr.io import read_image

    image_name, lines = parse_page_xml(path)
    try:
        page = read_image(path.parent / image_name)
    except InputError as exc:
        raise BadInput("image", exc.reason) from exc
    document = f"{source}/{path.stem}"
    parent = Parent(document, page.image, None, source, "real", document, {"boxes": "truth"})
    try:
        return annotated_units(parent, [ln for ln in lines if ln["box"]], levels)
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInput("annotation", f"{type(exc).__name__}: {exc}") from exc
