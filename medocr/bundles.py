"""Versioned model bundles: a folder of files, ``meta.json``, and a sha256 manifest over all.

``meta.json`` holds at least ``format_version``, ``kind``, ``medocr_version`` and
``files`` (name -> sha256); model-specific keys (alphabet, input height, normalisation,
training summary with attributions, metrics) sit beside them.

``meta.json`` says what the weights mean, so it is covered by a hash too, from a manifest
it cannot edit:

* a **shipped** bundle (``medocr/data/models/<name>/``, found by name) is checked against
  ``medocr/data/models/SHIPPED.sha256``, package data that lists every file of every
  shipped bundle (``python -m medocr.bundles update-shipped`` regenerates it after a model
  is shipped);
* any other bundle is checked against its own ``bundle.sha256`` (``sha256sum`` format,
  every file of the folder but itself, ``meta.json`` included), written whenever a bundle
  is written (:func:`write_meta`, :func:`write_bundle`, :func:`write_bundle_file`).

The files checked are the files present in the folder, not a list that ``meta.json``
declares: a missing, added or altered file, or a bundle without its manifest, is a
:class:`~medocr.errors.ModelError` naming the folder and the file, never a silently
different model. A trusted bundle written before manifests existed is re-sealed once with
:func:`seal` (``python -m medocr.bundles seal FOLDER``).

The manifest of a user bundle detects corruption and partial edits; whoever can rewrite the
whole folder can re-seal it. What identifies the bundle actually read is its digest (the
sha256 of its manifest, :attr:`Bundle.digest`), which results record.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from medocr._version import __version__
from medocr.errors import ModelError
from medocr.fileio import atomic_folder, is_temp_name, remove_temp_files, write_atomic

FORMAT_VERSION = 1
META = "meta.json"
MANIFEST = "bundle.sha256"
SHIPPED_MANIFEST = "SHIPPED.sha256"
UPDATE_SHIPPED = "python -m medocr.bundles update-shipped"
_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)")


@dataclass(frozen=True)
class Bundle:
    """A bundle folder whose files were verified against its manifest.

    Parameters
    ----------
    folder : Path
        The bundle folder.
    meta : dict
        Its ``meta.json``, parsed from the very bytes that were verified.
    hashes : mapping of str to str
        sha256 of every file present (relative posix name -> hex), manifest excluded.
    shipped : bool
        True for a bundle of ``medocr/data/models``, checked against the package hashes.
    """

    folder: Path
    meta: dict[str, Any]
    hashes: Mapping[str, str]
    shipped: bool

    @property
    def digest(self) -> str:
        """sha256 of the bundle's manifest: one hex string that identifies all its files."""
        return hashlib.sha256(format_manifest(self.hashes).encode("utf-8")).hexdigest()

    def read_bytes(self, name: str) -> bytes:
        """Read one file of the bundle, checking its bytes against the verified sha256.

        What is returned is what was checked, even if the file changes after loading began.

        Raises
        ------
        ModelError
            Not a file of the bundle, unreadable, or changed since the bundle was verified.
        """
        expected = self.hashes.get(name)
        if expected is None:
            raise ModelError(f"{self.folder}: bundle file {name} is missing")
        try:
            data = (self.folder / name).read_bytes()
        except OSError as exc:
            raise ModelError(f"{self.folder}: cannot read bundle file {name} ({exc})") from exc
        if hashlib.sha256(data).hexdigest() != expected:
            raise ModelError(
                f"{self.folder}: bundle file {name} changed while the bundle was being loaded"
            )
        return data


