"""Lexicon files on disk: word lists, the folder format and its transactional save.

A saved lexicon is a folder holding ``manifest.json``, ``words.tsv``, ``bigrams.tsv`` (when
the lexicon has a bigram model) and ``CHANGELOG.md``; the manifest lists the sha256 of every
other file. :func:`commit_files` writes a new version as one transaction (staged files,
then one rename of the manifest), under the folder's lock (:func:`locked`); the lexicons
shipped inside medocr live under :func:`package_root`. Reading a folder back into a
:class:`~medocr.lexicon.model.Lexicon` is :mod:`medocr.lexicon.load`'s.

Every file is written by :func:`medocr.fileio.write_atomic` (``durable``: fsynced before
its rename).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import threading
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from medocr.errors import LexiconError
from medocr.fileio import write_atomic
from medocr.lexicon.words import MAX_COUNT, check_count, check_total, check_word, show

__all__ = [
    "BIGRAMS_FILE",
    "CHANGELOG_FILE",
    "DEFAULT_LEXICON",
    "FORMAT_VERSION",
    "MANIFEST_FILE",
    "SHA256_HEX",
    "STAGING_DIR",
    "WORDS_FILE",
    "commit_files",
    "inside_package",
    "locked",
    "package_root",
    "packaged_lexicon_path",
    "parse_word_lines",
    "read_word_list",
    "sha256_hex",
    "staged_name",
]

DEFAULT_LEXICON = "fr-medical"
"""Name of the lexicon :func:`~medocr.lexicon.load_lexicon` returns when given no name."""
FORMAT_VERSION = 1
WORDS_FILE = "words.tsv"
BIGRAMS_FILE = "bigrams.tsv"
MANIFEST_FILE = "manifest.json"
CHANGELOG_FILE = "CHANGELOG.md"
STAGING_DIR = ".staging"
"""Hidden folder of a lexicon folder where :meth:`Lexicon.save` stages a new version."""

_INTEGER = re.compile(r"[+-]?[0-9]+")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
"""A sha256 as manifests write it."""


def sha256_hex(data: bytes) -> str:
    """Return the sha256 of `data`, in lowercase hex (what manifests list)."""
    return hashlib.sha256(data).hexdigest()


def _fsync_dir(path: Path) -> None:
    """Make the renames inside folder `path` durable, where the system allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse
        pass
    finally:
        os.close(fd)


