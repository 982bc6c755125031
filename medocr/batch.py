"""Resumable batch reading into SQLite: local worker processes or a Dask cluster.

Every file under the input folder (recursively, sorted; hidden names left out) is read
once; its pages and fields land in the results database in one transaction together with
the file's status, so a run killed at any moment leaves each file either fully recorded or
absent. A rerun skips the files already done and retries the ones that failed. Inputs are
only read. Every other entry of the folder (a dangling or looping link, a link to a folder,
a FIFO, socket or device, a subfolder that cannot be listed) is recorded as a failed file
with its reason, so nothing is left out silently. A file whose every field failed is a
failure too (retried by a rerun), never ``done``.

Tables: ``files`` (path relative to the input folder, status ``done`` | ``failed``,
pages, error, seconds), ``pages`` (one row per page with the template, model, lexicon and
medocr versions and the full result JSON), ``fields`` (one row per field), ``meta``
(input folder, configuration) and ``runs`` (one row per run: host, pid, times, input
folder, configuration, outcome).

Certificates are confidential: a new database is created readable by its owner only
(mode 0600 whatever the umask; SQLite gives its ``-wal`` and ``-shm`` files the same mode),
and missing folders above it are created 0700. A database remembers the input folder and
configuration it was made with and refuses a run with others (``force_config`` overrides),
and one run at a time writes to it: the run holds an exclusive lock on ``DB.lock`` (0600,
next to it, holding the pid, host and start time), released by the system whenever the
process ends, however it ends. Worker processes die with the process that started them.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import signal
import socket
import sqlite3
import stat
import sys
import threading
import time
import traceback
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medocr.config import PipelineConfig
from medocr.errors import MedocrError
from medocr.types import CertificateResult

if TYPE_CHECKING:
    from concurrent.futures import Future

    from medocr.types import Page

    #: A file's decoded pages and the seconds decoding took.
    Decoded = tuple[list[Page], float]

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
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT, host TEXT NOT NULL,
    pid INTEGER NOT NULL, input_dir TEXT NOT NULL, config TEXT NOT NULL, outcome TEXT);
"""
_FILES_COLUMNS = ["path", "status", "pages", "error", "seconds", "finished_at"]
DB_MODE = 0o600  # a new database, its lock file: owner only


def _folder_mode(mode: int) -> int:
    """Mode of a folder created for files of `mode`: who may read may also enter."""
    return mode | (mode & 0o444) >> 2


class BatchError(MedocrError):
    """A batch run cannot start or go on; what was finished stays recorded.

    The database is unusable, was made with another configuration, is locked by another
    run, or became full.
    """


