"""Hostile use of `medocr batch`: killed runs leave no worker behind, results stay private,
no folder entry is left out silently, results are never mislabelled, two runs never write
one database at once, and a full disk, a wrong --out or a bad --workers give one line."""

import json
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time

import psutil
import pytest

import medocr.batch
from medocr.batch import (
    BatchError,
    FileOutcome,
    failures_tsv,
    finished_paths,
    open_store,
    record,
    run_batch,
)
from medocr.cli import main
from medocr.config import PipelineConfig

PYTHON = [sys.executable, "-m", "medocr.cli"]


def _mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def _rows(db):
    query = "SELECT path, status, error FROM files"
    with sqlite3.connect(db) as connection:
        return {path: (status, error) for path, status, error in connection.execute(query)}


def _fake_page(path, text="x"):
    return {
        "page_index": 0,
        "template_id": "fr-deces-volet-medical@1.0.0",
        "steps": {},
        "fields": [
            {"name": "cause_1a", "kind": "text", "text": text, "confidence": 0.9,
             "route": "accept", "value": None, "error": None},
        ],
    }  # fmt: skip


@pytest.fixture()
def quick_reads(monkeypatch):
    """Files are 'read' at once (one page, one field) where reading is not the point."""

    def read_file(root, path, config_json):
        return FileOutcome(path, [_fake_page(path, "x" * 300)], None, 0.0)

    monkeypatch.setattr(medocr.batch, "read_file", read_file)


@pytest.fixture()
def not_images(tmp_path):
    """A folder of three small files that fail fast (not images)."""
    folder = tmp_path / "notes"
    folder.mkdir()
    for index in range(3):
        (folder / f"note-{index}.txt").write_text("not a scan\n")
    return folder


def _alive(process):
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _start_busy_batch(tmp_path, certificate_dir):
    """A `batch --workers 2` subprocess whose workers are busy loading the pipeline.

    Returns the process, its children and its stderr file (a file: orphans would hold a
    pipe open forever).
    """
    folder = tmp_path / "scans"
    folder.mkdir()
    for index in range(3):
        name = f"cert-{index:06d}.png"
        (folder / name).write_bytes((certificate_dir / name).read_bytes())
    command = [*PYTHON, "batch", str(folder), "--out", str(tmp_path / "r.db"), "--workers", "2"]
    log = tmp_path / "stderr.txt"
    with open(log, "w") as stderr:
        process = subprocess.Popen([*command, "--quiet"], stderr=stderr)
    parent = psutil.Process(process.pid)
    children, workers = [], []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        children = parent.children(recursive=True)
        workers = [c for c in children if "spawn_main" in " ".join(c.cmdline())]
        if len(workers) == 2 and all(w.memory_info().rss > 80e6 for w in workers):
            break
        time.sleep(0.1)
    return process, children, workers, log


def _survivors(process, children):
    """The children still alive 5 s after `process` ended (killed, so none is left)."""
    try:
        process.wait(timeout=30)
        deadline = time.monotonic() + 5
        while any(_alive(child) for child in children) and time.monotonic() < deadline:
            time.sleep(0.05)
        return [child for child in children if _alive(child)]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for child in children:  # never leave them to the next test
            if _alive(child):
                child.kill()


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_worker_processes_end_with_their_parent(tmp_path, certificate_dir, signum):
    process, children, _, log = _start_busy_batch(tmp_path, certificate_dir)
    assert process.poll() is None, "the batch ended before its workers were busy"
    os.kill(process.pid, signum)
    left = _survivors(process, children)
    assert not left, f"{len(left)} worker processes outlived their parent"
    if signum == signal.SIGTERM:
        err = log.read_text()
        assert process.returncode == 143
        assert "medocr: stopped by SIGTERM after recording" in err and "Traceback" not in err


def test_a_killed_worker_stops_the_run_with_one_line(tmp_path, certificate_dir):
    process, children, workers, log = _start_busy_batch(tmp_path, certificate_dir)
    assert process.poll() is None, "the batch ended before its workers were busy"
    workers[0].kill()  # as the out-of-memory killer would
    assert not _survivors(process, children)
    err = log.read_text()
    assert process.returncode == 2
    assert err.startswith("medocr: error: a worker process died") and err.count("\n") == 1


