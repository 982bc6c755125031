import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from medocr.lexicon import load_lexicon, packaged_lexicon_path
from medocr.lexicon_cli import add_lexicon_parser, run

REPO = Path(__file__).resolve().parents[1]
CIM10 = (
    Path(os.environ["MEDOCR_DATA"])
    if os.environ.get("MEDOCR_DATA")
    else REPO.parent / "shared" / "data"
) / "cim10"
needs_cim10 = pytest.mark.skipif(
    not (CIM10 / "cim10.csv.gz").is_file(),
    reason=f"needs the CIM-10 labels ({CIM10}), absent on this machine",
)
LINE = re.compile(r"^- (\d+\.\d+\.\d+) \(\d{4}-\d{2}-\d{2}\): (.*) \[(.*)\]$")


def cli(*args):
    return run(["lexicon", *map(str, args)])


def changelog_tail(folder):
    return (folder / "CHANGELOG.md").read_text(encoding="utf-8").splitlines()[-1]


@pytest.fixture
def folder(tmp_path, capsys):
    path = tmp_path / "my-lexicon"
    assert cli("copy", "fr-medical", path) == 0
    capsys.readouterr()
    return path


def test_registers_on_a_parser():
    parser = argparse.ArgumentParser(prog="medocr")
    lexicon = add_lexicon_parser(parser.add_subparsers(dest="command"))
    assert isinstance(lexicon, argparse.ArgumentParser)
    args = parser.parse_args(["lexicon", "add", "DIR", "AVC", "IDM", "--count", "2"])
    assert args.words == ["AVC", "IDM"] and args.count == 2 and callable(args.func)
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["lexicon"])
    assert exc.value.code == 2


def test_info_of_the_packaged_lexicon(capsys):
    assert cli("info") == 0
    out = capsys.readouterr().out
    lexicon = load_lexicon()
    assert out.startswith(f"fr-medical {lexicon.version} ({lexicon.ref})\n")
    assert f"words: {len(lexicon)} ({len(lexicon.acronyms)} acronyms)" in out
    assert "interpolated absolute discounting" in out and "AP-HP" in out


def test_copy_writes_a_verified_folder(folder, tmp_path, capsys):
    assert sorted(p.name for p in folder.iterdir()) == [
        "CHANGELOG.md",
        "bigrams.tsv",
        "manifest.json",
        "words.tsv",
    ]
    assert load_lexicon(folder).ref == load_lexicon().ref
    assert cli("copy", "fr-medical", folder) == 2
    assert "exists and is not an empty folder" in capsys.readouterr().err


def test_add_remove_import_diff_on_a_copy(folder, tmp_path, capsys):
    packaged = load_lexicon()
    assert cli("add", folder, "Xylophagie", "avc", "--count", "3", "--note", "test") == 0
    out = capsys.readouterr().out
    lexicon = load_lexicon(folder)
    assert lexicon.version == "1.0.1" and f"1.0.0 -> 1.0.1 ({lexicon.ref})" in out
    assert lexicon.counts["xylophagie"] == 3
    assert lexicon.counts["AVC"] == packaged.counts["AVC"] + 3
    version, what, counts = LINE.match(changelog_tail(folder)).groups()
    assert (version, what) == ("1.0.1", "added 1 word, raised 1 count: test")
    assert counts.startswith(f"{len(packaged) + 1} words")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["version"] == "1.0.1" and manifest["parent"] == packaged.ref

    assert cli("remove", folder, "XYLOPHAGIE", "nonexistentword") == 1
    assert "'nonexistentword' is not in the lexicon (skipped)" in capsys.readouterr().err
    lexicon = load_lexicon(folder)
    assert lexicon.version == "1.0.2" and "xylophagie" not in lexicon
    assert LINE.match(changelog_tail(folder)).group(2) == "removed 1 word"

    assert cli("remove", folder, "zzzz") == 2
    err = capsys.readouterr().err
    assert "medocr: error: " in err and "none of the words is in the lexicon: 'zzzz'" in err

    words = tmp_path / "service.txt"
    words.write_text("# mots du service\nglioblastomes\t2\nAVC\n", encoding="utf-8")
    assert cli("import", folder, words) == 0
    lexicon = load_lexicon(folder)
    assert lexicon.version == "1.0.3" and lexicon.counts["glioblastomes"] == 2
    assert lexicon.sources[-1]["name"] == "word list service.txt"
    assert LINE.match(changelog_tail(folder)).group(2).endswith("(1 new): imported service.txt")

    capsys.readouterr()
    assert cli("diff", "fr-medical", folder) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{packaged.ref} -> {lexicon.ref}: +1 word, -0 words, 1 count changed"
    assert out[1:] == [
        "+ glioblastomes\t2",
        f"~ AVC\t{packaged.counts['AVC']} -> {packaged.counts['AVC'] + 4}",
    ]
    assert cli("diff", "--summary", folder, folder) == 0
    assert capsys.readouterr().out.endswith(": +0 words, -0 words, 0 counts changed\n")
    assert sorted(p.name for p in folder.iterdir()) == [
        "CHANGELOG.md",
        "bigrams.tsv",
        "manifest.json",
        "words.tsv",
    ]
    changelog = (folder / "CHANGELOG.md").read_text("utf-8").splitlines()
    assert [LINE.match(ln).group(1) for ln in changelog if ln[:2] == "- "] == [
        "1.0.0",
        "1.0.1",
        "1.0.2",
        "1.0.3",
    ]


