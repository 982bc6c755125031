import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from medocr.exports import (
    ALTO_NS,
    CSV_COLUMNS,
    PAGE_NS,
    custom_value,
    export_results,
    to_alto,
    to_csv,
    to_page_xml,
    xml_attribute,
    xml_id,
    xml_text,
)
from medocr.types import CertificateResult, FieldResult, LineResult

ROOT = Path(__file__).resolve().parents[1]
PAGE_XSD = ROOT / ".cache" / "schemas" / "page.xsd"
ALTO_XSD = ROOT.parent / "shared" / "schemas" / "alto-4-2.xsd"  # see its README.md


def sample_result(source: str = "scans/a & b.png") -> CertificateResult:
    line = LineResult(
        "arrêt cardiaque",
        (100, 200, 400, 240),
        0.8,
        (("arrêt", (100, 200, 220, 240)), ("cardiaque", (230, 200, 400, 240))),
    )
    return CertificateResult(
        source,
        0,
        "fr-deces-volet-medical@1.0.0",
        (
            FieldResult("cause_1a", line.text, 0.8, "review", kind="cause",
                        bbox=(90, 190, 900, 250), lines=(line,)),
            FieldResult("interval_1a", "3 j", 0.95, "accept", kind="interval",
                        value={"qualifier": "exact", "value": 3.0, "unit": "day"},
                        bbox=(910, 190, 1100, 250),
                        lines=(LineResult("3 j", (920, 200, 980, 240), 0.95),)),
            FieldResult("cause_1b", "", 1.0, "accept", kind="cause", bbox=(90, 260, 900, 320)),
            FieldResult("autopsy_yes", "X", 0.99, "accept", kind="checkbox",
                        value={"checked": True}, bbox=(630, 1595, 660, 1625)),
            FieldResult("cause_2", "", 0.0, "review", error="RuntimeError: boom", kind="cause",
                        bbox=(90, 700, 900, 800)),
        ),
        steps={"model": "fr-crnn-small@0.1.0", "lexicon": "fr-medical@1.0.0+abc"},
        page_size=(1654, 2339),
        registration_score=0.9,
    )  # fmt: skip


def test_csv_has_one_row_per_field_and_keeps_text():
    rows = list(csv.DictReader(io.StringIO(to_csv([sample_result(), sample_result("b.png")]))))
    assert len(rows) == 10 and tuple(rows[0]) == CSV_COLUMNS
    assert rows[0]["text"] == "arrêt cardiaque" and rows[0]["model"] == "fr-crnn-small@0.1.0"
    assert json.loads(rows[1]["value"])["unit"] == "day"
    assert rows[4]["error"] == "RuntimeError: boom" and rows[4]["route"] == "review"


def test_alto_structure():
    root = ET.fromstring(to_alto(sample_result()).encode())
    ns = {"a": ALTO_NS}
    assert root.tag == f"{{{ALTO_NS}}}alto"
    assert root.find("a:Description/a:MeasurementUnit", ns).text == "pixel"
    page = root.find("a:Layout/a:Page", ns)
    assert (page.get("WIDTH"), page.get("HEIGHT")) == ("1654", "2339")
    blocks = page.findall("a:PrintSpace/a:TextBlock", ns)
    assert [b.get("ID") for b in blocks] == [
        "cause_1a", "interval_1a", "cause_1b", "autopsy_yes", "cause_2"
    ]  # fmt: skip
    strings = blocks[0].findall("a:TextLine/a:String", ns)
    assert [s.get("CONTENT") for s in strings] == ["arrêt", "cardiaque"]
    # a line without word boxes is one String with its whole text, in the line's box
    interval = blocks[1].findall("a:TextLine/a:String", ns)
    assert [(s.get("CONTENT"), s.get("HPOS")) for s in interval] == [("3 j", "920")]
    assert strings[1].get("HPOS") == "230" and strings[1].get("WC") == "0.8000"
    assert len(blocks[0].findall("a:TextLine/a:SP", ns)) == 1
    assert blocks[2].findall("a:TextLine", ns) == []  # empty field: no line
    for element in root.iter(f"{{{ALTO_NS}}}String"):
        assert int(element.get("WIDTH")) > 0 and int(element.get("HEIGHT")) > 0
    ids = [e.get("ID") for e in root.iter() if e.get("ID")]
    assert len(ids) == len(set(ids))