_LOCKS = threading.local()


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on lexicon folder `folder` (reentrant within a thread).

    The lock is ``flock`` on the folder itself, so no lock file is left behind; it is
    released when the holder exits, even when killed. Where ``fcntl`` is missing
    (Windows) nothing is locked.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    held: set[str] = _LOCKS.__dict__.setdefault("held", set())
    key = os.path.realpath(folder)
    if key in held:
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError as exc:
        raise LexiconError(f"{folder}: cannot open the folder ({exc.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)
    finally:
        os.close(fd)  # releases the lock


def parse_word_lines(data: bytes, source: str, *, strict: bool = True) -> dict[str, int]:
    """Parse a word list (see :func:`read_word_list`); `source` names it in errors.

    `strict` applies the limits on words and counts (:func:`check_word`); False reads a
    saved ``words.tsv`` as it was written.
    """
    counts: dict[str, int] = {}
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for number, raw in enumerate(data.split(b"\n"), start=1):
        where = f"{source}:{number}"
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise LexiconError(f"{where}: invalid UTF-8") from None
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split("\t") if "\t" in line else line.split(",")
        fields = [f.strip() for f in fields]
        if number == 1 and [f.lower() for f in fields] == ["word", "count"]:
            continue  # a CSV header
        if len(fields) > 2:
            raise LexiconError(
                f"{where}: expected 'word', 'word<TAB>count' or 'word,count', "
                f"got {len(fields)} columns"
            )
        word = fields[0]
        if not word:
            raise LexiconError(f"{where}: empty word")
        word = check_word(word, where, strict=strict)
        count = 1
        if len(fields) == 2:
            raw_count = fields[1]
            if not _INTEGER.fullmatch(raw_count):
                raise LexiconError(f"{where}: count {show(raw_count)} is not an integer")
            digits = raw_count.lstrip("+-").lstrip("0")
            if raw_count.startswith("-") and digits:
                shown = raw_count if len(raw_count) <= 32 else raw_count[:32] + "…"
                raise LexiconError(f"{where}: count {shown} is negative")
            if len(digits) > (len(str(MAX_COUNT)) if strict else 1000):
                raise LexiconError(
                    f"{where}: count {show(raw_count)} of {show(word)} is more than "
                    f"{MAX_COUNT}, the largest count a word may have"
                )
            count = int(raw_count)
            if strict:
                check_count(count, word, where)
        total = counts.get(word, 0) + count
        if strict:
            check_total(total, word, where)
        counts[word] = total
    return counts


def read_word_list(path: str | os.PathLike[str]) -> dict[str, int]:
    """Read a user word list: one word per line, optionally with a count.

    Accepted lines: ``word``, ``word<TAB>count`` or ``word,count``; blank lines and
    ``#`` comments (whole line or end of line) are ignored, as is a first line
    ``word,count``. A word without a count counts 1; repeated words add up.

    Parameters
    ----------
    path : str or PathLike
        A UTF-8 text file (``.txt``, ``.csv``, ``.tsv``).

    Returns
    -------
    dict of str to int
        Word (NFC, as written) -> count, in file order.

    Raises
    ------
    LexiconError
        ``"FILE:LINE: reason"`` for the first malformed line: invalid UTF-8, more than two
        columns, an empty word, a word with no letters or that is not one word
        (``cardio-respiratoire``), a word longer than :data:`MAX_WORD_LENGTH` or with a
        letter outside :data:`WORD_LETTERS` (the message names it), a count that is not an
        integer, is negative or is above :data:`MAX_COUNT` (also when the counts of a
        repeated word add up to more); ``"FILE: ..."`` when the file cannot be read.

    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise LexiconError(f"{path}: cannot read the word list ({exc.strerror})") from None
    return parse_word_lines(data, str(path))


# ---------------------------------------------------------------------------------------------
# Bigram model.
# ---------------------------------------------------------------------------------------------


def staged_name(name: str, sha256: str) -> str:
    """Return the name file `name` with content hash `sha256` has in ``.staging/``."""
    return f"{name}.{sha256}"


def commit_files(out: Path, files: Mapping[str, bytes], manifest: bytes) -> None:
    """Stage `files` in ``out/.staging``, switch ``manifest.json``, then move them in place.

    The caller holds the folder's lock. Before the switch a failure removes what it staged
    (the previous version is untouched); after it the folder is already the new version.
    """
    _recover(out)
    staging = out / STAGING_DIR
    staged: dict[str, Path] = {}
    try:
        staging.mkdir(exist_ok=True)
        for name, data in files.items():
            blob = staging / staged_name(name, sha256_hex(data))
            write_atomic(blob, data, durable=True)
            staged[name] = blob
        _fsync_dir(staging)
        write_atomic(out / MANIFEST_FILE, manifest, durable=True)  # the switch
    except BaseException:
        try:
            switched = (out / MANIFEST_FILE).read_bytes() == manifest
        except OSError:
            switched = False
        if not switched:  # e.g. Ctrl-C right after the rename: keep what it points to
            shutil.rmtree(staging, ignore_errors=True)  # only this save's files (_recover)
        raise
    # The new version is current. Moving its files in place is housekeeping: until it is
    # done, loading reads them from .staging, and the next save finishes it (_recover).
    with contextlib.suppress(OSError):
        _fsync_dir(out)
        for name, blob in staged.items():
            os.replace(blob, out / name)
        for name in (WORDS_FILE, BIGRAMS_FILE, CHANGELOG_FILE):
            if name not in files:
                (out / name).unlink(missing_ok=True)
        _fsync_dir(out)
        _clean_leftovers(out)


def _recover(out: Path) -> None:
    """Finish the moves of a save killed after its switch, then remove what saves left."""
    try:
        manifest = json.loads((out / MANIFEST_FILE).read_bytes())
    except (OSError, ValueError):
        manifest = None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    for name in (WORDS_FILE, BIGRAMS_FILE, CHANGELOG_FILE):
        entry = files.get(name) if isinstance(files, dict) else None
        expected = entry.get("sha256") if isinstance(entry, dict) else None
        if not isinstance(expected, str) or not SHA256_HEX.fullmatch(expected):
            continue
        blob = out / STAGING_DIR / staged_name(name, expected)
        if blob.is_file() and sha256_hex(blob.read_bytes()) == expected:
            os.replace(blob, out / name)
    _fsync_dir(out)
    _clean_leftovers(out)


def _clean_leftovers(out: Path) -> None:
    """Remove what killed saves left in `out`: ``.staging/`` and hidden temp files."""
    shutil.rmtree(out / STAGING_DIR, ignore_errors=True)
    names = (WORDS_FILE, BIGRAMS_FILE, CHANGELOG_FILE, MANIFEST_FILE)
    for path in out.glob(".*.tmp"):
        if path.is_file() and any(path.name.startswith(f".{name}.") for name in names):
            path.unlink(missing_ok=True)


def package_root() -> Any:
    """Return the folder of the lexicons shipped inside medocr (a Traversable)."""
    return resources.files("medocr") / "data" / "lexicons"


def packaged_lexicon_path(name: str = DEFAULT_LEXICON) -> Path | None:
    """Return the folder of a lexicon shipped inside medocr, or None when there is none.

    Parameters
    ----------
    name : str, optional
        Lexicon name.

    Returns
    -------
    Path or None
        A filesystem path (for display and for refusing to modify it).

    """
    folder = package_root() / name
    if not (folder / MANIFEST_FILE).is_file():
        return None
    try:
        return Path(str(folder))
    except TypeError:  # pragma: no cover - zipped installs
        return None


def inside_package(path: Path) -> bool:
    """Return whether `path` is the folder of the packaged lexicons or lies inside it."""
    root = Path(str(package_root()))
    try:
        resolved = path.resolve()
        return resolved == root.resolve() or root.resolve() in resolved.parents
    except (OSError, RuntimeError):  # pragma: no cover
        return False
