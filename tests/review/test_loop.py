"""The loop back: operators' corrections into training lines, evaluation and the lexicon.

One corrected copy of the session's batch database (the synthetic certificates' truth
texts saved as operator corrections, plus a made-up word, an illegible field and a field
saved twice) and one export of it are shared by the tests of this module.
"""

import contextlib
import hashlib
import io
import json
import shutil
import sqlite3

import cv2
import numpy as np
import pytest

from medocr.cli import main
from medocr.evaluate.metrics import cer
from medocr.review.store import ReviewStore
from medocr.review.training import align_lines, export_corrections, split_documents

pytestmark = pytest.mark.tf

#: The scans of the batch (tests/review/conftest.py) and the certificates they copy.
SCANS = {"a.png": "cert-000000", "2026-11/b.png": "cert-000001", "2026-11/c.png": "cert-000002"}
MADE_UP = "pneumopathie zorglubienne"


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fields(db):
    connection = sqlite3.connect(db)
    try:
        return connection.execute(
            "SELECT rowid, path, page_index, name, kind, route, text FROM fields"
        ).fetchall()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def corrected(tmp_path_factory, results_db, certificate_dir):
    """``(db, inbox, truth)``: a copy of the batch with corrections; truth = key -> text.

    Every text field routed to review, and every death date, is corrected with its
    synthetic truth; ``a.png`` ``cause_2`` (blank, nothing cut) gets :data:`MADE_UP`; its
    ``interval_1d`` is marked illegible; ``c.png`` ``cause_1a`` is saved wrong, then right.
    """
    source, inbox = results_db
    db = tmp_path_factory.mktemp("loop") / "results.db"
    shutil.copy(source, db)
    truths = {
        path: {
            f["name"]: " ".join(f.get("text", "").split())
            for f in json.loads((certificate_dir / f"{stem}.json").read_text("utf-8"))["fields"]
        }
        for path, stem in SCANS.items()
    }
    truth = {}
    with ReviewStore(db) as store:
        for row_id, path, page_index, name, kind, route, _ in _fields(db):
            key = (path, page_index, name)
            if (path, name) == ("a.png", "cause_2"):
                truth[key] = store.save(row_id, "correct", MADE_UP, "op").text
            elif (path, name) == ("a.png", "interval_1d"):
                store.save(row_id, "illegible", "", "op")
            elif kind != "checkbox" and (route == "review" or name == "death_date"):
                if (path, name) == ("2026-11/c.png", "cause_1a"):
                    store.save(row_id, "correct", "faux départ", "op")
                truth[key] = store.save(row_id, "choose", truths[path][name], "op2").text
    return db, inbox, truth


@pytest.fixture(scope="module")
def exported(corrected, tmp_path_factory):
    """``(out, printed, db sha256 before, after)``: ``medocr export --corrections`` once."""
    db = corrected[0]
    out = tmp_path_factory.mktemp("export") / "lines"
    before = sha256(db)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["export", str(db), "--corrections", "--format", "training", "--out", str(out)])
    assert code == 0
    return out, printed.getvalue(), before, sha256(db)


def _rows(path):
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_export_writes_the_lines_reading_cuts(exported, corrected, pipeline):
    from medocr.io import read_image

    out, printed, _, _ = exported
    db, inbox, truth = corrected
    rows = _rows(out / "train.jsonl") + _rows(out / "val.jsonl")
    by_field = {}
    for row in rows:
        assert set(row) == {"image", "text", "document", "field"}
        by_field.setdefault((row["document"], row["field"]), []).append(row)
    cut = {
        (f"{path}#0", crop.name): lines
        for path in SCANS
        for crop, lines in pipeline.field_lines(read_image(inbox / path))
    }
    for key, field_rows in by_field.items():
        assert len(field_rows) == len(cut[key])
        for row, line in zip(field_rows, cut[key], strict=True):
            image = cv2.imread(str(out / row["image"]), cv2.IMREAD_GRAYSCALE)
            assert image is not None and np.array_equal(image, line), row["image"]
    # one line per one-line field, with the latest correction's text
    assert [r["text"] for r in by_field[("2026-11/c.png#0", "cause_1a")]] == [
        "Défaillance cardiaque"
    ]
    # the two-line field is cut on the machine's line boundary
    assert [r["text"] for r in by_field[("2026-11/c.png#0", "cause_2")]] == [
        "Dyslipidémie",
        "ATCD d'IDM",
    ]
    assert ("a.png#0", "cause_2") not in by_field  # nothing cut there: skipped
    assert ("a.png#0", "interval_1d") not in by_field  # illegible
    exported_fields = {(d.rsplit("#", 1)[0], 0, f) for d, f in by_field}
    assert exported_fields < set(truth)
    assert f"from {len(by_field)} of {len(truth)} corrected fields" in printed
    assert "1 no line cut" in printed and "1 illegible left out" in printed


