"""Versioned model bundles: a folder of files plus ``meta.json`` with their sha256.

``meta.json`` holds at least ``format_version``, ``kind``, ``medocr_version`` and
``files`` (name -> sha256); model-specific keys (alphabet, input height, normalisation,
training summary with attributions, metrics) sit beside them. Loading verifies every
listed file: a missing or altered file is a :class:`~medocr.errors.ModelError`, never a
silently different model. Shipped bundles live in ``medocr/data/models/<name>/`` and are
found by name.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from medocr._version import __version__
from medocr.errors import ModelError

FORMAT_VERSION = 1
META = "meta.json"


def sha256_file(path: str | Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_meta(folder: str | Path, kind: str, meta: dict[str, Any]) -> dict[str, Any]:
    """Hash every file of `folder` (but meta.json) and write ``meta.json`` atomically.

    Parameters
    ----------
    folder : str or Path
        The bundle folder, its files already written.
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
    files = {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != META
    }
    full = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "medocr_version": __version__,
        **meta,
        "files": files,
    }
    handle, tmp = tempfile.mkstemp(prefix=".meta.", dir=root)
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        json.dump(full, stream, indent=1, ensure_ascii=False)
    os.replace(tmp, root / META)
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
    target = Path(folder)
    staging = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    write_files(staging)
    written = write_meta(staging, kind, meta)
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(target)
    return written


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
    shipped = resources.files("medocr") / "data" / "models"
    candidate = shipped / str(name_or_path)
    if candidate.is_dir():
        return Path(str(candidate))
    names = sorted(p.name for p in shipped.iterdir() if p.is_dir()) if shipped.is_dir() else []
    raise ModelError(
        f"{name_or_path}: no such model bundle folder, and not a shipped model "
        f"(shipped: {', '.join(names) or 'none'})"
    )


def read_meta(folder: str | Path, kind: str | None = None) -> dict[str, Any]:
    """Read and verify a bundle's ``meta.json`` and files.

    Parameters
    ----------
    folder : str or Path
        The bundle folder.
    kind : str, optional
        Expected kind.

    Returns
    -------
    dict
        The metadata.

    Raises
    ------
    ModelError
        Missing or unreadable meta.json, unknown format_version, wrong kind, or a listed
        file missing or with another sha256.
    """
    root = Path(folder)
    path = root / META
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(f"{root}: not a model bundle (no {META})") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable bundle metadata ({exc})") from exc
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            f"{path}: bundle format_version {meta.get('format_version')!r} is not "
            f"supported (expected {FORMAT_VERSION})"
        )
    if kind is not None and meta.get("kind") != kind:
        raise ModelError(f"{root}: bundle kind is {meta.get('kind')!r}, expected {kind!r}")
    for name, expected in meta.get("files", {}).items():
        file = root / name
        if not file.is_file():
            raise ModelError(f"{root}: bundle file {name} is missing")
        if sha256_file(file) != expected:
            raise ModelError(
                f"{root}: bundle file {name} does not match its sha256 in {META} "
                f"(altered or corrupt)"
            )
    return meta


def copy_bundle(source: str | Path, destination: str | Path) -> Path:
    """Copy a verified bundle folder to `destination` (which must not exist)."""
    read_meta(source)
    target = Path(destination)
    if target.exists():
        raise ModelError(f"{target}: already exists")
    shutil.copytree(source, target)
    return target
