"""Loading a lexicon: the packaged one, a saved folder (every file verified), or a word list."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from medocr.errors import LexiconError
from medocr.lexicon.bigram import BigramModel
from medocr.lexicon.io import (
    BIGRAMS_FILE,
    CHANGELOG_FILE,
    DEFAULT_LEXICON,
    FORMAT_VERSION,
    MANIFEST_FILE,
    SHA256_HEX,
    STAGING_DIR,
    WORDS_FILE,
    package_root,
    packaged_lexicon_path,
    parse_word_lines,
    sha256_hex,
    staged_name,
)
from medocr.lexicon.model import Lexicon
from medocr.lexicon.words import CASE_POLICY

__all__ = ["load_lexicon"]


class _Folder(Protocol):
    """What a lexicon folder must offer: a Path or an importlib.resources Traversable."""

    def __truediv__(self, name: str) -> Any: ...


def _read_member(folder: _Folder, name: str, label: str) -> bytes:
    member = folder / name
    try:
        return member.read_bytes()
    except OSError as exc:
        reason = "missing" if isinstance(exc, FileNotFoundError) else exc.strerror
        raise LexiconError(f"{label}/{name}: {reason}") from None


def _load_folder(folder: _Folder, label: str) -> Lexicon:
    """Load a saved lexicon from a Path or Traversable, verifying every listed sha256.

    When a file does not match and ``manifest.json`` changed meanwhile (a save switched
    versions while this was reading), the load starts again, up to three times.
    """
    for attempt in range(3):
        raw = _read_member(folder, MANIFEST_FILE, label)
        try:
            return _load_version(folder, label, raw)
        except LexiconError:
            try:
                switched = (folder / MANIFEST_FILE).read_bytes() != raw
            except OSError:
                switched = False
            if attempt == 2 or not switched:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _load_version(folder: _Folder, label: str, raw: bytes) -> Lexicon:
    """Load the version that manifest bytes `raw` of `folder` describe."""
    try:
        manifest = json.loads(raw.decode("utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
    except (UnicodeDecodeError, ValueError) as exc:
        raise LexiconError(f"{label}/{MANIFEST_FILE}: not valid JSON ({exc})") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise LexiconError(
            f"{label}/{MANIFEST_FILE}: unknown format_version {manifest.get('format_version')!r} "
            f"(this medocr reads {FORMAT_VERSION})"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or WORDS_FILE not in files:
        raise LexiconError(f"{label}/{MANIFEST_FILE}: no 'files' entry for {WORDS_FILE}")
    if not all(isinstance(entry, dict) for entry in files.values()):
        raise LexiconError(f"{label}/{MANIFEST_FILE}: 'files' entries must be objects")

    def verified(name: str) -> bytes:
        expected = str(files[name].get("sha256", ""))
        try:
            data = (folder / name).read_bytes()
        except OSError:
            data = None
        if data is not None and sha256_hex(data) == expected:
            return data
        if SHA256_HEX.fullmatch(expected):  # a save killed after its switch left it staged
            try:
                staged = (folder / STAGING_DIR / staged_name(name, expected)).read_bytes()
            except OSError:
                staged = None
            if staged is not None and sha256_hex(staged) == expected:
                return staged
        data = _read_member(folder, name, label)  # again: a save may have just moved it in
        actual = sha256_hex(data)
        if actual != expected:
            raise LexiconError(
                f"{label}/{name}: sha256 mismatch (manifest {expected[:12]}, file "
                f"{actual[:12]}): the file was changed after the lexicon was saved"
            )
        return data

    words = parse_word_lines(verified(WORDS_FILE), f"{label}/{WORDS_FILE}", strict=False)
    bigrams: Callable[[], BigramModel] | None = None
    if BIGRAMS_FILE in files:
        bigram_bytes = verified(BIGRAMS_FILE)  # read now: a later save may replace the file

        def bigrams() -> BigramModel:
            return BigramModel.from_tsv(bigram_bytes, f"{label}/{BIGRAMS_FILE}")

    changelog = b""
    if CHANGELOG_FILE in files:
        changelog = verified(CHANGELOG_FILE)
    elif (folder / CHANGELOG_FILE).is_file():  # saved before CHANGELOG.md was listed
        changelog = _read_member(folder, CHANGELOG_FILE, label)
    meta = {k: manifest[k] for k in ("description", "build", "parent") if k in manifest}
    if isinstance(manifest.get("bigram_model"), dict):
        meta["bigram_model"] = {
            k: v for k, v in manifest["bigram_model"].items() if k in ("training", "note")
        }
    try:
        return Lexicon._saved(
            words,
            name=manifest["name"],
            version=manifest["version"],
            sources=manifest.get("sources", []),
            case_policy=manifest.get("case_policy", CASE_POLICY),
            changelog=changelog.decode("utf-8", errors="replace"),
            bigrams=bigrams,
            meta=meta,
            origin=label,
        )
    except KeyError as exc:
        raise LexiconError(f"{label}/{MANIFEST_FILE}: missing {exc}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise LexiconError(f"{label}/{MANIFEST_FILE}: malformed ({exc})") from None


@functools.lru_cache(maxsize=4)
def _load_packaged(name: str) -> Lexicon:
    folder = package_root() / name
    return _load_folder(folder, str(packaged_lexicon_path(name) or f"medocr/data/lexicons/{name}"))


def load_lexicon(name_or_path: str | os.PathLike[str] | None = None) -> Lexicon:
    """Load a lexicon: the packaged one, a saved folder, or a user word list.

    Parameters
    ----------
    name_or_path : str or PathLike, optional
        None or ``"fr-medical"``: the frozen copy shipped in medocr (cached; it is
        immutable). A folder: a lexicon written by :meth:`Lexicon.save`, every file
        checked against the sha256 in its manifest. A ``.txt``, ``.csv`` or ``.tsv``
        file: a word list (:func:`read_word_list`), named after the file, version 0.0.0.

    Returns
    -------
    Lexicon
        The lexicon.

    Raises
    ------
    LexiconError
        Unknown name, missing or malformed file, sha256 mismatch (naming the file).

    """
    if name_or_path is None:
        name_or_path = DEFAULT_LEXICON
    path = Path(name_or_path)
    if path.is_dir():
        return _load_folder(path, str(path))
    if path.suffix.lower() in (".txt", ".csv", ".tsv"):
        if not path.is_file():
            raise LexiconError(f"{path}: no such word list")
        return Lexicon.from_word_list(path)
    name = str(name_or_path)
    if "/" not in name and os.sep not in name and (package_root() / name / MANIFEST_FILE).is_file():
        return _load_packaged(name)
    shipped = (
        sorted(p.name for p in package_root().iterdir() if (p / MANIFEST_FILE).is_file())
        if package_root().is_dir()
        else []
    )
    raise LexiconError(
        f"unknown lexicon {name!r}: not a packaged lexicon ({', '.join(shipped) or 'none'}), "
        "a lexicon folder or a .txt/.csv/.tsv word list"
    )