def test_export_splits_by_certificate_and_reads_the_db_only(exported):
    from medocr.dataset.readers import read_line_set

    out, printed, before, after = exported
    train, val = read_line_set(out / "train.jsonl"), read_line_set(out / "val.jsonl")
    assert not train.errors and not val.errors
    train_docs = {r.document for r in train.records}
    val_docs = {r.document for r in val.records}
    assert train_docs and val_docs and not train_docs & val_docs
    assert all(r.image.startswith(str(out / "images")) for r in train.records + val.records)
    assert f"{len(train.records)} train + {len(val.records)} val lines" in printed
    assert before == after  # the database is only read


def test_split_documents_is_stable():
    docs = [f"scan{i}.png#0" for i in range(40)]
    val = split_documents(docs, 0.25)
    assert val == split_documents(reversed(docs), 0.25) and 3 < len(val) < 20
    more = split_documents([*docs, *(f"new{i}.png#0" for i in range(40))], 0.25)
    assert more & set(docs) == val  # a certificate stays on its side as data grows
    assert len(split_documents(["a#0", "b#0"], 0.01)) == 1  # at least one in validation
    assert len(split_documents(["a#0", "b#0"], 0.99)) == 1  # at least one for training
    assert split_documents(["a#0"], 0.01) == set() and split_documents(docs, 0.0) == set()


def test_align_lines_on_the_machine_boundaries():
    assert align_lines(["AVC", "ischemique"], "AVC ischémique") == ["AVC", "ischémique"]
    assert align_lines(["Dyslipldemie", "ATCD d'lDM"], "Dyslipidémie ATCD d'IDM") == [
        "Dyslipidémie",
        "ATCD d'IDM",
    ]
    assert align_lines(["arret", "cardiaque", "brutal"], "arrêt cardiaque brutal") == [
        "arrêt",
        "cardiaque",
        "brutal",
    ]
    assert align_lines(["AVC", "ischémique"], "AVCischémique") is None  # no space to cut at
    assert align_lines(["AVC", "ischémique"], "AVC") is None  # a line would be empty
    assert align_lines(["AVC", ""], "AVC ischémique") is None
    assert align_lines(["un"], "une ligne") == ["une ligne"]


def test_export_lists_unreadable_pages_and_goes_on(corrected, tmp_path):
    db, inbox, _ = corrected
    moved = tmp_path / "moved"
    shutil.copytree(inbox, moved)
    (moved / "a.png").unlink()
    summary = export_corrections(db, tmp_path / "out", images=moved)
    assert len(summary.unreadable) == 1
    assert summary.unreadable[0].startswith("a.png#0: ReviewError: ")
    assert "not there any more" in summary.unreadable[0]
    assert summary.train_lines + summary.val_lines > 0
    rows = _rows(tmp_path / "out" / "train.jsonl") + _rows(tmp_path / "out" / "val.jsonl")
    assert rows and all(not r["document"].startswith("a.png") for r in rows)


@pytest.mark.slow
def test_training_on_the_export_writes_a_bundle(exported, tmp_path, capsys):
    out = exported[0]
    run = tmp_path / "run"
    code = main([
        "train", "recognizer", "--init", "fr-crnn-small",
        "--data", f"corrections={out / 'train.jsonl'},{out / 'val.jsonl'}",
        "--out", str(run), "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "2",
    ])  # fmt: skip
    assert code == 0
    meta = json.loads((run / "best" / "meta.json").read_text("utf-8"))
    assert meta["training"]["data"][0]["name"] == "corrections"
    assert "train: 1 epochs" in capsys.readouterr().out


