"""Readers of units: JSONL line sets or built datasets in, ``tf.data`` or numpy out.

A line set is a JSONL file with one ``{"image": relative/path.png, "text": "...",
"document": "writer-or-document-id"}`` row per line (the format of ``../shared/data`` and
of ``medocr synth-lines``). Bad rows are reported with their line number and skipped.
A built dataset (:mod:`medocr.dataset.build`) is read from its TFRecord shards.

The ``tf.data`` pipeline (:func:`line_dataset`, over either kind) decodes in parallel,
resizes to the model height keeping the aspect ratio, applies an optional augmentation,
encodes the label with an :class:`~medocr.text.Alphabet`, and batches by
width buckets. Over a built dataset that holds a line cache at the requested height
(:func:`cache_files`), it streams the cached fixed-height lines instead, batched the
same way in numpy (the same images and labels, about ten times faster). The numpy
readers (:func:`iter_units`, :func:`char_arrays`) need no TensorFlow.
"""

from __future__ import annotations

import atexit
import json
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from medocr.dataset.card import card_alphabet, load_card
from medocr.dataset.packed import PackedLines, cache_name
from medocr.dataset.tfrecord import decode_example, read_records
from medocr.dataset.units import CHAR_SIZE, char_array
from medocr.errors import MedocrError
from medocr.recognize.crnn import frame_count, prepare_line
from medocr.text import Alphabet, normalize_text

WIDTH_BUCKETS = (128, 256, 384, 512, 640, 768, 1024, 1280, 1536)
MAX_WIDTH = 2048
SHUFFLE_BUFFER = 4096
PREFETCH = 4  # cached batches built ahead (a fixed buffer: see _Batches)


@dataclass(frozen=True)
class LineRecord:
    """One line unit: where its image is, its text, who wrote it, and its optional font."""

    image: str
    text: str
    document: str
    source: str
    font: str | None = None
    origin: str | None = None


@dataclass
class LineSet:
    """Records read from one JSONL file, and the rows that were refused."""

    name: str
    records: list[LineRecord] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def read_line_set(path: str | Path, name: str | None = None) -> LineSet:
    """Read a JSONL line set; image paths are resolved relative to the file's folder.

    Parameters
    ----------
    path : str or Path
        The JSONL file.
    name : str, optional
        Source name recorded in each record (default: the parent folder's name).

    Returns
    -------
    LineSet
        Refused rows appear in ``errors`` as ``"FILE:LINE: reason"``.
    """
    path = Path(path)
    result = LineSet(name or path.parent.name)
    with open(path, encoding="utf-8") as stream:
        for number, raw in enumerate(stream, start=1):
            if not raw.strip():
                continue
            try:
                result.records.append(parse_row(raw, path.parent, result.name, number))
            except ValueError as exc:
                result.errors.append(f"{path}:{number}: {exc}")
    return result


def parse_row(raw: str | bytes, folder: Path, name: str, number: int) -> LineRecord:
    """Parse one JSONL row of a line set.

    Parameters
    ----------
    raw : str or bytes
        The row.
    folder : Path
        Folder of the JSONL file (image paths are relative to it).
    name : str
        Source name.
    number : int
        1-based line number in the file (default document ``{name}-{number}``).

    Returns
    -------
    LineRecord
        Text normalised; ``origin`` from the row, else ``"synthetic"`` when the row names
        a font (rows of ``medocr synth-lines``), else ``"real"``.

    Raises
    ------
    ValueError
        Malformed row (message ``malformed row (reason)``).
    """
    try:
        row = json.loads(raw)
        image, text = str(row["image"]), normalize_text(str(row["text"]))
        font = row.get("font")
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed row ({type(exc).__name__}: {exc})") from exc
    document = str(row.get("document", f"{name}-{number}"))
    origin = str(row.get("origin") or ("synthetic" if font else "real"))
    return LineRecord(str(folder / image), text, document, name, font, origin)


def load_line(record: LineRecord) -> np.ndarray:
    """Read a record's image as uint8 ``(h, w)`` grayscale (OpenCV; raises ValueError)."""
    image = cv2.imread(record.image, cv2.IMREAD_GRAYSCALE)
    if image is None or image.size == 0:
        raise ValueError(f"{record.image}: unreadable image")
    return image


@dataclass
class EncodedLines:
    """Records whose text fits an alphabet, with their labels; the others counted by reason."""

    records: list[LineRecord]
    labels: list[list[int]]
    dropped: dict[str, int]


