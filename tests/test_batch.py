import hashlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from test_io import CORPUS

from medocr.batch import list_inputs, load_failures, load_results, run_batch
from medocr.cli import main

pytestmark = pytest.mark.tf
# The malformed-input corpus of test_io (entries that need no reader options).
BROKEN = [entry for entry in CORPUS if not entry[4]]


def tree_digest(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture()
def inbox(tmp_path, certificate_dir):
    """Two certificates (one in a subfolder), the broken files, a hidden file."""
    folder = tmp_path / "inbox"
    (folder / "2024" / "03").mkdir(parents=True)
    (folder / "bad").mkdir()
    shutil.copy(certificate_dir / "cert-000000.png", folder / "a.png")
    shutil.copy(certificate_dir / "cert-000001.png", folder / "2024" / "03" / "b.png")
    for name, file_name, build, _, _ in BROKEN:
        (folder / "bad" / f"{name}-{file_name}").write_bytes(build())
    (folder / ".DS_Store").write_bytes(b"\x00")
    return folder


def counts(db):
    with sqlite3.connect(db) as connection:
        return {
            table: connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in ("files", "pages", "fields")
        }


def test_inputs_are_listed_recursively_in_order(inbox):
    paths = list_inputs(inbox)
    assert paths[0] == "2024/03/b.png" and "a.png" in paths and ".DS_Store" not in paths
    assert paths == sorted(paths) and len(paths) == 2 + len(BROKEN)


def test_batch_records_every_file_once_and_resumes(inbox, tmp_path, pipeline):
    db = tmp_path / "results.db"
    before = tree_digest(inbox)
    summary = run_batch(inbox, db)
    assert (summary.total, summary.skipped, summary.done, summary.pages) == (
        2 + len(BROKEN), 0, 2, 2
    )  # fmt: skip
    assert summary.failed == len(BROKEN)
    assert counts(db) == {"files": 2 + len(BROKEN), "pages": 2, "fields": 28}
    failures = dict(load_failures(db))
    for name, file_name, _, reason, _ in BROKEN:
        error = failures[f"bad/{name}-{file_name}"]
        assert error.startswith("InputError: ") and re.search(reason, error), (name, error)
    with sqlite3.connect(db) as connection:
        model, lexicon, template = connection.execute(
            "SELECT model, lexicon, template FROM pages WHERE path = 'a.png'"
        ).fetchone()
    assert model.startswith("fr-crnn-small@") and lexicon.startswith("fr-medical@")
    assert template == "fr-deces-volet-medical@1.0.0"

    again = run_batch(inbox, db)  # done files are skipped, failed ones retried
    assert (again.skipped, again.done, again.failed) == (2, 0, len(BROKEN))
    assert counts(db) == {"files": 2 + len(BROKEN), "pages": 2, "fields": 28}
    assert tree_digest(inbox) == before  # inputs untouched
    results = load_results(db)
    assert [r.source for r in results] == [str(inbox / "2024/03/b.png"), str(inbox / "a.png")]


def test_export_from_the_database(inbox, tmp_path, capsys):
    db = tmp_path / "results.db"
    run_batch(inbox, db)
    for fmt in ("csv", "alto", "page", "jsonl"):
        assert main(["export", str(db), "--format", fmt, "--out", str(tmp_path / fmt)]) == 0
    assert len((tmp_path / "csv" / "results.csv").read_text().splitlines()) == 1 + 28
    assert sorted(p.name for p in (tmp_path / "alto").glob("*.xml")) == [
        "a-p0.alto.xml", "b-p0.alto.xml"
    ]  # fmt: skip
    failed = (tmp_path / "csv" / "failed.tsv").read_text().splitlines()
    assert len(failed) == 1 + len(BROKEN)
    assert "2 pages as csv" in capsys.readouterr().out
    assert main(["export", str(tmp_path / "missing.db"), "--format", "csv", "--out", "x"]) == 2
    assert main(["export", str(db)]) == 2


def test_a_killed_batch_resumes_without_duplicates(tmp_path, certificate_dir):
    folder = tmp_path / "many"
    folder.mkdir()
    for index in range(3):
        for copy in range(2):
            shutil.copy(certificate_dir / f"cert-{index:06d}.png", folder / f"{index}-{copy}.png")
    db = tmp_path / "killed.db"
    command = [sys.executable, "-m", "medocr.cli", "batch", str(folder), "--out", str(db)]
    process = subprocess.Popen([*command, "--quiet"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    recorded = 0
    deadline = time.monotonic() + 120
    while recorded == 0 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
        if db.exists():
            try:
                recorded = counts(db)["files"]
            except sqlite3.OperationalError:
                recorded = 0
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    at_kill = counts(db)
    assert 1 <= at_kill["files"] < 6 and at_kill["fields"] == 14 * at_kill["files"]
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    assert finished.returncode == 0, finished.stderr
    assert f"{at_kill['files']} already done" in finished.stdout
    assert counts(db) == {"files": 6, "pages": 6, "fields": 84}


def test_local_worker_processes(tmp_path, certificate_dir):
    folder = tmp_path / "two"
    folder.mkdir()
    shutil.copy(certificate_dir / "cert-000002.png", folder / "c.png")
    (folder / "empty.png").write_bytes(b"")
    summary = run_batch(folder, tmp_path / "w.db", workers=2)
    assert (summary.done, summary.failed, summary.pages) == (1, 1, 1)
    assert load_failures(tmp_path / "w.db")[0][1].endswith("file is empty (0 bytes)")


def test_dask_local_cluster(inbox, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        summary = run_batch(inbox, tmp_path / "dask.db", scheduler=cluster.scheduler_address)
    assert (summary.done, summary.failed) == (2, len(BROKEN))
    assert counts(tmp_path / "dask.db")["fields"] == 28


def test_cli_batch_exit_status_and_read_table(inbox, tmp_path, certificate_dir, capsys):
    assert main(["batch", str(inbox), "--out", str(tmp_path / "r.db"), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert f"{len(BROKEN)} failed" in out
    assert main(["read", str(certificate_dir / "cert-000000.png")]) == 0
    table = capsys.readouterr().out
    assert "cause_1a" in table and "route" in table and "fields accepted" in table
    assert main(["read", str(certificate_dir / "cert-000000.png"), "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("source,page_index,template,field")
    assert main(["read", str(inbox / "bad" / os.listdir(inbox / "bad")[0])]) == 1


def test_workers_share_the_cores_out():
    from medocr.batch import threads_per_worker

    cores = len(os.sched_getaffinity(0))
    assert threads_per_worker(1) == cores
    assert threads_per_worker(cores) == 1
    assert threads_per_worker(cores + 5) == 1


def test_read_ahead_gives_each_file_its_outcome_and_keeps_nothing(tmp_path):
    import json

    import cv2
    import numpy as np

    from medocr import batch
    from medocr.config import PipelineConfig

    (tmp_path / "a-corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    cv2.imwrite(str(tmp_path / "b-blank.png"), np.full((800, 600), 255, np.uint8))
    names = ["a-corrupt.png", "b-blank.png"]
    config = json.dumps(PipelineConfig().to_dict(), sort_keys=True)
    outcomes = list(batch._read_ahead(tmp_path, names, config))
    assert [o.path for o in outcomes] == names
    assert "InputError" in outcomes[0].error and "a-corrupt.png" in outcomes[0].error
    assert "TemplateError" in outcomes[1].error  # decoded ahead, then read: not the form
    assert not batch._DECODED