class BatchTerminated(BaseException):  # noqa: N818 - like KeyboardInterrupt, not an error
    """The run was stopped by a signal (SIGTERM, SIGHUP); what was finished is recorded.

    A ``BaseException``, like ``KeyboardInterrupt``, so that no ``except Exception``
    turns it into a file's error.

    Parameters
    ----------
    signum : int
        The signal received; a command exits with ``128 + signum``.
    finished : int
        Files recorded by this run before it stopped.
    """

    def __init__(self, signum: int, finished: int = 0) -> None:
        self.signum = signum
        self.finished = finished
        super().__init__(f"stopped by {signal.Signals(signum).name}")


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one input file (sent from a worker to the writer)."""

    path: str
    results: list[dict[str, Any]]
    error: str | None
    seconds: float

    @property
    def failure(self) -> str | None:
        """Why the file counts as failed, or None when it is done.

        A file fails when reading it raised (`error`), when it gave no page, or when every
        field of every page holds an error: such a file is retried by a rerun instead of
        being marked done with nothing read.
        """
        if self.error:
            return self.error
        if not self.results:
            return "no page was read from this file"
        fields = [f for result in self.results for f in result.get("fields", [])]
        if fields and all(f.get("error") for f in fields):
            return f"every field failed ({len(fields)} fields); the first: {fields[0]['error']}"
        return None


@dataclass(frozen=True)
class BatchSummary:
    """Counts of a batch run.

    Parameters
    ----------
    total : int
        Entries found: input files plus the `unreadable` entries.
    skipped : int
        Already done by an earlier run.
    done, failed : int
        Files read (or failed) by this run; `failed` includes the `unreadable` entries.
    pages : int
        Pages recorded by this run.
    seconds : float
        Wall time of this run.
    unreadable : int
        Entries that are not readable files (links to nowhere, FIFOs, folders that cannot
        be listed...), each recorded as a failure with its reason.
    """

    total: int
    skipped: int
    done: int
    failed: int
    pages: int
    seconds: float
    unreadable: int = 0


# --- the inputs -----------------------------------------------------------------------------


def scan_inputs(
    input_dir: Path, exclude: tuple[Path, ...] = ()
) -> tuple[list[str], list[tuple[str, str]]]:
    """Files under `input_dir` to read, and the entries that cannot be read, with reasons.

    The folder is walked recursively; names starting with a dot are left out, as are the
    paths in `exclude` (the results database when it lies inside the folder). A link to a
    file is read; a link to a folder is not followed.

    Parameters
    ----------
    input_dir : Path
        The folder of scans.
    exclude : tuple of Path
        Files never to list.

    Returns
    -------
    files : list of str
        Relative POSIX paths of the regular files, sorted.
    unreadable : list of (str, str)
        ``(relative path, reason)`` of every other entry, sorted: ``dangling symlink``,
        ``symlink loop``, ``symlink to a folder (not followed)``, ``not a regular file
        (FIFO)`` (or socket, character device, block device), ``folder not readable:
        permission denied``...

    Raises
    ------
    ValueError
        `input_dir` is not a folder, or cannot be listed.
    """
    if not input_dir.is_dir():
        raise ValueError(f"{input_dir}: not a folder")
    excluded = {os.path.realpath(p) for p in exclude}
    files: list[str] = []
    unreadable: list[tuple[str, str]] = []
    pending = [(input_dir, "")]
    while pending:
        folder, prefix = pending.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            if not prefix:
                raise ValueError(f"{input_dir}: folder not readable: {_reason(exc)}") from exc
            unreadable.append((prefix.rstrip("/"), f"folder not readable: {_reason(exc)}"))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            relative = prefix + entry.name
            kind, reason = _classify(entry)
            if kind == "folder":
                pending.append((Path(entry.path), relative + "/"))
            elif kind == "file":
                if os.path.realpath(entry.path) not in excluded:
                    files.append(relative)
            else:
                unreadable.append((relative, reason))
    return sorted(files), sorted(unreadable)


def list_inputs(input_dir: Path, exclude: tuple[Path, ...] = ()) -> list[str]:
    """Files under `input_dir` (recursively, hidden ones left out), sorted, as relative paths.

    See :func:`scan_inputs`, which also returns the entries that cannot be read.

    Raises
    ------
    ValueError
        `input_dir` is not a folder.
    """
    return scan_inputs(input_dir, exclude)[0]


_FILE_TYPES = (
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
)


def _classify(entry: os.DirEntry[str]) -> tuple[str, str]:
    """``("file" | "folder" | "other", reason)`` of one folder entry."""
    try:
        is_link = entry.is_symlink()
        mode = entry.stat().st_mode  # follows links
    except FileNotFoundError:
        if entry.is_symlink():
            return (
                "other",
                f"dangling symlink (to {_link_target(entry.path)}, which does not exist)",
            )
        return "other", "vanished while the folder was listed"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "other", "symlink loop"
        return "other", f"cannot be examined: {_reason(exc)}"
    if stat.S_ISDIR(mode):
        return ("other", "symlink to a folder (not followed)") if is_link else ("folder", "")
    if stat.S_ISREG(mode):
        return "file", ""
    kind = next((name for test, name in _FILE_TYPES if test(mode)), "unknown type")
    return "other", f"not a regular file ({kind})" + (" behind a symlink" if is_link else "")


def _link_target(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


def _storable(text: str) -> str:
    r"""Return `text` as SQLite can store it: undecodable bytes of names written ``\xNN``."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


# --- the store ------------------------------------------------------------------------------


