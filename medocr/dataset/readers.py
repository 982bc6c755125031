"""Readers of line units: JSONL line sets in, numpy batches or a ``tf.data`` pipeline out.

A line set is a JSONL file with one ``{"image": relative/path.png, "text": "...",
"document": "writer-or-document-id"}`` row per line (the format of ``../shared/data`` and
of ``medocr synth-lines``). Bad rows are reported with their line number and skipped.

The ``tf.data`` pipeline decodes in parallel, resizes to the model height keeping the
aspect ratio, applies an optional augmentation, encodes the label with an
:class:`~medocr.recognize.alphabet.Alphabet`, and batches by width buckets.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from medocr.recognize.alphabet import Alphabet, normalize_text
from medocr.recognize.crnn import frame_count, prepare_line

WIDTH_BUCKETS = (128, 256, 384, 512, 640, 768, 1024, 1280, 1536)
MAX_WIDTH = 2048


@dataclass(frozen=True)
class LineRecord:
    """One line unit: where its image is, its text, and who wrote it."""

    image: str
    text: str
    document: str
    source: str


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
                row = json.loads(raw)
                image, text = str(row["image"]), normalize_text(str(row["text"]))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                result.errors.append(f"{path}:{number}: malformed row ({exc})")
                continue
            document = str(row.get("document", f"{result.name}-{number}"))
            result.records.append(LineRecord(str(path.parent / image), text, document, result.name))
    return result


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
    record_image: str, height: int, augment: Callable[..., np.ndarray] | None, seed: int
) -> np.ndarray:
    image = cv2.imread(record_image, cv2.IMREAD_GRAYSCALE)
    if image is None or image.size == 0:
        return np.zeros((height, 0), np.float32)
    if augment is not None:
        image = augment(image, np.random.default_rng(seed))
    line = prepare_line(image, height)
    return line[:, :MAX_WIDTH]


def line_dataset(
    encoded: EncodedLines,
    height: int,
    batch_size: int,
    *,
    training: bool,
    augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
    seed: int = 0,
) -> Any:
    """Build a ``tf.data.Dataset`` of padded batches.

    Parameters
    ----------
    encoded : EncodedLines
        Records and labels (see :func:`encode_records`).
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

    Returns
    -------
    tf.data.Dataset
        Elements ``(images (B, H, W, 1) float32 ink, widths (B,) int32, labels (B, L)
        int32 padded with -1)``. Unreadable images and lines too narrow for their label
        (fewer frames than characters plus repeated pairs, which CTC cannot align) are
        skipped.
    """
    import tensorflow as tf

    paths = [r.image for r in encoded.records]
    ragged = tf.ragged.constant(encoded.labels, dtype=tf.int32, ragged_rank=1)
    data = tf.data.Dataset.from_tensor_slices((paths, ragged, np.arange(len(paths))))
    if training:
        data = data.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True).repeat()
    counter = iter(range(1 << 62))

    def load(path: Any, index: Any) -> np.ndarray:
        noise_seed = seed * 1_000_003 + int(index) * 7919 + (next(counter) if training else 0)
        return _prepared(path.decode(), height, augment if training else None, noise_seed)

    def decode(path: Any, label: Any, index: Any) -> tuple[Any, Any, Any]:
        image = tf.numpy_function(load, [path, index], tf.float32, stateful=training)
        image = tf.reshape(image, (height, -1, 1))
        return image, tf.shape(image)[1], label

    data = data.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)

    def usable(image: Any, width: Any, label: Any) -> Any:
        # CTC needs a frame per character plus a blank between repeated characters.
        repeats = tf.reduce_sum(tf.cast(label[1:] == label[:-1], tf.int32))
        return tf.logical_and(width > 0, frame_count(width) >= tf.shape(label)[0] + repeats)

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
