"""Resumable batch reading into SQLite: local worker processes or a Dask cluster.

Every file under the input folder (recursively, sorted) is read once; its pages and
fields land in the results database in one transaction together with the file's status,
so a run killed at any moment leaves each file either fully recorded or absent. A rerun
skips the files already done and retries the ones that failed. Inputs are only read.

Tables: ``files`` (path relative to the input folder, status ``done`` | ``failed``,
pages, error, seconds), ``pages`` (one row per page with the template, model, lexicon and
medocr versions and the full result JSON), ``fields`` (one row per field), and ``meta``
(input folder, configuration).
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medocr.config import PipelineConfig
from medocr.types import CertificateResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, status TEXT NOT NULL, pages INTEGER NOT NULL,
    error TEXT, seconds REAL NOT NULL, finished_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pages (
    path TEXT NOT NULL, page_index INTEGER NOT NULL, template TEXT NOT NULL,
    model TEXT, lexicon TEXT, medocr TEXT, registration_score REAL, result TEXT NOT NULL,
    PRIMARY KEY (path, page_index));
CREATE TABLE IF NOT EXISTS fields (
    path TEXT NOT NULL, page_index INTEGER NOT NULL, name TEXT NOT NULL, kind TEXT,
    text TEXT NOT NULL, confidence REAL NOT NULL, route TEXT NOT NULL, value TEXT, error TEXT,
    PRIMARY KEY (path, page_index, name));
"""


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one input file (sent from a worker to the writer)."""

    path: str
    results: list[dict[str, Any]]
    error: str | None
    seconds: float


@dataclass(frozen=True)
class BatchSummary:
    """Counts of a batch run.

    Parameters
    ----------
    total : int
        Input files found.
    skipped : int
        Already done by an earlier run.
    done, failed : int
        Files read (or failed) by this run.
    pages : int
        Pages recorded by this run.
    seconds : float
        Wall time of this run.
    """

    total: int
    skipped: int
    done: int
    failed: int
    pages: int
    seconds: float


def list_inputs(input_dir: Path, exclude: tuple[Path, ...] = ()) -> list[str]:
    """Files under `input_dir` (recursively, hidden ones left out), sorted, as relative paths.

    Raises
    ------
    ValueError
        `input_dir` is not a folder.
    """
    if not input_dir.is_dir():
        raise ValueError(f"{input_dir}: not a folder")
    excluded = {p.resolve() for p in exclude}
    out = []
    for path in input_dir.rglob("*"):
        relative = path.relative_to(input_dir)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.resolve() not in excluded:
            out.append(relative.as_posix())
    return sorted(out)


# --- the store ------------------------------------------------------------------------------


def open_store(db_path: Path) -> sqlite3.Connection:
    """Open (or create) a results database."""
    connection = sqlite3.connect(db_path, timeout=60, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.executescript(SCHEMA)
    return connection


def finished_paths(connection: sqlite3.Connection) -> set[str]:
    """Paths already read successfully."""
    return {row[0] for row in connection.execute("SELECT path FROM files WHERE status = 'done'")}


def record(connection: sqlite3.Connection, outcome: FileOutcome) -> None:
    """Write one file's outcome atomically (replacing an earlier failed attempt)."""
    finished = time.strftime("%Y-%m-%dT%H:%M:%S")
    status = "failed" if outcome.error else "done"
    connection.execute("BEGIN IMMEDIATE")
    try:
        for table in ("fields", "pages", "files"):
            connection.execute(f"DELETE FROM {table} WHERE path = ?", (outcome.path,))  # noqa: S608
        for result in outcome.results:
            _insert_page(connection, outcome.path, result)
        connection.execute(
            "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?)",
            (outcome.path, status, len(outcome.results), outcome.error, outcome.seconds, finished),
        )
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def _insert_page(connection: sqlite3.Connection, path: str, result: dict[str, Any]) -> None:
    steps = result.get("steps", {})
    page_index = int(result["page_index"])
    connection.execute(
        "INSERT INTO pages VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            path,
            page_index,
            result["template_id"],
            steps.get("model"),
            steps.get("lexicon"),
            steps.get("medocr"),
            result.get("registration_score"),
            json.dumps(result, ensure_ascii=False),
        ),
    )
    connection.executemany(
        "INSERT INTO fields VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                path,
                page_index,
                f["name"],
                f.get("kind"),
                f["text"],
                f["confidence"],
                f["route"],
                json.dumps(f["value"], ensure_ascii=False) if f.get("value") is not None else None,
                f.get("error"),
            )
            for f in result["fields"]
        ],
    )


def load_results(db_path: str | os.PathLike[str]) -> list[CertificateResult]:
    """Every recorded page of a results database, in path and page order.

    Raises
    ------
    ValueError
        The file is not a medocr results database.
    """
    path = Path(db_path)
    if not path.is_file():
        raise ValueError(f"{path}: no such results database")
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        rows = connection.execute("SELECT result FROM pages ORDER BY path, page_index").fetchall()
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"{path}: not a medocr results database ({exc})") from exc
    return [CertificateResult.from_dict(json.loads(row[0])) for row in rows]