def open_store(db_path: str | os.PathLike[str], *, mode: int = DB_MODE) -> sqlite3.Connection:
    """Open (or create) a results database, private to its owner.

    A new database is created with permissions `mode` whatever the process umask (SQLite
    gives its ``-wal`` and ``-shm`` files the database's permissions), and missing folders
    above it are created with mode 0700 (0750 for a `mode` of 0640...). An existing
    database keeps its permissions.

    Parameters
    ----------
    db_path : str or PathLike
        The database file.
    mode : int
        Permissions of a new database (default 0600: owner only).

    Returns
    -------
    sqlite3.Connection
        In autocommit mode (transactions are explicit), WAL journal.

    Raises
    ------
    BatchError
        `db_path` is a folder, is not a medocr results database (another file, or an
        SQLite database of something else), or cannot be created or written.
    """
    db = Path(db_path)
    _check_out_path(db)
    _make_folders(db, db.parent, _folder_mode(mode))
    if not db.exists():
        _create_private(db, mode)
    try:
        connection = sqlite3.connect(db, timeout=60, isolation_level=None)
    except sqlite3.Error as exc:
        raise BatchError(f"{db}: cannot open the results database ({_sqlite_reason(exc)})") from exc
    try:
        _check_tables(connection, db, _tables(connection))
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.executescript(SCHEMA)
    except sqlite3.Error as exc:
        connection.close()
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB":
            raise BatchError(
                f"{db}: not a medocr results database (not an SQLite file); give a new file "
                "name or an earlier results database"
            ) from exc
        raise BatchError(f"{db}: cannot use the results database ({_sqlite_reason(exc)})") from exc
    except BatchError:
        connection.close()
        raise
    return connection


def _check_out_path(db: Path) -> None:
    """Refuse, before anything is created, a `db` that cannot be a results database."""
    try:
        info = db.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise BatchError(f"{db}: cannot use this path ({_reason(exc)})") from exc
    if stat.S_ISDIR(info.st_mode):
        raise BatchError(f"{db}: is a folder; give a database file name (e.g. RESULTS.db)")
    if not stat.S_ISREG(info.st_mode):
        raise BatchError(f"{db}: not a regular file, so not a results database")
    if info.st_size == 0:
        return
    try:
        with open(db, "rb") as stream:
            head = stream.read(16)
    except OSError as exc:
        raise BatchError(f"{db}: cannot read the results database ({_reason(exc)})") from exc
    if head != b"SQLite format 3\x00":
        raise BatchError(
            f"{db}: not a medocr results database (not an SQLite file); it is left as it "
            "is: give a new file name or an earlier results database"
        )
    try:
        connection = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return  # open_store says why
    try:
        _check_tables(connection, db, _tables(connection))
    except sqlite3.Error:
        pass  # open_store says why
    finally:
        connection.close()


def _tables(connection: sqlite3.Connection) -> set[str]:
    query = "SELECT name FROM sqlite_master WHERE type = 'table'"
    return {row[0] for row in connection.execute(query)}


def _check_tables(connection: sqlite3.Connection, db: Path, tables: set[str]) -> None:
    if tables and "files" not in tables:
        names = ", ".join(sorted(tables)[:5])
        raise BatchError(
            f"{db}: an SQLite database of something else (tables {names}), not a medocr "
            "results database; it is left as it is"
        )
    if "files" in tables:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(files)")]
        if columns != _FILES_COLUMNS:
            raise BatchError(
                f"{db}: its files table is not that of a medocr results database "
                f"(columns {', '.join(columns)}); it is left as it is"
            )


def _make_folders(db: Path, folder: Path, mode: int) -> None:
    """Create `folder` and its missing parents with `mode`, whatever the umask."""
    missing = []
    while not folder.exists() and not folder.is_symlink() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        try:
            os.mkdir(path, mode)
            os.chmod(path, mode)
        except FileExistsError:
            continue
        except OSError as exc:
            raise BatchError(f"{db}: cannot create the folder {path} ({_reason(exc)})") from exc


def _create_private(db: Path, mode: int) -> None:
    try:
        handle = os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return
    except OSError as exc:
        raise BatchError(f"{db}: cannot create the results database ({_reason(exc)})") from exc
    try:
        os.fchmod(handle, mode)  # the umask may have taken bits away
    finally:
        os.close(handle)


