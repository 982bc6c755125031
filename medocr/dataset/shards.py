"""Building one work item: its units go to TFRecord shards and a JSONL manifest part.

Files of item ``item-000042`` (under the dataset folder)::

    shards/{level}/{split}/item-000042-00.tfrecord   # one Example per unit; a new part
                                                     # (-01, -02...) past max_shard_bytes
    shards/line/{split}/item-000042.h48.npz          # fixed-height copies of its line
                                                     # units (with cache_height=48)
    items/item-000042.jsonl                          # one manifest row per unit
    items/item-000042.json                           # done marker, written last

Every file is written under a temporary name and renamed when complete
(:func:`medocr.fileio.open_atomic`); the marker
lists the item's files, its unit counts and its per-input errors. An item is finished
when its marker matches its spec and all the files it lists exist, so a rerun skips it;
nothing of a finished item is ever rewritten.

Example features: ``id``, ``image`` (PNG bytes), ``text`` (UTF-8), ``level``, ``split``
(bytes) and ``width``, ``height`` (int64).

The line cache holds every line unit of the item (duplicates found later by the merge
included, as in the shards), resized as the readers resize it and stored raw in a
packed line file (:mod:`medocr.dataset.packed`), so that
:func:`medocr.dataset.readers.line_dataset` streams it without decoding a PNG.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medocr.dataset.packed import RawLineWriter, cache_name, fixed_height
from medocr.dataset.sources import WorkItem, input_units, item_inputs
from medocr.dataset.splits import SplitPlan
from medocr.dataset.tfrecord import encode_example, frame
from medocr.dataset.units import BadInput, Unit, encode_png, image_hash
from medocr.fileio import AtomicFile, open_atomic, write_atomic

MARKER_SCHEMA = "medocr-dataset-item/1"
DEFAULT_SHARD_BYTES = 64 << 20
CACHED_LEVELS = ("line",)


@dataclass(frozen=True)
class BuildConfig:
    """What every work item needs to know (sent to each worker).

    Parameters
    ----------
    out_dir : str
        Dataset folder (shared storage when workers run on other machines).
    splits : SplitPlan
        Document -> split assignment.
    levels : tuple of str
        Levels to emit.
    max_shard_bytes : int
        A shard file is closed and a new part opened once it exceeds this size.
    cache_height : int or None
        Also write the item's line units resized to this height (None: no cache).
    """

    out_dir: str
    splits: SplitPlan
    levels: tuple[str, ...]
    max_shard_bytes: int = DEFAULT_SHARD_BYTES
    cache_height: int | None = None


def marker_path(out: Path, item: WorkItem) -> Path:
    """Path of an item's done marker."""
    return out / "items" / f"{item.key}.json"