def test_import_refuses_a_malformed_file_with_its_line(folder, tmp_path, capsys):
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    bad = tmp_path / "bad.tsv"
    bad.write_text("avc\nfoo\tbar\n", encoding="utf-8")
    assert cli("import", folder, bad) == 2
    assert capsys.readouterr().err == f"medocr: error: {bad}:2: count 'bar' is not an integer\n"
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_add_refuses_what_is_not_one_word(folder, capsys):
    assert cli("add", folder, "cardio-respiratoire") == 2
    assert capsys.readouterr().err == (
        "medocr: error: 'cardio-respiratoire' is not one word "
        "(medocr reads 'cardio', 'respiratoire')\n"
    )
    assert cli("add", folder, "avc", "--count", "-1") == 2
    assert "--count must be >= 0, got -1" in capsys.readouterr().err


def test_the_packaged_copy_is_never_modified(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = {p.name: p.read_bytes() for p in packaged_lexicon_path().iterdir()}
    for target in ("fr-medical", str(packaged_lexicon_path())):
        for args in (("add", target, "xyz"), ("remove", target, "AVC")):
            assert cli(*args) == 2
            err = capsys.readouterr().err
            assert "shipped inside medocr, which is never modified" in err
            assert "medocr lexicon copy fr-medical DIR" in err
    assert {p.name: p.read_bytes() for p in packaged_lexicon_path().iterdir()} == before
    (tmp_path / "empty").mkdir()
    assert cli("add", tmp_path / "empty", "xyz") == 2
    assert "not a lexicon folder (no manifest.json)" in capsys.readouterr().err


def test_build_needs_the_cim10_labels(tmp_path, capsys):
    assert cli("build", "--cim10", tmp_path / "none", "--out", tmp_path / "out") == 2
    assert "no cim10.csv.gz there (pass --cim10 DIR" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@needs_cim10
@pytest.mark.slow
def test_build_writes_a_loadable_lexicon(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # outside the repository: uses the curated copy in the package
    assert cli("build", "--cim10", CIM10, "--out", tmp_path / "out", "--samples", "100") == 0
    assert "built fr-medical@" in capsys.readouterr().out
    built = load_lexicon(tmp_path / "out")
    assert built.sha256 == load_lexicon().sha256 and len(built.bigrams) > 1000
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["build"]["command"] == "medocr lexicon build --samples 100"
    assert manifest["build"]["sampler"]["texts"] == 100


def test_runs_as_a_module(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "medocr.lexicon_cli", "lexicon", "info", "nope"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and "unknown lexicon 'nope'" in out.stderr