def _sqlite_reason(exc: sqlite3.Error) -> str:
    text = str(exc)
    if getattr(exc, "sqlite_errorname", "") == "SQLITE_IOERR_WRITE":
        text += " (cannot write: disk full, file size limit or quota?)"
    return text


def finished_paths(connection: sqlite3.Connection) -> set[str]:
    """Paths already read successfully."""
    return {row[0] for row in connection.execute("SELECT path FROM files WHERE status = 'done'")}


def record(connection: sqlite3.Connection, outcome: FileOutcome) -> None:
    """Write one file's outcome atomically (replacing an earlier failed attempt).

    The file is ``done`` unless :attr:`FileOutcome.failure` says why not; the pages of a
    failed file are not kept.
    """
    finished = time.strftime("%Y-%m-%dT%H:%M:%S")
    failure = outcome.failure
    results = [] if failure else outcome.results
    status = "failed" if failure else "done"
    path = _storable(outcome.path)
    connection.execute("BEGIN IMMEDIATE")
    try:
        for table in ("fields", "pages", "files"):
            connection.execute(f"DELETE FROM {table} WHERE path = ?", (path,))  # noqa: S608
        for result in results:
            _insert_page(connection, path, result)
        connection.execute(
            "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?)",
            (
                path,
                status,
                len(results),
                None if failure is None else _storable(failure),
                outcome.seconds,
                finished,
            ),
        )
        connection.execute("COMMIT")
    except BaseException:
        # SQLite may already have rolled back (disk full); never hide the first error.
        if connection.in_transaction:
            with suppress(sqlite3.Error):
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
            _storable(json.dumps(result, ensure_ascii=False)),
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
                _storable(f["text"]),
                f["confidence"],
                f["route"],
                _storable(json.dumps(f["value"], ensure_ascii=False))
                if f.get("value") is not None
                else None,
                None if f.get("error") is None else _storable(f["error"]),
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
    rows = _read_only_query(path, "SELECT result FROM pages ORDER BY path, page_index")
    return [CertificateResult.from_dict(json.loads(row[0])) for row in rows]


def load_failures(db_path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """``(path, error)`` of the files that failed.

    Raises
    ------
    ValueError
        The file is not a medocr results database.
    """
    query = "SELECT path, error FROM files WHERE status = 'failed' ORDER BY path"
    return [(str(p), str(e)) for p, e in _read_only_query(Path(db_path), query)]


def _read_only_query(path: Path, query: str) -> list[tuple[Any, ...]]:
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ValueError(f"{path}: cannot open the results database ({exc})") from exc
    try:
        return connection.execute(query).fetchall()
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"{path}: not a medocr results database ({exc})") from exc
    finally:
        connection.close()


def failures_tsv(failures: Iterable[tuple[str, str]]) -> str:
    r"""Write failures as tab-separated text: a ``path<TAB>error`` header, one line each.

    Each error is kept without the traceback that follows an unexpected one. Inside a path
    or an error (which often quotes the path), a backslash, tab, newline or carriage return
    is written ``\\``, ``\t``, ``\n`` or ``\r`` (the escapes of PostgreSQL's COPY text
    format), so that every record is one line with exactly one tab, whatever the file
    names. Text that needs no escape is written as it is.

    Parameters
    ----------
    failures : iterable of (str, str)
        ``(path, error)``, as :func:`load_failures` returns them.

    Returns
    -------
    str
    """
    lines = ["path\terror\n"]
    for path, error in failures:
        message = (error or "").split("\nTraceback (most recent call last):")[0]
        lines.append(f"{_tsv_escape(path)}\t{_tsv_escape(message)}\n")
    return "".join(lines)


def _tsv_escape(text: str) -> str:
    return text.translate({92: "\\\\", 9: "\\t", 10: "\\n", 13: "\\r"})


# --- the run lock and the configuration ---------------------------------------------------


