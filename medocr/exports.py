"""Write reading results as JSON, CSV, ALTO v4 or PAGE XML (2019-07-15).

ALTO and PAGE open in standard HTR tools (eScriptorium, Transkribus, OCR-D): each field
is a text block/region named after the field, each written line a text line, each word
a string/word with its estimated box and confidence. Both are built with ``xml.etree``; what
XML cannot hold (forbidden characters, field names that are not XML IDs) is decided in the
XML helpers below.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medocr._version import __version__
from medocr.types import Box, CertificateResult, FieldResult

FORMATS = ("json", "jsonl", "csv", "alto", "page")
CSV_COLUMNS = (
    "source",
    "page_index",
    "template",
    "field",
    "kind",
    "text",
    "confidence",
    "route",
    "value",
    "error",
    "model",
    "lexicon",
)
ALTO_NS = "http://www.loc.gov/standards/alto/ns-v4#"
ALTO_SCHEMA = "http://www.loc.gov/standards/alto/v4/alto-4-2.xsd"
PAGE_NS = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
PAGE_SCHEMA = f"{PAGE_NS}/pagecontent.xsd"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"


def to_json(results: Sequence[CertificateResult]) -> str:
    """All results as one JSON array (UTF-8 text kept as is)."""
    return json.dumps([r.to_dict() for r in results], ensure_ascii=False, indent=1)


def to_jsonl(results: Iterable[CertificateResult]) -> str:
    """One JSON object per page and line."""
    return "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in results)


def csv_rows(result: CertificateResult) -> list[dict[str, Any]]:
    """One row per field (columns :data:`CSV_COLUMNS`)."""
    return [
        {
            "source": result.source,
            "page_index": result.page_index,
            "template": result.template_id,
            "field": f.name,
            "kind": f.kind,
            "text": f.text,
            "confidence": f"{f.confidence:.4f}",
            "route": f.route,
            "value": json.dumps(f.value, ensure_ascii=False) if f.value is not None else "",
            "error": f.error or "",
            "model": result.steps.get("model", ""),
            "lexicon": result.steps.get("lexicon", ""),
        }
        for f in result.fields
    ]


def to_csv(results: Iterable[CertificateResult]) -> str:
    """CSV text with a header and one row per field of every page."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for result in results:
        writer.writerows(csv_rows(result))
    return buffer.getvalue()


# --- XML helpers ----------------------------------------------------------------------------
#
# ALTO and PAGE are built as ElementTree elements, so every text and attribute is escaped by
# the serializer. Three things XML itself cannot hold are decided here:
#
# - characters XML 1.0 forbids (C0 controls other than tab, newline and carriage return, lone
#   surrogates from undecodable file names, U+FFFE, U+FFFF) become U+FFFD, so the reader sees
#   that a character was there;
# - in element text a carriage return becomes a newline, as an XML parser would make it anyway
#   (attributes keep it: the serializer writes it as ``&#13;``);
# - element ids are XML IDs: a field name that is not one is mapped by :func:`xml_id`, and a
#   clash gets ``-2``, ``-3``... PAGE keeps the exact name in ``custom`` (see
#   :func:`custom_value`); ALTO has only the id.