def test_evaluate_on_operator_truth_and_fit_calibration(corrected, tmp_path, capsys):
    from medocr.bundles import copy_bundle, read_meta, resolve

    db, _, truth = corrected
    before = sha256(db)
    bundle = copy_bundle(resolve("fr-crnn-small"), tmp_path / "bundle")
    report = tmp_path / "report"
    code = main(["evaluate", str(db), "--out", str(report), "--model", str(bundle),
                 "--fit-calibration", str(bundle)])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    metrics = json.loads((report / "metrics.json").read_text("utf-8"))
    assert metrics["overall"]["fields"] == len(truth)
    assert metrics["run"]["truth"] == "operator corrections in DB"
    assert metrics["run"]["pages"] == 3 and metrics["documents"] == 3
    assert f"evaluate: {len(truth)} fields had operator truth" in printed
    assert "calibration.json" in read_meta(bundle)["files"]
    calibration = json.loads((bundle / "calibration.json").read_text("utf-8"))
    assert "operator corrections in DB" in calibration["source"]
    assert sha256(db) == before


def test_operator_truth_scores_each_corrected_field(corrected, pipeline):
    from medocr.evaluate.run import evaluate_corrections

    db, _, truth = corrected
    machine = {(p, i, n): text for _, p, i, n, _, _, text in _fields(db)}
    run = evaluate_corrections(db, pipeline)
    assert run.units == 3 and not run.errors
    scored = {}
    for outcome in run.outcomes:
        path, page = outcome.document.rsplit("#", 1)
        key = (path, int(page), outcome.field)
        assert outcome.truth == truth[key]
        scored[key] = cer([outcome.truth], [outcome.text])
    assert set(scored) == set(truth)
    same = [k for k in truth if truth[k] == machine[k]]
    different = [k for k in truth if truth[k] != machine[k]]
    assert same and different  # e.g. death dates read right, the made-up cause
    assert all(scored[k] == 0 for k in same)
    assert all(scored[k] > 0 for k in different)


def test_lexicon_suggest_lists_missing_words_ready_to_import(corrected, tmp_path, capsys):
    from medocr.lexicon import load_lexicon

    db = corrected[0]
    before = sha256(db)
    listing = tmp_path / "suggested.tsv"
    assert main(["lexicon", "suggest", str(db), "--out", str(listing)]) == 0
    lines = listing.read_text("utf-8").splitlines()
    assert lines[0].startswith("# words of operator corrections in results.db")
    words = dict(line.split("\t") for line in lines if not line.startswith("#"))
    assert words["zorglubienne"] == "1"
    assert "pneumopathie" not in words
    shipped = load_lexicon()
    assert all(shipped.lookup(word) is None for word in words)
    assert main(["lexicon", "suggest", str(db), "--min-count", "2"]) == 0
    assert "zorglubienne" not in capsys.readouterr().out
    folder = tmp_path / "lexicon"
    assert main(["lexicon", "copy", "fr-medical", str(folder)]) == 0
    assert main(["lexicon", "import", str(folder), str(listing)]) == 0
    assert load_lexicon(folder).lookup("Zorglubienne") == "zorglubienne"
    assert sha256(db) == before


def test_a_database_without_corrections_is_refused(review_db, tmp_path, capsys):
    db, _ = review_db
    before = sha256(db)
    export = [
        "export",
        str(db),
        "--corrections",
        "--format",
        "training",
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(export) == 2
    assert f"{db}: no operator corrections in this results database" in capsys.readouterr().err
    assert main(["evaluate", str(db), "--out", str(tmp_path / "r")]) == 2
    assert f"{db}: no operator corrections" in capsys.readouterr().err
    assert main(["lexicon", "suggest", str(db)]) == 2
    assert "no operator corrections" in capsys.readouterr().err
    assert sha256(db) == before and not (tmp_path / "o").exists()


def test_other_files_and_options_are_refused_by_name(corrected, tmp_path, capsys):
    db = corrected[0]
    text = tmp_path / "notes.db"
    text.write_text("not a database\n" * 10, "utf-8")
    out = str(tmp_path / "o")
    assert main(["export", str(text), "--corrections", "--format", "training", "--out", out]) == 2
    assert f"{text}: not a medocr results database" in capsys.readouterr().err
    assert main(["evaluate", str(text), "--out", out]) == 2
    assert f"{text}: not a results database (not a SQLite file)" in capsys.readouterr().err
    other = tmp_path / "notes.txt"
    other.write_text("x", "utf-8")
    assert main(["evaluate", str(other), "--out", out]) == 2
    assert f"{other}: not a certificate folder" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path), "--images", str(tmp_path), "--out", out]) == 2
    assert "--images only applies to a results database" in capsys.readouterr().err
    assert main(["export", str(db), "--format", "training", "--out", out]) == 2
    assert "add --corrections" in capsys.readouterr().err
    assert main(["export", str(db), "--corrections", "--format", "csv", "--out", out]) == 2
    assert "--corrections is only valid with --format training" in capsys.readouterr().err
