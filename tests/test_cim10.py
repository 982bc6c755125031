"""The CIM-10 labels file: located only where it is named, opened with its columns checked."""

import gzip

import pytest

from medocr.cim10 import (
    READ_ERRORS,
    MissingColumnsError,
    locate_cim10,
    named_data,
    open_cim10,
)
from medocr.errors import LexiconError
from medocr.lexicon import build_fr_medical


def _labels(path, header="code,long", rows=("I21,Infarctus aigu du myocarde",)):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(("\n".join([header, *rows]) + "\n").encode("utf-8")))
    return path


def test_locate_accepts_the_file_its_folder_or_the_data_folder(tmp_path):
    labels = _labels(tmp_path / "data" / "cim10" / "cim10.csv.gz")
    for named in (labels, labels.parent, tmp_path / "data", str(tmp_path / "data")):
        assert locate_cim10(named) == labels
    assert locate_cim10(tmp_path) is None  # two levels up: not searched
    assert locate_cim10(tmp_path / "nowhere") is None


def test_named_data_is_the_argument_then_medocr_data(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDOCR_DATA", str(tmp_path))
    assert named_data("given") == "given"
    assert named_data() == str(tmp_path)
    monkeypatch.setenv("MEDOCR_DATA", "")
    assert named_data() is None
    monkeypatch.delenv("MEDOCR_DATA")
    assert named_data() is None


def test_open_yields_rows_and_refuses_missing_columns(tmp_path):
    labels = _labels(tmp_path / "cim10.csv.gz")
    with open_cim10(labels, ["code", "long"]) as rows:
        assert [row["long"] for row in rows] == ["Infarctus aigu du myocarde"]
    with pytest.raises(MissingColumnsError) as caught, open_cim10(labels, ["long", "x", "a"]):
        pass
    assert caught.value.missing == ["a", "x"]
    assert isinstance(caught.value, ValueError)


def test_open_reports_an_unreadable_file_as_a_read_error(tmp_path):
    (tmp_path / "cim10.csv.gz").write_bytes(b"not a gzip file")
    with pytest.raises(READ_ERRORS), open_cim10(tmp_path / "cim10.csv.gz", ["long"]):
        pass


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (gzip.compress(b"code,short\nI21,IDM\n"), "no 'long' column"),
        (b"not a gzip file", "cannot read"),
    ],
)
def test_the_lexicon_build_names_a_bad_labels_file(tmp_path, content, message):
    (tmp_path / "cim10.csv.gz").write_bytes(content)
    with pytest.raises(LexiconError, match=f"cim10.csv.gz: {message}"):
        build_fr_medical(tmp_path, None)