class RunLock:
    """Exclusive lock of a results database for one run (``DB.lock``, mode 0600).

    The lock is an ``flock`` on the file, so the system drops it when the holding process
    ends, however it ends (a stale lock from a dead run is simply taken). The file holds
    the holder's pid, host and start time, for the message of a run that finds it taken.

    Parameters
    ----------
    db : Path
        The results database.
    mode : int
        Permissions of a new lock file (default 0600).
    """

    def __init__(self, db: Path, mode: int = DB_MODE) -> None:
        self.db = db
        self.mode = mode
        self.path = db.with_name(db.name + ".lock")
        self._handle: int | None = None

    def acquire(self) -> None:
        """Take the lock.

        Raises
        ------
        BatchError
            Another run holds it (the message names its pid, host and start time), or the
            lock file cannot be created or locked.
        """
        handle = self._open()
        try:
            locked = _try_lock(handle)
        except OSError as exc:
            os.close(handle)
            raise BatchError(
                f"{self.path}: cannot lock the results database ({_reason(exc)})"
            ) from exc
        if not locked:
            holder = _describe_holder(handle)
            os.close(handle)
            raise BatchError(
                f"{self.db}: another medocr batch is writing to this database ({holder}); "
                "wait for it to end, or write to another --out"
            )
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        try:
            os.ftruncate(handle, 0)
            os.pwrite(handle, json.dumps(info).encode("utf-8"), 0)
        except OSError as exc:
            os.close(handle)
            raise BatchError(f"{self.path}: cannot write the run lock ({_reason(exc)})") from exc
        self._handle = handle

    def release(self) -> None:
        """Drop the lock (closing the file releases it)."""
        if self._handle is None:
            return
        with suppress(OSError):
            os.ftruncate(self._handle, 0)
        os.close(self._handle)
        self._handle = None

    def _open(self) -> int:
        try:
            handle = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, self.mode)
            os.fchmod(handle, self.mode)
            return handle
        except FileExistsError:
            pass
        except OSError as exc:
            raise BatchError(f"{self.path}: cannot create the run lock ({_reason(exc)})") from exc
        try:
            return os.open(self.path, os.O_RDWR)
        except OSError as exc:
            raise BatchError(f"{self.path}: cannot open the run lock ({_reason(exc)})") from exc