def test_page_xml_structure_and_escaping():
    text = to_page_xml(sample_result())
    root = ET.fromstring(text.encode())
    ns = {"p": PAGE_NS}
    page = root.find("p:Page", ns)
    assert page.get("imageFilename") == "scans/a & b.png"
    regions = page.findall("p:TextRegion", ns)
    assert regions[0].find("p:TextEquiv/p:Unicode", ns).text == "arrêt cardiaque"
    words = regions[0].findall("p:TextLine/p:Word/p:TextEquiv/p:Unicode", ns)
    assert [w.text for w in words] == ["arrêt", "cardiaque"]
    assert regions[1].find("p:TextLine/p:Coords", ns).get("points") == (
        "920,200 980,200 980,240 920,240"
    )


@pytest.mark.skipif(not PAGE_XSD.exists(), reason="run scripts/fetch-schemas.sh for page.xsd")
def test_page_xml_is_valid_against_the_schema():
    from lxml import etree

    schema = etree.XMLSchema(etree.parse(str(PAGE_XSD)))
    document = etree.fromstring(to_page_xml(sample_result()).encode())
    assert schema.validate(document), schema.error_log
    broken = etree.fromstring(
        to_page_xml(sample_result())
        .replace("<Coords", "<Cords")
        .replace("</Coords", "</Cords")
        .encode()
    )
    assert not schema.validate(broken)  # the check can fail


def test_export_results_names_files_and_refuses_unknown_formats():
    results = [sample_result("x/cert.png"), sample_result("y/cert.png")]
    assert list(export_results(results, "alto")) == ["cert-p0.alto.xml", "cert-p0-2.alto.xml"]
    assert list(export_results(results, "csv")) == ["results.csv"]
    jsonl = export_results(results, "jsonl")["results.jsonl"].splitlines()
    assert CertificateResult.from_dict(json.loads(jsonl[1])) == results[1]
    with pytest.raises(ValueError, match="unknown export format 'docx'"):
        export_results(results, "docx")


# --- hostile names and texts -----------------------------------------------------------------

HOSTILE_NAMES = (
    "cause \"1a\" <b> & 'c'",
    "two\nlines\r\nand\ttab",
    "x;y{z}:w\\u0041",  # the custom-attribute syntax and a literal escape
    "ctl\x00\x01\x1f\x7f",
    "surrogate\udc80 \ufffe\uffff",
    "",
    "1a",
    "ocr",  # the ALTO OCRProcessing id
    "page0",  # the ALTO Page id
    "a",
    "a_l0",  # the id of field a's first line
    "a b",
    "a_b",  # the id "a b" maps to
    "décès·\u0301",
)
HOSTILE_TEXTS = (
    'il a dit "non" & <rien> d\'autre',
    "]]> fin",
    "retour\r\nchariot\rseul",
    "nul\x00 et \x0b\x0c",
    "\udcff\ud800 ok",
    "😀 \u2028 \x85",
    "  ",
)


def hostile_result() -> CertificateResult:
    fields = []
    for index, name in enumerate(HOSTILE_NAMES):
        text = HOSTILE_TEXTS[index % len(HOSTILE_TEXTS)]
        word = text.split()[0] if text.split() else text
        box = (10 * index, 20, 10 * index + 8, 40)
        line = LineResult(text, box, 0.5, ((word, box), (text, box)) if index % 2 else ())
        fields.append(FieldResult(name, text, 0.5, "review", bbox=box, lines=(line,)))
    fields.append(FieldResult("no line", HOSTILE_TEXTS[0], 2.0, "accept", bbox=(0, 0, 5, 5)))
    fields.append(FieldResult("nan", "", float("nan"), "review", bbox=(-5, -5, 5, 5)))
    source = 'scans/x "y" <&>\x01\udc80\r\n.png'
    return CertificateResult(source, 0, "t@1", tuple(fields), page_size=(500, 60))


def exported_lines(field: FieldResult) -> tuple[LineResult, ...]:
    """The lines an export writes for `field` (a field without lines: its text, if any)."""
    if field.lines:
        return field.lines
    return (LineResult(field.text, field.bbox, field.confidence),) if field.text else ()


def exported_words(line: LineResult) -> list[str]:
    """The words an export writes for `line` (no word boxes: the whole text, if any)."""
    return [w for w, _ in line.words] or ([line.text] if line.text.strip() else [])


def parse(xml: str) -> ET.Element:
    return ET.fromstring(xml.encode("utf-8"))  # strict UTF-8: no lone surrogates left


def unescape_custom(value: str) -> str:
    return re.sub(r"\\u([0-9a-f]{4})", lambda m: chr(int(m.group(1), 16)), value)


