"""Operators' corrections back into training: line images cut as reading cuts them, + JSONL.

For every corrected field of a results database (the latest decision per field,
``illegible`` left out), the field's scan page is read again and cut into lines by
:meth:`medocr.pipeline.Pipeline.field_lines`, exactly as reading cut it (with the
configuration the batch recorded, unless another is given), so that training sees what
reading sees. A field cut into one line gives one training line, the corrected text. A
field cut into several lines gives one training line per line when the corrected text can
be placed on the machine's line boundaries (:func:`align_lines`); otherwise it is left out
and counted, as are checkboxes, empty corrections and fields where no line was cut.

Output (``medocr export RESULTS.db --corrections --format training --out DIR``)::

    DIR/images/<document>-<field>-<line>.png
    DIR/train.jsonl, DIR/val.jsonl    rows {"image", "text", "document", "field"}

``image`` is relative to the JSONL file (as :func:`medocr.dataset.readers.read_line_set`
reads it) and ``document`` is ``path#page``: all lines of a certificate page share a writer,
so the split into train and validation is by certificate (:func:`split_documents`, a
stable hash of the document: a certificate stays on its side when the export is made again
with more corrections). The database is only read; a page that cannot be read any more is
listed in the summary and the rest goes on.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medocr.config import PipelineConfig
from medocr.dataset.fieldlines import TEXT_KINDS, cached_pipeline, jsonl_bytes, line_png
from medocr.fileio import check_outputs, write_atomic
from medocr.review.store import (
    Correction,
    FieldKey,
    ReviewError,
    iter_corrections,
    latest_corrections,
    load_page,
    read_only,
)

#: Why a corrected field gives no training line.
SKIP_REASONS = (
    "checkbox",
    "empty text",
    "no line cut",
    "several lines, alignment unknown",
    "not in the template",
)


# --- the operators' truth, read only -------------------------------------------------------


@dataclass(frozen=True)
class OperatorTruth:
    """The operators' decisions of one results database, with what finding the scans needs.

    Parameters
    ----------
    db : Path
        The results database.
    corrections : tuple of Correction
        The latest decision of every field that has one giving a text (``illegible`` left
        out), by file, page and field name.
    illegible : int
        Fields whose latest decision is ``illegible``.
    kinds : dict
        ``(path, page_index, name) -> kind`` of the corrected fields, as the batch stored.
    input_dir : Path or None
        The folder the batch read (``meta`` key ``input_dir``).
    config : dict or None
        The configuration the batch read with (``meta`` key ``config``).
    """

    db: Path
    corrections: tuple[Correction, ...]
    illegible: int
    kinds: dict[FieldKey, str]
    input_dir: Path | None
    config: dict[str, Any] | None

    def pages(self) -> dict[tuple[str, int], list[Correction]]:
        """Corrections grouped by page ``(path, page_index)``, in file and page order."""
        pages: dict[tuple[str, int], list[Correction]] = {}
        for correction in self.corrections:
            pages.setdefault((correction.path, correction.page_index), []).append(correction)
        return pages

    def source(self, path: str, images: str | os.PathLike[str] | None = None) -> Path:
        """Where the scan of `path` is: under `images`, else the recorded input folder."""
        folder = Path(images) if images is not None else self.input_dir
        return folder / path if folder is not None else Path(path)


def read_operator_truth(db: str | os.PathLike[str]) -> OperatorTruth:
    """Read the latest operator decisions of a results database (read only).

    Raises
    ------
    ReviewError
        Not a medocr results database, or no decision giving a text in it (the message
        says which).
    """
    path = Path(db)
    latest = latest_corrections(path)
    corrections = tuple(iter_corrections(latest))
    illegible = len(latest) - len(corrections)
    if not latest:
        raise ReviewError(
            f"{path}: no operator corrections in this results database yet (review its "
            f"fields first: medocr review {path})"
        )
    if not corrections:
        raise ReviewError(
            f"{path}: no operator correction gives a text ({illegible} fields marked "
            "illegible, and nothing else)"
        )
    with read_only(path) as connection:
        meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
        wanted = {c.key for c in corrections}
        kinds = {
            (p, int(i), n): k or ""
            for p, i, n, k in connection.execute("SELECT path, page_index, name, kind FROM fields")
            if (p, int(i), n) in wanted
        }
    try:
        config = json.loads(meta["config"]) if "config" in meta else None
    except ValueError:
        config = None
    input_dir = Path(meta["input_dir"]) if meta.get("input_dir") else None
    return OperatorTruth(path, corrections, illegible, kinds, input_dir, config)


# --- lines -----------------------------------------------------------------------------------


def align_lines(machine_lines: Sequence[str], corrected: str) -> list[str] | None:
    """Split a corrected text on the machine's line boundaries, or None when unsure.

    The machine's lines are joined by spaces and aligned with the corrected text
    (Levenshtein); each joining space must match a space of the corrected text, where the
    text is cut.

    Parameters
    ----------
    machine_lines : sequence of str
        The machine's reading of each cut line (none empty).
    corrected : str
        The operator's text of the whole field.

    Returns
    -------
    list of str or None
        One text per line (none empty), or None when a boundary has no place.

    Examples
    --------
    >>> align_lines(["Dyslipldemie", "ATCD d'lDM"], "Dyslipidémie ATCD d'IDM")
    ['Dyslipidémie', "ATCD d'IDM"]
    >>> align_lines(["AVC", "ischémique"], "AVC") is None
    True
    """
    from rapidfuzz.distance import Levenshtein

    if not machine_lines or any(not text.strip() for text in machine_lines):
        return None
    if len(machine_lines) == 1:
        return [corrected] if corrected.strip() else None
    machine = " ".join(machine_lines)
    boundaries, end = [], 0
    for text in machine_lines[:-1]:
        end += len(text)
        boundaries.append(end)
        end += 1
    equal = [op for op in Levenshtein.opcodes(machine, corrected) if op.tag == "equal"]
    cuts = []
    for boundary in boundaries:
        op = next((o for o in equal if o.src_start <= boundary < o.src_end), None)
        if op is None:
            return None
        cuts.append(op.dest_start + boundary - op.src_start)
    starts = [0, *(cut + 1 for cut in cuts)]
    pieces = [corrected[a:b].strip() for a, b in zip(starts, [*cuts, len(corrected)], strict=True)]
    return pieces if all(pieces) else None


def split_documents(documents: Iterable[str], val_share: float) -> set[str]:
    """Return the documents of the validation set, chosen by a stable hash of their names.

    A document goes to validation when the first 8 bytes of the SHA-256 of its name, as a
    fraction of 2^64, are below `val_share`. With `val_share` > 0 and at least two
    documents, at least one goes to validation and at least one stays for training.

    Parameters
    ----------
    documents : iterable of str
        Document names (``path#page``).
    val_share : float
        Share of documents for validation, in ``[0, 1)``.
    """
    names = sorted(set(documents))
    score = {
        d: int.from_bytes(hashlib.sha256(d.encode()).digest()[:8], "big") / 2**64 for d in names
    }
    val = {d for d in names if score[d] < val_share}
    if val_share > 0 and len(names) >= 2:
        if not val:
            val = {min(names, key=score.__getitem__)}
        if len(val) == len(names):
            val.discard(max(val, key=score.__getitem__))
    return val


# --- the export ------------------------------------------------------------------------------


@dataclass
class CorrectionsExport:
    """What :func:`export_corrections` wrote and left out.

    Parameters
    ----------
    out : Path
        The output folder.
    fields : int
        Corrected fields giving a text (``illegible`` left out).
    illegible : int
        Fields marked illegible (left out).
    fields_exported : int
        Fields that gave training lines.
    train_lines, val_lines : int
        Lines written to ``train.jsonl`` and ``val.jsonl``.
    train_documents, val_documents : int
        Certificate pages on each side.
    skipped : dict of str to int
        Fields left out, by reason (:data:`SKIP_REASONS`).
    unreadable : list of str
        ``path#page: reason`` of each page that could not be read or cut again.
    seconds : float
        Time taken.
    """

    out: Path
    fields: int = 0
    illegible: int = 0
    fields_exported: int = 0
    train_lines: int = 0
    val_lines: int = 0
    train_documents: int = 0
    val_documents: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def skip(self, reason: str) -> None:
        """Count one field left out for `reason`."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def export_corrections(
    db: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    images: str | os.PathLike[str] | None = None,
    config: PipelineConfig | None = None,
    val_share: float = 0.1,
    progress: Callable[[int, int], None] | None = None,
) -> CorrectionsExport:
    """Write the corrected fields of a results database as a training line set.

    Parameters
    ----------
    db : str or PathLike
        A results database with operator corrections (``medocr review``); only read.
    out : str or PathLike
        Output folder (created): ``images/``, then ``train.jsonl`` and ``val.jsonl``,
        each written atomically.
    images : str or PathLike, optional
        Where the scans are now (default: the folder the batch recorded).
    config : PipelineConfig, optional
        The reading configuration whose cutting to reproduce (default: the one the batch
        recorded, else the defaults).
    val_share : float
        Share of certificate pages for validation (:func:`split_documents`), in ``[0, 1)``.
    progress : callable, optional
        Called with ``(done, total)`` pages after each page.

    Returns
    -------
    CorrectionsExport

    Raises
    ------
    ReviewError
        Not a results database, or no correction giving a text in it.
    medocr.errors.OutputError
        `out` is the database or lies inside the scans' folder.
    ValueError
        `val_share` is outside ``[0, 1)``, or the recorded configuration is invalid.
    """
    if not 0.0 <= val_share < 1.0:
        raise ValueError(f"val_share must be in [0, 1), got {val_share}")
    start = time.perf_counter()
    truth = read_operator_truth(db)
    folder = Path(images) if images is not None else truth.input_dir
    target = Path(out)
    check_outputs([truth.db, *([folder] if folder is not None else [])], [target])
    if config is None:
        config = PipelineConfig.from_dict(truth.config, f"{truth.db} (recorded config)") if (
            truth.config is not None
        ) else PipelineConfig()  # fmt: skip
    pipeline = cached_pipeline(json.dumps(config.to_dict(), sort_keys=True))
    (target / "images").mkdir(parents=True, exist_ok=True)
    summary = CorrectionsExport(target, len(truth.corrections), truth.illegible)
    rows: dict[str, list[dict[str, Any]]] = {}
    slugs: dict[str, str] = {}
    pages = truth.pages()
    with read_only(truth.db) as connection:
        for done, ((path, page_index), corrections) in enumerate(pages.items(), 1):
            document = f"{path}#{page_index}"
            try:
                page = load_page(truth.source(path, folder), page_index)
                cut = {crop.name: (crop, lines) for crop, lines in pipeline.field_lines(page)}
            except Exception as exc:  # noqa: BLE001 - one page never stops the export
                summary.unreadable.append(f"{document}: {type(exc).__name__}: {exc}")
            else:
                stored = _stored_lines(connection, path, page_index)
                slug = _slug(document, slugs)
                for correction in corrections:
                    written = _write_field(target, slug, correction, cut, stored, summary)
                    rows.setdefault(document, []).extend(
                        {"image": image, "text": text, "document": document,
                         "field": correction.name}
                        for image, text in written
                    )  # fmt: skip
            if progress is not None:
                progress(done, len(pages))
    _write_sets(target, rows, val_share, summary)
    summary.seconds = time.perf_counter() - start
    return summary


