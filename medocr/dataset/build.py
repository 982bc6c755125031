"""Build a dataset: plan work items, build them in parallel, merge, deduplicate, card.

Layout of a dataset folder::

    build.json          the settings (a rerun with other settings is refused)
    shards/{level}/{split}/item-NNNNNN-PP.tfrecord   units (see medocr.dataset.shards)
    shards/line/{split}/item-NNNNNN.h48.npz          line units at the model height, raw
                                                     (the readers' cache; cache_height)
    items/item-NNNNNN.jsonl, items/item-NNNNNN.json  manifest part and done marker per item
    manifest.jsonl      one row per kept unit, in plan order (pandas.read_json(lines=True))
    duplicates.jsonl    rows of the units removed as exact duplicates (+ duplicate_of)
    build.log           JSONL: one entry per skipped input or failed item
    card.json, card.md  the dataset card

Work items run in this process (``workers=1``), in a process pool, or on a Dask cluster
(``scheduler``); a rerun skips finished items, so an interrupted build resumes. The
merge is sequential and streaming: rows are read item by item, exact duplicates (same
level, size and pixels, by SHA-256) are found with an on-disk SQLite index (the first in plan
order is kept; shards are immutable, readers skip the removed ids), and every document's
split is checked to be unique. Memory does not grow with the number of units.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from medocr._version import __version__
from medocr.dataset.card import CARD_JSON, CARD_MD, CardStats, render_card
from medocr.dataset.shards import BuildConfig, read_marker, run_item
from medocr.dataset.sources import Source, WorkItem, plan_items, source_documents
from medocr.dataset.splits import DEFAULT_SPLITS, SplitPlan, check_splits
from medocr.dataset.units import LEVELS
from medocr.errors import MedocrError
from medocr.fileio import open_atomic, write_atomic
from medocr.text import Alphabet

SETTINGS = "build.json"
SETTINGS_SCHEMA = "medocr-dataset-build/1"
CACHE_HEIGHT = 48  # the recognizer's default input height (medocr.training.recognizer)
OUTPUTS = ("manifest.jsonl", "duplicates.jsonl", "build.log", CARD_JSON, CARD_MD)


@dataclass
class BuildSummary:
    """What a :func:`build_dataset` run did."""

    out_dir: Path
    built: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    units: int = 0
    seconds: float = 0.0
    card: dict[str, Any] = field(default_factory=dict)


def build_dataset(
    out_dir: str | Path,
    sources: list[Source],
    *,
    seed: int = 0,
    splits: Iterable[tuple[str, float]] = DEFAULT_SPLITS,
    stratify: bool = False,
    levels: Iterable[str] = LEVELS,
    alphabet: Alphabet | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    item_size: int | None = None,
    max_shard_bytes: int = 64 << 20,
    cache_height: int | None = CACHE_HEIGHT,
    overwrite: bool = False,
    progress: Callable[[int, int, float], None] | None = None,
) -> BuildSummary:
    """Build (or resume building) a dataset from certificates, line sets and XML pages.

    Parameters
    ----------
    out_dir : str or Path
        Dataset folder (created).
    sources : list of Source
        Inputs (:meth:`Source.parse`).
    seed : int
        Split seed.
    splits : iterable of (str, float)
        Split names and ratios (normalised).
    stratify : bool
        Fit the split cut points per source (see :mod:`medocr.dataset.splits`).
    levels : iterable of str
        Levels to emit, among :data:`~medocr.dataset.units.LEVELS`.
    alphabet : Alphabet, optional
        Report the characters outside it in the card (nothing is dropped).
    workers : int
        Worker processes (1 = in this process).
    scheduler : str, optional
        Address of a Dask scheduler: run the work items on its cluster instead (the
        workers need medocr installed and `out_dir` and the inputs at the same paths).
    item_size : int, optional
        Inputs per work item (default per kind, see :data:`~medocr.dataset.sources.ITEM_SIZES`).
    max_shard_bytes : int
        Size past which a shard file is closed and a new one started.
    cache_height : int or None
        Also store the line units resized to this height, raw (about ``48 * W`` bytes a
        line at 48 px), which :func:`~medocr.dataset.readers.line_dataset` then streams
        without decoding PNGs when asked for this height; None: no cache.
    overwrite : bool
        Delete a previous build in `out_dir` (made with other settings) first.
    progress : callable, optional
        ``progress(done, total, seconds)`` after each work item.

    Returns
    -------
    BuildSummary

    Raises
    ------
    MedocrError
        Bad arguments, or `out_dir` holds a build made with other settings.
    """
    wanted = set(levels)
    if not sources or not wanted or wanted - set(LEVELS) or workers < 1:
        raise MedocrError(
            f"need at least one input, levels among {', '.join(LEVELS)} (got "
            f"{sorted(wanted)}) and workers >= 1 (got {workers})"
        )
    if cache_height is not None and not 8 <= cache_height <= 512:
        raise MedocrError(f"cache height {cache_height}: between 8 and 512 pixels, or None")
    levels = tuple(lvl for lvl in LEVELS if lvl in wanted)
    splits = check_splits(list(splits))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    items = plan_items(sources, item_size)
    settings = _settings(sources, seed, splits, stratify, levels, item_size, max_shard_bytes)
    settings["cache_height"] = cache_height
    _check_settings(out, settings, overwrite)
    config = BuildConfig(
        str(out.resolve()),
        _split_plan(sources, splits, seed, stratify),
        levels,
        max_shard_bytes,
        cache_height,
    )
    summary = BuildSummary(out)
    todo = []
    for item in items:
        if read_marker(out, item):
            summary.skipped.append(item.index)
        else:
            todo.append(item)
    began = time.perf_counter()
    for done, result in enumerate(_dispatch(todo, config, workers, scheduler), start=1):
        if "failed" in result:
            summary.failed[result["index"]] = result["failed"]
        else:
            summary.built.append(result["index"])
        if progress is not None:
            progress(done, len(todo), time.perf_counter() - began)
    summary.card = merge(out, items, settings, summary.failed, alphabet)
    summary.units = summary.card["total_units"]
    summary.seconds = time.perf_counter() - began
    return summary


def _split_plan(
    sources: list[Source], splits: tuple[tuple[str, float], ...], seed: int, stratify: bool
) -> SplitPlan:
    plan = SplitPlan.from_ratios(splits, seed)
    if not stratify:
        return plan
    documents: dict[str, dict[str, None]] = {s.name: {} for s in sources}
    for source in sources:  # sources sharing a name form one stratum
        documents[source.name].update(dict.fromkeys(source_documents(source)))
    return plan.stratified({k: list(v) for k, v in documents.items()}, [r for _, r in splits])


def _settings(
    sources: list[Source],
    seed: int,
    splits: tuple[tuple[str, float], ...],
    stratify: bool,
    levels: tuple[str, ...],
    item_size: int | None,
    max_shard_bytes: int,
) -> dict[str, Any]:
    return {
        "schema": SETTINGS_SCHEMA,
        "medocr_version": __version__,
        "sources": [asdict(s) for s in sources],
        "seed": seed,
        "splits": [list(p) for p in splits],
        "stratify": stratify,
        "levels": list(levels),
        "item_size": item_size,
        "max_shard_bytes": max_shard_bytes,
    }


def _check_settings(out: Path, settings: dict[str, Any], overwrite: bool) -> None:
    path = out / SETTINGS
    if path.exists() and overwrite:
        for name in ("shards", "items"):
            shutil.rmtree(out / name, ignore_errors=True)
        for name in OUTPUTS:
            (out / name).unlink(missing_ok=True)
    elif path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise MedocrError(
                f"{path}: unreadable build settings ({exc}); use --overwrite"
            ) from exc
        changed = sorted(k for k in settings if old.get(k) != settings[k])
        if changed:
            raise MedocrError(
                f"{out} holds a dataset built with other settings ({', '.join(changed)} "
                "differ): choose another folder, or --overwrite to rebuild it"
            )
    write_atomic(path, json.dumps(settings, indent=1, ensure_ascii=False).encode())


# ------------------------------------------------------------------------ dispatch


def _dispatch(
    todo: list[WorkItem], config: BuildConfig, workers: int, scheduler: str | None
) -> Iterator[dict[str, Any]]:
    if scheduler:
        yield from _run_dask(todo, config, scheduler)
    elif workers == 1 or len(todo) <= 1:
        for item in todo:
            yield run_item(item, config)
    else:
        yield from _run_pool(todo, config, workers)


def _bounded(
    todo: list[WorkItem],
    submit: Callable[[WorkItem], Any],
    wait_first: Callable[[set[Any]], tuple[set[Any], set[Any]]],
    limit: int,
) -> Iterator[dict[str, Any]]:
    """Keep at most `limit` items in flight; yield results as they finish."""
    queue = iter(todo)
    owner: dict[Any, WorkItem] = {}
    for item in queue:
        owner[submit(item)] = item
        if len(owner) >= limit:
            break
    pending = set(owner)
    while pending:
        finished, pending = wait_first(pending)
        for future in finished:
            item = owner.pop(future)
            try:
                yield future.result()
            except Exception as exc:  # a worker died (killed, out of memory...)
                yield {"index": item.index, "failed": f"{type(exc).__name__}: {exc}"}
            nxt = next(queue, None)
            if nxt is not None:
                new = submit(nxt)
                owner[new] = nxt
                pending.add(new)


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)


def _run_pool(todo: list[WorkItem], config: BuildConfig, workers: int) -> Iterator[dict[str, Any]]:
    context = get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker) as pool:

        def first(pending: set[Any]) -> tuple[set[Any], set[Any]]:
            done, rest = wait(pending, return_when=FIRST_COMPLETED)
            return set(done), set(rest)

        try:
            yield from _bounded(
                todo, lambda i: pool.submit(run_item, i, config), first, 2 * workers
            )
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _run_dask(todo: list[WorkItem], config: BuildConfig, address: str) -> Iterator[dict[str, Any]]:
    try:
        from distributed import Client
        from distributed import wait as dask_wait
    except ImportError as exc:
        raise MedocrError(
            "--scheduler needs dask.distributed: pip install 'dask[distributed]'"
        ) from exc
    token = uuid.uuid4().hex[:12]
    try:
        client = Client(address, timeout="20s")  # the default client of dask_wait while open
    except (OSError, TimeoutError) as exc:
        raise MedocrError(f"cannot reach the Dask scheduler at {address} ({exc})") from exc
    with client:
        threads = max(1, sum(client.nthreads().values()))

        def submit(item: WorkItem) -> Any:
            return client.submit(
                run_item, item, config, pure=False, key=f"medocr-dataset-{token}-{item.key}"
            )

        def first(pending: set[Any]) -> tuple[set[Any], set[Any]]:
            done = dask_wait(list(pending), return_when="FIRST_COMPLETED")
            return set(done.done), set(done.not_done)

        yield from _bounded(todo, submit, first, 2 * threads)


# --------------------------------------------------------------------------- merge


def merge(
    out: Path,
    items: list[WorkItem],
    settings: dict[str, Any],
    failed: dict[int, str],
    alphabet: Alphabet | None = None,
) -> dict[str, Any]:
    """Merge the items' manifest parts: deduplicate, check splits, write log and card.

    Returns
    -------
    dict
        The card (also written to ``card.json`` and ``card.md``).
    """
    stats = CardStats(alphabet)
    index_path = out / ".merge.sqlite"
    index_path.unlink(missing_ok=True)
    db = sqlite3.connect(index_path)
    try:
        db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
            "CREATE TABLE seen (level TEXT, sha TEXT, id TEXT, split TEXT,"
            " PRIMARY KEY (level, sha)) WITHOUT ROWID;"
            "CREATE TABLE writers (document TEXT PRIMARY KEY, split TEXT) WITHOUT ROWID;"
        )
        with (  # each file is renamed in place once the whole merge succeeded
            open_atomic(out / "manifest.jsonl", "w", encoding="utf-8") as manifest,
            open_atomic(out / "duplicates.jsonl", "w", encoding="utf-8") as duplicates,
            open_atomic(out / "build.log", "w", encoding="utf-8") as log,
        ):
            conflicts = 0
            for item in items:
                conflicts += _merge_item(out, item, db, stats, failed, manifest, duplicates, log)
            query = "SELECT split, COUNT(*) FROM writers GROUP BY split"
            writers = dict(db.execute(query).fetchall())
    finally:
        db.close()
        index_path.unlink(missing_ok=True)
    card = stats.to_card(writers, conflicts, settings)
    write_atomic(out / CARD_JSON, json.dumps(card, indent=1, ensure_ascii=False).encode())
    write_atomic(out / CARD_MD, render_card(card).encode())
    return card


def _merge_item(
    out: Path,
    item: WorkItem,
    db: sqlite3.Connection,
    stats: CardStats,
    failed: dict[int, str],
    manifest: Any,
    duplicates: Any,
    log: Any,
) -> int:
    """Merge one item's rows; return the number of documents seen in two splits."""
    marker = read_marker(out, item)
    if marker is None:
        reason = failed.get(item.index, "not built (interrupted?)")
        entry = {
            "item": item.index,
            "source": item.source,
            "ref": item.key,
            "kind": "item",
            "reason": reason,
        }
        log.write(json.dumps(entry, ensure_ascii=False) + "\n")
        stats.failed_items += 1
        return 0
    for entry in marker["errors"]:
        log.write(json.dumps(entry, ensure_ascii=False) + "\n")
        stats.error(entry)
    conflicts, last = 0, None
    with open(out / "items" / f"{item.key}.jsonl", encoding="utf-8") as rows:
        for raw in rows:
            row = json.loads(raw)
            cursor = db.execute(
                "INSERT OR IGNORE INTO seen VALUES (?, ?, ?, ?)",
                (row["level"], row["sha256"], row["id"], row["split"]),
            )
            if cursor.rowcount == 0:
                first_id, first_split = db.execute(
                    "SELECT id, split FROM seen WHERE level = ? AND sha = ?",
                    (row["level"], row["sha256"]),
                ).fetchone()
                row["duplicate_of"] = first_id
                duplicates.write(json.dumps(row, ensure_ascii=False) + "\n")
                stats.duplicate(row, first_split != row["split"])
                continue
            if (row["document"], row["split"]) != last:
                conflicts += _check_writer(db, row["document"], row["split"])
                last = (row["document"], row["split"])
            manifest.write(raw if raw.endswith("\n") else raw + "\n")
            stats.add(row)
    return conflicts


def _check_writer(db: sqlite3.Connection, document: str, split: str) -> int:
    cursor = db.execute("INSERT OR IGNORE INTO writers VALUES (?, ?)", (document, split))
    if cursor.rowcount:
        return 0
    (known,) = db.execute("SELECT split FROM writers WHERE document = ?", (document,)).fetchone()
    return int(known != split)