def test_a_new_database_and_its_folders_are_private_whatever_the_umask(tmp_path, not_images):
    db = tmp_path / "new" / "deeper" / "results.db"
    previous = os.umask(0o022)
    try:
        run_batch(not_images, db)
        connection = open_store(db)  # the -wal and -shm files exist while it is open
        connection.execute("INSERT OR REPLACE INTO meta VALUES ('probe', 'x')")
        modes = {name: _mode(db.with_name(name)) for name in
                 ("results.db", "results.db-wal", "results.db-shm", "results.db.lock")}  # fmt: skip
        connection.close()
        other = tmp_path / "umask-000.db"
        os.umask(0)
        open_store(other).close()
    finally:
        os.umask(previous)
    assert modes == dict.fromkeys(modes, 0o600)
    assert _mode(tmp_path / "new") == _mode(tmp_path / "new" / "deeper") == 0o700
    assert _mode(other) == 0o600


@pytest.mark.parametrize(("umask", "files", "folders"), [(None, 0o600, 0o700),
                                                         ("027", 0o640, 0o750)])  # fmt: skip
def test_the_command_honours_its_umask_option(tmp_path, not_images, umask, files, folders):
    db = tmp_path / "made" / "r.db"
    options = [] if umask is None else ["--umask", umask]
    assert main([*options, "batch", str(not_images), "--out", str(db), "--quiet"]) == 1
    assert (_mode(db), _mode(tmp_path / "made"), _mode(tmp_path / "made" / "r.db.lock")) == (
        files, folders, files
    )  # fmt: skip