def load_failures(db_path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """``(path, error)`` of the files that failed."""
    connection = sqlite3.connect(f"file:{Path(db_path)}?mode=ro", uri=True)
    query = "SELECT path, error FROM files WHERE status = 'failed' ORDER BY path"
    return [(str(p), str(e)) for p, e in connection.execute(query)]


# --- workers --------------------------------------------------------------------------------

_WORKER_PIPELINES: dict[str, Any] = {}


def read_file(root: str, path: str, config_json: str) -> FileOutcome:
    """Read one file with a pipeline cached per process; never raises for bad input."""
    from medocr.pipeline import Pipeline

    start = time.perf_counter()
    pipeline = _WORKER_PIPELINES.get(config_json)
    if pipeline is None:
        pipeline = Pipeline(PipelineConfig.from_dict(json.loads(config_json)))
        _WORKER_PIPELINES[config_json] = pipeline
    try:
        results = [r.to_dict() for r in pipeline.read(Path(root) / path)]
        return FileOutcome(path, results, None, time.perf_counter() - start)
    except Exception as exc:  # noqa: BLE001 - every failure becomes the file's error row
        error = f"{type(exc).__name__}: {exc}"
        if not _is_expected(exc):
            error += "\n" + traceback.format_exc(limit=3)
        return FileOutcome(path, [], error, time.perf_counter() - start)


def _is_expected(exc: Exception) -> bool:
    from medocr.errors import MedocrError

    return isinstance(exc, MedocrError | ValueError)


def _local(root: Path, paths: list[str], config_json: str, workers: int) -> Iterator[FileOutcome]:
    if workers <= 1:
        for path in paths:
            yield read_file(str(root), path, config_json)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = [pool.submit(read_file, str(root), p, config_json) for p in paths]
        for future in as_completed(futures):
            yield future.result()


def _dask(root: Path, paths: list[str], config_json: str, address: str) -> Iterator[FileOutcome]:
    from distributed import Client, as_completed

    with Client(address) as client:
        futures = [
            client.submit(read_file, str(root), p, config_json, pure=False, key=f"medocr-{i}")
            for i, p in enumerate(paths)
        ]
        for future in as_completed(futures):
            yield future.result()


# --- the run --------------------------------------------------------------------------------


def run_batch(
    input_dir: str | os.PathLike[str],
    db_path: str | os.PathLike[str],
    *,
    config: PipelineConfig | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    progress: Callable[[int, int, int, float], None] | None = None,
) -> BatchSummary:
    """Read every file under `input_dir` into the SQLite database `db_path`.

    Parameters
    ----------
    input_dir : str or PathLike
        Folder of scans (read recursively, in sorted order; never modified).
    db_path : str or PathLike
        Results database (created; reused to resume).
    config : PipelineConfig, optional
        Reading configuration (default: all defaults).
    workers : int
        Local worker processes (1 = read in this process).
    scheduler : str, optional
        Address of a Dask scheduler; the files are then read on its workers.
    progress : callable, optional
        Called after each file with ``(finished, to_do, failed, seconds)``.

    Returns
    -------
    BatchSummary
    """
    root = Path(input_dir)
    db = Path(db_path)
    config = config or PipelineConfig()
    exclude = (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"))
    paths = list_inputs(root, exclude)
    connection = open_store(db)
    config_json = json.dumps(config.to_dict(), sort_keys=True)
    connection.execute("INSERT OR REPLACE INTO meta VALUES ('input_dir', ?)", (str(root),))
    connection.execute("INSERT OR REPLACE INTO meta VALUES ('config', ?)", (config_json,))
    done_before = finished_paths(connection)
    to_do = [p for p in paths if p not in done_before]
    start = time.perf_counter()
    if scheduler:
        outcomes = _dask(root, to_do, config_json, scheduler)
    else:
        outcomes = _local(root, to_do, config_json, workers)
    done = failed = pages = 0
    for outcome in outcomes:
        record(connection, outcome)
        failed += outcome.error is not None
        done += outcome.error is None
        pages += len(outcome.results)
        if progress is not None:
            progress(done + failed, len(to_do), failed, time.perf_counter() - start)
    connection.close()
    return BatchSummary(
        len(paths), len(paths) - len(to_do), done, failed, pages, time.perf_counter() - start
    )


def progress_printer(stream: Any = sys.stderr) -> Callable[[int, int, int, float], None]:
    """Return a progress callback printing rate and ETA (in place on a terminal)."""
    is_tty = hasattr(stream, "isatty") and stream.isatty()
    last = [0.0]

    def show(finished: int, total: int, failed: int, seconds: float) -> None:
        if not is_tty and finished < total and seconds - last[0] < 5.0:
            return
        last[0] = seconds
        rate = finished / seconds if seconds > 0 else 0.0
        eta = (total - finished) / rate if rate > 0 else float("nan")
        line = (
            f"batch: {finished}/{total} files, {failed} failed, {rate:.2f} files/s, ETA {eta:.0f} s"
        )
        end = "\n" if finished == total or not is_tty else ""
        print(("\r" if is_tty else "") + line, end=end, file=stream, flush=True)

    return show
