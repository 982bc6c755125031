"""The synthesiser's word tables, shipped as JSON files in ``medocr/data/synth/``.

- ``causes.json``: cause-of-death terms by role on the form and by family, and how often
  each family gives the underlying cause;
- ``wording.json``: modifiers, connectors, abbreviations, patient qualifiers, unknown
  causes, the head words that decide a condition's gender, words with an *h aspiré*;
- ``intervals.json``: time scales of the intervals, vague answers, month names;
- ``cim10.json``: how CIM-10 labels become terms (code ranges, rejected words...).

Each file is read once per process (:func:`load_table`); :mod:`medocr.synth.text` turns
the tables into its constants. Editing a file changes the synthetic text of every seed:
the tests pin a few samples.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from functools import cache
from importlib import resources
from typing import Any

from medocr.errors import MedocrError

TABLES = ("causes", "wording", "intervals", "cim10")


@cache
def load_table(name: str) -> Mapping[str, Any]:
    """Return the parsed table ``medocr/data/synth/<name>.json`` (read once, cached).

    Parameters
    ----------
    name : str
        One of :data:`TABLES`.

    Returns
    -------
    Mapping of str to Any
        The JSON object. Callers must not modify it.

    Raises
    ------
    MedocrError
        Unknown name, or a file that is missing or not a JSON object (a broken install).

    """
    if name not in TABLES:
        raise MedocrError(f"unknown synth table {name!r} (expected one of {', '.join(TABLES)})")
    entry = resources.files("medocr") / "data" / "synth" / f"{name}.json"
    try:
        data = json.loads(entry.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MedocrError(f"medocr/data/synth/{name}.json: unreadable ({exc})") from exc
    if not isinstance(data, dict):
        raise MedocrError(f"medocr/data/synth/{name}.json: not a JSON object")
    return data


def strings(value: Any, where: str) -> tuple[str, ...]:
    """Return `value` as a tuple of str, or raise MedocrError naming `where`."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MedocrError(f"medocr/data/synth/{where}: expected a list of strings")
    return tuple(value)


def pairs(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    """Return `value` (a list of ``[a, b]`` string pairs) as a tuple of pairs."""
    if not isinstance(value, list):
        raise MedocrError(f"medocr/data/synth/{where}: expected a list of [str, str] pairs")
    out = []
    for item in value:
        pair = strings(item, where)
        if len(pair) != 2:
            raise MedocrError(f"medocr/data/synth/{where}: {item!r} is not a [str, str] pair")
        out.append((pair[0], pair[1]))
    return tuple(out)


def by_family(value: Any, where: str) -> dict[str, tuple[str, ...]]:
    """Return a ``{family: [term, ...]}`` object as a dict of tuples (file order kept)."""
    if not isinstance(value, dict):
        raise MedocrError(f"medocr/data/synth/{where}: expected an object of families")
    return {family: strings(terms, f"{where}.{family}") for family, terms in value.items()}


def word_set(
    value: Any, where: str, named: Mapping[str, Collection[str]] | None = None
) -> frozenset[str]:
    """Return a list of words as a frozenset; ``"@name"`` items add the set `named[name]`."""
    words: set[str] = set()
    for word in strings(value, where):
        if word.startswith("@"):
            if named is None or word[1:] not in named:
                raise MedocrError(f"medocr/data/synth/{where}: unknown word set {word!r}")
            words.update(named[word[1:]])
        else:
            words.add(word)
    return frozenset(words)