def _write_field(
    target: Path,
    slug: str,
    correction: Correction,
    cut: dict[str, tuple[Any, list[Any]]],
    stored: dict[str, list[str]],
    summary: CorrectionsExport,
) -> list[tuple[str, str]]:
    """Write a field's line images; ``[(image, text)]``, or ``[]`` with the reason counted."""
    texts, reason = _line_texts(correction, cut.get(correction.name), stored.get(correction.name))
    if texts is None:
        summary.skip(reason)
        return []
    _, lines = cut[correction.name]
    written = []
    for index, (text, image) in enumerate(zip(texts, lines, strict=True)):
        name = f"images/{slug}-{correction.name}-{index}.png"
        write_atomic(target / name, line_png(image))
        written.append((name, text))
    summary.fields_exported += 1
    return written


def _line_texts(
    correction: Correction, cut: tuple[Any, list[Any]] | None, machine: list[str] | None
) -> tuple[list[str] | None, str]:
    """Return the text of each cut line of a corrected field, or None and why not."""
    if cut is None:
        return None, "not in the template"
    crop, lines = cut
    if crop.kind not in TEXT_KINDS:
        return None, crop.kind
    if not correction.text.strip():
        return None, "empty text"
    if not lines:
        return None, "no line cut"
    if len(lines) == 1:
        return [correction.text], ""
    texts = (
        align_lines(machine, correction.text) if machine and len(machine) == len(lines) else None
    )
    return (texts, "") if texts is not None else (None, "several lines, alignment unknown")


