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
- ``height`` int32 scalar;
- optional: ``ids`` unicode ``(N,)`` (unit ids) and ``image_format`` unicode scalar.
  ``"raw"`` means ``jpeg`` holds each line's uint8 pixels as they are, row-major
  (``height * widths[i]`` bytes), so reading a line decodes nothing; files without it
  hold encoded images.

The same format, raw and uncompressed (so that :meth:`PackedLines.load` can map the
pixels from disk instead of reading them), is the fixed-height line cache of a built
dataset: one file per work item and split, written at build time next to the item's
TFRecord shards (:class:`RawLineWriter`, :func:`cache_name`) and streamed by
:func:`medocr.dataset.readers.line_dataset`.
"""

from __future__ import annotations

import shutil
import struct
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

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
    ids: np.ndarray | None = None
    image_format: str = "encoded"

    @classmethod
    def load(cls, path: str | Path, *, mmap: bool = False) -> PackedLines:
        """Read a packed file (``allow_pickle=False``).

        Parameters
        ----------
        path : str or Path
            The ``.npz`` file.
        mmap : bool
            Map the image bytes read-only from the file instead of reading them, when
            they are stored uncompressed (as in build caches); other arrays are read.

        Raises
        ------
        ValueError
            Not a packed line file (the message names it).
        """
        mapped = _mapped_array(path, "jpeg") if mmap else None
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files if mapped is None or name != "jpeg"}
        if mapped is not None:
            arrays["jpeg"] = mapped
        try:
            height = int(arrays.pop("height"))
            image_format = str(arrays.pop("image_format", "encoded"))
            return cls(height=height, image_format=image_format, **arrays)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a packed line file ({exc})") from exc

    def __len__(self) -> int:
        return len(self.widths)

    def image(self, index: int) -> np.ndarray:
        """uint8 ``(height, widths[index])`` grayscale line ``index``."""
        start, end = self.offsets[index], self.offsets[index + 1]
        if self.image_format == "raw":
            return np.array(self.jpeg[start:end]).reshape(self.height, int(self.widths[index]))
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


def fixed_height(image: np.ndarray, height: int) -> np.ndarray:
    """Resize a uint8 ``(h, w)`` line to the ``(height, W)`` the readers feed a model.

    As :func:`medocr.recognize.crnn.prepare_line` resizes it (aspect kept, ``W >= 4``),
    then cut at ``MAX_WIDTH`` as :func:`medocr.dataset.readers.line_dataset` cuts it (not
    squeezed, unlike :func:`resize_to_height`); ``1 - line / 255`` in float32 is then
    exactly the reader's input (before padding).
    """
    return resize_to_height(image, height, max_width=1 << 30)[:, :MAX_WIDTH]


def cache_name(folder: str, key: str, height: int) -> str:
    """Path of work item `key`'s fixed-height cache in a shard folder (``FOLDER/KEY.hH.npz``)."""
    return f"{folder}/{key}.h{height}.npz"


class RawLineWriter:
    """Write fixed-height lines, one at a time, as a raw uncompressed packed file.

    The pixels go to a temporary file as they come, so memory does not grow with the
    lines; :meth:`write` then stores them, with the texts, as a packed file that
    :meth:`PackedLines.load` can map (``mmap=True``). A build cache part is one of these.

    Parameters
    ----------
    height : int
        Height of every line.
    source, kind : str
        Source name and kind (the split) shared by the lines.
    folder : str or Path, optional
        Where the temporary pixel file lives (default: the system's).
    """

    def __init__(
        self, height: int, source: str, kind: str, folder: str | Path | None = None
    ) -> None:
        self.height, self.source, self.kind = height, source, kind
        self.pixels = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 - closed by close()
        self.widths: list[int] = []
        self.rows: list[tuple[str, str, str]] = []

    def __len__(self) -> int:
        return len(self.widths)

    def add(self, line: np.ndarray, text: str, document: str, uid: str) -> None:
        """Append a uint8 ``(height, W)`` line, its text, document and unit id."""
        if line.dtype != np.uint8 or line.ndim != 2 or line.shape[0] != self.height:
            raise ValueError(
                f"unit {uid}: a cached line must be uint8 ({self.height}, w), "
                f"got {line.dtype} {line.shape}"
            )
        self.pixels.write(np.ascontiguousarray(line).tobytes())
        self.widths.append(line.shape[1])
        self.rows.append((text, document, uid))

    def write(self, stream: IO[bytes]) -> None:
        """Write the packed file (the format of :func:`numpy.savez`) to a seekable stream."""
        widths = np.array(self.widths, np.int32)
        offsets = np.zeros(len(widths) + 1, np.int64)
        offsets[1:] = np.cumsum(widths.astype(np.int64) * self.height)
        texts, documents, ids = zip(*self.rows, strict=True) if self.rows else ((), (), ())
        arrays: dict[str, np.ndarray] = {
            "offsets": offsets,
            "widths": widths,
            "texts": np.array(texts, dtype=str),
            "documents": np.array(documents, dtype=str),
            "source": np.zeros(len(widths), np.int16),
            "source_names": np.array([self.source], dtype=str),
            "source_kinds": np.array([self.kind], dtype=str),
            "height": np.array(self.height, np.int32),
            "ids": np.array(ids, dtype=str),
            "image_format": np.array("raw"),
        }
        with zipfile.ZipFile(stream, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            with archive.open("jpeg.npy", "w", force_zip64=True) as entry:
                header = {"descr": "|u1", "fortran_order": False, "shape": (int(offsets[-1]),)}
                np.lib.format.write_array_header_1_0(entry, header)
                self.pixels.seek(0)
                shutil.copyfileobj(self.pixels, entry, 1 << 20)
            for name, array in arrays.items():
                with archive.open(f"{name}.npy", "w", force_zip64=True) as entry:
                    np.lib.format.write_array(entry, array, allow_pickle=False)

    def close(self) -> None:
        """Delete the temporary pixel file."""
        self.pixels.close()


def _mapped_array(path: str | Path, name: str) -> np.ndarray | None:
    """Map array `name` of an ``.npz`` read-only, or None when it is compressed or absent."""
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(f"{name}.npy")
    except (KeyError, OSError, zipfile.BadZipFile):
        return None  # np.load then reports what is wrong
    if info.compress_type != zipfile.ZIP_STORED:
        return None
    with open(path, "rb") as stream:
        stream.seek(info.header_offset)
        local = stream.read(30)  # zip local file header; name and extra lengths at 26
        name_length, extra_length = struct.unpack("<HH", local[26:30])
        stream.seek(info.header_offset + 30 + name_length + extra_length)
        version = np.lib.format.read_magic(stream)
        read_header: Any = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read_header(stream)
        offset = stream.tell()
    if dtype.hasobject:
        return None
    if 0 in shape:
        return np.zeros(shape, dtype)
    order: Literal["C", "F"] = "F" if fortran else "C"
    return np.asarray(np.memmap(path, dtype, "r", offset, tuple(shape), order))


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