def test_every_entry_not_read_gets_a_failure_row_with_its_reason(tmp_path, not_images, capsys,
                                                                 monkeypatch):  # fmt: skip
    folder = not_images
    (folder / "dangling.png").symlink_to(folder / "gone.png")
    (folder / "loop.png").symlink_to(folder / "loop.png")
    (folder / "sub").mkdir()
    (folder / "sub" / "inner.txt").write_text("x")
    (folder / "linked-folder").symlink_to(folder / "sub")
    os.mkfifo(folder / "scanner.fifo")
    (folder / "secret").mkdir()
    (folder / "secret" / "hidden-away.png").write_bytes(b"x")
    (folder / ".DS_Store").write_bytes(b"x")  # hidden: left out on purpose
    odd = os.fsencode(folder) + b"/caf\xe9-latin1.png"  # not UTF-8
    with open(odd, "wb") as stream:
        stream.write(b"x")
    (folder / "tab\tand\nnewline.png").write_bytes(b"x")

    real_scandir = os.scandir

    def scandir(path):  # tests run as root: simulate a folder we may not list
        if os.fspath(path).endswith("secret"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    db = tmp_path / "r.db"
    assert main(["batch", str(folder), "--out", str(db), "--quiet"]) == 1
    out = capsys.readouterr().out
    rows = _rows(db)
    reasons = {path: error for path, (status, error) in rows.items() if status == "failed"}
    assert reasons["dangling.png"].startswith("dangling symlink")
    assert reasons["loop.png"] == "symlink loop"
    assert reasons["linked-folder"] == "symlink to a folder (not followed)"
    assert reasons["scanner.fifo"] == "not a regular file (FIFO)"
    assert reasons["secret"] == "folder not readable: permission denied"
    assert "caf\\xe9-latin1.png" in reasons and "tab\tand\nnewline.png" in reasons
    assert "sub/inner.txt" in reasons and ".DS_Store" not in rows
    entries = 3 + 5 + 1 + 2  # notes, odd entries, sub/inner.txt, odd names
    assert len(rows) == entries
    assert f"batch: {entries} files" in out and "5 of them not readable files" in out
    # A rerun retries them all, and still crashes on none.
    assert main(["batch", str(folder), "--out", str(db), "--quiet"]) == 1
    assert _rows(db) == rows


def test_unreadable_folder_without_root(tmp_path, not_images):
    if os.geteuid() == 0:
        pytest.skip("root lists any folder (the case is simulated in the test above)")
    secret = not_images / "secret"
    secret.mkdir()
    secret.chmod(0)
    try:
        run_batch(not_images, tmp_path / "r.db")
    finally:
        secret.chmod(0o700)
    assert _rows(tmp_path / "r.db")["secret"] == (
        "failed", "folder not readable: permission denied"
    )  # fmt: skip


def test_a_file_whose_every_field_failed_is_not_done(tmp_path):
    connection = open_store(tmp_path / "r.db")
    page = _fake_page("a.png")
    page["fields"] = [dict(page["fields"][0], name=f"f{i}", error="ValueError: bad")
                      for i in range(3)]  # fmt: skip
    record(connection, FileOutcome("a.png", [page], None, 0.1))
    record(connection, FileOutcome("b.png", [], None, 0.1))
    record(connection, FileOutcome("c.png", [_fake_page("c.png")], None, 0.1))
    assert finished_paths(connection) == {"c.png"}  # a and b are retried by a rerun
    status, error = _rows(tmp_path / "r.db")["a.png"]
    assert status == "failed" and error.startswith("every field failed (3 fields)")
    assert connection.execute("SELECT COUNT(*) FROM pages WHERE path = 'a.png'").fetchone() == (0,)
    connection.close()


def test_another_configuration_or_folder_is_refused_unless_forced(tmp_path, not_images, capsys):
    db = tmp_path / "r.db"
    run_batch(not_images, db)
    stored = _rows(db)
    greedy = PipelineConfig().with_options(cause_decoder="greedy")
    with pytest.raises(BatchError, match=r"cause_decoder: 'wordbeam' before, 'greedy' now"):
        run_batch(not_images, db, config=greedy)
    assert main(["batch", str(not_images), "--out", str(db), "--decoder", "greedy"]) == 2
    err = capsys.readouterr().err
    assert "another configuration" in err and "--force-config" in err and err.count("\n") == 1
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(BatchError, match="input_dir"):
        run_batch(other, db)
    run_batch(not_images, db)  # the same configuration resumes
    with sqlite3.connect(db) as connection:
        config = json.loads(connection.execute("SELECT value FROM meta WHERE key = 'config'")
                            .fetchone()[0])  # fmt: skip
    assert config["cause_decoder"] == "wordbeam" and _rows(db).keys() == stored.keys()
    run_batch(not_images, db, config=greedy, force_config=True)
    with sqlite3.connect(db) as connection:
        runs = connection.execute("SELECT config, outcome FROM runs ORDER BY id").fetchall()
    assert [json.loads(c)["cause_decoder"] for c, _ in runs] == ["wordbeam"] * 2 + ["greedy"]
    assert {outcome for _, outcome in runs} == {"finished"}


def test_a_second_run_on_one_database_is_refused_and_a_dead_runs_lock_taken(
    tmp_path, certificate_dir, capsys, quick_reads
):
    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "a.png").write_bytes((certificate_dir / "cert-000000.png").read_bytes())
    db = tmp_path / "r.db"
    lock = tmp_path / "r.db.lock"
    first = subprocess.Popen([*PYTHON, "batch", str(folder), "--out", str(db), "--quiet"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and first.poll() is None:
            if lock.exists() and f'"pid": {first.pid}' in lock.read_text():
                break
            time.sleep(0.05)
        assert first.poll() is None, "the first run ended too soon"
        # The first run is loading the recognizer: it holds the database.
        assert main(["batch", str(folder), "--out", str(db), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert f"pid {first.pid} on {socket.gethostname()}, since " in err
        assert "another medocr batch is writing" in err
    finally:
        first.kill()
        first.wait()
    summary = run_batch(folder, db)  # the dead run's lock is taken over
    assert summary.done + summary.skipped == 1
    assert _mode(lock) == 0o600


def test_a_full_database_names_the_file_keeps_what_is_done_and_resumes(
    tmp_path, not_images, monkeypatch, capsys, quick_reads
):
    for index in range(30):
        (not_images / f"scan-{index:03d}.png").write_bytes(b"x")
    db = tmp_path / "r.db"
    real_open_store = medocr.batch.open_store

    def small_store(path, **options):  # SQLite's own "database or disk is full", as on a full disk
        connection = real_open_store(path, **options)
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {pages + 3}")
        return connection

    monkeypatch.setattr(medocr.batch, "open_store", small_store)
    assert main(["batch", str(not_images), "--out", str(db), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "database or disk is full while recording " in err, err
    assert "cannot rollback" not in err and err.count("\n") == 1
    monkeypatch.setattr(medocr.batch, "open_store", real_open_store)
    kept = len(_rows(db))
    assert 0 < kept < 33
    summary = run_batch(not_images, db)
    assert (summary.skipped, summary.done) == (kept, 33 - kept)


def test_a_file_size_limit_gives_one_line_and_the_rerun_resumes(tmp_path, not_images,
                                                                quick_reads):  # fmt: skip
    for index in range(40):
        (not_images / f"scan-{index:03d}.png").write_bytes(b"x")
    db = tmp_path / "r.db"
    script = tmp_path / "limited.py"
    script.write_text(
        "import resource, signal, sys\n"
        "import medocr.batch\n"
        "from medocr.batch import FileOutcome\n"
        f"page = {_fake_page('x', 'x' * 2000)!r}\n"
        "medocr.batch.read_file = lambda root, path, config: FileOutcome(path, [page], None, 0)\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (160_000, 160_000))\n"
        "from medocr.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    limited = subprocess.run(
        [sys.executable, str(script), "batch", str(not_images), "--out", str(db), "--quiet"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert limited.returncode == 2, limited.stderr
    assert limited.stderr.startswith(f"medocr: error: {db}: ")
    assert "while recording " in limited.stderr
    assert limited.stderr.count("\n") == 1 and "Traceback" not in limited.stderr
    kept = {p for p, (s, _) in _rows(db).items() if s == "done"}
    assert 0 < len(kept) < 43
    summary = run_batch(not_images, db)
    assert (summary.skipped, summary.done) == (len(kept), 43 - len(kept))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.txt", b"my notes\n", "not a medocr results database (not an SQLite file)"),
        ("scan.png", b"\x89PNG\r\n\x1a\n" + bytes(100), "not an SQLite file"),
        ("folder", None, "is a folder"),
        ("foreign.db", "sqlite", "an SQLite database of something else"),
        ("afile/results.db", b"", "cannot use this path (not a directory)"),
    ],
)
def test_an_out_that_cannot_be_a_results_database_gives_one_line(
    tmp_path, not_images, capsys, name, content, message
):
    out = tmp_path / name
    if content is None:
        out.mkdir()
    elif content == "sqlite":
        with sqlite3.connect(out) as connection:
            connection.execute("CREATE TABLE patients (name TEXT)")
    elif name.startswith("afile/"):
        (tmp_path / "afile").write_bytes(b"a file, not a folder")
    else:
        out.write_bytes(content)
    before = sorted(p.name for p in tmp_path.iterdir())
    size = out.stat().st_size if out.is_file() else None
    assert main(["batch", str(not_images), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("medocr: error: ") and message in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no lock file left behind
    assert (out.stat().st_size if out.is_file() else None) == size


def test_an_out_in_missing_folders_is_created(tmp_path, not_images):
    assert main(["batch", str(not_images), "--out", str(tmp_path / "a" / "b" / "r.db")]) == 1
    assert len(_rows(tmp_path / "a" / "b" / "r.db")) == 3


@pytest.mark.parametrize("workers", ["-3", "0", "two"])
def test_workers_must_be_a_positive_whole_number(tmp_path, not_images, capsys, workers):
    with pytest.raises(SystemExit) as exit_:
        main(["batch", str(not_images), "--out", str(tmp_path / "r.db"), "--workers", workers])
    assert exit_.value.code == 2
    assert "--workers: must be a whole number of at least 1" in capsys.readouterr().err
    assert not (tmp_path / "r.db").exists()
    with pytest.raises(ValueError, match="workers"):
        run_batch(not_images, tmp_path / "r.db", workers=0)


def test_failures_tsv_keeps_one_record_per_line_whatever_the_names():
    text = failures_tsv([
        ("tab\there.png", "KeyError: 'x'\nTraceback (most recent call last):\n  File ..."),
        ("new\nline\\x\r.png", "InputError: new\nline\\x\r.png: not an image"),
        ("plain.png", ""),
    ])  # fmt: skip
    lines = text.split("\n")
    assert lines == [
        "path\terror",
        "tab\\there.png\tKeyError: 'x'",
        "new\\nline\\\\x\\r.png\tInputError: new\\nline\\\\x\\r.png: not an image",
        "plain.png\t",
        "",
    ]
    assert all(line.count("\t") == 1 for line in lines[:-1])


def test_a_key_added_by_a_later_medocr_does_not_block_resuming(tmp_path, not_images):
    db = tmp_path / "r.db"
    run_batch(not_images, db)
    with sqlite3.connect(db) as connection:
        row = connection.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
        config = json.loads(row[0])
        del config["checkbox_ink"]  # as if the database predates the key
        connection.execute("UPDATE meta SET value = ? WHERE key = 'config'", (json.dumps(config),))
    run_batch(not_images, db)  # the default it now has is what it had then
    changed = PipelineConfig().with_options(checkbox_ink=0.2)
    with pytest.raises(BatchError, match="checkbox_ink"):
        run_batch(not_images, db, config=changed)