def encode_records(records: Sequence[LineRecord], alphabet: Alphabet) -> EncodedLines:
    """Encode texts with `alphabet`; drop (and count) empty texts and unknown characters."""
    kept, labels = [], []
    dropped = {"empty text": 0, "characters outside the alphabet": 0}
    for record in records:
        if not record.text.strip():
            dropped["empty text"] += 1
        elif alphabet.unknown(record.text):
            dropped["characters outside the alphabet"] += 1
        else:
            kept.append(record)
            labels.append(alphabet.encode(record.text))
    return EncodedLines(kept, labels, dropped)


def _prepared(
    image: np.ndarray | None,
    height: int,
    augment: Callable[..., np.ndarray] | None,
    seed: int,
) -> np.ndarray:
    if image is None or image.size == 0:
        return np.zeros((height, 0), np.float32)
    if augment is not None:
        image = augment(image, np.random.default_rng(seed))
    line = prepare_line(image, height)
    return line[:, :MAX_WIDTH]


def _read_path(payload: bytes) -> np.ndarray | None:
    return cv2.imread(payload.decode(), cv2.IMREAD_GRAYSCALE)


def _read_png(payload: bytes) -> np.ndarray | None:
    return cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_GRAYSCALE)


@dataclass(frozen=True)
class ShardLines:
    """Units of one level and split of a built dataset, labelled with an alphabet.

    Parameters
    ----------
    files : tuple of str
        TFRecord shard files.
    alphabet : Alphabet
        Labels are encoded with it; units with characters outside it, or with an empty
        text, are skipped by :func:`line_dataset`.
    skip_ids : frozenset of str
        Ids of units removed as duplicates (still present in the shards).
    count : int
        Kept units in the files.
    """

    files: tuple[str, ...]
    alphabet: Alphabet
    skip_ids: frozenset[str]
    count: int


def shard_lines(
    dataset_dir: str | Path, split: str, alphabet: Alphabet | None = None, *, level: str = "line"
) -> ShardLines:
    """Select the line (or word, field) units of one split of a built dataset.

    Parameters
    ----------
    dataset_dir : str or Path
        Folder made by :func:`medocr.dataset.build.build_dataset`.
    split : str
        Split name (``train``, ``val``...).
    alphabet : Alphabet, optional
        Default: the dataset's own alphabet (from its card).
    level : str
        Unit level.

    Returns
    -------
    ShardLines
        For :func:`line_dataset`.

    Raises
    ------
    MedocrError
        Not a built dataset.
    """
    card = load_card(dataset_dir)
    entry = card["shards"].get(level, {}).get(split, {"files": [], "units": 0})
    files = tuple(str(Path(dataset_dir) / f) for f in entry["files"])
    skip = frozenset(_duplicate_ids(Path(dataset_dir), level, split))
    return ShardLines(files, alphabet or card_alphabet(card), skip, int(entry["units"]))


def cache_files(lines: ShardLines, height: int) -> list[str] | None:
    """Find the fixed-height cache files of `lines` at `height`, in shard order.

    Parameters
    ----------
    lines : ShardLines
        Units of a built dataset (:func:`shard_lines`).
    height : int
        Line height wanted.

    Returns
    -------
    list of str or None
        One file per work item (see :mod:`medocr.dataset.shards`); None when the
        dataset has no cache at this height (or lacks a part of it).
    """
    found: dict[str, None] = {}
    for shard in map(Path, lines.files):
        if shard.suffix != ".tfrecord" or "-" not in shard.name:
            return None
        found[cache_name(str(shard.parent), shard.name.rsplit("-", 1)[0], height)] = None
    if not found or not all(Path(path).is_file() for path in found):
        return None
    return list(found)


def _duplicate_ids(dataset_dir: Path, level: str, split: str) -> Iterator[str]:
    path = dataset_dir / "duplicates.jsonl"
    if not path.exists():
        return
    with open(path, encoding="utf-8") as stream:
        for raw in stream:
            row = json.loads(raw)
            if row["level"] == level and row["split"] == split:
                yield row["id"]


def _record_source(encoded: EncodedLines) -> Any:
    """``(path, label, index)`` elements of a list of records."""
    import tensorflow as tf

    paths = [r.image for r in encoded.records]
    ragged = tf.ragged.constant(encoded.labels, dtype=tf.int32, ragged_rank=1)
    return tf.data.Dataset.from_tensor_slices((paths, ragged, np.arange(len(paths))))