def test_xml_cleaning_rules():
    cleaned = xml_attribute("a\x00b\x1f\udc80\ufffe\n\r\t\x7f")
    assert cleaned == "a\ufffdb\ufffd\ufffd\ufffd\n\r\t\x7f"
    assert xml_text("a\r\nb\rc\x08") == "a\nb\nc\ufffd"
    assert [xml_id(n) for n in ("cause_1a", "a b", "1a", "", "x:y", "é-1.2")] == [
        "cause_1a", "a_b", "_1a", "_", "x_y", "é-1.2"
    ]  # fmt: skip
    assert custom_value("cause_1a") == "cause_1a"
    assert custom_value("a b;{}:\\") == "a\\u0020b\\u003b\\u007b\\u007d\\u003a\\u005c"


def test_alto_keeps_hostile_texts_and_gives_unique_valid_ids():
    result = hostile_result()
    root = parse(to_alto(result))
    ns = {"a": ALTO_NS}
    assert root.find("a:Description/a:sourceImageInformation/a:fileName", ns).text == xml_text(
        result.source
    )
    blocks = root.findall("a:Layout/a:Page/a:PrintSpace/a:TextBlock", ns)
    assert len(blocks) == len(result.fields)
    for block, field in zip(blocks, result.fields, strict=True):
        assert block.get("ID").startswith(xml_id(field.name))
        expected = [w for line in exported_lines(field) for w in exported_words(line)]
        strings = block.findall("a:TextLine/a:String", ns)
        assert [s.get("CONTENT") for s in strings] == [xml_attribute(w) for w in expected]
    assert root.find(".//a:String[@ID='no_line_l0_w0']", ns).get("WC") == "1.0000"
    assert blocks[-1].get("HPOS") == "-5" and blocks[-1].findall("a:TextLine", ns) == []
    ids = [e.get("ID") for e in root.iter() if e.get("ID")]
    assert len(ids) == len(set(ids))
    assert {"ocr", "page0", "a", "a_l0-2", "a_b", "a_b-2", "_1a", "_"} <= set(ids)
    assert all(re.fullmatch(r"[\w.\-·\u0301]+", i) and not i[0].isdigit() for i in ids)


def test_page_xml_keeps_hostile_names_and_texts():
    result = hostile_result()
    root = parse(to_page_xml(result))
    ns = {"p": PAGE_NS}
    page = root.find("p:Page", ns)
    assert page.get("imageFilename") == xml_attribute(result.source)
    regions = page.findall("p:TextRegion", ns)
    for region, field in zip(regions, result.fields, strict=True):
        custom = re.fullmatch(r"structure \{type:(.*);\}", region.get("custom"), re.S)
        assert unescape_custom(custom.group(1)) == field.name  # exact, even control characters
        assert (region.find("p:TextEquiv/p:Unicode", ns).text or "") == xml_text(field.text)
        lines = region.findall("p:TextLine", ns)
        for line, truth in zip(lines, exported_lines(field), strict=True):
            assert (line.find("p:TextEquiv/p:Unicode", ns).text or "") == xml_text(truth.text)
            words = [w.text or "" for w in line.findall("p:Word/p:TextEquiv/p:Unicode", ns)]
            assert words == [xml_text(w) for w in exported_words(truth)]
    assert regions[-1].find("p:Coords", ns).get("points") == "0,0 5,0 5,5 0,5"
    assert regions[-1].find("p:TextEquiv", ns).get("conf") == "0.0000"  # NaN
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert len(ids) == len(set(ids))


def test_ordinary_texts_read_back_exactly():
    text = 'il a dit "non" & <rien> d\'autre ]]>\n\tfin 😀'
    result = sample_result(source=text)
    assert parse(to_alto(result)).find(f".//{{{ALTO_NS}}}fileName").text == text
    assert parse(to_page_xml(result)).find(f"{{{PAGE_NS}}}Page").get("imageFilename") == text


def _schema(path: Path):
    if not path.exists():
        pytest.skip(f"{path} is missing (PAGE: scripts/fetch-schemas.sh; ALTO: ../shared/schemas)")
    from lxml import etree

    return etree.XMLSchema(etree.parse(str(path)))


@pytest.mark.parametrize("fmt", ["alto", "page"])
def test_hostile_exports_are_valid_against_the_schemas(fmt):
    from lxml import etree

    schema = _schema(ALTO_XSD if fmt == "alto" else PAGE_XSD)
    render = to_alto if fmt == "alto" else to_page_xml
    for result in (sample_result(), hostile_result()):
        document = etree.fromstring(render(result).encode())
        assert schema.validate(document), schema.error_log
    if fmt == "alto":  # the check can fail: a duplicate ID, a line without a String
        text = to_alto(hostile_result())
        for broken in (text.replace('ID="a_b-2"', 'ID="a_b"'), re.sub("<String [^>]*>", "", text)):
            assert not schema.validate(etree.fromstring(broken.encode()))