def _try_lock(handle: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(handle, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _describe_holder(handle: int) -> str:
    try:
        info = json.loads(os.pread(handle, 4096, 0).decode("utf-8"))
        return f"pid {info['pid']} on {info['host']}, since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a run that is just starting"


def _config_differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    keys = sorted(set(stored) | set(current))
    return [
        f"{key}: {stored.get(key, '(unset)')!r} before, {current.get(key, '(unset)')!r} now"
        for key in keys
        if stored.get(key) != current.get(key)
    ]


def _check_configuration(
    connection: sqlite3.Connection,
    db: Path,
    config: dict[str, Any],
    input_dir: str,
    force: bool,
) -> None:
    """Refuse to resume a database made from another input folder or configuration."""
    meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
    stored: dict[str, Any] = {}
    current: dict[str, Any] = {}
    if "config" in meta:
        try:
            earlier = json.loads(meta["config"])
        except ValueError:
            earlier = meta["config"]
        if isinstance(earlier, dict):
            # A key added by a later medocr was at its default when the database was made.
            defaults = json.loads(json.dumps(PipelineConfig().to_dict()))
            stored.update({k: v for k, v in defaults.items() if k in config}, **earlier)
            current.update(config)
        else:
            stored["config"], current["config"] = earlier, config
    if os.path.isabs(meta.get("input_dir", "")):  # older databases kept it as given
        stored["input_dir"], current["input_dir"] = meta["input_dir"], input_dir
    differences = _config_differences(stored, current)
    if differences and not force:
        shown = "; ".join(differences[:6]) + ("; ..." if len(differences) > 6 else "")
        raise BatchError(
            f"{db}: was written with another configuration ({shown}); its results would "
            "be mixed with this run's. Rerun with the same options, write to another --out, "
            "or pass --force-config (force_config=True) to go on with the new one"
        )


@contextmanager
def _signals_stop_the_run() -> Iterator[_Stopper]:
    """Turn SIGTERM and SIGHUP into :class:`BatchTerminated` while the run lasts.

    Only in the main thread (elsewhere signals cannot be handled), and only for a signal
    left to its default action (``nohup`` keeps ignoring SIGHUP, a caller's own handler is
    kept); a signal that arrives while a file is being recorded takes effect once it is
    committed.
    """
    stopper = _Stopper()
    wanted = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    if threading.current_thread() is not threading.main_thread():
        yield stopper
        return
    previous = {
        signum: signal.signal(signum, stopper.handle)
        for signum in wanted
        if signal.getsignal(signum) == signal.SIG_DFL
    }
    try:
        yield stopper
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class _Stopper:
    def __init__(self) -> None:
        self.pending: int | None = None
        self.deferring = False
        self.finished = 0

    def handle(self, signum: int, frame: Any) -> None:
        if self.deferring:
            self.pending = signum
            return
        raise BatchTerminated(signum, self.finished)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False
        if self.pending is not None:
            raise BatchTerminated(self.pending, self.finished)


# --- workers --------------------------------------------------------------------------------

_WORKER_PIPELINES: dict[str, Any] = {}


#: Files being decoded ahead in this process (:func:`_read_ahead`), by full path:
#: ``medocr.pipeline.decode_file``'s pages and seconds.
_DECODED: dict[Path, Future[Decoded]] = {}


def read_file(root: str, path: str, config_json: str) -> FileOutcome:
    """Read one file with a pipeline cached per process; never raises for bad input.

    When the read-ahead has decoded the file already, its pages are used.
    """
    from medocr.pipeline import Pipeline

    start = time.perf_counter()
    pipeline = _WORKER_PIPELINES.get(config_json)
    if pipeline is None:
        _follow_threads_setting()
        pipeline = Pipeline(PipelineConfig.from_dict(json.loads(config_json)))
        _WORKER_PIPELINES[config_json] = pipeline
    full = Path(root) / path
    decoded = _DECODED.pop(full, None)
    try:
        if decoded is None:
            read = pipeline.read(full)
        else:
            read = pipeline.read_decoded(full, *decoded.result())
        results = [r.to_dict() for r in read]
        return FileOutcome(path, results, None, time.perf_counter() - start)
    except Exception as exc:  # noqa: BLE001 - every failure becomes the file's error row
        error = f"{type(exc).__name__}: {exc}"
        if not _is_expected(exc):
            error += "\n" + traceback.format_exc(limit=3)
        return FileOutcome(path, [], error, time.perf_counter() - start)


def _follow_threads_setting() -> None:
    """Give OpenCV the threads ``MEDOCR_THREADS`` sets (a Dask worker started with it)."""
    from medocr.recognize.runtime import onnx_threads

    threads = onnx_threads()
    if threads is not None:
        import cv2

        cv2.setNumThreads(threads)


def _is_expected(exc: Exception) -> bool:
    from medocr.errors import MedocrError

    return isinstance(exc, MedocrError | ValueError)


_PR_SET_PDEATHSIG = 1


def _worker_init(parent_pid: int, threads: int) -> None:
    """Tie a worker process to the run and give it its share of the cores.

    The worker dies with its parent and leaves Ctrl-C to it; OpenCV and ONNX Runtime
    use `threads` threads in it (``MEDOCR_THREADS``, followed when its pipeline is
    made), so that K workers do not run K pools of one thread per core each.
    """
    from medocr.recognize.runtime import THREADS_ENV

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ[THREADS_ENV] = str(threads)
    if not _die_with_parent():
        watch = threading.Thread(
            target=_watch_parent, args=(parent_pid,), name="medocr-parent-watch", daemon=True
        )
        watch.start()
    if os.getppid() != parent_pid:  # the parent died before the line above
        os._exit(1)


def threads_per_worker(workers: int) -> int:
    """Threads each of `workers` processes may use: the usable cores shared out, at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // workers)


def _die_with_parent() -> bool:
    """Ask Linux to SIGKILL this process when its parent ends; False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os._exit(1)


def _read_ahead(
    root: Path, paths: list[str], config_json: str
) -> Generator[FileOutcome, None, None]:
    """Read files in order in this process, decoding the next one in a thread meanwhile.

    Image decoding (zlib, libtiff, libjpeg) lets go of the GIL, so on two cores it runs
    beside the reading of the file before; at most two files' pages are held at once.
    """
    from concurrent.futures import ThreadPoolExecutor

    from medocr.pipeline import decode_file

    with ThreadPoolExecutor(1, thread_name_prefix="medocr-read-ahead") as pool:
        try:
            for index, path in enumerate(paths):
                for ahead in paths[index : index + 2]:
                    if root / ahead not in _DECODED:
                        _DECODED[root / ahead] = pool.submit(decode_file, root / ahead)
                yield read_file(str(root), path, config_json)
                _DECODED.pop(root / path, None)  # left when read_file did not take it
        finally:
            for path in paths:
                future = _DECODED.pop(root / path, None)
                if future is not None:
                    future.cancel()


def _local(
    root: Path, paths: list[str], config_json: str, workers: int
) -> Generator[FileOutcome, None, None]:
    if workers <= 1:
        yield from _read_ahead(root, paths, config_json)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_worker_init,
        initargs=(os.getpid(), threads_per_worker(workers)),
    )
    clean = False
    try:
        futures = {pool.submit(read_file, str(root), p, config_json): p for p in paths}
        for future in as_completed(futures):
            try:
                outcome = future.result()
            except BrokenProcessPool as exc:
                raise BatchError(
                    "a worker process died while reading (killed, or out of memory?); the "
                    "files finished are recorded, rerun to resume (with --workers 1 to find "
                    "the file that kills it)"
                ) from exc
            yield outcome
        clean = True
    finally:
        _stop_pool(pool, clean)


def _stop_pool(pool: Any, clean: bool) -> None:
    """Shut the pool down; unless it finished cleanly, kill its workers at once."""
    if clean:
        pool.shutdown(wait=True)
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.kill()
    for process in processes:
        process.join(5)


def _dask(
    root: Path, paths: list[str], config_json: str, address: str
) -> Generator[FileOutcome, None, None]:
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
    force_config: bool = False,
    mode: int = DB_MODE,
) -> BatchSummary:
    """Read every file under `input_dir` into the SQLite database `db_path`.

    Parameters
    ----------
    input_dir : str or PathLike
        Folder of scans (read recursively, in sorted order; never modified).
    db_path : str or PathLike
        Results database (created private to its owner, see :func:`open_store`; reused
        to resume).
    config : PipelineConfig, optional
        Reading configuration (default: all defaults).
    workers : int
        Local worker processes (1 = read in this process); they die with this process.
    scheduler : str, optional
        Address of a Dask scheduler; the files are then read on its workers.
    progress : callable, optional
        Called after each file with ``(finished, to_do, failed, seconds)``.
    force_config : bool
        Go on with a database made from another input folder or configuration (the files
        done keep their results; table ``runs`` keeps each run's configuration).
    mode : int
        Permissions of a new database and its lock file, whatever the umask (default
        0600: owner only); folders created for them get the matching 0700 (0750...).

    Returns
    -------
    BatchSummary

    Raises
    ------
    ValueError
        `input_dir` is not a folder, or `workers` is below 1.
    BatchError
        The database cannot be used (see :func:`open_store`), was made with another input
        folder or configuration, is being written by another run (see :class:`RunLock`),
        or became impossible to write (database or disk full: the message names the file
        being recorded; the files finished before stay recorded, a rerun resumes).
    BatchTerminated
        SIGTERM or SIGHUP arrived (in the main thread); the worker processes are stopped
        and the files finished are recorded.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a whole number of at least 1, not {workers!r}")
    root = Path(input_dir)
    db = Path(db_path)
    config = config or PipelineConfig()
    lock = RunLock(db, mode)
    exclude = (db, *(db.with_name(db.name + s) for s in ("-wal", "-shm", "-journal", ".lock")))
    scan_inputs(root, exclude)  # the input folder is checked before anything is created
    _check_out_path(db)
    _make_folders(db, db.parent, _folder_mode(mode))
    lock.acquire()
    try:
        return _run_locked(
            root, db, config, workers, scheduler, progress, force_config, exclude, mode
        )
    finally:
        lock.release()


def _run_locked(
    root: Path,
    db: Path,
    config: PipelineConfig,
    workers: int,
    scheduler: str | None,
    progress: Callable[[int, int, int, float], None] | None,
    force_config: bool,
    exclude: tuple[Path, ...],
    mode: int,
) -> BatchSummary:
    start = time.perf_counter()
    connection = open_store(db, mode=mode)
    config_json = json.dumps(config.to_dict(), sort_keys=True)
    config_dict = json.loads(config_json)  # as stored: lists, not tuples
    input_dir = str(root.resolve())
    current = ""  # the file being recorded, for the message of a write error
    run_id: int | None = None
    try:
        _check_configuration(connection, db, config_dict, input_dir, force_config)
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT OR REPLACE INTO meta VALUES ('input_dir', ?)", (input_dir,))
        connection.execute("INSERT OR REPLACE INTO meta VALUES ('config', ?)", (config_json,))
        run_id = connection.execute(
            "INSERT INTO runs (started_at, host, pid, input_dir, config) VALUES (?, ?, ?, ?, ?)",
            (_now(), socket.gethostname(), os.getpid(), _storable(input_dir), config_json),
        ).lastrowid
        connection.execute("COMMIT")
        paths, unreadable = scan_inputs(root, exclude)
        done_before = finished_paths(connection)
        to_do = [p for p in paths if _storable(p) not in done_before]
        blocked = [(p, why) for p, why in unreadable if _storable(p) not in done_before]
        done = failed = pages = 0
        with _signals_stop_the_run() as stopper:
            for path, why in blocked:
                current = path
                with stopper.deferred():
                    record(connection, FileOutcome(path, [], why, 0.0))
                    stopper.finished += 1
                failed += 1
            current = ""
            if scheduler:
                outcomes = _dask(root, to_do, config_json, scheduler)
            else:
                outcomes = _local(root, to_do, config_json, workers)
            try:
                for outcome in outcomes:
                    current = outcome.path
                    with stopper.deferred():
                        record(connection, outcome)
                        stopper.finished += 1
                    current = ""
                    is_failed = outcome.failure is not None
                    failed += is_failed
                    done += not is_failed
                    pages += 0 if is_failed else len(outcome.results)
                    if progress is not None:
                        total = len(to_do) + len(blocked)
                        progress(done + failed, total, failed, time.perf_counter() - start)
            finally:
                outcomes.close()  # stops the workers when the loop ended early
            _end_run(connection, run_id, "finished")
    except BaseException as exc:
        if connection.in_transaction:
            _quietly(connection, "ROLLBACK")
        _quietly(connection, "UPDATE runs SET finished_at = ?, outcome = ? WHERE id = ?",
                 (_now(), f"{type(exc).__name__}: {exc}", run_id))  # fmt: skip
        connection.close()
        if isinstance(exc, sqlite3.Error):
            where = f" while recording {_storable(current)}" if current else ""
            full = getattr(exc, "sqlite_errorname", "") in ("SQLITE_FULL", "SQLITE_IOERR_WRITE")
            raise BatchError(
                f"{db}: {_sqlite_reason(exc)}{where}; the files finished before are recorded: "
                + ("make room and rerun to resume" if full else "rerun to resume")
            ) from exc
        raise
    connection.close()
    total = len(paths) + len(unreadable)
    skipped = total - len(to_do) - len(blocked)
    seconds = time.perf_counter() - start
    return BatchSummary(total, skipped, done, failed, pages, seconds, len(blocked))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def _end_run(connection: sqlite3.Connection, run_id: int | None, outcome: str) -> None:
    connection.execute(
        "UPDATE runs SET finished_at = ?, outcome = ? WHERE id = ?", (_now(), outcome, run_id)
    )


def _quietly(connection: sqlite3.Connection, sql: str, parameters: tuple[Any, ...] = ()) -> None:
    """Run `sql`, ignoring errors (on the way out of a run that failed already)."""
    with suppress(sqlite3.Error):
        connection.execute(sql, parameters)
