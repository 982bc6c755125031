"""Data paths are explicit: nothing depends on the working directory, the same seed gives
the same certificates on every machine; the synthesiser's tables ship as data files."""

import ast
import csv
import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from medocr.classify.data import load_mnist_digits, mnist_path
from medocr.cli import main
from medocr.errors import LexiconError, MedocrError
from medocr.lexicon import find_cim10
from medocr.synth.runner import synthesize
from medocr.synth.tables import TABLES, load_table
from medocr.synth.text import Vocabulary, sample_cause_text

PACKAGE = Path(__file__).resolve().parents[1] / "medocr"
CIM10_ROWS = [
    ("I21", "Infarctus aigu du myocarde"),
    ("C34", "Tumeur maligne des bronches et du poumon"),
    ("I50", "Insuffisance cardiaque congestive"),
    ("K70", "Cirrhose alcoolique du foie"),
    ("J44", "Maladie pulmonaire obstructive chronique"),
]


@pytest.fixture
def machines(tmp_path, monkeypatch):
    """Two working directories: one with ``../shared/data`` (CIM-10 and MNIST), one without."""
    monkeypatch.delenv("MEDOCR_DATA", raising=False)
    shared = tmp_path / "with" / "shared" / "data"
    (shared / "cim10").mkdir(parents=True)
    with gzip.open(shared / "cim10" / "cim10.csv.gz", "wt", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["code", "long"])
        writer.writerows(CIM10_ROWS)
    (shared / "mnist-digits").mkdir()
    np.savez(
        shared / "mnist-digits" / "digits.npz",
        images=np.zeros((2, 28, 28), np.uint8),
        labels=np.array([3, 5], np.uint8),
    )
    with_data = tmp_path / "with" / "main"
    without = tmp_path / "without" / "main"
    with_data.mkdir()
    without.mkdir(parents=True)
    return {"with": with_data, "without": without, "shared": shared}


def _digests(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())}


def _synth(out: Path, seed: int = 7) -> dict[str, str]:
    assert main(["synth", "--count", "1", "--seed", str(seed), "--out", str(out), "--quiet"]) == 0
    return _digests(out)


def test_synth_ignores_shared_data_unless_it_is_named(machines, monkeypatch, tmp_path):
    runs = {}
    for name in ("with", "without"):
        monkeypatch.chdir(machines[name])
        runs[name] = _synth(tmp_path / f"out-{name}")
    assert runs["with"] == runs["without"]  # byte-identical, ../shared/data or not
    manifest = json.loads((tmp_path / "out-with" / "synth.json").read_text("utf-8"))
    assert manifest["vocabulary"] == "builtin"

    monkeypatch.setenv("MEDOCR_DATA", str(machines["shared"]))
    named = {}
    for name in ("with", "without"):
        monkeypatch.chdir(machines[name])
        named[name] = _synth(tmp_path / f"named-{name}")
    assert named["with"] == named["without"]
    truth = json.loads((tmp_path / "named-with" / "cert-000000.json").read_text("utf-8"))
    assert truth["vocabulary"] == "builtin+cim10"
    assert named["with"] != runs["with"]

    monkeypatch.delenv("MEDOCR_DATA")
    synthesize(tmp_path / "argument", 1, seed=7, data_dir=machines["shared"])
    assert _digests(tmp_path / "argument") == named["with"]  # an argument or $MEDOCR_DATA


def test_vocabulary_default_reads_only_what_is_named(machines, monkeypatch):
    monkeypatch.chdir(machines["with"])
    assert Vocabulary.default().source == "builtin"
    assert Vocabulary.default(machines["shared"]).source == "builtin+cim10"
    monkeypatch.setenv("MEDOCR_DATA", str(machines["shared"]))
    vocab = Vocabulary.default()
    assert vocab.source == "builtin+cim10"
    assert "infarctus aigu du myocarde" in vocab.underlying


def test_lexicon_build_needs_a_named_cim10(machines, monkeypatch):
    monkeypatch.chdir(machines["with"])
    with pytest.raises(LexiconError, match="no CIM-10 labels given"):
        find_cim10()
    monkeypatch.setenv("MEDOCR_DATA", str(machines["shared"]))
    assert find_cim10() == machines["shared"] / "cim10" / "cim10.csv.gz"


def test_mnist_digits_need_a_named_folder(machines, monkeypatch):
    monkeypatch.chdir(machines["with"])
    assert mnist_path() is None
    with pytest.raises(MedocrError, match="MEDOCR_DATA is not set"):
        load_mnist_digits()
    monkeypatch.setenv("MEDOCR_DATA", str(machines["shared"]))
    assert mnist_path() == machines["shared"] / "mnist-digits" / "digits.npz"
    assert load_mnist_digits().labels.tolist() == ["3", "5"]


def test_the_library_never_names_the_shared_folder():
    guesses = {"shared", "../shared", "../shared/data", "shared/data"}
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in guesses:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert found == []


# ------------------------------------------------------------------ synthesiser tables


def test_tables_load_once_and_unknown_names_fail():
    for name in TABLES:
        assert load_table(name) is load_table(name)
    with pytest.raises(MedocrError, match="unknown synth table"):
        load_table("nothing")


def test_builtin_vocabulary_and_samples_are_pinned():
    """Moving the tables to data files changed no sample; editing them changes these pins."""
    vocab = Vocabulary.builtin()
    assert vocab.sizes() == {
        "immediate": 65,
        "intermediate": 95,
        "underlying": 148,
        "contributing": 62,
        "modifiers": 16,
        "connectors": 8,
        "abbreviations": 46,
        "total": 440,
    }
    first = sample_cause_text(np.random.default_rng(0), vocab)
    assert first.part1 == ("ACR", "Sepsis", "Paralysie supranucléaire progressive", "")
    assert first.intervals == ("59 h", "3 mois", "1 an", "")
    assert first.death_date == "5 décembre 2016"
    texts = [sample_cause_text(np.random.default_rng(s), vocab).to_dict() for s in range(300)]
    digest = hashlib.sha256(
        json.dumps(texts, ensure_ascii=False, sort_keys=True).encode()
    ).hexdigest()
    assert digest == "9b6a9a70054f8e7cc9373f4a56b10533d0ea2e4284bb3e6ca8b576123579317e"
