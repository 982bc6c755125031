"""The review queue and the operators' corrections, kept in the results database.

A results database (``medocr batch``) holds one row per field with its route. The fields
routed to ``review`` form the queue. An operator's decision on a field is a row of the
``corrections`` table, added to the same database and never overwriting the machine's
reading:

========== =====================================================================
column     meaning
========== =====================================================================
id         order of saving (the latest row of a field wins)
path       the file, relative to the batch's input folder (as in ``fields``)
page_index the page of that file
name       the field name
action     ``correct`` (text typed or confirmed), ``choose`` (an alternative
           picked) or ``illegible`` (no text can be read)
text       the operator's text ("" for ``illegible``)
machine    the machine's reading the operator saw
reviewer   who decided
saved_at   UTC time, ISO 8601
========== =====================================================================

Every save is its own transaction on a WAL database, so several operators (several
``medocr review`` processes, or several browsers on one) can work on one database at once
without losing a write; two saves of one field both stay, the latest wins.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medocr.errors import MedocrError
from medocr.types import Page

CORRECTIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS corrections (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL, page_index INTEGER NOT NULL,
    name TEXT NOT NULL, action TEXT NOT NULL, text TEXT NOT NULL, machine TEXT NOT NULL,
    reviewer TEXT NOT NULL, saved_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS corrections_by_field ON corrections (path, page_index, name);
"""
#: What an operator can decide about a field.
ACTIONS = ("correct", "choose", "illegible")
#: Queue orders: by certificate (file, page, template order) or lowest confidence first.
ORDERS = ("certificate", "confidence")
MAX_TEXT = 2000  # characters of one correction
MAX_REVIEWER = 100

FieldKey = tuple[str, int, str]  # (path, page_index, name)


class ReviewError(MedocrError):
    """A results database cannot be reviewed, or a correction is refused."""