def sha256_file(path: str | Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def format_manifest(hashes: Mapping[str, str]) -> str:
    """Return ``sha256sum``-style lines (``<hex>  <name>``), sorted by name."""
    for name in hashes:
        if "\n" in name or "\\" in name:
            raise ModelError(f"{name!r}: a bundle file name may not hold a newline or backslash")
    return "".join(f"{hashes[name]}  {name}\n" for name in sorted(hashes))


def parse_manifest(text: str, source: str | Path) -> dict[str, str]:
    """Parse ``sha256sum``-style lines into ``{name: hex}``.

    Raises
    ------
    ModelError
        A line is not ``<64 hex>  <name>``, or a name is listed twice (`source` is named).
    """
    hashes: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        match = _LINE.fullmatch(line)
        if match is None:
            raise ModelError(f"{source}: line {number} is not '<sha256>  <file name>'")
        digest, name = match.groups()
        if name in hashes:
            raise ModelError(f"{source}: {name} is listed twice")
        hashes[name] = digest
    return hashes


def hash_files(folder: str | Path) -> dict[str, str]:
    """sha256 of every entry under `folder` (relative posix name -> hex), sorted by name.

    Symbolic links to folders are not followed: they are entries, and not regular files.

    Raises
    ------
    ModelError
        An entry is not a regular file, or cannot be read.
    """
    root = Path(folder)
    hashes: dict[str, str] = {}
    for directory, folders, files in os.walk(root):
        folders.sort()
        base = Path(directory)
        linked = [f for f in folders if (base / f).is_symlink()]
        for name in sorted([*files, *linked]):
            path = base / name
            if is_temp_name(name):  # left by a killed atomic write: never part of a bundle
                continue
            relative = path.relative_to(root).as_posix()
            if not path.is_file():
                raise ModelError(f"{root}: bundle entry {relative} is not a regular file")
            try:
                hashes[relative] = sha256_file(path)
            except OSError as exc:
                raise ModelError(f"{root}: cannot read bundle file {relative} ({exc})") from exc
    return dict(sorted(hashes.items()))


def shipped_root() -> Path:
    """Return the folder of the shipped bundles (``medocr/data/models``)."""
    return Path(str(resources.files("medocr") / "data" / "models"))


def is_shipped(folder: str | Path) -> bool:
    """Tell whether `folder` is one of the shipped bundle folders (however it is spelled)."""
    try:
        return Path(folder).resolve().parent == shipped_root().resolve()
    except OSError:
        return False


def shipped_hashes() -> dict[str, dict[str, str]]:
    """Return the package's hashes of the shipped bundles: ``{bundle name: {file: hex}}``.

    Raises
    ------
    ModelError
        ``SHIPPED.sha256`` is missing or malformed (a broken installation).
    """
    path = shipped_root() / SHIPPED_MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelError(
            f"{path}: the hashes of the shipped models cannot be read ({exc}); reinstall medocr"
        ) from exc
    bundles: dict[str, dict[str, str]] = {}
    for name, digest in parse_manifest(text, path).items():
        bundle, _, file = name.partition("/")
        if not file:
            raise ModelError(f"{path}: {name} is not '<bundle>/<file>'")
        bundles.setdefault(bundle, {})[file] = digest
    return bundles


def write_meta(folder: str | Path, kind: str, meta: dict[str, Any]) -> dict[str, Any]:
    """Hash every file of `folder`, write ``meta.json`` and seal the bundle (atomic writes).

    Parameters
    ----------
    folder : str or Path
        The bundle folder, its files already written. A shipped bundle written this way is
        refused on load until ``python -m medocr.bundles update-shipped`` records it.
    kind : str
        Bundle kind (``crnn-ctc``, ``hog-lgbm``, ...).
    meta : dict
        Model-specific metadata, JSON-ready.

    Returns
    -------
    dict
        The full metadata written.
    """
    root = Path(folder)
    full = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "medocr_version": __version__,
        **meta,
        "files": _listed(hash_files(root)),
    }
    write_atomic(root / META, _meta_bytes(full))
    _write_manifest(root)
    return full


def write_bundle(
    folder: str | Path, kind: str, write_files: Callable[[Path], None], meta: dict[str, Any]
) -> dict[str, Any]:
    """Write a bundle into a staging folder, then swap it in place of `folder`.

    Parameters
    ----------
    folder : str or Path
        Destination; an existing bundle there is replaced only once the new one is complete.
    kind : str
        Bundle kind recorded in ``meta.json``.
    write_files : callable
        Called with the staging folder; writes the model files into it.
    meta : dict
        Model-specific metadata (see :func:`write_meta`).

    Returns
    -------
    dict
        The metadata written.
    """
    with atomic_folder(folder) as staging:
        write_files(staging)
        written = write_meta(staging, kind, meta)
    return written