def _shard_source(lines: ShardLines, training: bool, seed: int) -> Any:
    """``(png bytes, label, index)`` elements of TFRecord shards (parsed 256 at a time)."""
    import tensorflow as tf

    files = tf.data.Dataset.from_tensor_slices(tf.constant(list(lines.files), tf.string))
    if training:
        files = files.shuffle(max(len(lines.files), 1), seed=seed, reshuffle_each_iteration=True)
    data = files.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(4, max(len(lines.files), 1)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=not training,
    )
    parse = _batch_parser(lines)
    data = data.batch(256).map(parse, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    if training:
        data = data.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
    return data


def _batch_parser(lines: ShardLines) -> Callable[[Any], tuple[Any, Any, Any]]:
    """Parse serialised units ``(N,)``; keep those not skipped whose text fits the alphabet.

    Returns ``(png bytes (n,), labels (n, None) ragged int32, zeros (n,) int64)``.
    """
    import tensorflow as tf

    spec = {k: tf.io.FixedLenFeature([], tf.string) for k in ("id", "image", "text")}
    keys = tf.constant(list(lines.alphabet.chars), tf.string)
    chars = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(keys, tf.range(tf.size(keys), dtype=tf.int32)), -1
    )
    skip_ids = tf.constant(sorted(lines.skip_ids) or [""], tf.string)
    skip = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(skip_ids, tf.ones_like(skip_ids, tf.int32)), 0
    )

    def parse(records: Any) -> tuple[Any, Any, Any]:
        units = tf.io.parse_example(records, spec)
        labels = tf.ragged.map_flat_values(
            chars.lookup, tf.strings.unicode_split(units["text"], "UTF-8")
        )
        fits = tf.equal(tf.reduce_sum(tf.cast(labels < 0, tf.int32), axis=1), 0)
        keep = tf.logical_and(fits, tf.equal(skip.lookup(units["id"]), 0))
        images = tf.boolean_mask(units["image"], keep)
        # No stable index here: augmentation noise is seeded by the call counter alone.
        index = tf.zeros_like(images, tf.int64)
        return images, tf.ragged.boolean_mask(labels, keep), index

    return parse