def _stored_lines(
    connection: sqlite3.Connection, path: str, page_index: int
) -> dict[str, list[str]]:
    """Field name -> the machine's text of each line, from the page's stored result."""
    row = connection.execute(
        "SELECT result FROM pages WHERE path = ? AND page_index = ?", (path, page_index)
    ).fetchone()
    try:
        result = json.loads(row[0]) if row else {}
        return {
            f["name"]: [str(line.get("text", "")) for line in f.get("lines") or []]
            for f in result.get("fields", [])
        }
    except (ValueError, TypeError, KeyError, AttributeError):
        return {}


def _slug(document: str, taken: dict[str, str]) -> str:
    """Return a file-name-safe name of `document`, distinct from the other documents'."""
    base = re.sub(r"[^0-9A-Za-z._-]+", "_", document.replace("#", "-p")).strip("._-") or "page"
    slug = base
    if taken.get(slug, document) != document:
        slug = f"{base}-{hashlib.sha256(document.encode()).hexdigest()[:8]}"
    taken[slug] = document
    return slug


def _write_sets(
    target: Path,
    rows: dict[str, list[dict[str, Any]]],
    val_share: float,
    summary: CorrectionsExport,
) -> None:
    """Split `rows` by document and write ``train.jsonl`` and ``val.jsonl`` (atomically)."""
    val = split_documents([d for d, r in rows.items() if r], val_share)
    train_rows = [r for d, rs in rows.items() if d not in val for r in rs]
    val_rows = [r for d, rs in rows.items() if d in val for r in rs]
    write_atomic(target / "train.jsonl", jsonl_bytes(train_rows))
    write_atomic(target / "val.jsonl", jsonl_bytes(val_rows))
    summary.train_lines, summary.val_lines = len(train_rows), len(val_rows)
    summary.val_documents = len(val)
    summary.train_documents = sum(1 for d, r in rows.items() if r and d not in val)