_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NAME_START = (
    "A-Z_a-z\xc0-\xd6\xd8-\xf6\xf8-\u02ff\u0370-\u037d\u037f-\u1fff\u200c\u200d\u2070-\u218f"
    "\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd\U00010000-\U000effff"
)
_NOT_NAME_CHAR = re.compile(f"[^{_NAME_START}\\-.0-9\xb7\u0300-\u036f\u203f\u2040]")
_NAME_START_CHAR = re.compile(f"[{_NAME_START}]")
_CUSTOM_SPECIAL = re.compile("[\\\\;{}:\\s\x00-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_attribute(value: str) -> str:
    """Return `value` as an XML 1.0 attribute can hold it (forbidden characters -> U+FFFD)."""
    return _NOT_XML_CHAR.sub("\ufffd", value)


def xml_text(value: str) -> str:
    """Return `value` as XML 1.0 element text reads back.

    Forbidden characters become U+FFFD, carriage returns (alone or before a newline) a newline.
    """
    return xml_attribute(value.replace("\r\n", "\n").replace("\r", "\n"))


def xml_id(name: str) -> str:
    """Return `name` as an XML ID (an NCName), unchanged when it is one.

    Otherwise every character an ID cannot hold becomes ``_``, and ``_`` goes in front of a
    first character that cannot start one (``"cause 1a"`` -> ``"cause_1a"``, ``"1a"`` ->
    ``"_1a"``). Different names can map to one ID; the exports add ``-2``, ``-3``...
    """
    ident = _NOT_NAME_CHAR.sub("_", name)
    return ident if _NAME_START_CHAR.match(ident) else f"_{ident}"


def custom_value(value: str) -> str:
    r"""Return `value` escaped for a PAGE ``custom`` attribute (``structure {type:VALUE;}``).

    Backslash, ``;``, ``{``, ``}``, ``:``, whitespace and the characters XML cannot hold are
    written as ``\uXXXX`` (4 lower-case hex digits), so the exact value reads back.
    """
    return _CUSTOM_SPECIAL.sub(lambda m: f"\\u{ord(m.group()):04x}", value)


def _conf(confidence: float) -> str:
    """Format a confidence as both schemas want it: 0..1, 4 decimals (NaN -> 0)."""
    return f"{0.0 if math.isnan(confidence) else min(1.0, max(0.0, confidence)):.4f}"


def _element(
    parent: ET.Element | None,
    tag: str,
    attrib: dict[str, str] | None = None,
    *,
    text: str | None = None,
    tail: str | None = None,
) -> ET.Element:
    """Make an element (under `parent` when given) with cleaned attributes and text."""
    element = ET.Element(tag) if parent is None else ET.SubElement(parent, tag)
    for key, value in (attrib or {}).items():
        element.set(key, xml_attribute(value))
    element.text = None if text is None else xml_text(text)
    element.tail = tail
    return element


def _serialize(root: ET.Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _root(tag: str, namespace: str, schema: str) -> ET.Element:
    # Namespace declarations are written as plain attributes: ElementTree's default_namespace
    # cannot serialise unqualified attributes (ID, HPOS...) before Python 3.13.
    location = f"{namespace} {schema}"
    attrib = {"xmlns": namespace, "xmlns:xsi": XSI_NS, "xsi:schemaLocation": location}
    return _element(None, tag, attrib, text="\n")


# --- ALTO -----------------------------------------------------------------------------------


def _hvwh(box: Box) -> dict[str, str]:
    x0, y0, x1, y1 = (int(v) for v in box)
    return {
        "HPOS": str(x0),
        "VPOS": str(y0),
        "WIDTH": str(max(1, x1 - x0)),
        "HEIGHT": str(max(1, y1 - y0)),
    }


def _page_box(result: CertificateResult) -> Box:
    if result.page_size is not None:
        return (0, 0, *result.page_size)
    boxes = [f.bbox for f in result.fields if f.bbox is not None]
    return (0, 0, max((b[2] for b in boxes), default=1), max((b[3] for b in boxes), default=1))


_Line = tuple[str, Box, float, tuple[tuple[str, Box], ...]]


def _field_lines(field: FieldResult) -> list[_Line]:
    """(text, box, confidence, words) of each line to export; checkboxes get one line.

    A line without word boxes is one word: its whole text in the line's box.
    """
    if field.lines:
        lines = [(line.text, line.bbox, line.confidence, line.words) for line in field.lines]
    elif field.text and field.bbox is not None:
        lines = [(field.text, field.bbox, field.confidence, ())]
    else:
        return []
    return [
        (text, box, confidence, words or (((text, box),) if text.strip() else ()))
        for text, box, confidence, words in lines
    ]


def _exported(result: CertificateResult) -> list[tuple[FieldResult, Box]]:
    """Pair each field that has a box with it (fields without one are not exported)."""
    return [(field, field.bbox) for field in result.fields if field.bbox is not None]


def _field_ids(fields: Sequence[FieldResult], prefix: str, taken: Iterable[str]) -> list[str]:
    """Give each field's block/region an id: ``prefix`` + name as an XML ID (:func:`xml_id`).

    Its lines and words are ``<id>_l<i>`` and ``<id>_l<i>_w<j>``; when any of those ids is
    already used (`taken`, or an earlier field), ``-2``, ``-3``... is added to the field's id.
    """
    used, ids = set(taken), []
    for field in fields:
        stem = xml_id(prefix + field.name)
        base, count = stem, 2
        while not used.isdisjoint(owned := _owned_ids(base, field)):
            base, count = f"{stem}-{count}", count + 1
        used |= owned
        ids.append(base)
    return ids


def _owned_ids(base: str, field: FieldResult) -> set[str]:
    owned = {base}
    for index, (_, _, _, words) in enumerate(_field_lines(field)):
        owned.add(f"{base}_l{index}")
        owned.update(f"{base}_l{index}_w{w_index}" for w_index in range(len(words)))
    return owned


def to_alto(result: CertificateResult) -> str:
    """One page as ALTO v4 XML: a TextBlock per field, TextLine per line, String per word.

    Block ids are the field names (:func:`xml_id` when a name is not an XML ID); a line with
    no text has no TextLine (ALTO wants at least one String in a line).
    """
    page = _page_box(result)
    root = _root("alto", ALTO_NS, ALTO_SCHEMA)
    description = _element(root, "Description", tail="\n")
    _element(description, "MeasurementUnit", text="pixel", tail="\n")
    image = _element(description, "sourceImageInformation", tail="\n")
    _element(image, "fileName", text=result.source)
    software = _element(
        _element(_element(description, "OCRProcessing", {"ID": "ocr"}), "ocrProcessingStep"),
        "processingSoftware",
    )
    _element(software, "softwareName", text="medocr")
    _element(software, "softwareVersion", text=__version__)
    layout = _element(root, "Layout", text="\n", tail="\n")
    page_id = f"page{result.page_index}"
    page_element = _element(
        layout,
        "Page",
        {
            "ID": page_id,
            "PHYSICAL_IMG_NR": str(result.page_index + 1),
            "WIDTH": str(page[2]),
            "HEIGHT": str(page[3]),
        },
        text="\n",
        tail="\n",
    )
    space = _element(page_element, "PrintSpace", _hvwh(page), text="\n", tail="\n")
    exported = _exported(result)
    ids = _field_ids([field for field, _ in exported], "", ("ocr", page_id))
    for (field, bbox), block_id in zip(exported, ids, strict=True):
        _alto_block(space, field, bbox, block_id)
    return _serialize(root)


def _alto_block(parent: ET.Element, field: FieldResult, bbox: Box, block_id: str) -> None:
    attrib = {"ID": block_id, **_hvwh(bbox)}
    block = _element(parent, "TextBlock", attrib, text="\n", tail="\n")
    for index, (_, box, confidence, words) in enumerate(_field_lines(field)):
        if not words:
            continue
        line_id = f"{block_id}_l{index}"
        line = _element(block, "TextLine", {"ID": line_id, **_hvwh(box)}, text="\n", tail="\n")
        for w_index, (word, w_box) in enumerate(words):
            if w_index:
                _element(line, "SP")
            attrib = {"ID": f"{line_id}_w{w_index}", "CONTENT": word, "WC": _conf(confidence)}
            _element(line, "String", {**attrib, **_hvwh(w_box)})
        line[-1].tail = "\n"


# --- PAGE -----------------------------------------------------------------------------------


def _points(box: Box) -> str:
    x0, y0, x1, y1 = (max(0, int(v)) for v in box)
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    return f"{x0},{y0} {x1},{y0} {x1},{y1} {x0},{y1}"


def _equiv(parent: ET.Element, text: str, confidence: float) -> ET.Element:
    equiv = _element(parent, "TextEquiv", {"conf": _conf(confidence)})
    _element(equiv, "Unicode", text=text)
    return equiv


def to_page_xml(result: CertificateResult, *, created: datetime | None = None) -> str:
    """One page as PAGE XML 2019-07-15: a TextRegion per field, TextLine, Word, TextEquiv.

    Region ids are ``r_`` + the field name (:func:`xml_id` when that is not an XML ID); the
    exact name is in ``custom="structure {type:NAME;}"``, written with :func:`custom_value`.
    """
    stamp = (created or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S")
    page = _page_box(result)
    root = _root("PcGts", PAGE_NS, PAGE_SCHEMA)
    metadata = _element(root, "Metadata", tail="\n")
    _element(metadata, "Creator", text=f"medocr {__version__}")
    _element(metadata, "Created", text=stamp)
    _element(metadata, "LastChange", text=stamp)
    size = {"imageWidth": str(page[2]), "imageHeight": str(page[3])}
    attrib = {"imageFilename": result.source, **size}
    page_element = _element(root, "Page", attrib, text="\n", tail="\n")
    exported = _exported(result)
    ids = _field_ids([field for field, _ in exported], "r_", ())
    for (field, bbox), region_id in zip(exported, ids, strict=True):
        _page_region(page_element, field, bbox, region_id)
    return _serialize(root)


def _page_region(parent: ET.Element, field: FieldResult, bbox: Box, region_id: str) -> None:
    custom = f"structure {{type:{custom_value(field.name)};}}"
    region = _element(parent, "TextRegion", {"id": region_id, "custom": custom}, tail="\n")
    _element(region, "Coords", {"points": _points(bbox)}, tail="\n")
    for index, (text, box, confidence, words) in enumerate(_field_lines(field)):
        line_id = f"{region_id}_l{index}"
        line = _element(region, "TextLine", {"id": line_id}, tail="\n")
        _element(line, "Coords", {"points": _points(box)}, tail="\n")
        for w_index, (word, w_box) in enumerate(words):
            element = _element(line, "Word", {"id": f"{line_id}_w{w_index}"}, tail="\n")
            _element(element, "Coords", {"points": _points(w_box)})
            _equiv(element, word, confidence)
        _equiv(line, text, confidence)
    _equiv(region, field.text, field.confidence)


def export_results(results: Sequence[CertificateResult], fmt: str) -> dict[str, str]:
    """Render results in `fmt`.

    Returns
    -------
    dict of str to str
        File name -> content: one file for ``json``, ``jsonl`` and ``csv``
        (``results.<ext>``), one per page for ``alto`` and ``page``
        (``<source stem>-p<page>.<fmt>.xml``).

    Raises
    ------
    ValueError
        Unknown format.
    """
    if fmt == "json":
        return {"results.json": to_json(results)}
    if fmt == "jsonl":
        return {"results.jsonl": to_jsonl(results)}
    if fmt == "csv":
        return {"results.csv": to_csv(results)}
    if fmt in ("alto", "page"):
        render = to_alto if fmt == "alto" else to_page_xml
        files: dict[str, str] = {}
        for result in results:
            name = _page_file_name(result, fmt)
            stem, count = name[: -len(f".{fmt}.xml")], 2
            while name in files:  # same file name in different folders
                name, count = f"{stem}-{count}.{fmt}.xml", count + 1
            files[name] = render(result)
        return files
    raise ValueError(f"unknown export format {fmt!r}; formats: {', '.join(FORMATS)}")


def _page_file_name(result: CertificateResult, fmt: str) -> str:
    stem = Path(result.source).stem or "page"
    return f"{stem}-p{result.page_index}.{fmt}.xml"