def write_bundle_file(folder: str | Path, name: str, data: bytes) -> dict[str, Any]:
    """Add or replace one file of a verified bundle, then re-seal it.

    For what legitimately changes a bundle after it was written (``calibration.json`` from
    ``medocr evaluate --fit-calibration``, ``model.onnx`` from ``medocr export``). The
    bundle is verified first, so a tampered bundle is never re-sealed by accident.

    Parameters
    ----------
    folder : str or Path
        The bundle folder (a shipped one is then refused on load until
        ``python -m medocr.bundles update-shipped`` records it).
    name : str
        File name inside the bundle (not ``meta.json`` nor ``bundle.sha256``).
    data : bytes
        The new content, written atomically.

    Returns
    -------
    dict
        The bundle's metadata, its ``files`` updated.

    Raises
    ------
    ModelError
        The bundle does not verify, or `name` is not a plain file name.
    """
    root = Path(folder)
    if name in (META, MANIFEST) or Path(name).name != name or name in ("", ".", ".."):
        raise ModelError(f"{root}: {name!r} cannot be written as a bundle file")
    meta = open_bundle(root).meta
    remove_temp_files(root)
    write_atomic(root / name, data)
    return _reseal(root, meta)


def seal(folder: str | Path) -> str:
    """Write ``bundle.sha256`` for a bundle you trust (one written before manifests existed).

    The files that ``meta.json`` lists must still match their sha256; files it does not list
    are added to its ``files``. Only seal a bundle whose origin you know: sealing is what
    makes its current ``meta.json`` (alphabet, input height) trusted.

    Returns
    -------
    str
        The bundle digest (sha256 of the manifest written).

    Raises
    ------
    ModelError
        Not a bundle, a shipped bundle, or a file that ``meta.json`` lists is missing or altered.
    """
    root = Path(folder)
    _refuse_shipped(root)
    remove_temp_files(root)
    return _seal(root)


def resolve(name_or_path: str | Path) -> Path:
    """Return the folder of a bundle given by path, or by name among the shipped ones.

    Raises
    ------
    ModelError
        Neither a folder nor a shipped bundle name (the message lists the shipped ones).
    """
    path = Path(name_or_path)
    if path.is_dir():
        return path
    shipped = shipped_root()
    name = str(name_or_path)
    candidate = shipped / name
    if name and Path(name).name == name and name not in (".", "..") and candidate.is_dir():
        return candidate
    names = sorted(p.name for p in shipped.iterdir() if p.is_dir()) if shipped.is_dir() else []
    raise ModelError(
        f"{name_or_path}: no such model bundle folder, and not a shipped model "
        f"(shipped: {', '.join(names) or 'none'})"
    )


def open_bundle(folder: str | Path, kind: str | None = None) -> Bundle:
    """Verify a bundle folder against its manifest and read its ``meta.json``.

    Parameters
    ----------
    folder : str or Path
        The bundle folder.
    kind : str, optional
        Expected kind.

    Returns
    -------
    Bundle
        The folder, its metadata and the verified sha256 of its files.

    Raises
    ------
    ModelError
        No meta.json; no manifest; a file missing, added or altered since the bundle was
        sealed (shipped bundles: since medocr was installed); unreadable meta.json; unknown
        format_version; wrong kind.
    """
    root = Path(folder)
    if not (root / META).is_file():
        raise ModelError(f"{root}: not a model bundle (no {META})")
    actual = hash_files(root)
    hashes = {name: digest for name, digest in actual.items() if name != MANIFEST}
    shipped = is_shipped(root)
    if shipped:  # the package's hashes cover every file, the bundle's own manifest included
        _compare(root, actual, _shipped_expected(root), str(shipped_root() / SHIPPED_MANIFEST))
    else:
        _compare(root, hashes, _read_manifest(root), MANIFEST)
    try:
        raw = (root / META).read_bytes()
    except OSError as exc:
        raise ModelError(f"{root}: cannot read bundle file {META} ({exc})") from exc
    if hashlib.sha256(raw).hexdigest() != hashes.get(META):
        raise ModelError(f"{root}: bundle file {META} changed while the bundle was being loaded")
    meta = _parse_meta(root, raw)
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            f"{root / META}: bundle format_version {meta.get('format_version')!r} is not "
            f"supported (expected {FORMAT_VERSION})"
        )
    if kind is not None and meta.get("kind") != kind:
        raise ModelError(f"{root}: bundle kind is {meta.get('kind')!r}, expected {kind!r}")
    _check_listed(root, meta, hashes)
    return Bundle(root, meta, hashes, shipped)


