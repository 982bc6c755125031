"""Small file helpers shared by everything that writes outputs."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from medocr.errors import OutputError


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder, then rename.

    A reader never sees a half-written file, and an interrupted write leaves no file.
    """
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_outputs(
    inputs: Iterable[str | os.PathLike[str]], outputs: Iterable[str | os.PathLike[str] | None]
) -> None:
    """Refuse, before anything runs, any output that is an input or lies inside one.

    Parameters
    ----------
    inputs : iterable of path-like
        Files or folders that will be read.
    outputs : iterable of path-like or None
        Files or folders that will be written (None entries are ignored).

    Raises
    ------
    OutputError
        An output equals an input (same path or same file through a link) or lies
        inside an input folder: writing it would overwrite or add to the inputs.
    """
    sources = [(os.fspath(item), Path(item).resolve()) for item in inputs]
    for output in outputs:
        if output is None:
            continue
        target = Path(output).resolve()
        for name, source in sources:
            if target == source or _same_file(target, source):
                raise OutputError(f"{output}: is also an input ({name}); inputs are never written")
            if source.is_dir() and target.is_relative_to(source):
                raise OutputError(
                    f"{output}: lies inside the input folder {name}; write outputs elsewhere"
                )


def check_json_target(path: str | os.PathLike[str]) -> None:
    """Refuse to overwrite an existing file that does not hold JSON.

    A shell glob such as ``medocr read scans/*.png --json`` hands the first scan to
    ``--json``; this keeps it from being replaced by the results.

    Raises
    ------
    OutputError
        `path` is a folder, or an existing non-empty file whose content is not JSON.
    """
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"{path}: is a folder; --json takes a file name")
    if not target.is_file() or target.stat().st_size == 0:
        return
    with open(target, "rb") as stream:
        head = stream.read(64).removeprefix(b"\xef\xbb\xbf").lstrip()
    if head[:1] not in (b"{", b"["):
        raise OutputError(
            f"{path}: exists and does not hold JSON, so it is not overwritten (did a shell "
            "glob put an input here? give --json a new .json file name)"
        )


def _same_file(first: Path, second: Path) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False
