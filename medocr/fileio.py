"""Small file helpers shared by everything that writes outputs.

Every file medocr writes (but the batch database, which SQLite keeps consistent itself)
goes through one mechanism: it is written under a hidden temporary name in its own folder
(``.NAME.RANDOM.tmp``), then renamed onto its name with ``os.replace``. A reader sees the
old file or the new one, never half of one, and a write that fails or is interrupted
removes its temporary file and leaves the old file (or no file) in place. The entry
points differ only in how the content arrives:

- :func:`write_atomic` / :func:`write_text_atomic`: the whole content at once;
- :func:`open_atomic`: a stream written piece by piece (TFRecord shards, manifests),
  published by :meth:`AtomicFile.commit` or by leaving its ``with`` block;
- :func:`atomic_path`: a temporary *path*, for libraries that write a file by name
  (``keras.Model.save``);
- :func:`atomic_folder`: a whole folder (a model bundle), built under a staging name and
  swapped in place.

New files get the permissions ``open`` would give them (0o666 less the umask, which the
CLI's ``--umask`` sets), unless `file_mode` is given.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from medocr.errors import OutputError


def write_atomic(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    file_mode: int | None = None,
    durable: bool = False,
) -> None:
    """Write `data` to `path` through a temporary file in the same folder, then rename.

    A reader never sees a half-written file, and an interrupted write leaves no file (and
    no temporary file).

    Parameters
    ----------
    path : path-like
        The file to write (its folder must exist).
    data : bytes
        The whole content.
    file_mode : int, optional
        Permission bits of the new file (e.g. ``0o644``); by default those ``open`` gives.
    durable : bool
        Flush the content to disk (``fsync``) before the rename.
    """
    with open_atomic(path, "wb", file_mode=file_mode, durable=durable) as stream:
        stream.write(data)


def write_text_atomic(
    path: str | os.PathLike[str],
    text: str,
    *,
    encoding: str = "utf-8",
    file_mode: int | None = None,
    durable: bool = False,
) -> None:
    """Write `text` to `path` atomically, encoded with `encoding` (see :func:`write_atomic`).

    Line ends are written as given (no translation).
    """
    write_atomic(path, text.encode(encoding), file_mode=file_mode, durable=durable)


class AtomicFile:
    """A file written under a hidden temporary name, renamed onto its path when committed.

    Use it as a context manager (``with open_atomic(path) as stream:`` commits on a normal
    exit and discards on an exception) or, for a stream kept open across calls, call
    :meth:`commit` or :meth:`discard` once.

    Parameters
    ----------
    path : path-like
        The file to write (its folder must exist).
    mode : str
        ``"wb"`` (binary) or ``"w"`` (text).
    encoding, newline : str, optional
        As for ``open``, in text mode.
    file_mode : int, optional
        Permission bits of the new file; by default those ``open`` gives.
    durable : bool
        ``fsync`` the content before the rename.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        mode: str = "wb",
        *,
        encoding: str | None = None,
        newline: str | None = None,
        file_mode: int | None = None,
        durable: bool = False,
    ) -> None:
        if mode not in ("w", "wb"):
            raise ValueError(f"open_atomic writes new files: mode 'w' or 'wb', not {mode!r}")
        self.path = Path(path)
        self.tmp = _temp_path(self.path)
        self._file_mode, self._durable = file_mode, durable
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        handle = os.open(self.tmp, flags, 0o666)
        try:
            self.stream: IO[Any] = os.fdopen(handle, mode, encoding=encoding, newline=newline)
        except BaseException:
            os.close(handle)
            self.tmp.unlink(missing_ok=True)
            raise

    def commit(self) -> None:
        """Close the stream and rename the temporary file onto the path."""
        try:
            if self._durable:
                self.stream.flush()
                os.fsync(self.stream.fileno())
            self.stream.close()
            if self._file_mode is not None:
                os.chmod(self.tmp, self._file_mode)
            os.replace(self.tmp, self.path)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """Close the stream and remove the temporary file; the path is left as it was."""
        try:
            self.stream.close()
        finally:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> IO[Any]:
        return self.stream

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()


#: ``open_atomic(path, "w", encoding="utf-8")``: open `path` for an atomic write, as
#: ``open`` would for a new file (see :class:`AtomicFile`).
open_atomic = AtomicFile


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write by name; rename it onto `path` after.

    For writers that take a file name rather than bytes or a stream. The temporary name
    ends with `path`'s suffix (``.last.keras.RANDOM.tmp.keras``), since some writers choose
    the format from it. On an exception the temporary file is removed and `path` is left
    as it was.
    """
    target = Path(path)
    tmp = _temp_path(target, target.suffix)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_folder(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty staging folder; once filled, swap it in place of the folder `path`.

    The staging folder is ``.NAME.tmp`` beside `path` (left over by a killed write, it is
    removed first); an existing folder at `path` is moved to ``.NAME.old`` for the swap,
    then removed, so it is replaced only once the new one is complete. On an exception the
    staging folder is removed and `path` is left as it was.
    """
    target = Path(path)
    staging = target.with_name(f".{target.name}.tmp")
    old = target.with_name(f".{target.name}.old")
    if old.exists() and not target.exists():
        old.rename(target)  # a swap killed between its two renames: the old folder is back
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if not target.exists():
        staging.rename(target)
        return
    shutil.rmtree(old, ignore_errors=True)
    target.rename(old)
    try:
        staging.rename(target)
    except BaseException:
        old.rename(target)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _temp_path(path: Path, suffix: str = "") -> Path:
    """Hidden temporary name beside `path`: ``.NAME.RANDOM.tmp`` then `suffix`."""
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp{suffix}")


_TEMP_NAME = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp(\.[^.]+)?$")


def is_temp_name(name: str) -> bool:
    """Tell whether a file name is one of this module's temporary names (``.NAME.RANDOM.tmp``).

    Such a file is left only by a write that was killed before its rename.
    """
    return bool(_TEMP_NAME.match(name))


def remove_temp_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files that killed atomic writes left directly in `folder`.

    Returns
    -------
    list of Path
        The files removed.
    """
    removed = []
    for entry in Path(folder).iterdir():
        if entry.is_file() and is_temp_name(entry.name):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


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