def read_marker(out: Path, item: WorkItem) -> dict[str, Any] | None:
    """Return the item's done marker when the item is finished, else None."""
    try:
        marker = json.loads(marker_path(out, item).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if marker.get("schema") != MARKER_SCHEMA or marker.get("spec") != item.to_dict():
        return None
    files = [*marker.get("files", []), f"items/{item.key}.jsonl"]
    return marker if all((out / f).is_file() for f in files) else None


@dataclass
class _Open:
    file: AtomicFile
    name: str  # relative to the dataset folder
    size: int = 0


class _Shards:
    """The open shard files of one item, one per (level, split), rolled at a size."""

    def __init__(self, out: Path, key: str, max_bytes: int) -> None:
        self.out, self.key, self.max_bytes = out, key, max_bytes
        self.open: dict[tuple[str, str], _Open] = {}
        self.files: list[str] = []

    def write(self, level: str, split: str, record: bytes) -> str:
        """Append a record; return the shard's path relative to the dataset folder."""
        slot = (level, split)
        if slot in self.open and self.open[slot].size > self.max_bytes:
            self._close(self.open.pop(slot))
        if slot not in self.open:
            folder = f"shards/{level}/{split}"
            part = sum(f.startswith(folder + "/") for f in self.files)
            name = f"{folder}/{self.key}-{part:02d}.tfrecord"
            (self.out / folder).mkdir(parents=True, exist_ok=True)
            self.open[slot] = _Open(open_atomic(self.out / name), name)  # closed by close()/abort()
            self.files.append(name)
        shard = self.open[slot]
        data = frame(record)
        shard.file.stream.write(data)
        shard.size += len(data)
        return shard.name

    def _close(self, shard: _Open) -> None:
        shard.file.commit()

    def close(self) -> None:
        """Close and publish every open shard."""
        for shard in self.open.values():
            self._close(shard)
        self.open.clear()

    def abort(self) -> None:
        """Close and delete the unfinished shards."""
        for shard in self.open.values():
            shard.file.discard()
        self.open.clear()


class _LineCache:
    """Fixed-height copies of one item's line units, one packed file per (level, split)."""

    def __init__(self, out: Path, key: str, source: str, height: int) -> None:
        self.out, self.key, self.source, self.height = out, key, source, height
        self.parts: dict[tuple[str, str], RawLineWriter] = {}

    def add(self, unit: Unit, split: str) -> None:
        """Keep `unit`'s fixed-height copy (see :func:`medocr.dataset.packed.fixed_height`)."""
        slot = (unit.level, split)
        if slot not in self.parts:
            self.parts[slot] = RawLineWriter(self.height, self.source, split, self.out)
        line = fixed_height(unit.image, self.height)
        self.parts[slot].add(line, unit.text, unit.document, unit.id)

    def write(self) -> list[str]:
        """Write every part; return their paths relative to the dataset folder."""
        names = []
        for (level, split), part in sorted(self.parts.items()):
            name = cache_name(f"shards/{level}/{split}", self.key, self.height)
            (self.out / name).parent.mkdir(parents=True, exist_ok=True)
            with open_atomic(self.out / name) as stream:
                part.write(stream)
            names.append(name)
        self.close()
        return names

    def close(self) -> None:
        """Drop the temporary pixel files."""
        for part in self.parts.values():
            part.close()
        self.parts.clear()


def run_item(item: WorkItem, config: BuildConfig) -> dict[str, Any]:
    """Build one work item (in a worker process); never raises.

    Returns
    -------
    dict
        ``{"index", "units", "errors"}``, or ``{"index", "failed": reason}`` when the
        item could not be written at all (then it has no marker and a rerun retries it).
    """
    try:
        return _build_item(item, config)
    except Exception as exc:  # one item's failure must not stop the build
        return {"index": item.index, "failed": f"{type(exc).__name__}: {exc}"}


def _build_item(item: WorkItem, config: BuildConfig) -> dict[str, Any]:
    out = Path(config.out_dir)
    (out / "items").mkdir(parents=True, exist_ok=True)
    shards = _Shards(out, item.key, config.max_shard_bytes)
    height = config.cache_height
    cache = _LineCache(out, item.key, item.source, height) if height else None
    rows = open_atomic(out / "items" / f"{item.key}.jsonl", "w", encoding="utf-8")
    counts: Counter[str] = Counter()
    errors: list[dict[str, Any]] = []
    try:
        for ref, value in item_inputs(item):
            for unit in _input_units(item, ref, value, config.levels, errors):
                row = _store(unit, item, config.splits, shards)
                if cache is not None and unit.level in CACHED_LEVELS:
                    cache.add(unit, row["split"])
                rows.stream.write(json.dumps(row, ensure_ascii=False) + "\n")
                counts[unit.level] += 1
        shards.close()
        cached = cache.write() if cache is not None else []
        rows.commit()
    except BaseException:
        shards.abort()
        rows.discard()
        if cache is not None:
            cache.close()
        raise
    marker = {
        "schema": MARKER_SCHEMA,
        "spec": item.to_dict(),
        "units": dict(counts),
        "errors": errors,
        "files": shards.files + cached,
    }
    write_atomic(marker_path(out, item), json.dumps(marker, ensure_ascii=False).encode())
    return {"index": item.index, "units": sum(counts.values()), "errors": len(errors)}


def _input_units(
    item: WorkItem, ref: str, value: Any, levels: tuple[str, ...], errors: list[dict[str, Any]]
) -> list[Unit]:
    """Units of one input; a bad input becomes an entry of `errors` and no units."""
    try:
        return input_units(item, value, levels)
    except BadInput as exc:
        kind, reason = exc.kind, exc.reason
    except Exception as exc:  # an unforeseen failure on one input must not stop the item
        kind, reason = "unexpected", f"{type(exc).__name__}: {exc}"
    errors.append(
        {"item": item.index, "source": item.source, "ref": ref, "kind": kind, "reason": reason}
    )
    return []


def _store(unit: Unit, item: WorkItem, splits: SplitPlan, shards: _Shards) -> dict[str, Any]:
    """Write a unit to its shard and return its manifest row."""
    split = splits.split_of(unit.document, item.source)
    png = unit.png or encode_png(unit.image)
    height, width = unit.image.shape
    record = encode_example(
        {
            "id": unit.id,
            "image": png,
            "text": unit.text,
            "level": unit.level,
            "split": split,
            "width": int(width),
            "height": int(height),
        }
    )
    shard = shards.write(unit.level, split, record)
    return {
        **unit.row(),
        "split": split,
        "sha256": image_hash(unit.image),
        "bytes": len(png),
        "shard": shard,
        "item": item.index,
    }