def read_meta(folder: str | Path, kind: str | None = None) -> dict[str, Any]:
    """Read a bundle's ``meta.json`` once every file is verified (see :func:`open_bundle`).

    Raises
    ------
    ModelError
        As :func:`open_bundle`.
    """
    return open_bundle(folder, kind).meta


def copy_bundle(source: str | Path, destination: str | Path) -> Path:
    """Copy a verified bundle folder to `destination` (which must not exist), sealed."""
    bundle = open_bundle(source)
    target = Path(destination)
    if target.exists():
        raise ModelError(f"{target}: already exists")
    shutil.copytree(bundle.folder, target)
    copied = {n: d for n, d in hash_files(target).items() if n != MANIFEST}
    if copied != dict(bundle.hashes):
        shutil.rmtree(target, ignore_errors=True)
        raise ModelError(f"{bundle.folder}: bundle changed while it was being copied")
    if not (target / MANIFEST).is_file():
        _write_manifest(target)
    return target


def update_shipped() -> Path:
    """Seal every shipped bundle and rewrite ``SHIPPED.sha256`` (after shipping a model).

    Run from a source checkout: ``python -m medocr.bundles update-shipped``. Each shipped
    bundle is sealed as by :func:`seal` (its ``meta.json`` files must still match).

    Returns
    -------
    Path
        The ``SHIPPED.sha256`` written.
    """
    root = shipped_root()
    lines: dict[str, str] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name[:1] not in "._"):
        _seal(folder)
        for name, digest in hash_files(folder).items():
            lines[f"{folder.name}/{name}"] = digest
    path = root / SHIPPED_MANIFEST
    write_atomic(path, format_manifest(lines).encode("utf-8"))
    return path


# --- internals ------------------------------------------------------------------------------


def _listed(hashes: Mapping[str, str]) -> dict[str, str]:
    """`hashes` without meta.json and the manifest: the ``files`` that meta.json lists."""
    return {n: d for n, d in hashes.items() if n not in (META, MANIFEST)}


def _meta_bytes(meta: dict[str, Any]) -> bytes:
    return json.dumps(meta, indent=1, ensure_ascii=False).encode("utf-8")


def _parse_meta(root: Path, raw: bytes) -> dict[str, Any]:
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelError(f"{root / META}: unreadable bundle metadata ({exc})") from exc
    if not isinstance(meta, dict):
        raise ModelError(f"{root / META}: unreadable bundle metadata (not a JSON object)")
    return meta


def _write_manifest(root: Path) -> str:
    """Write ``bundle.sha256`` over every file of `root` but itself; return the digest."""
    hashes = {n: d for n, d in hash_files(root).items() if n != MANIFEST}
    text = format_manifest(hashes).encode("utf-8")
    write_atomic(root / MANIFEST, text)
    return hashlib.sha256(text).hexdigest()