class CachedLines:
    """The usable lines of a built dataset's fixed-height cache, batched in numpy.

    Lines are kept as :func:`line_dataset` keeps them: not removed as duplicates, a
    non-empty text inside the alphabet, enough frames for CTC.

    Parameters
    ----------
    lines : ShardLines
        Units of a built dataset: alphabet and duplicate ids.
    paths : list of str
        Its cache files at one height (:func:`cache_files`), mapped from disk.

    Raises
    ------
    MedocrError
        A cache file is not a raw packed line file of one height with unit ids.
    """

    def __init__(self, lines: ShardLines, paths: Sequence[str]) -> None:
        self.parts = [PackedLines.load(path, mmap=True) for path in paths]
        bad = [
            path
            for path, part in zip(paths, self.parts, strict=True)
            if part.image_format != "raw" or part.ids is None
            or part.height != self.parts[0].height
        ]  # fmt: skip
        if bad:
            raise MedocrError(f"{bad[0]}: not a raw line cache of the dataset's height")
        self.height = self.parts[0].height if self.parts else 0
        index = {c: i for i, c in enumerate(lines.alphabet.chars)}
        refs, widths, self.labels = [], [], []
        for number, part in enumerate(self.parts):
            rows = zip(np.asarray(part.ids, str), part.texts, part.widths, strict=True)
            for row, (uid, text, width) in enumerate(rows):
                label = [index.get(c, -1) for c in str(text)]
                if str(uid) not in lines.skip_ids and _ctc_usable(int(width), label):
                    refs.append((number, row))
                    widths.append(int(width))
                    self.labels.append(label)
        self.refs = np.array(refs, np.int64).reshape(-1, 2)  # (N, 2): file, line in it
        self.widths = np.array(widths, np.int32)

    def __len__(self) -> int:
        return len(self.widths)

    def plan(self, batch_size: int, *, training: bool, seed: int = 0) -> Iterator[list[int]]:
        """Yield the line numbers of each batch, grouped by width bucket as line_dataset does.

        In order, a batch is emitted when its bucket is full, then the partial buckets
        from the narrowest; in training, the lines are shuffled at each pass, forever,
        and partial buckets wait for the next pass.
        """
        buckets = np.searchsorted(np.array(WIDTH_BUCKETS), self.widths, side="right")
        pending: list[list[int]] = [[] for _ in range(len(WIDTH_BUCKETS) + 1)]
        rng = np.random.default_rng(seed)
        while len(self):
            order = rng.permutation(len(self)) if training else range(len(self))
            for line in order:
                group = pending[buckets[line]]
                group.append(int(line))
                if len(group) == batch_size:
                    yield list(group)
                    group.clear()
            if not training:
                break
        for group in pending:
            if group and not training:
                yield group

    def batch_count(self, batch_size: int) -> int:
        """Count the batches of one ordered pass."""
        buckets = np.searchsorted(np.array(WIDTH_BUCKETS), self.widths, side="right")
        sizes = np.bincount(buckets, minlength=len(WIDTH_BUCKETS) + 1)
        return int(np.sum(-(-sizes // batch_size)))

    def batches(
        self, batch_size: int, *, training: bool, seed: int = 0
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Yield the padded batches of :meth:`plan` (see :meth:`batch`)."""
        for members in self.plan(batch_size, training=training, seed=seed):
            yield self.batch(members)

    def batch(self, members: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Build the padded batch of the usable lines `members`.

        Returns
        -------
        tuple of numpy.ndarray
            ``(images (B, H, W, 1) float32 ink, widths (B,) int32, labels (B, L) int32
            padded with -1)``, ``W`` the widest line and ``L`` the longest label.
        """
        widths = self.widths[list(members)]
        paper = np.full((len(members), self.height, int(widths.max()), 1), 255, np.uint8)
        labels = np.full((len(members), max(len(self.labels[i]) for i in members)), -1, np.int32)
        for row, line in enumerate(members):
            number, index = self.refs[line]
            part, width = self.parts[number], int(widths[row])
            start = int(part.offsets[index])
            pixels = part.jpeg[start : start + self.height * width]
            paper[row, :, :width, 0] = pixels.reshape(self.height, width)
            labels[row, : len(self.labels[line])] = self.labels[line]
        return _ink(paper), widths, labels


def _ink(paper: np.ndarray) -> np.ndarray:
    """float32 ``1 - paper / 255`` (as prepare_line computes it; 255 padding gives 0).

    Computed in place in a 64-byte aligned array, which TensorFlow then takes over
    without copying it (a copy of each batch costs more than building it).
    """
    size = paper.size * 4
    raw = np.empty(size + 64, np.uint8)
    start = -raw.ctypes.data % 64
    ink = raw[start : start + size].view(np.float32).reshape(paper.shape)
    ink[...] = paper
    ink /= np.float32(255.0)
    np.subtract(np.float32(1.0), ink, out=ink)
    return ink


def _ctc_usable(width: int, label: list[int]) -> bool:
    """Whether a line enters a batch: known characters, and a frame for each (and repeats)."""
    if width <= 0 or not label or min(label) < 0:
        return False
    repeats = sum(a == b for a, b in zip(label, label[1:], strict=False))
    return bool(frame_count(width) >= len(label) + repeats)


class _Batches:
    """Batch `i` of a cache pass, built on demand (for ``tf.data``; thread-safe).

    Batches are drawn from :meth:`CachedLines.plan` in order and forgotten once built;
    asking again for one already built (a new iterator over the dataset) restarts the
    plan, which is deterministic, so every iterator sees the same batches.

    Once closed (at interpreter exit, see :func:`_close_at_exit`), it answers empty
    batches at once: a numpy function still running in a ``tf.data`` thread when
    Python finalises hangs or aborts the process, so the prefetch buffers are left
    full and their threads idle before that.
    """

    def __init__(self, cached: CachedLines, batch_size: int, training: bool, seed: int) -> None:
        self.cached, self.settings = cached, (batch_size, training, seed)
        self.lock = threading.Lock()
        self.closed, self.busy, self.last_call = False, 0, 0.0
        self._restart()
        _OPEN_BATCHES.add(self)

    def _restart(self) -> None:
        batch_size, training, seed = self.settings
        self.plan = self.cached.plan(batch_size, training=training, seed=seed)
        self.drawn: dict[int, list[int]] = {}
        self.next = 0

    def __call__(self, index: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        index = int(index)
        with self.lock:
            self.last_call = time.monotonic()
            if self.closed:
                return _empty_batch(self.cached.height)
            if index < self.next and index not in self.drawn:
                self._restart()
            while index >= self.next:
                self.drawn[self.next] = next(self.plan)
                self.next += 1
            members = self.drawn.pop(index)
            self.busy += 1
        try:
            return self.cached.batch(members)
        finally:
            with self.lock:
                self.busy -= 1
                self.last_call = time.monotonic()

    def close(self, quiet: float = 0.05, limit: float = 2.0) -> None:
        """Answer empty batches from now on; wait until no call came for `quiet` seconds."""
        with self.lock:
            self.closed = True
        end = time.monotonic() + limit
        while time.monotonic() < end:
            with self.lock:
                idle = not self.busy and time.monotonic() - self.last_call >= quiet
            if idle:
                return
            time.sleep(quiet / 5)


def _empty_batch(height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.zeros((0, height, 0, 1), np.float32),
        np.zeros(0, np.int32),
        np.zeros((0, 0), np.int32),
    )


_OPEN_BATCHES: weakref.WeakSet[_Batches] = weakref.WeakSet()


@atexit.register
def _close_at_exit() -> None:
    """Quiet every cache pipeline before Python finalises (see :class:`_Batches`)."""
    for batches in list(_OPEN_BATCHES):
        batches.close()


def _cached_dataset(
    lines: ShardLines, paths: list[str], batch_size: int, training: bool, seed: int
) -> Any:
    """Stream cached lines through ``tf.data``: batch numbers mapped by a numpy function.

    (Not ``Dataset.from_generator``: a half-read one hangs the interpreter at exit.)
    """
    import tensorflow as tf

    cached = CachedLines(lines, paths)
    if training and not len(cached):
        raise MedocrError(f"{paths[0]}...: no line to train on (none fits the alphabet and CTC)")
    batches = _Batches(cached, batch_size, training, seed)
    numbers = (
        tf.data.Dataset.counter()
        if training
        else tf.data.Dataset.range(cached.batch_count(batch_size))
    )

    def build(number: Any) -> tuple[Any, Any, Any]:
        images, widths, labels = tf.numpy_function(
            batches, [number], (tf.float32, tf.int32, tf.int32), stateful=True
        )
        images = tf.ensure_shape(images, (None, cached.height, None, 1))
        return images, tf.ensure_shape(widths, (None,)), tf.ensure_shape(labels, (None, None))

    return numbers.map(build).prefetch(PREFETCH)


def line_dataset(
    encoded: EncodedLines | ShardLines,
    height: int,
    batch_size: int,
    *,
    training: bool,
    augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
    seed: int = 0,
    cache: bool = True,
) -> Any:
    """Build a ``tf.data.Dataset`` of padded batches.

    Parameters
    ----------
    encoded : EncodedLines or ShardLines
        Records and labels (see :func:`encode_records`), or the units of a built
        dataset (see :func:`shard_lines`).
    height : int
        Model input height.
    batch_size : int
        Lines per batch.
    training : bool
        Shuffle, repeat forever and augment; otherwise one ordered pass.
    augment : callable, optional
        ``augment(uint8 image, rng) -> uint8 image`` applied before resizing (training).
    seed : int
        Shuffle and augmentation seed.
    cache : bool
        Stream the dataset's fixed-height line cache when it has one at `height`
        (:class:`ShardLines` only, and not when training with `augment`, which works
        on the stored resolution): the same images and labels without decoding PNGs,
        batched the same way; lines in shard order rather than interleaved, and in
        training shuffled over the whole split. False: always decode the PNGs.

    Returns
    -------
    tf.data.Dataset
        Elements ``(images (B, H, W, 1) float32 ink, widths (B,) int32, labels (B, L)
        int32 padded with -1)``. Unreadable images, empty labels, and lines too narrow
        for their label (fewer frames than characters plus repeated pairs, which CTC
        cannot align) are skipped.
    """
    import tensorflow as tf

    if isinstance(encoded, ShardLines) and cache and not (training and augment is not None):
        paths = cache_files(encoded, height)
        if paths is not None:
            return _cached_dataset(encoded, paths, batch_size, training, seed)
    if isinstance(encoded, ShardLines):
        data, read = _shard_source(encoded, training, seed), _read_png
    else:
        data, read = _record_source(encoded), _read_path
        if training:
            data = data.shuffle(len(encoded.records), seed=seed, reshuffle_each_iteration=True)
    if training:
        data = data.repeat()
    counter = iter(range(1 << 62))

    def load(payload: Any, index: Any) -> np.ndarray:
        noise_seed = seed * 1_000_003 + int(index) * 7919 + (next(counter) if training else 0)
        return _prepared(read(payload), height, augment if training else None, noise_seed)

    def decode(payload: Any, label: Any, index: Any) -> tuple[Any, Any, Any]:
        image = tf.numpy_function(load, [payload, index], tf.float32, stateful=training)
        image = tf.reshape(image, (height, -1, 1))
        return image, tf.shape(image)[1], label

    data = data.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)

    def usable(image: Any, width: Any, label: Any) -> Any:
        # CTC needs a frame per character plus a blank between repeated characters.
        repeats = tf.reduce_sum(tf.cast(label[1:] == label[:-1], tf.int32))
        fits = frame_count(width) >= tf.shape(label)[0] + repeats
        return tf.logical_and(tf.logical_and(width > 0, tf.size(label) > 0), fits)

    data = data.filter(usable)
    bucket = tf.data.experimental.bucket_by_sequence_length(
        lambda image, width, label: width,
        list(WIDTH_BUCKETS),
        [batch_size] * (len(WIDTH_BUCKETS) + 1),
        padded_shapes=([height, None, 1], [], [None]),
        padding_values=(0.0, 0, -1),
        drop_remainder=training,
        pad_to_bucket_boundary=False,
    )
    return data.apply(bucket).prefetch(tf.data.AUTOTUNE)


def frames_for(widths: np.ndarray) -> np.ndarray:
    """Frame counts ``(B,)`` of a batch of input widths ``(B,)`` (see :func:`frame_count`)."""
    return np.asarray(frame_count(np.asarray(widths)), np.int32)


# ------------------------------------------------------------------ numpy readers


@dataclass(frozen=True, eq=False)
class UnitImage:
    """A unit read back from a built dataset: id, uint8 ``(H, W)`` image and text."""

    id: str
    image: np.ndarray
    text: str


def iter_units(dataset_dir: str | Path, split: str, level: str = "line") -> Iterator[UnitImage]:
    """Yield the units of one level and split of a built dataset, decoded, in shard order.

    No TensorFlow is imported. Duplicates removed at build time are skipped.

    Parameters
    ----------
    dataset_dir : str or Path
        Folder made by :func:`medocr.dataset.build.build_dataset`.
    split : str
        Split name.
    level : str
        Unit level (``certificate``, ``field``, ``line``, ``word``, ``char``).

    Yields
    ------
    UnitImage

    Raises
    ------
    MedocrError
        Not a built dataset, or a corrupt shard.
    """
    card = load_card(dataset_dir)
    folder = Path(dataset_dir)
    skip = set(_duplicate_ids(folder, level, split))
    entry = card["shards"].get(level, {}).get(split, {"files": []})
    for name in entry["files"]:
        for record in read_records(folder / name):
            example = decode_example(record)
            uid = _feature(example, "id").decode("utf-8")
            if uid in skip:
                continue
            png = np.frombuffer(_feature(example, "image"), np.uint8)
            image = cv2.imdecode(png, cv2.IMREAD_GRAYSCALE)
            if image is None:
                raise MedocrError(f"{folder / name}: unit {uid}: undecodable PNG")
            yield UnitImage(uid, image, _feature(example, "text").decode("utf-8"))


def _feature(example: dict[str, list[bytes] | list[int]], name: str) -> bytes:
    values = example.get(name) or [0]
    if not isinstance(values[0], bytes):
        raise ValueError(f"unit record without a {name!r} bytes feature")
    return values[0]


def char_arrays(
    dataset_dir: str | Path, split: str, size: int = CHAR_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """Return the labelled character units of a split as arrays for scikit-learn / LightGBM.

    Parameters
    ----------
    dataset_dir : str or Path
        A built dataset.
    split : str
        Split name.
    size : int
        Side of the square each character is fitted into (:func:`char_array`).

    Returns
    -------
    X : numpy.ndarray
        uint8 ``(N, size, size)``, dark ink on light paper.
    y : numpy.ndarray
        ``(N,)`` str labels (one character each). Character units without a label
        (segmented but not aligned with the text) are left out.
    """
    images, labels = [], []
    for unit in iter_units(dataset_dir, split, "char"):
        if len(unit.text) == 1:
            images.append(char_array(unit.image, size))
            labels.append(unit.text)
    X = np.stack(images) if images else np.zeros((0, size, size), np.uint8)  # noqa: N806
    return X, np.array(labels, dtype="<U1")
