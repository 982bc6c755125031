"""Packed line sets: every line of several JSONL sets, pre-resized, in one compact file.

A packed file (``.npz``, no pickle) holds each line already resized to the model height
and re-encoded as WebP (or JPEG), its normalised text, its source and document. It is what travels
to a machine that has neither ``../shared/data`` nor TensorFlow (the lent GPU machine),
and it is read without decoding anything but the image bytes of the lines a batch needs.

Arrays in the file:

- ``jpeg`` uint8 ``(N_bytes,)``: the encoded images (WebP or JPEG) one after another;
- ``offsets`` int64 ``(N + 1,)``: line ``i`` is ``jpeg[offsets[i]:offsets[i + 1]]``;
- ``widths`` int32 ``(N,)``: width of each stored line at ``height`` pixels;
- ``texts``, ``documents`` unicode ``(N,)``; ``source`` int16 ``(N,)`` index into
  ``source_names`` unicode ``(S,)``; ``source_kinds`` unicode ``(S,)`` (``train`` or ``val``);
  ``source_paths`` unicode ``(S,)``: the JSONL file each source was packed from;
- ``height`` int32 scalar.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from medocr.fileio import open_atomic

MAX_WIDTH = 2048


@dataclass(frozen=True)
class PackSource:
    """One JSONL line set to pack: its name, file, kind (``train``/``val``), line limit."""

    name: str
    path: str
    kind: str = "train"
    limit: int | None = None

    @classmethod
    def parse(cls, spec: str) -> PackSource:
        """Parse ``NAME=FILE.jsonl[:train|val][#LIMIT]`` (the ``--source`` option)."""
        if "=" not in spec:
            raise ValueError(f"--source {spec!r}: expected NAME=FILE.jsonl[:train|val][#LIMIT]")
        name, rest = spec.split("=", 1)
        limit = None
        if "#" in rest:
            rest, raw = rest.rsplit("#", 1)
            limit = int(raw)
        kind = "train"
        if rest.endswith((":train", ":val")):
            rest, kind = rest.rsplit(":", 1)
        if not Path(rest).is_file():
            raise ValueError(f"--source {spec!r}: {rest} not found")
        return cls(name, rest, kind, limit)


@dataclass(frozen=True, eq=False)
class PackedLines:
    """A packed file in memory (see the module docstring for the arrays)."""

    jpeg: np.ndarray
    offsets: np.ndarray
    widths: np.ndarray
    texts: np.ndarray
    documents: np.ndarray
    source: np.ndarray
    source_names: np.ndarray
    source_kinds: np.ndarray
    height: int
    source_paths: np.ndarray | None = None  # absent from files packed before it existed

    @classmethod
    def load(cls, path: str | Path) -> PackedLines:
        """Read a packed file (``allow_pickle=False``)."""
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        try:
            height = int(arrays.pop("height"))
            return cls(height=height, **arrays)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a packed line file ({exc})") from exc

    def __len__(self) -> int:
        return len(self.widths)

    def image(self, index: int) -> np.ndarray:
        """uint8 ``(height, widths[index])`` grayscale line ``index``."""
        start, end = self.offsets[index], self.offsets[index + 1]
        image = cv2.imdecode(self.jpeg[start:end], cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise ValueError(f"packed line {index}: undecodable image")
        return image

    def source_path(self, name: str, kind: str) -> str:
        """JSONL file a source was packed from (``?`` when the file does not say)."""
        for number, (other, other_kind) in enumerate(
            zip(self.source_names, self.source_kinds, strict=True)
        ):
            if other == name and other_kind == kind and self.source_paths is not None:
                return str(self.source_paths[number])
        return "?"

    def indices(self, kind: str) -> dict[str, np.ndarray]:
        """Line indices of each source of one kind, by source name."""
        found = {}
        for number, (name, source_kind) in enumerate(
            zip(self.source_names, self.source_kinds, strict=True)
        ):
            if source_kind == kind:
                found[str(name)] = np.flatnonzero(self.source == number)
        return found


def resize_to_height(image: np.ndarray, height: int, max_width: int = MAX_WIDTH) -> np.ndarray:
    """Resize a uint8 ``(h, w)`` line to ``height`` keeping its aspect, at most `max_width` wide."""
    h, w = image.shape
    width = min(max_width, max(4, round(w * height / h)))
    interpolation = cv2.INTER_AREA if h > height else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interpolation)


def pack_line_sets(
    sources: Sequence[PackSource],
    out: str | Path,
    *,
    height: int = 48,
    quality: int = 60,
    image_format: str = "webp",
    seed: int = 0,
) -> dict[str, int]:
    """Pack line sets into one file (written atomically).

    Parameters
    ----------
    sources : sequence of PackSource
        The sets; a source with a ``limit`` keeps that many lines drawn at random
        (`seed`), in file order.
    out : str or Path
        Destination ``.npz``.
    height : int
        Stored line height in pixels.
    quality : int
        Lossy quality (0-100).
    image_format : {"webp", "jpg"}
        Encoding of the stored lines. WebP is about 40 % smaller than JPEG at the
        same quality on these lines.
    seed : int
        Draw of the limited sources.

    Returns
    -------
    dict
        Lines packed per ``NAME:KIND``, and ``unreadable`` lines skipped.
    """
    from medocr.dataset.readers import load_line, read_line_set  # only to pack (heavy imports)

    chunks: list[bytes] = []
    widths, texts, documents, owners = [], [], [], []
    counts: dict[str, int] = {"unreadable": 0}
    if image_format not in ("webp", "jpg"):
        raise ValueError(f"image format {image_format!r}: webp or jpg")
    flag = cv2.IMWRITE_WEBP_QUALITY if image_format == "webp" else cv2.IMWRITE_JPEG_QUALITY
    rng = np.random.default_rng(seed)
    for number, source in enumerate(sources):
        records = read_line_set(source.path, source.name).records
        if source.limit is not None and source.limit < len(records):
            keep = np.sort(rng.permutation(len(records))[: source.limit])
            records = [records[i] for i in keep]
        key = f"{source.name}:{source.kind}"
        counts[key] = 0
        for record in records:
            if not record.text.strip():
                continue
            try:
                image = resize_to_height(load_line(record), height)
            except ValueError as exc:
                counts["unreadable"] += 1
                print(f"pack: skipped {exc}", file=sys.stderr)
                continue
            ok, encoded = cv2.imencode(f".{image_format}", image, [flag, quality])
            if not ok:
                counts["unreadable"] += 1
                continue
            chunks.append(encoded.tobytes())
            widths.append(image.shape[1])
            texts.append(record.text)
            documents.append(record.document)
            owners.append(number)
            counts[key] += 1
        print(f"pack: {key}: {counts[key]} lines", file=sys.stderr)
    offsets = np.zeros(len(chunks) + 1, np.int64)
    offsets[1:] = np.cumsum([len(chunk) for chunk in chunks])
    with open_atomic(Path(out)) as stream:
        np.savez_compressed(  # the images do not shrink; the fixed-width texts do, 10x
            stream,
            jpeg=np.frombuffer(b"".join(chunks), np.uint8),
            offsets=offsets,
            widths=np.array(widths, np.int32),
            texts=np.array(texts, dtype=str),
            documents=np.array(documents, dtype=str),
            source=np.array(owners, np.int16),
            source_names=np.array([s.name for s in sources], dtype=str),
            source_kinds=np.array([s.kind for s in sources], dtype=str),
            source_paths=np.array([s.path for s in sources], dtype=str),
            height=np.int32(height),
        )
    return counts