def _read_manifest(root: Path) -> dict[str, str]:
    path = root / MANIFEST
    if not path.is_file():
        raise ModelError(
            f"{root}: bundle has no {MANIFEST}, so its {META} cannot be trusted; if you "
            f"trust this bundle, seal it once with: python -m medocr.bundles seal {root}"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: unreadable bundle manifest ({exc})") from exc
    return parse_manifest(text, path)


def _shipped_expected(root: Path) -> dict[str, str]:
    name = root.resolve().name
    try:
        expected = shipped_hashes().get(name)
    except ModelError as exc:
        raise ModelError(f"{root}: {exc}") from exc
    if not expected:
        raise ModelError(
            f"{root}: shipped model {name} is not in {SHIPPED_MANIFEST}; after shipping a "
            f"model run: {UPDATE_SHIPPED}"
        )
    return expected


def _compare(
    root: Path, actual: Mapping[str, str], expected: Mapping[str, str], source: str
) -> None:
    problems = [f"bundle file {n} is missing" for n in sorted(expected.keys() - actual.keys())]
    problems += [
        f"bundle file {n} is not listed in {source} (added after the bundle was sealed)"
        for n in sorted(actual.keys() - expected.keys())
    ]
    problems += [
        f"bundle file {n} does not match its sha256 in {source} (altered or corrupt)"
        for n in sorted(actual.keys() & expected.keys())
        if actual[n] != expected[n]
    ]
    if problems:
        hint = (
            f" (an altered installation: reinstall medocr; after shipping a model on "
            f"purpose, run: {UPDATE_SHIPPED})"
            if source.endswith(SHIPPED_MANIFEST)
            else ""
        )
        raise ModelError(f"{root}: {'; '.join(problems)}{hint}")


def _check_listed(root: Path, meta: dict[str, Any], actual: Mapping[str, str]) -> None:
    """Check the files that ``meta.json`` lists too (what older medocr versions check)."""
    listed = meta.get("files", {})
    if not isinstance(listed, dict):
        raise ModelError(f"{root / META}: 'files' is not a mapping of file name to sha256")
    for name, expected in listed.items():
        if name not in actual:
            raise ModelError(f"{root}: bundle file {name} is missing")
        if actual[name] != expected:
            raise ModelError(
                f"{root}: bundle file {name} does not match its sha256 in {META} "
                f"(altered or corrupt)"
            )


def _reseal(root: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Update ``files`` in meta.json (only if it changed) and rewrite the manifest."""
    files = _listed(hash_files(root))
    if meta.get("files") != files:
        meta = {**meta, "files": files}
        write_atomic(root / META, _meta_bytes(meta))
    _write_manifest(root)
    return meta


def _seal(root: Path) -> str:
    if not (root / META).is_file():
        raise ModelError(f"{root}: not a model bundle (no {META})")
    meta = _parse_meta(root, (root / META).read_bytes())
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            f"{root / META}: bundle format_version {meta.get('format_version')!r} is not "
            f"supported (expected {FORMAT_VERSION})"
        )
    _check_listed(root, meta, hash_files(root))
    _reseal(root, meta)
    return hashlib.sha256((root / MANIFEST).read_bytes()).hexdigest()


def _refuse_shipped(root: Path) -> None:
    if is_shipped(root):
        raise ModelError(
            f"{root}: a shipped bundle is sealed by the package's {SHIPPED_MANIFEST}; "
            f"after shipping a model run: {UPDATE_SHIPPED}"
        )


def _main(argv: list[str]) -> int:
    usage = "usage: python -m medocr.bundles (seal FOLDER... | update-shipped)"
    try:
        if argv[:1] == ["seal"] and len(argv) > 1:
            for folder in argv[1:]:
                print(f"{folder}: sealed, digest {seal(folder)}")
        elif argv == ["update-shipped"]:
            print(f"{update_shipped()}: written")
        elif argv in (["-h"], ["--help"]):
            print(usage)
            print(
                "  seal FOLDER...   write bundle.sha256 for bundles you trust (made before "
                "manifests)\n  update-shipped   record the shipped bundles' hashes in the "
                f"package ({SHIPPED_MANIFEST}) after shipping a model"
            )
        else:
            print(usage, file=sys.stderr)
            return 2
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
