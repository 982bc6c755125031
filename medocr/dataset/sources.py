"""Dataset inputs, and how they are cut into work items.

Three kinds of input:

- ``certificates``: a folder of certificate annotations (``*.json`` in the schema of
  :mod:`medocr.dataset.certificates`: ``medocr synth`` output, or annotated scans);
- ``lines``: a JSONL line set (``{"image", "text", "document"}`` rows);
- ``xml``: an ALTO or PAGE XML file, or a folder of them.

A work item is a run of consecutive inputs of one source (certificate files, XML files,
or JSONL rows given by byte offset): the unit of parallel work and of resumption. The
plan is deterministic for given inputs and item size, and only holds file names and
offsets, never rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from medocr.dataset.units import BadInput, Unit, plain_gray_png
from medocr.errors import MedocrError

KINDS = ("certificates", "lines", "xml")
ITEM_SIZES = {"certificates": 16, "lines": 1000, "xml": 16}


@dataclass(frozen=True)
class Source:
    """One input of a dataset build.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    path : str
        Folder (certificates, xml) or file (lines, xml).
    name : str
        Source name: first part of unit ids, and stratum of stratified splits.
    """

    kind: str
    path: str
    name: str

    @classmethod
    def parse(cls, kind: str, spec: str) -> Source:
        """Parse ``[NAME=]PATH``; the default name is the folder's name.

        For a JSONL file or an XML file the folder is the file's folder, so the
        ``train.jsonl`` and ``val.jsonl`` of one collection share a name (and a stratum).

        Raises
        ------
        MedocrError
            Unknown kind or missing path.
        """
        if kind not in KINDS:
            raise MedocrError(f"input kind {kind!r} is not one of {KINDS}")
        name, sep, path = spec.partition("=")
        if not sep or not name or "/" in name or Path(spec).exists():
            name, path = "", spec
        resolved = Path(path).resolve()
        if not resolved.exists():
            raise MedocrError(f"{kind} input {path}: no such file or folder")
        default = resolved.name if resolved.is_dir() else resolved.parent.name
        return cls(kind, str(resolved), name or default)


@dataclass(frozen=True)
class WorkItem:
    """A run of consecutive inputs of one source.

    Parameters
    ----------
    index : int
        Position in the plan (names the item's files).
    kind, source, path : str
        As :class:`Source` (``source`` is its name).
    names : tuple of str
        File names inside `path` (certificates and XML folders).
    offset, rows, first_row : int
        JSONL items: byte offset of the first row, number of rows, and the 1-based line
        number of the first row.
    """

    index: int
    kind: str
    source: str
    path: str
    names: tuple[str, ...] = ()
    offset: int = 0
    rows: int = 0
    first_row: int = 1

    @property
    def key(self) -> str:
        """File stem of the item's outputs (``item-000042``)."""
        return f"item-{self.index:06d}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (recorded in the item's done marker)."""
        data = asdict(self)
        data["names"] = list(self.names)
        return data


def plan_items(sources: list[Source], item_size: int | None = None) -> list[WorkItem]:
    """Cut the inputs into work items, in source order.

    Parameters
    ----------
    sources : list of Source
        The inputs.
    item_size : int, optional
        Inputs (files or rows) per item; default :data:`ITEM_SIZES` per kind.

    Returns
    -------
    list of WorkItem
    """
    items: list[WorkItem] = []
    for source in sources:
        size = item_size or ITEM_SIZES[source.kind]
        if source.kind == "lines":
            cuts = _jsonl_cuts(Path(source.path), size)
            items += [
                WorkItem(len(items) + i, source.kind, source.name, source.path, (), *cut)
                for i, cut in enumerate(cuts)
            ]
            continue
        names = _input_files(source)
        for start in range(0, len(names), size):
            chunk = tuple(names[start : start + size])
            items.append(WorkItem(len(items), source.kind, source.name, source.path, chunk))
    return items


def _input_files(source: Source) -> list[str]:
    path = Path(source.path)
    if path.is_file():
        return [path.name]
    pattern = "*.json" if source.kind == "certificates" else "*.xml"
    names = sorted(p.name for p in path.glob(pattern))
    return [n for n in names if n != "synth.json"]


def _jsonl_cuts(path: Path, size: int) -> list[tuple[int, int, int]]:
    """``(offset, rows, first line number)`` of each run of `size` non-empty rows."""
    cuts: list[tuple[int, int, int]] = []
    offset, rows, start, first = 0, 0, 0, 1
    with open(path, "rb") as stream:
        for number, raw in enumerate(stream, start=1):
            if raw.strip():
                if rows == 0:
                    start, first = offset, number
                rows += 1
                if rows == size:
                    cuts.append((start, rows, first))
                    rows = 0
            offset += len(raw)
    if rows:
        cuts.append((start, rows, first))
    return cuts


def item_inputs(item: WorkItem) -> Iterator[tuple[str, Any]]:
    """Yield ``(reference, input)`` of each input of an item (reference: file or file:line)."""
    if item.kind != "lines":
        folder = Path(item.path) if Path(item.path).is_dir() else Path(item.path).parent
        for name in item.names:
            yield name, folder / name
        return
    with open(item.path, "rb") as stream:
        stream.seek(item.offset)
        number, seen = item.first_row, 0
        while seen < item.rows:
            raw = stream.readline()
            if not raw:
                return
            if raw.strip():
                seen += 1
                yield f"{Path(item.path).name}:{number}", (raw, number)
            number += 1


def input_units(item: WorkItem, value: Any, levels: tuple[str, ...]) -> list[Unit]:
    """Cut the units of one input of `item` (see :func:`item_inputs`).

    Raises
    ------
    BadInput
        Malformed annotation or unreadable image.
    """
    if item.kind == "certificates":
        from medocr.dataset.certificates import certificate_units

        return certificate_units(value, item.source, levels)
    if item.kind == "xml":
        from medocr.dataset.xml import xml_units

        return xml_units(value, item.source, levels)
    raw, number = value
    return _line_units(item, raw, number, levels)


def _line_units(item: WorkItem, raw: bytes, number: int, levels: tuple[str, ...]) -> list[Unit]:
    from medocr.dataset.readers import parse_row
    from medocr.errors import InputError
    from medocr.io import read_image

    folder = Path(item.path).parent
    try:
        record = parse_row(raw, folder, item.source, number)
    except ValueError as exc:
        raise BadInput("annotation", str(exc)) from exc
    if "line" not in levels:
        return []
    try:
        image = read_image(record.image, max_aspect=None).image  # lines are long
        data = Path(record.image).read_bytes()
    except (InputError, OSError) as exc:
        raise BadInput("image", getattr(exc, "reason", str(exc))) from exc
    image_path = Path(record.image)
    relative = image_path.relative_to(folder) if image_path.is_relative_to(folder) else image_path
    height, width = image.shape
    meta = {"font": record.font, "boxes": "truth", "box": [0, 0, width, height], "page_box": None}
    origin = record.origin or "real"
    uid = f"{item.source}/{relative.with_suffix('').as_posix().lstrip('/')}"
    png = data if plain_gray_png(data, image.shape) else None
    unit = Unit(
        uid, None, "line", image, record.text, item.source, origin, record.document, meta, png
    )
    return [unit]


def source_documents(source: Source) -> list[str]:
    """Return the distinct documents of a source, in first-seen order (stratified splits)."""
    from medocr.dataset.certificates import certificate_document, read_truth
    from medocr.dataset.readers import parse_row

    seen: dict[str, None] = {}
    for item in plan_items([source]):
        for _, value in item_inputs(item):
            try:
                if source.kind == "lines":
                    doc = parse_row(value[0], Path(source.path).parent, source.name, value[1])
                    seen.setdefault(doc.document)
                elif source.kind == "certificates":
                    seen.setdefault(certificate_document(read_truth(value), source.name))
                else:
                    seen.setdefault(f"{source.name}/{Path(value).stem}")
            except (ValueError, BadInput):
                continue  # reported when the item is built
    return list(seen)
