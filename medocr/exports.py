"""Write reading results as JSON, CSV, ALTO v4 or PAGE XML (2019-07-15).

ALTO and PAGE open in standard HTR tools (eScriptorium, Transkribus, OCR-D): each field
is a text block/region named after the field, each written line a text line, each word
a string/word with its estimated box and confidence.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

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


# --- ALTO -----------------------------------------------------------------------------------


def _hvwh(box: Box) -> str:
    x0, y0, x1, y1 = box
    return f'HPOS="{x0}" VPOS="{y0}" WIDTH="{max(1, x1 - x0)}" HEIGHT="{max(1, y1 - y0)}"'


def _page_box(result: CertificateResult) -> Box:
    if result.page_size is not None:
        return (0, 0, *result.page_size)
    boxes = [f.bbox for f in result.fields if f.bbox is not None]
    return (0, 0, max((b[2] for b in boxes), default=1), max((b[3] for b in boxes), default=1))


def _field_lines(field: FieldResult) -> list[tuple[str, Box, float, tuple[tuple[str, Box], ...]]]:
    """(text, box, confidence, words) of each line to export; checkboxes get one line."""
    if field.lines:
        return [(line.text, line.bbox, line.confidence, line.words) for line in field.lines]
    if field.text and field.bbox is not None:
        return [(field.text, field.bbox, field.confidence, ((field.text, field.bbox),))]
    return []


def _words_or_line(
    text: str, box: Box, words: tuple[tuple[str, Box], ...]
) -> tuple[tuple[str, Box], ...]:
    return words if words else tuple((w, box) for w in text.split()[:1]) if text else ()


def to_alto(result: CertificateResult) -> str:
    """One page as ALTO v4 XML: a TextBlock per field, TextLine per line, String per word."""
    page = _page_box(result)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<alto xmlns="{ALTO_NS}" xmlns:xsi="{XSI_NS}" '
        f'xsi:schemaLocation="{ALTO_NS} {ALTO_SCHEMA}">',
        "<Description><MeasurementUnit>pixel</MeasurementUnit>",
        f"<sourceImageInformation><fileName>{_text(result.source)}</fileName>"
        "</sourceImageInformation>",
        '<OCRProcessing ID="ocr"><ocrProcessingStep><processingSoftware>'
        f"<softwareName>medocr</softwareName><softwareVersion>{__version__}</softwareVersion>"
        "</processingSoftware></ocrProcessingStep></OCRProcessing></Description>",
        "<Layout>",
        f'<Page ID="page{result.page_index}" PHYSICAL_IMG_NR="{result.page_index + 1}" '
        f'WIDTH="{page[2]}" HEIGHT="{page[3]}">',
        f"<PrintSpace {_hvwh(page)}>",
    ]
    for field in result.fields:
        if field.bbox is None:
            continue
        out.append(f'<TextBlock ID="{field.name}" {_hvwh(field.bbox)}>')
        for index, (text, box, confidence, words) in enumerate(_field_lines(field)):
            out.append(f'<TextLine ID="{field.name}_l{index}" {_hvwh(box)}>')
            strings = []
            for w_index, (word, w_box) in enumerate(_words_or_line(text, box, words)):
                strings.append(
                    f'<String ID="{field.name}_l{index}_w{w_index}" CONTENT={quoteattr(word)} '
                    f'WC="{confidence:.4f}" {_hvwh(w_box)}/>'
                )
            out.append("<SP/>".join(strings))
            out.append("</TextLine>")
        out.append("</TextBlock>")
    out += ["</PrintSpace>", "</Page>", "</Layout>", "</alto>", ""]
    return "\n".join(out)


# --- PAGE -----------------------------------------------------------------------------------


def _points(box: Box) -> str:
    x0, y0, x1, y1 = box
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    return f"{x0},{y0} {x1},{y0} {x1},{y1} {x0},{y1}"


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _equiv(text: str, confidence: float) -> str:
    return (
        f'<TextEquiv conf="{min(1.0, max(0.0, confidence)):.4f}">'
        f"<Unicode>{_text(text)}</Unicode></TextEquiv>"
    )


def to_page_xml(result: CertificateResult, *, created: datetime | None = None) -> str:
    """One page as PAGE XML 2019-07-15: a TextRegion per field, TextLine, Word, TextEquiv."""
    stamp = (created or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S")
    page = _page_box(result)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<PcGts xmlns="{PAGE_NS}" xmlns:xsi="{XSI_NS}" '
        f'xsi:schemaLocation="{PAGE_NS} {PAGE_SCHEMA}">',
        f"<Metadata><Creator>medocr {__version__}</Creator><Created>{stamp}</Created>"
        f"<LastChange>{stamp}</LastChange></Metadata>",
        f"<Page imageFilename={quoteattr(result.source)} "
        f'imageWidth="{page[2]}" imageHeight="{page[3]}">',
    ]
    for field in result.fields:
        if field.bbox is None:
            continue
        out.append(
            f'<TextRegion id="r_{field.name}" custom="structure {{type:{field.name};}}">'
            f'<Coords points="{_points(field.bbox)}"/>'
        )
        for index, (text, box, confidence, words) in enumerate(_field_lines(field)):
            out.append(f'<TextLine id="r_{field.name}_l{index}"><Coords points="{_points(box)}"/>')
            for w_index, (word, w_box) in enumerate(_words_or_line(text, box, words)):
                out.append(
                    f'<Word id="r_{field.name}_l{index}_w{w_index}">'
                    f'<Coords points="{_points(w_box)}"/>{_equiv(word, confidence)}</Word>'
                )
            out.append(f"{_equiv(text, confidence)}</TextLine>")
        out.append(f"{_equiv(field.text, field.confidence)}</TextRegion>")
    out += ["</Page>", "</PcGts>", ""]
    return "\n".join(out)


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
