import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from medocr.exports import (
    ALTO_NS,
    CSV_COLUMNS,
    PAGE_NS,
    export_results,
    to_alto,
    to_csv,
    to_page_xml,
)
from medocr.types import CertificateResult, FieldResult, LineResult

PAGE_XSD = Path(__file__).resolve().parents[1] / ".cache" / "schemas" / "page.xsd"


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
