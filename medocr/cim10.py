"""The CIM-10 FR labels file (``cim10.csv.gz``): where it is and how it opens.

medocr never guesses where the labels are: they are named by an argument (the file, its
``cim10`` folder, or the data folder holding ``cim10/``) or by ``$MEDOCR_DATA``, never
found from the working directory. The fr-medical lexicon build
(:mod:`medocr.lexicon.build`) and the synthetic vocabulary
(:meth:`medocr.synth.text.Vocabulary.from_cim10`) both locate and open the file here; each
keeps its own use of the rows.

The file is a gzipped UTF-8 CSV with a header line; medocr reads its ``code`` and ``long``
(label) columns.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from medocr.errors import LexiconError

__all__ = [
    "CIM10_FILE",
    "READ_ERRORS",
    "MissingColumnsError",
    "find_cim10",
    "locate_cim10",
    "named_data",
    "open_cim10",
]

CIM10_FILE = "cim10.csv.gz"
"""Name of the labels file, in the ``cim10`` folder of the data folder."""

READ_ERRORS: tuple[type[Exception], ...] = (OSError, EOFError, UnicodeDecodeError, csv.Error)
"""What reading a damaged or unreadable labels file may raise (besides a missing column)."""


class MissingColumnsError(ValueError):
    """The labels file lacks columns the reader needs (:attr:`missing`, sorted)."""

    def __init__(self, missing: Iterable[str]) -> None:
        self.missing = sorted(missing)
        super().__init__(f"missing columns {self.missing}")


def named_data(path: str | os.PathLike[str] | None = None) -> str | os.PathLike[str] | None:
    """Return where the labels are named to be: `path`, else ``$MEDOCR_DATA``, else None.

    Parameters
    ----------
    path : str or PathLike, optional
        An explicit location (see :func:`locate_cim10`).

    Returns
    -------
    str or PathLike or None
        `path` when given; else ``$MEDOCR_DATA`` when set and not empty; else None.

    """
    if path is not None:
        return path
    return os.environ.get("MEDOCR_DATA") or None


def locate_cim10(path: str | os.PathLike[str]) -> Path | None:
    """Return the labels file at or under `path`, or None when there is none.

    Parameters
    ----------
    path : str or PathLike
        The file itself, its ``cim10`` folder, or the data folder holding ``cim10/``.

    Returns
    -------
    Path or None
        The first of `path`, ``path/cim10.csv.gz``, ``path/cim10/cim10.csv.gz`` that is a
        file.

    """
    base = Path(path)
    for candidate in (base, base / CIM10_FILE, base / "cim10" / CIM10_FILE):
        if candidate.is_file():
            return candidate
    return None


def find_cim10(path: str | os.PathLike[str] | None = None) -> Path:
    """Return the path of ``cim10.csv.gz``.

    Parameters
    ----------
    path : str or PathLike, optional
        The file, its ``cim10`` folder, or the data folder holding ``cim10/``. Default:
        ``$MEDOCR_DATA`` (never a guess from the working directory).

    Returns
    -------
    Path
        The file.

    Raises
    ------
    LexiconError
        When it is not there, or when neither `path` nor ``$MEDOCR_DATA`` is given.

    """
    named = named_data(path)
    if named is None:
        raise LexiconError(
            "no CIM-10 labels given: pass --cim10 DIR or set MEDOCR_DATA to the folder "
            "holding cim10/"
        )
    found = locate_cim10(named)
    if found is None:
        raise LexiconError(
            f"{Path(named)}: no cim10.csv.gz there (pass --cim10 DIR or set MEDOCR_DATA to the "
            "folder holding cim10/)"
        )
    return found


@contextlib.contextmanager
def open_cim10(
    path: str | os.PathLike[str], columns: Iterable[str]
) -> Iterator[csv.DictReader[str]]:
    """Open the labels file as CSV rows (dicts keyed by column name).

    Parameters
    ----------
    path : str or PathLike
        The ``cim10.csv.gz`` file (see :func:`locate_cim10`).
    columns : iterable of str
        Columns the caller reads (``"code"``, ``"long"``).

    Yields
    ------
    csv.DictReader
        The rows, read lazily while the file is open.

    Raises
    ------
    MissingColumnsError
        When the header lacks one of `columns`.
    OSError, EOFError, UnicodeDecodeError, csv.Error
        When the file cannot be read (:data:`READ_ERRORS`), here or while iterating.

    """
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = set(columns) - set(reader.fieldnames or ())
        if missing:
            raise MissingColumnsError(missing)
        yield reader