@dataclass(frozen=True)
class Correction:
    """An operator's decision on one field (one row of ``corrections``)."""

    id: int
    path: str
    page_index: int
    name: str
    action: str
    text: str
    machine: str
    reviewer: str
    saved_at: str

    @property
    def key(self) -> FieldKey:
        """``(path, page_index, name)`` of the field."""
        return (self.path, self.page_index, self.name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return {
            "id": self.id, "action": self.action, "text": self.text, "machine": self.machine,
            "reviewer": self.reviewer, "saved_at": self.saved_at,
        }  # fmt: skip


@dataclass(frozen=True)
class ReviewItem:
    """One field as an operator sees it.

    Parameters
    ----------
    field_id : int
        The field's row id in the results database (what the browser names it by).
    path, page_index, name, kind : str, int, str, str
        Where the field is and what kind it is.
    text : str
        The machine's reading.
    confidence : float
        Its confidence (0..1).
    route : str
        ``review`` or ``accept``.
    bbox : tuple of int or None
        ``(x0, y0, x1, y1)`` of the field in the scan's pixels.
    alternatives : tuple of str
        Other readings the decoder considered, best first (the reading itself left out).
    correction : Correction or None
        The latest decision on this field.
    error : str or None
        Why the field could not be read, when it could not.
    """

    field_id: int
    path: str
    page_index: int
    name: str
    kind: str
    text: str
    confidence: float
    route: str
    bbox: tuple[int, int, int, int] | None = None
    alternatives: tuple[str, ...] = ()
    correction: Correction | None = None
    error: str | None = None

    @property
    def key(self) -> FieldKey:
        """``(path, page_index, name)`` of the field."""
        return (self.path, self.page_index, self.name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (what the browser receives)."""
        return {
            "id": self.field_id, "path": self.path, "page_index": self.page_index,
            "name": self.name, "kind": self.kind, "text": self.text,
            "confidence": round(self.confidence, 4), "route": self.route,
            "bbox": list(self.bbox) if self.bbox else None,
            "alternatives": list(self.alternatives), "error": self.error,
            "correction": self.correction.to_dict() if self.correction else None,
        }  # fmt: skip


@dataclass
class _Queue:
    """The review fields in memory: row ids with what filtering and ordering need."""

    ids: list[int] = field(default_factory=list)
    keys: list[FieldKey] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    batches: list[str] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)
    position: dict[int, int] = field(default_factory=dict)


def batch_of(path: str) -> str:
    """Name the batch a file belongs to: the first folder of its path ("." at the top)."""
    head, sep, _ = path.partition("/")
    return head if sep else "."


class ReviewStore:
    """The review queue and corrections of one results database.

    Parameters
    ----------
    db_path : str or PathLike
        A results database written by ``medocr batch`` (never modified but for the
        ``corrections`` table).
    images : str or PathLike, optional
        The folder the batch read (default: the one the database recorded); scans are
        looked up there by their relative path.

    Raises
    ------
    ReviewError
        The file is missing, not a medocr results database, or cannot be written.

    Notes
    -----
    Safe to share between threads (one connection behind a lock). The connection can
    only write rows of ``corrections`` (an SQLite authorizer denies every other write).
    """

    def __init__(self, db_path: str | Path, *, images: str | Path | None = None) -> None:
        self.db_path = Path(db_path)
        self._lock = threading.RLock()
        self._connection = _connect(self.db_path)
        self.images = Path(images) if images is not None else self._recorded_input_dir()
        self._queue = self._load_queue()
        self._decided: set[FieldKey] = set()
        self._last_correction = 0
        # done counts per (kind, batch) filter, kept up to date by decided(): counting the
        # whole queue on every answer costs ~20 ms at 30,000 review fields
        self._done: dict[tuple[str | None, str | None], int] = {}
        self._index = {key: n for n, key in enumerate(self._queue.keys)}
        self._page_cache: dict[tuple[str, int], dict[str, Any]] = {}
        self._orders: dict[tuple[str | None, str | None, str], list[int]] = {}
        self._places: dict[tuple[str | None, str | None, str], dict[int, int]] = {}

    # --- queue ----------------------------------------------------------------------------

    @property
    def kinds(self) -> list[str]:
        """Field kinds present in the queue, sorted."""
        return sorted(set(self._queue.kinds))

    @property
    def batches(self) -> list[str]:
        """Batches (first folders of the file paths) present in the queue, sorted."""
        return sorted(set(self._queue.batches))

    def queue(
        self, *, kind: str | None = None, batch: str | None = None, order: str = "certificate"
    ) -> list[int]:
        """Field ids of the review queue, filtered and ordered (decided ones included).

        Parameters
        ----------
        kind : str, optional
            Only fields of this kind.
        batch : str, optional
            Only files of this batch (:func:`batch_of`).
        order : {"certificate", "confidence"}
            File, page and template order; or lowest confidence first.
        """
        if order not in ORDERS:
            raise ReviewError(f"unknown order {order!r}; choose one of {', '.join(ORDERS)}")
        cached = self._orders.get((kind, batch, order))
        if cached is not None:
            return cached
        q = self._queue
        rows = [
            i
            for i in range(len(q.ids))
            if (kind is None or q.kinds[i] == kind) and (batch is None or q.batches[i] == batch)
        ]
        if order == "confidence":
            rows.sort(key=lambda i: (q.confidences[i], i))
        ids = [q.ids[i] for i in rows]
        self._orders[(kind, batch, order)] = ids
        self._places[(kind, batch, order)] = {field_id: n for n, field_id in enumerate(ids)}
        return ids

    def next_pending(
        self,
        after: int | None = None,
        *,
        kind: str | None = None,
        batch: str | None = None,
        order: str = "certificate",
    ) -> int | None:
        """Find the first undecided field after `after` in queue order (wrapping), or None.

        Parameters
        ----------
        after : int, optional
            A field id; the search starts just after it (from the start when None or not
            in this queue).
        kind, batch, order
            As in :meth:`queue`.
        """
        ids = self.queue(kind=kind, batch=batch, order=order)
        if not ids:
            return None
        decided = self.decided()
        place = self._places[(kind, batch, order)].get(after) if after is not None else None
        start = 0 if place is None else place + 1
        q = self._queue
        for offset in range(len(ids)):
            field_id = ids[(start + offset) % len(ids)]
            if q.keys[q.position[field_id]] not in decided:
                return field_id
        return None

    def counts(self, *, kind: str | None = None, batch: str | None = None) -> dict[str, int]:
        """``{"done", "remaining", "total"}`` of the filtered queue."""
        ids = self.queue(kind=kind, batch=batch)
        with self._lock:
            decided = self.decided()
            done = self._done.get((kind, batch))
            if done is None:
                q = self._queue
                done = sum(q.keys[q.position[i]] in decided for i in ids)
                self._done[(kind, batch)] = done
        return {"done": done, "remaining": len(ids) - done, "total": len(ids)}

    def decided(self) -> set[FieldKey]:
        """Keys of every field with at least one correction (any operator, any process)."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT id, path, page_index, name FROM corrections WHERE id > ? ORDER BY id",
                (self._last_correction,),
            ).fetchall()
            for row_id, path, page_index, name in rows:
                key = (path, int(page_index), name)
                if key not in self._decided:
                    self._decided.add(key)
                    self._count_done(key)
                self._last_correction = max(self._last_correction, int(row_id))
        return self._decided

    def _count_done(self, key: FieldKey) -> None:
        """Add a newly decided field to the done counts of the filters it falls in."""
        index = self._index.get(key)
        if index is None:
            return  # not in the review queue
        kind, batch = self._queue.kinds[index], self._queue.batches[index]
        for wanted_kind, wanted_batch in self._done:
            if wanted_kind in (None, kind) and wanted_batch in (None, batch):
                self._done[(wanted_kind, wanted_batch)] += 1

    # --- items ----------------------------------------------------------------------------

    def item(self, field_id: int) -> ReviewItem:
        """Return the field with this id (any route), its alternatives and latest correction.

        Raises
        ------
        KeyError
            No field has this id.
        """
        with self._lock:
            row = self._connection.execute(
                "SELECT rowid, path, page_index, name, kind, text, confidence, route, error "
                "FROM fields WHERE rowid = ?",
                (int(field_id),),
            ).fetchone()
        if row is None:
            raise KeyError(f"no field with id {field_id}")
        return self._item(row)

    def certificate(self, field_id: int) -> list[ReviewItem]:
        """Every field of the page holding `field_id`, in template order."""
        item = self.item(field_id)
        with self._lock:
            rows = self._connection.execute(
                "SELECT rowid, path, page_index, name, kind, text, confidence, route, error "
                "FROM fields WHERE path = ? AND page_index = ? ORDER BY rowid",
                (item.path, item.page_index),
            ).fetchall()
        return [self._item(row) for row in rows]

    def page_size(self, field_id: int) -> tuple[int, int] | None:
        """``(width, height)`` of the page holding `field_id`, as recorded."""
        item = self.item(field_id)
        size = self._page(item.path, item.page_index).get("page_size")
        return (int(size[0]), int(size[1])) if size else None

    def source(self, field_id: int) -> tuple[Path, int]:
        """Find the scan file and page index of a field.

        Raises
        ------
        ReviewError
            The scan is no longer where the batch read it.
        """
        item = self.item(field_id)
        path = self.images / item.path if self.images is not None else Path(item.path)
        if not path.is_file():
            raise ReviewError(
                f"{path}: the scan of {item.path} is not there any more (pass the folder the "
                "batch read with --images)"
            )
        return path, item.page_index

    def _item(self, row: Sequence[Any]) -> ReviewItem:
        field_id, path, page_index, name, kind, text, confidence, route, error = row
        page = self._page(path, int(page_index))
        stored: dict[str, Any] = next(
            (f for f in page.get("fields", []) if f.get("name") == name), {}
        )
        bbox = _box(stored.get("bbox"))
        return ReviewItem(
            int(field_id), path, int(page_index), name, kind or "", text, float(confidence),
            route, bbox,
            _alternatives(stored, text), self.latest(path, int(page_index), name), error,
        )  # fmt: skip

    def _page(self, path: str, page_index: int) -> dict[str, Any]:
        key = (path, page_index)
        if key not in self._page_cache:
            with self._lock:
                row = self._connection.execute(
                    "SELECT result FROM pages WHERE path = ? AND page_index = ?", key
                ).fetchone()
            if len(self._page_cache) > 256:
                self._page_cache.clear()
            self._page_cache[key] = json.loads(row[0]) if row else {}
        return self._page_cache[key]

    # --- corrections ----------------------------------------------------------------------

    def save(self, field_id: int, action: str, text: str, reviewer: str) -> Correction:
        """Record an operator's decision on a field (a new row; earlier ones stay).

        Parameters
        ----------
        field_id : int
            The field.
        action : {"correct", "choose", "illegible"}
            What the operator did.
        text : str
            The operator's text (ignored for ``illegible``).
        reviewer : str
            Who decided.

        Raises
        ------
        ReviewError
            Unknown action, text too long or holding control characters, no reviewer.
        KeyError
            No field has this id.
        """
        text = _checked_text(action, text)
        reviewer = _checked_reviewer(reviewer)
        item = self.item(field_id)
        saved_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        values = (*item.key, action, text, item.text, reviewer, saved_at)
        with self._lock:
            cursor = self._connection.execute(
                "INSERT INTO corrections (path, page_index, name, action, text, machine, "
                "reviewer, saved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
        return Correction(int(cursor.lastrowid or 0), *values)

    def latest(self, path: str, page_index: int, name: str) -> Correction | None:
        """Return the latest decision on one field, or None."""
        with self._lock:
            row = self._connection.execute(
                "SELECT * FROM corrections WHERE path = ? AND page_index = ? AND name = ? "
                "ORDER BY id DESC LIMIT 1",
                (path, page_index, name),
            ).fetchone()
        return _correction(row) if row else None

    def history(self, field_id: int) -> list[Correction]:
        """Every decision on a field, oldest first."""
        item = self.item(field_id)
        with self._lock:
            rows = self._connection.execute(
                "SELECT * FROM corrections WHERE path = ? AND page_index = ? AND name = ? "
                "ORDER BY id",
                item.key,
            ).fetchall()
        return [_correction(row) for row in rows]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._connection.close()

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- loading --------------------------------------------------------------------------

    def _recorded_input_dir(self) -> Path | None:
        with self._lock:
            row = self._connection.execute(
                "SELECT value FROM meta WHERE key = 'input_dir'"
            ).fetchone()
        return Path(row[0]) if row else None

    def _load_queue(self) -> _Queue:
        queue = _Queue()
        with self._lock:
            rows = self._connection.execute(
                "SELECT rowid, path, page_index, name, kind, confidence FROM fields "
                "WHERE route = 'review' ORDER BY path, page_index, rowid"
            ).fetchall()
        for position, (row_id, path, page_index, name, kind, confidence) in enumerate(rows):
            queue.ids.append(int(row_id))
            queue.keys.append((path, int(page_index), name))
            queue.kinds.append(kind or "")
            queue.batches.append(batch_of(path))
            queue.confidences.append(float(confidence))
            queue.position[int(row_id)] = position
        return queue


def latest_corrections(db_path: str | Path) -> dict[FieldKey, Correction]:
    """Read the latest decision on every corrected field of a results database.

    Raises
    ------
    ReviewError
        The file is not a medocr results database.
    """
    path = Path(db_path)
    with read_only(path) as connection:
        tables = _table_names(connection)
        if "fields" not in tables:
            raise ReviewError(f"{path}: not a medocr results database (no fields table)")
        if "corrections" not in tables:
            return {}
        rows = connection.execute("SELECT * FROM corrections ORDER BY id").fetchall()
    return {c.key: c for c in map(_correction, rows)}


@contextmanager
def read_only(db: str | Path) -> Iterator[sqlite3.Connection]:
    """Open a results database read only (the file is never written).

    Raises
    ------
    ReviewError
        The file is missing or cannot be opened.
    """
    path = Path(db)
    if not path.is_file():
        raise ReviewError(f"{path}: no such results database")
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ReviewError(f"{path}: cannot open the results database ({exc})") from exc
    try:
        yield connection
    except sqlite3.DatabaseError as exc:
        raise ReviewError(f"{path}: not a medocr results database ({exc})") from exc
    finally:
        connection.close()


def load_page(source: Path, page_index: int) -> Page:
    """Page `page_index` of a scan, read as the batch read it.

    Raises
    ------
    ReviewError
        The scan is not there any more, or has no such page.
    medocr.errors.InputError
        The scan cannot be read.
    """
    from medocr.io import read_image, read_pages

    if not source.is_file():
        raise ReviewError(
            f"{source}: the scan is not there any more (pass the folder the batch read with "
            "--images)"
        )
    if page_index == 0:
        return read_image(source)
    pages = read_pages(source)
    if page_index >= len(pages):
        raise ReviewError(f"{source}: has {len(pages)} pages, no page {page_index}")
    return pages[page_index]


def iter_corrections(corrections: dict[FieldKey, Correction]) -> Iterator[Correction]:
    """Corrections that give a text (``illegible`` left out), by file, page and field."""
    for key in sorted(corrections):
        if corrections[key].action != "illegible":
            yield corrections[key]


def _connect(db: Path) -> sqlite3.Connection:
    if not db.is_file():
        raise ReviewError(f"{db}: no such results database")
    try:
        connection = sqlite3.connect(db, timeout=30, isolation_level=None, check_same_thread=False)
        tables = _table_names(connection)
        if "fields" not in tables or "pages" not in tables:
            connection.close()
            raise ReviewError(f"{db}: not a medocr results database (no fields or pages table)")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.executescript(CORRECTIONS_SCHEMA)
    except sqlite3.DatabaseError as exc:
        raise ReviewError(f"{db}: cannot review this database ({exc})") from exc
    connection.set_authorizer(_corrections_only)
    return connection


_WRITES = {sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE}
_READS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION}
_TRANSACTIONS = {sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_SAVEPOINT}


def _corrections_only(action: int, table: str | None, *_: object) -> int:
    """SQLite authorizer: read anything, write rows of ``corrections`` only."""
    if action in _READS or action in _TRANSACTIONS:
        return sqlite3.SQLITE_OK
    if action in _WRITES and table == "corrections":
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and table in {"journal_mode", "table_info"}:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _table_names(connection: sqlite3.Connection) -> set[str]:
    return {r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _correction(row: Sequence[Any]) -> Correction:
    row_id, path, page_index, name, action, text, machine, reviewer, saved_at = row
    return Correction(
        int(row_id), path, int(page_index), name, action, text, machine, reviewer, saved_at
    )


def _box(values: Any) -> tuple[int, int, int, int] | None:
    if not values or len(values) != 4:
        return None
    x0, y0, x1, y1 = (int(v) for v in values)
    return (x0, y0, x1, y1)


def _alternatives(stored: dict[str, Any], text: str, count: int = 5) -> tuple[str, ...]:
    hypothesis = stored.get("hypothesis") or {}
    seen = {text}
    out = []
    for entry in hypothesis.get("alternatives", []):
        candidate = entry[0] if isinstance(entry, list | tuple) else entry
        if isinstance(candidate, str) and candidate not in seen:
            seen.add(candidate)
            out.append(candidate)
        if len(out) == count:
            break
    return tuple(out)


def _checked_text(action: str, text: str) -> str:
    if action not in ACTIONS:
        raise ReviewError(f"unknown action {action!r}; choose one of {', '.join(ACTIONS)}")
    if action == "illegible":
        return ""
    if not isinstance(text, str):
        raise ReviewError("the corrected text must be a string")
    text = " ".join(text.split())
    if len(text) > MAX_TEXT:
        raise ReviewError(f"a correction holds at most {MAX_TEXT} characters, not {len(text)}")
    if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in text):
        raise ReviewError("a correction cannot hold control characters")
    return text


def _checked_reviewer(reviewer: str) -> str:
    reviewer = " ".join(str(reviewer).split())
    if not reviewer or len(reviewer) > MAX_REVIEWER:
        raise ReviewError(f"a reviewer name of 1 to {MAX_REVIEWER} characters is needed")
    return reviewer
