"""Cause-of-death text as doctors handwrite it on the *volet médical* of the certificat de décès.

The sampler builds a coherent causal chain (immediate cause on line a, underlying cause on
the last used line of Partie I), adds the contributing conditions of Partie II, the intervals
("délai entre le début de l'affection et le décès"), the date of death and the tick boxes,
and varies the wording the way doctors do: abbreviations (``IDM``, ``K du poumon``), dropped
accents, modifiers (``probable``, ``massive``), two conditions joined on one line
(``pneumopathie sur fausse route``), doubt marks and the odd empty line.

Everything works from the built-in vocabulary (word tables shipped in
``medocr/data/synth/``, see :mod:`medocr.synth.tables`); :meth:`Vocabulary.from_cim10` adds
cleaned CIM-10 (French ICD-10) labels as extra underlying and contributing terms, from a
data folder named explicitly (an argument or ``$MEDOCR_DATA``, never a guess). Output text
only uses :data:`FRENCH_CHARSET`; capitals for the whole line are the renderer's job.

>>> import numpy as np
>>> text = sample_cause_text(np.random.default_rng(0), Vocabulary.builtin())
>>> len(text.part1)
4
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

from medocr.cim10 import READ_ERRORS, locate_cim10, named_data, open_cim10
from medocr.synth import tables
from medocr.text import fold_accents

logger = logging.getLogger(__name__)

__all__ = [
    "ABBREVIATIONS",
    "CONNECTORS",
    "CONTRIBUTING",
    "FRENCH_CHARSET",
    "IMMEDIATE",
    "INTERMEDIATE",
    "MODIFIERS",
    "PATIENT_QUALIFIERS",
    "UNDERLYING",
    "UNDERLYING_FAMILY_WEIGHTS",
    "UNKNOWN_CAUSES",
    "CauseText",
    "Modifier",
    "Vocabulary",
    "clean_cim10_label",
    "sample_cause_text",
    "sample_death_date",
    "sample_interval",
]

_FRENCH_LETTERS = "éèêëàâîïôùûüçœæ"
FRENCH_CHARSET: frozenset[str] = frozenset(
    "abcdefghijklmnopqrstuvwxyz"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "0123456789" + _FRENCH_LETTERS + _FRENCH_LETTERS.upper() + " '’-,./()?:+%"
)
"""Every character the sampler may produce: letters, French accents, digits, punctuation."""

# ---------------------------------------------------------------------------------------------
# Built-in vocabulary, read from medocr/data/synth/*.json (medocr.synth.tables). Families
# tie the chain together: an underlying cause of one family is followed (upwards on the form)
# by intermediate and immediate causes of the same family or of the "generic" one. Within a
# family, terms are listed roughly from most to least common.
# ---------------------------------------------------------------------------------------------

GENERIC = "generic"
_CAUSES = tables.load_table("causes")
_WORDING = tables.load_table("wording")
_INTERVALS = tables.load_table("intervals")
_CIM10_RULES = tables.load_table("cim10")

IMMEDIATE: Mapping[str, tuple[str, ...]] = MappingProxyType(
    tables.by_family(_CAUSES["immediate"], "causes.json:immediate")
)
"""Immediate causes (line a) by family."""

INTERMEDIATE: Mapping[str, tuple[str, ...]] = MappingProxyType(
    tables.by_family(_CAUSES["intermediate"], "causes.json:intermediate")
)
"""Intermediate causes (lines b, c) by family."""

UNDERLYING: Mapping[str, tuple[str, ...]] = MappingProxyType(
    tables.by_family(_CAUSES["underlying"], "causes.json:underlying")
)
"""Underlying (initial) causes, written on the last used line of Partie I, by family."""

CONTRIBUTING: Mapping[str, tuple[str, ...]] = MappingProxyType(
    tables.by_family(_CAUSES["contributing"], "causes.json:contributing")
)
"""Other morbid conditions written in Partie II, by family."""

UNDERLYING_FAMILY_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {family: float(w) for family, w in _CAUSES["underlying_family_weights"].items()}
)
"""How often each family gives the underlying cause (roughly French mortality shares)."""


class Modifier(NamedTuple):
    """A word a doctor adds after a condition, with its two genders and where it fits.

    Parameters
    ----------
    masculine, feminine : str
        The forms agreeing with a masculine / feminine condition.
    roles : frozenset of str
        Roles it is used with: ``immediate``, ``intermediate``, ``underlying``, ``contributing``.
    heads : frozenset of str
        First words (lowercase) of the conditions it qualifies; empty for any condition.

    """

    masculine: str
    feminine: str
    roles: frozenset[str]
    heads: frozenset[str] = frozenset()


_WORD_SETS = {
    name: tables.word_set(words, f"wording.json:word_sets.{name}")
    for name, words in _WORDING["word_sets"].items()
}


def _modifier(spec: Mapping[str, Any], index: int) -> Modifier:
    where = f"wording.json:modifiers[{index}]"
    return Modifier(
        str(spec["masculine"]),
        str(spec["feminine"]),
        tables.word_set(spec["roles"], where + ".roles"),
        tables.word_set(spec.get("heads", []), where + ".heads", _WORD_SETS),
    )


MODIFIERS: tuple[Modifier, ...] = tuple(
    _modifier(spec, i) for i, spec in enumerate(_WORDING["modifiers"])
)
"""Modifiers appended after a condition (``embolie pulmonaire massive``)."""

CONNECTORS: tuple[str, ...] = tables.strings(_WORDING["connectors"], "wording.json:connectors")
"""Words joining two conditions on one line (the gendered ones are listed masculine)."""

# Connectors written "effect CONNECTOR cause" / "cause CONNECTOR effect", (masculine, feminine).
_FORWARD_CONNECTORS = tables.pairs(_WORDING["forward_connectors"], "wording.json")
_REVERSE_CONNECTORS = tables.pairs(_WORDING["reverse_connectors"], "wording.json")

ABBREVIATIONS: tuple[tuple[str, str], ...] = tables.pairs(
    _WORDING["abbreviations"], "wording.json:abbreviations"
)
"""Doctors' abbreviations as ``(full form, abbreviation)``; a full form may have several."""

PATIENT_QUALIFIERS: tuple[tuple[str, str], ...] = tables.pairs(
    _WORDING["patient_qualifiers"], "wording.json:patient_qualifiers"
)
"""What follows ``chez un patient`` / ``chez une patiente``."""

UNKNOWN_CAUSES: tuple[str, ...] = tables.strings(
    _WORDING["unknown_causes"], "wording.json:unknown_causes"
)
"""What a doctor writes on line a when the cause is not known."""

_MONTHS = tables.strings(_INTERVALS["months"], "intervals.json:months")

# Genders: head words (first word of a condition) that decide masculine / feminine, else
# the word's ending.
_FEMININE_HEADS = tables.word_set(_WORDING["feminine_heads"], "wording.json:feminine_heads")
_MASCULINE_HEADS = tables.word_set(_WORDING["masculine_heads"], "wording.json:masculine_heads")
_FEMININE_ENDINGS = tables.strings(_WORDING["feminine_endings"], "wording.json:feminine_endings")
# Words starting with an h aspiré: no elision (``de hernie``, not ``d'hernie``).
_H_ASPIRE = tables.strings(_WORDING["h_aspire"], "wording.json:h_aspire")

# ---------------------------------------------------------------------------------------------
# CIM-10 reading and cleaning.
# ---------------------------------------------------------------------------------------------


def _code_ranges(key: str) -> tuple[tuple[str, str, str], ...]:
    ranges = []
    for item in _CIM10_RULES[key]:
        low, high, family = tables.strings(item, f"cim10.json:{key}")
        ranges.append((low, high, family))
    return tuple(ranges)


# Code ranges kept (first three characters, inclusive) and the family each one feeds.
_CIM10_UNDERLYING = _code_ranges("underlying_ranges")
_CIM10_CONTRIBUTING = _code_ranges("contributing_ranges")
_CIM10_REJECT_WORDS = tables.word_set(_CIM10_RULES["reject_words"], "cim10.json:reject_words")
_DANGLING_WORDS = tables.word_set(_CIM10_RULES["dangling_words"], "cim10.json:dangling_words")
_OE_FIXES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bcoeur"), "cœur"),
    (re.compile(r"\boesophag"), "œsophag"),
    (re.compile(r"\bOesophag"), "Œsophag"),
    (re.compile(r"\boeil\b"), "œil"),
    (re.compile(r"\boed[èe]m"), "œdèm"),
)
# First words ending in -s/-x that are singular, or plurals doctors do write.
_SINGULAR_S = tables.word_set(_CIM10_RULES["singular_s"], "cim10.json:singular_s")
_CIM10_MIN_WORDS = 2
_CIM10_MAX_WORDS = 6
_CIM10_MAX_CHARS = 45


def _fix_oe(text: str) -> str:
    for pattern, replacement in _OE_FIXES:
        text = pattern.sub(replacement, text)
    return text


def _strip_qualifiers(label: str) -> str:
    text = re.sub(r"\*\*\*.*?\*\*\*", " ", label)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    while re.search(r"\([^()]*\)", text):
        text = re.sub(r"\([^()]*\)", " ", text)
    text = re.split(r",| : | - |;", text, maxsplit=1)[0]
    return " ".join(text.split())


def _lower_first(text: str) -> str:
    first = text.split(" ", 1)[0]
    letters = [c for c in first if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return text
    return text[:1].lower() + text[1:]


def clean_cim10_label(label: str) -> str | None:
    """Turn a CIM-10 ``long`` label into the words a doctor would write, or None.

    Drops ``*** SUxx ***`` markers, ``[...]`` and ``(...)`` parts and everything after the
    first comma, `` : `` or `` - ``; rejects administrative categories (``Autres ...``,
    ``... non classé ailleurs``, ``... sans précision``) and plural headings
    (``Affections ...``), labels outside
    2–6 words or longer than 45 characters, labels ending on a dangling preposition and
    labels with characters outside :data:`FRENCH_CHARSET`; lowercases the first letter
    unless the first word is an acronym; writes ``cœur``, ``œsophage``, ``œil``, ``œdème``.

    Parameters
    ----------
    label : str
        The CIM-10 label, e.g. ``"Arrêt cardiaque, sans précision"``.

    Returns
    -------
    str or None
        The cleaned term, or None when the label is not usable.

    Examples
    --------
    >>> clean_cim10_label("Embolie pulmonaire, (sans mention de coeur pulmonaire aigu)")
    'embolie pulmonaire'
    >>> clean_cim10_label("Autres maladies cérébrovasculaires précisées") is None
    True

    """
    text = _strip_qualifiers(label)
    words = text.split(" ")
    lowered = set(re.split(r"[\s'’]+", text.lower()))
    if not text or lowered & _CIM10_REJECT_WORDS:
        return None
    if not _CIM10_MIN_WORDS <= len(words) <= _CIM10_MAX_WORDS or len(text) > _CIM10_MAX_CHARS:
        return None
    first = words[0].lower()
    if first.endswith(("s", "x")) and first not in _SINGULAR_S:
        return None
    if words[-1].lower() in _DANGLING_WORDS or words[-1].endswith(("'", "’")):
        return None
    text = _fix_oe(_lower_first(text))
    if not set(text) <= FRENCH_CHARSET:
        return None
    return text


def _in_ranges(code: str, ranges: Sequence[tuple[str, str, str]]) -> str | None:
    head = code[:3].upper()
    for low, high, family in ranges:
        if low <= head <= high:
            return family
    return None


@lru_cache(maxsize=4)
def _read_cim10(path: str, mtime_ns: int, size: int) -> tuple[tuple[str, str, str], ...]:
    """Read ``(role, term, family)`` rows from a cim10.csv.gz (cached by path, mtime, size)."""
    del mtime_ns, size  # cache key only
    rows: dict[tuple[str, str], str] = {}
    with open_cim10(path, ("code", "long")) as reader:
        for record in reader:
            code, label = record.get("code") or "", record.get("long") or ""
            under = _in_ranges(code, _CIM10_UNDERLYING)
            contrib = _in_ranges(code, _CIM10_CONTRIBUTING)
            if not (under or contrib):
                continue
            term = clean_cim10_label(label)
            if term is None:
                continue
            if under:
                rows.setdefault(("underlying", term), under)
            if contrib:
                rows.setdefault(("contributing", term), contrib)
    return tuple((role, term, family) for (role, term), family in rows.items())


# ---------------------------------------------------------------------------------------------
# Vocabulary.
# ---------------------------------------------------------------------------------------------

_ROLES = ("immediate", "intermediate", "underlying", "contributing")


def _flatten(by_family: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for terms in by_family.values():
        for term in terms:
            seen.setdefault(term, None)
    return tuple(seen)


def _family_index(tables: Iterable[Mapping[str, tuple[str, ...]]]) -> dict[str, frozenset[str]]:
    index: dict[str, set[str]] = {}
    for table in tables:
        for family, terms in table.items():
            for term in terms:
                index.setdefault(term, set()).add(family)
    return {term: frozenset(families) for term, families in index.items()}


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """Cause-of-death terms by role, with the words doctors use around them.

    Parameters
    ----------
    immediate, intermediate, underlying, contributing : tuple of str
        Conditions by role on the form: line a, lines b/c, last used line of Partie I,
        Partie II. Built-in terms come first, most common first.
    modifiers : tuple of Modifier
        Words appended after a condition (``probable``, ``aigu/aiguë``, ``massif/massive``).
    connectors : tuple of str
        Words joining two conditions on one line.
    abbreviations : tuple of (str, str)
        ``(full form, abbreviation)`` pairs, applied as whole-word replacements.
    patient_qualifiers : tuple of (str, str)
        Masculine / feminine words after ``chez un patient`` / ``chez une patiente``.
    families : Mapping of str to frozenset of str
        The families of each term (``cardio``, ``cancer``, ``generic``...), which keep a
        sampled chain coherent. Terms without an entry count as generic.
    builtin_sizes : Mapping of str to int
        How many leading terms of each role are built-in (the rest came from CIM-10).
    source : str
        ``"builtin"`` or ``"builtin+cim10"``, for provenance.

    """

    immediate: tuple[str, ...]
    intermediate: tuple[str, ...]
    underlying: tuple[str, ...]
    contributing: tuple[str, ...]
    modifiers: tuple[Modifier, ...] = MODIFIERS
    connectors: tuple[str, ...] = CONNECTORS
    abbreviations: tuple[tuple[str, str], ...] = ABBREVIATIONS
    patient_qualifiers: tuple[tuple[str, str], ...] = PATIENT_QUALIFIERS
    families: Mapping[str, frozenset[str]] = field(default_factory=dict)
    builtin_sizes: Mapping[str, int] = field(default_factory=dict)
    source: str = "builtin"

    @classmethod
    def builtin(cls) -> Vocabulary:
        """Return the built-in vocabulary (no data files needed).

        Returns
        -------
        Vocabulary
            With ``source == "builtin"``.

        """
        tables = (IMMEDIATE, INTERMEDIATE, UNDERLYING, CONTRIBUTING)
        lists = {role: _flatten(table) for role, table in zip(_ROLES, tables, strict=True)}
        return cls(
            **lists,
            families=MappingProxyType(_family_index(tables)),
            builtin_sizes=MappingProxyType({role: len(terms) for role, terms in lists.items()}),
        )

    @classmethod
    def from_cim10(cls, path: str | os.PathLike[str]) -> Vocabulary:
        """Return the built-in vocabulary plus cleaned CIM-10 labels.

        Underlying terms come from chapters A–B, C, E, F00–F19, G, I, J, K20–K95 and
        N00–N39; contributing terms from E, F, G, I, J40–J99, K20–K95 and N00–N39 (see
        :func:`clean_cim10_label` for the cleaning). Chapters Z, V, W, X, Y and the rest
        are skipped.

        Parameters
        ----------
        path : str or PathLike
            The ``cim10`` folder, its parent, or the ``cim10.csv.gz`` file itself.

        Returns
        -------
        Vocabulary
            ``source == "builtin+cim10"``; the built-in vocabulary (``source == "builtin"``,
            with a warning logged) when the file is missing or unreadable.

        """
        base = cls.builtin()
        found = locate_cim10(path)
        if found is None:
            logger.warning("no cim10.csv.gz under %s: using the built-in vocabulary", path)
            return base
        try:
            stat = found.stat()
            rows = _read_cim10(str(found.resolve()), stat.st_mtime_ns, stat.st_size)
        except READ_ERRORS + (ValueError,) as exc:
            logger.warning("cannot read %s (%s): using the built-in vocabulary", found, exc)
            return base
        return base._extended(rows, source="builtin+cim10")

    @classmethod
    def default(cls, data_dir: str | os.PathLike[str] | None = None) -> Vocabulary:
        """Return the vocabulary of the data named explicitly, never failing.

        Only an explicit folder adds CIM-10 terms: `data_dir`, else ``$MEDOCR_DATA``.
        Without either, the built-in vocabulary (shipped in the package) is used, so the
        same seed gives the same text on every machine, whatever the working directory.

        Parameters
        ----------
        data_dir : str or PathLike, optional
            The data folder (holding ``cim10/``), the ``cim10`` folder itself or the
            ``cim10.csv.gz`` file. Defaults to ``$MEDOCR_DATA`` when it is set.

        Returns
        -------
        Vocabulary
            Built-in plus CIM-10 when the file is found there, else built-in only.

        """
        data_dir = named_data(data_dir)
        if data_dir is None or locate_cim10(data_dir) is None:
            return cls.builtin()
        return cls.from_cim10(data_dir)

    def _extended(self, rows: Iterable[tuple[str, str, str]], *, source: str) -> Vocabulary:
        known = {term.casefold() for role in _ROLES for term in getattr(self, role)}
        extra: dict[str, list[str]] = {"underlying": [], "contributing": []}
        families = dict(self.families)
        for role, term, family in rows:
            if term.casefold() in known:
                continue
            extra[role].append(term)
            families[term] = families.get(term, frozenset()) | {family}
        return Vocabulary(
            immediate=self.immediate,
            intermediate=self.intermediate,
            underlying=self.underlying + tuple(extra["underlying"]),
            contributing=self.contributing + tuple(extra["contributing"]),
            modifiers=self.modifiers,
            connectors=self.connectors,
            abbreviations=self.abbreviations,
            patient_qualifiers=self.patient_qualifiers,
            families=MappingProxyType(families),
            builtin_sizes=self.builtin_sizes,
            source=source,
        )

    def sizes(self) -> dict[str, int]:
        """Return the number of terms of each role and of the other word lists.

        Returns
        -------
        dict of str to int
            Keys: the four roles, ``modifiers``, ``connectors``, ``abbreviations``, ``total``.

        """
        sizes = {role: len(getattr(self, role)) for role in _ROLES}
        sizes["modifiers"] = len(self.modifiers)
        sizes["connectors"] = len(self.connectors)
        sizes["abbreviations"] = len(self.abbreviations)
        sizes["total"] = sum(sizes.values())
        return sizes

    @cached_property
    def _pools(self) -> dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]]:
        pools: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
        for role in _ROLES:
            terms: tuple[str, ...] = getattr(self, role)
            core_size = self.builtin_sizes.get(role, len(terms))
            for index, term in enumerate(terms):
                for family in self.families_of(term):
                    core, extra = pools.setdefault((role, family), ([], []))
                    (core if index < core_size else extra).append(term)
        return {key: (tuple(core), tuple(extra)) for key, (core, extra) in pools.items()}

    def pool(self, role: str, family: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Return the built-in and the extra (CIM-10) terms of ``role`` in ``family``.

        Parameters
        ----------
        role : str
            ``immediate``, ``intermediate``, ``underlying`` or ``contributing``.
        family : str
            ``cardio``, ``cancer``, ``neuro``, ``resp``, ``digest``, ``renal``, ``infect``,
            ``metab``, ``trauma`` or ``generic``.

        Returns
        -------
        tuple of (tuple of str, tuple of str)
            Built-in terms (most common first) and extra terms; empty tuples when none.

        """
        return self._pools.get((role, family), ((), ()))

    def families_of(self, term: str) -> frozenset[str]:
        """Return the families of ``term`` (``{"generic"}`` when unknown).

        Parameters
        ----------
        term : str
            A term of this vocabulary.

        Returns
        -------
        frozenset of str
            Its families.

        """
        return self.families.get(term, frozenset({GENERIC}))


# ---------------------------------------------------------------------------------------------
# The certificate text.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CauseText:
    """The handwritten text of one *volet médical*.

    Parameters
    ----------
    part1 : tuple of 4 str
        Partie I lines a, b, c, d; ``""`` when empty. The immediate cause is on a, the
        underlying cause on the last used line.
    intervals : tuple of 4 str
        The interval written next to each line; always ``""`` where the line is empty.
    part2 : tuple of str
        0 to 2 lines of Partie II (other contributing conditions).
    death_date : str
        As written, e.g. ``"12/03/2024"``, ``"12/03/24"`` or ``"12 mars 2024"``.
    autopsy : bool or None
        Autopsy box; None when left unticked.
    pregnancy : bool or None
        Pregnancy box; None when left unticked.

    """

    part1: tuple[str, str, str, str]
    intervals: tuple[str, str, str, str]
    part2: tuple[str, ...] = ()
    death_date: str = ""
    autopsy: bool | None = None
    pregnancy: bool | None = None

    def __post_init__(self) -> None:
        if len(self.part1) != 4 or len(self.intervals) != 4:
            raise ValueError("part1 and intervals must each hold 4 lines (a, b, c, d)")
        if len(self.part2) > 2:
            raise ValueError(f"part2 holds at most 2 lines, got {len(self.part2)}")
        for cause, interval in zip(self.part1, self.intervals, strict=True):
            if interval and not cause:
                raise ValueError(f"interval {interval!r} on an empty Partie I line")

    @property
    def used_lines(self) -> int:
        """Number of non-empty Partie I lines."""
        return sum(1 for line in self.part1 if line)

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready data (lists for the tuples).

        Returns
        -------
        dict
            Keys ``part1``, ``intervals``, ``part2``, ``death_date``, ``autopsy``,
            ``pregnancy``.

        """
        return {
            "part1": list(self.part1),
            "intervals": list(self.intervals),
            "part2": list(self.part2),
            "death_date": self.death_date,
            "autopsy": self.autopsy,
            "pregnancy": self.pregnancy,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CauseText:
        """Rebuild a CauseText from :meth:`to_dict` output.

        Parameters
        ----------
        data : Mapping
            As returned by :meth:`to_dict`.

        Returns
        -------
        CauseText
            Equal to the original.

        """
        a, b, c, d = (str(x) for x in data["part1"])
        ia, ib, ic, id_ = (str(x) for x in data["intervals"])
        return cls(
            part1=(a, b, c, d),
            intervals=(ia, ib, ic, id_),
            part2=tuple(str(x) for x in data.get("part2", ())),
            death_date=str(data.get("death_date", "")),
            autopsy=data.get("autopsy"),
            pregnancy=data.get("pregnancy"),
        )


# ---------------------------------------------------------------------------------------------
# Small sampling helpers.
# ---------------------------------------------------------------------------------------------


def _pick(rng: np.random.Generator, items: Sequence[Any]) -> Any:
    return items[int(rng.integers(len(items)))]


def _pick_weighted(rng: np.random.Generator, items: Sequence[Any], weights: Sequence[float]) -> Any:
    cumulative = np.cumsum(np.asarray(weights, dtype=float))
    index = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
    return items[min(index, len(items) - 1)]


@lru_cache(maxsize=256)
def _rank_weights(n: int) -> tuple[float, ...]:
    """Mildly Zipf-like weights: earlier (more common) terms are drawn more often."""
    return tuple(1.0 / (i + 3.0) for i in range(n))


def _pick_ranked(rng: np.random.Generator, items: Sequence[str]) -> str:
    return _pick_weighted(rng, items, _rank_weights(len(items)))


def _chance(rng: np.random.Generator, rate: float) -> bool:
    return bool(rng.random() < rate)


def _head(term: str) -> str:
    word = term.split(" ", 1)[0].lower()
    return word.split("'")[-1].split("’")[-1]


def _is_feminine(term: str) -> bool:
    """Guess the grammatical gender of a condition from its first word."""
    head = _head(term)
    if head in _FEMININE_HEADS:
        return True
    if head in _MASCULINE_HEADS or term.lower().startswith("grand âge"):
        return False
    return head.endswith(_FEMININE_ENDINGS)


def _elide(word: str, term: str) -> str:
    """Join ``de``-like words with elision: ``de`` + ``AVC`` -> ``d'AVC``."""
    first = term.split(" ", 1)[0]
    acronym = first.isupper() and len(first) > 1
    vowel = term[:1].lower() in "aeiouyhéèêâîôœ" and not first.lower().startswith(_H_ASPIRE)
    if (acronym and first[0] in "AEFHILMNORSX") or (not acronym and vowel):
        return f"{word[:-1]}'{term}"
    return f"{word} {term}"


# ---------------------------------------------------------------------------------------------
# Intervals and dates.
# ---------------------------------------------------------------------------------------------

# Per scale (0 minutes .. 5 years): weight, number range, unit spellings (singular, plural)
# and expressions without a number.
_SCALE_WEIGHTS = tuple(float(s["weight"]) for s in _INTERVALS["scales"])
_SCALES: tuple[tuple[tuple[int, int], tuple[tuple[str, str], ...], tuple[str, ...]], ...] = tuple(
    (
        (int(s["numbers"][0]), int(s["numbers"][1])),
        tables.pairs(s["units"], "intervals.json:scales.units"),
        tables.strings(s["without_number"], "intervals.json:scales.without_number"),
    )
    for s in _INTERVALS["scales"]
)
_VAGUE_INTERVALS = tables.strings(_INTERVALS["vague"], "intervals.json:vague")


def _number_interval(rng: np.random.Generator, scale: int) -> str:
    (low, high), units, _ = _SCALES[scale]
    n = int(rng.integers(low, high + 1)) if _chance(rng, 0.5) else int(rng.integers(1, 4))
    singular, plural = _pick(rng, units)
    unit = singular if n == 1 else plural
    if _chance(rng, 0.1):
        return f"environ {n}{unit}"
    if _chance(rng, 0.08):
        return f"{n}-{n + int(rng.integers(1, 4))}{plural}"
    return f"{n}{unit}"


def _special_interval(rng: np.random.Generator, scale: int, death_year: int | None) -> str:
    if scale == 5:
        year = death_year if death_year is not None else 2024
        options = (
            f"depuis {year - int(rng.integers(1, 25))}",
            _pick(rng, ("1 an 1/2", "2 ans 1/2", "3 ans 1/2", "1 an et demi")),
            f"plus de {_pick(rng, (5, 10, 15, 20))} ans",
            f"+ de {_pick(rng, (5, 10, 20, 30))} ans",
        )
        return _pick(rng, options)
    if scale == 4 and death_year is not None:
        return f"depuis {_pick(rng, _MONTHS)}"
    return _pick(rng, _SCALES[scale][2])


def _interval_with_scale(
    rng: np.random.Generator,
    min_scale: int = 0,
    death_year: int | None = None,
    target: float | None = None,
) -> tuple[str, int]:
    """Sample an interval and its time scale (>= ``min_scale``, near ``target`` if given)."""
    if _chance(rng, 0.08):
        return _pick(rng, _VAGUE_INTERVALS), min_scale
    scales = list(range(min_scale, len(_SCALES)))
    if target is None:
        weights = [_SCALE_WEIGHTS[s] * (0.6 ** (s - min_scale)) for s in scales]
    else:
        weights = [_SCALE_WEIGHTS[s] * float(np.exp(-1.5 * abs(s - target))) for s in scales]
    scale = int(_pick_weighted(rng, scales, weights))
    roll = rng.random()
    if roll < 0.72:
        return _number_interval(rng, scale), scale
    if roll < 0.9:
        return _pick(rng, _SCALES[scale][2]), scale
    return _special_interval(rng, scale, death_year), scale


def sample_interval(
    rng: np.random.Generator, *, min_scale: int = 0, death_year: int | None = None
) -> str:
    """Sample an interval as written next to a cause ("3 jours", "48h", "inconnu", "?").

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    min_scale : int, optional
        Smallest time scale (0 minutes, 1 hours, 2 days, 3 weeks, 4 months, 5 years).
    death_year : int, optional
        Year of death, so that ``depuis 2019`` comes before it.

    Returns
    -------
    str
        Never empty (emptiness is decided by the certificate sampler).

    """
    return _interval_with_scale(rng, min_scale, death_year)[0]


def _death_date_with_year(
    rng: np.random.Generator, start_year: int = 2015, end_year: int = 2025
) -> tuple[str, int]:
    first = dt.date(start_year, 1, 1).toordinal()
    last = dt.date(end_year, 12, 31).toordinal()
    date = dt.date.fromordinal(int(rng.integers(first, last + 1)))
    roll = rng.random()
    if roll < 0.68:
        text = f"{date.day:02d}/{date.month:02d}/{date.year}"
    elif roll < 0.83:
        text = f"{date.day:02d}/{date.month:02d}/{date.year % 100:02d}"
    elif roll < 0.93:
        day = "1er" if date.day == 1 and _chance(rng, 0.5) else str(date.day)
        text = f"{day} {_MONTHS[date.month - 1]} {date.year}"
    elif roll < 0.97:
        text = f"{date.day}/{date.month}/{date.year}"
    else:
        text = f"{date.day:02d}.{date.month:02d}.{date.year}"
    return text, date.year


def sample_death_date(
    rng: np.random.Generator, *, start_year: int = 2015, end_year: int = 2025
) -> str:
    """Sample a date of death as a doctor writes it.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    start_year, end_year : int, optional
        Inclusive range of years.

    Returns
    -------
    str
        ``"12/03/2024"`` mostly, sometimes ``"12/03/24"``, ``"12 mars 2024"``,
        ``"2/3/2024"`` or ``"12.03.2024"``.

    """
    return _death_date_with_year(rng, start_year, end_year)[0]


# ---------------------------------------------------------------------------------------------
# Cause chains.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Style:
    """Habits of one writer and the rates of the variations."""

    abbreviation_rate: float
    modifier_rate: float
    doubt_rate: float
    no_accents: bool
    curly_apostrophe: bool
    capitalize: bool
    feminine_patient: bool


def _pick_in_family(
    rng: np.random.Generator, vocab: Vocabulary, role: str, family: str, extra_rate: float
) -> str:
    """Pick a term of ``role`` in ``family``: built-in ones by rank, extra ones uniformly."""
    core, extra = vocab.pool(role, family)
    if extra and (not core or _chance(rng, extra_rate)):
        return _pick(rng, extra)
    return _pick_ranked(rng, core)


def _pick_underlying(rng: np.random.Generator, vocab: Vocabulary, extra_rate: float) -> str:
    families = [f for f in UNDERLYING_FAMILY_WEIGHTS if any(vocab.pool("underlying", f))]
    if not families:
        return _pick_ranked(rng, vocab.underlying)
    weights = [UNDERLYING_FAMILY_WEIGHTS[f] for f in families]
    return _pick_in_family(
        rng, vocab, "underlying", _pick_weighted(rng, families, weights), extra_rate
    )


def _pick_contributing(rng: np.random.Generator, vocab: Vocabulary, extra_rate: float) -> str:
    core_size = vocab.builtin_sizes.get("contributing", len(vocab.contributing))
    extra = vocab.contributing[core_size:]
    if extra and _chance(rng, extra_rate):
        return _pick(rng, extra)
    return _pick_ranked(rng, vocab.contributing[:core_size] or vocab.contributing)


def _overlaps(term: str, used: Iterable[str]) -> bool:
    return any(term in other or other in term for other in used)


def _pick_related(
    rng: np.random.Generator,
    vocab: Vocabulary,
    role: str,
    families: frozenset[str],
    used: set[str],
    specific_rate: float,
) -> str:
    """Pick a term of ``role`` sharing a family with the chain (or a generic one)."""
    terms = [t for t in getattr(vocab, role) if not _overlaps(t, used)]
    specific = [t for t in terms if (vocab.families_of(t) & families) - {GENERIC}]
    generic = [t for t in terms if GENERIC in vocab.families_of(t)]
    pool = specific if specific and (_chance(rng, specific_rate) or not generic) else generic
    return _pick_ranked(rng, pool or terms or getattr(vocab, role))


def _sample_chain(
    rng: np.random.Generator, vocab: Vocabulary, n_conditions: int, extra_rate: float
) -> list[tuple[str, str]]:
    """Return ``(term, role)`` pairs from the immediate cause down to the underlying one."""
    underlying = _pick_underlying(rng, vocab, extra_rate)
    families = vocab.families_of(underlying) | {GENERIC}
    used = {underlying}
    if n_conditions == 1:
        if _chance(rng, 0.35):
            return [(_pick_related(rng, vocab, "immediate", families, used, 0.3), "immediate")]
        return [(underlying, "underlying")]
    chain: list[tuple[str, str]] = [(underlying, "underlying")]
    n_intermediate = n_conditions - 2 if n_conditions > 2 else int(_chance(rng, 0.35))
    for _ in range(n_intermediate):
        term = _pick_related(rng, vocab, "intermediate", families, used, 0.7)
        used.add(term)
        chain.insert(0, (term, "intermediate"))
    if len(chain) < n_conditions:
        term = _pick_related(rng, vocab, "immediate", families, used, 0.35)
        chain.insert(0, (term, "immediate"))
    return chain


@lru_cache(maxsize=8)
def _abbreviation_patterns(
    abbreviations: tuple[tuple[str, str], ...],
) -> tuple[tuple[re.Pattern[str], tuple[str, ...]], ...]:
    """Compile one whole-word pattern per full form (longest first) with its abbreviations."""
    options: dict[str, list[str]] = {}
    for full, abbreviation in abbreviations:
        options.setdefault(full, []).append(abbreviation)
    return tuple(
        (re.compile(rf"(?<![\w-]){re.escape(full)}(?![\w-])"), tuple(options[full]))
        for full in sorted(options, key=len, reverse=True)
    )


def _abbreviate(rng: np.random.Generator, text: str, vocab: Vocabulary) -> str:
    for pattern, options in _abbreviation_patterns(vocab.abbreviations):
        if pattern.search(text):
            text = pattern.sub(_pick(rng, options), text)
    return text


def _is_plain(term: str, role: str, vocab: Vocabulary) -> bool:
    """Tell whether a term is generic background (``grand âge``): no modifier, no doubt."""
    return role in ("underlying", "contributing") and GENERIC in vocab.families_of(term)


def _can_modify(term: str, modifier: Modifier, role: str, vocab: Vocabulary) -> bool:
    if role not in modifier.roles or _is_plain(term, role, vocab):
        return False
    if modifier.heads and _head(term) not in modifier.heads:
        return False
    words = set(term.lower().split())
    return not any({m.masculine, m.feminine} & words for m in vocab.modifiers)


def _modify(rng: np.random.Generator, term: str, role: str, vocab: Vocabulary) -> str:
    options: list[Modifier | None] = [None]
    options += [m for m in vocab.modifiers if _can_modify(term, m, role, vocab)]
    weights = [1.0] + [0.3 if m.masculine == "probable" else 1.0 for m in options[1:]]
    modifier = _pick_weighted(rng, options, weights)
    if modifier is None:
        return term
    return f"{term} {modifier.feminine if _is_feminine(term) else modifier.masculine}"


def _render_term(
    rng: np.random.Generator, term: str, role: str, vocab: Vocabulary, style: _Style
) -> str:
    text = term
    if _chance(rng, style.modifier_rate):
        text = _modify(rng, text, role, vocab)
    if _chance(rng, style.abbreviation_rate):
        text = _abbreviate(rng, text, vocab)
    plain = _is_plain(term, role, vocab) or "probable" in text
    if _chance(rng, style.doubt_rate) and not plain:
        text = (
            _elide("suspicion de", text)
            if _chance(rng, 0.25)
            else f"{text}{_pick(rng, ('?', ' ?'))}"
        )
    return text


def _join(
    rng: np.random.Generator, effect: tuple[str, str], cause: tuple[str, str], style: _Style
) -> str:
    """Write an effect and its cause on one line (``pneumopathie sur fausse route``)."""
    (effect_text, effect_term), (cause_text, cause_term) = effect, cause
    if _chance(rng, 0.75):
        masculine, feminine = _pick(rng, _FORWARD_CONNECTORS)
        connector = feminine if _is_feminine(effect_term) else masculine
        if connector.endswith(" de"):
            return f"{effect_text} {_elide(connector, cause_text)}"
        return f"{effect_text} {connector} {cause_text}"
    masculine, feminine = _pick(rng, _REVERSE_CONNECTORS)
    connector = feminine if _is_feminine(cause_term) else masculine
    if connector.endswith(" de"):
        return f"{cause_text} {_elide(connector, effect_text)}"
    return f"{cause_text} {connector} {effect_text}"


def _group_lines(
    rng: np.random.Generator,
    rendered: list[tuple[str, str]],
    style: _Style,
    connector_rate: float,
    max_line_chars: int,
) -> list[str]:
    """Merge neighbouring conditions onto one line now and then; at most 4 lines."""
    lines: list[tuple[str, str]] = []
    remaining = list(rendered)
    while remaining:
        current = remaining.pop(0)
        must_merge = len(lines) + 1 + len(remaining) > 4
        if remaining and (must_merge or _chance(rng, connector_rate)):
            merged = _join(rng, current, remaining[0], style)
            if must_merge or len(merged) <= max_line_chars:
                remaining.pop(0)
                current = (merged, current[1])
        lines.append(current)
    return [text for text, _ in lines]


def _patient_suffix(rng: np.random.Generator, vocab: Vocabulary, style: _Style) -> str:
    masculine, feminine = _pick(rng, vocab.patient_qualifiers)
    if style.feminine_patient:
        return f"chez une patiente {feminine}"
    return f"chez un patient {masculine}"


def _intervals_for(
    rng: np.random.Generator, lines: Sequence[str], empty_rate: float, death_year: int
) -> list[str]:
    """Intervals for the Partie I lines: short on line a, longer towards the underlying cause."""
    intervals: list[str] = []
    scale = 0
    n_used = sum(1 for line in lines if line)
    position = 0
    for line in lines:
        if not line:
            intervals.append("")
            continue
        target = 1.0 + 3.5 * position / (n_used - 1) if n_used > 1 else 3.0
        position += 1
        if _chance(rng, empty_rate):
            intervals.append("")
            continue
        text, scale = _interval_with_scale(rng, scale, death_year, target)
        intervals.append(text)
    return intervals


def _part1_lines(
    rng: np.random.Generator,
    vocab: Vocabulary,
    style: _Style,
    *,
    extra_rate: float,
    connector_rate: float,
    patient_rate: float,
    gap_rate: float,
    max_line_chars: int,
) -> list[str]:
    n_conditions = int(_pick_weighted(rng, (1, 2, 3, 4, 5), (0.27, 0.38, 0.25, 0.08, 0.02)))
    chain = _sample_chain(rng, vocab, n_conditions, extra_rate)
    rendered = [(_render_term(rng, term, role, vocab, style), term) for term, role in chain]
    lines = _group_lines(rng, rendered, style, connector_rate, max_line_chars)
    if _chance(rng, patient_rate):
        index = int(rng.integers(len(lines)))
        lines[index] = f"{lines[index]} {_patient_suffix(rng, vocab, style)}"
    if len(lines) < 4 and len(lines) > 1 and _chance(rng, gap_rate):
        lines.insert(int(rng.integers(1, len(lines))), "")
    return lines


def _part2_line(
    rng: np.random.Generator, vocab: Vocabulary, style: _Style, part1: str, extra_rate: float
) -> str:
    """Write one Partie II line: 1-4 contributing conditions not already in Partie I."""
    n_items = int(_pick_weighted(rng, (1, 2, 3, 4), (0.45, 0.3, 0.18, 0.07)))
    items: list[str] = []
    for _ in range(n_items):
        term = _pick_contributing(rng, vocab, extra_rate)
        if fold_accents(term.lower()) in part1 or any(term in item for item in items):
            continue
        items.append(_render_term(rng, term, "contributing", vocab, style))
    if not items:
        items.append(
            _render_term(rng, _pick_ranked(rng, vocab.contributing), "contributing", vocab, style)
        )
    separator = _pick_weighted(
        rng, (", ", " + ", " / ", " - ", ". "), (0.72, 0.1, 0.06, 0.07, 0.05)
    )
    line = separator.join(items)
    if _chance(rng, 0.06):
        line = f"{_pick(rng, ('ATCD :', 'ATCD', 'antécédents :'))} {line}"
    return line


def _finish(text: str, style: _Style) -> str:
    if style.capitalize and text:
        text = text[0].upper() + text[1:]
    if style.curly_apostrophe:
        text = text.replace("'", "’")
    if style.no_accents:
        text = fold_accents(text)
    return text


def _sample_style(
    rng: np.random.Generator,
    abbreviation_rate: float,
    modifier_rate: float,
    doubt_rate: float,
    no_accent_rate: float,
) -> _Style:
    return _Style(
        abbreviation_rate=abbreviation_rate,
        modifier_rate=modifier_rate,
        doubt_rate=doubt_rate,
        no_accents=_chance(rng, no_accent_rate),
        curly_apostrophe=_chance(rng, 0.15),
        capitalize=_chance(rng, 0.4),
        feminine_patient=_chance(rng, 0.5),
    )


def _tick(rng: np.random.Generator, p_none: float, p_true: float) -> bool | None:
    roll = rng.random()
    if roll < p_none:
        return None
    return bool(roll < p_none + p_true)


def sample_cause_text(
    rng: np.random.Generator,
    vocabulary: Vocabulary | None = None,
    *,
    empty_part2_rate: float = 0.55,
    abbreviation_rate: float = 0.25,
    no_accent_rate: float = 0.10,
    modifier_rate: float = 0.15,
    connector_rate: float = 0.12,
    patient_rate: float = 0.03,
    doubt_rate: float = 0.03,
    gap_rate: float = 0.02,
    unknown_rate: float = 0.01,
    empty_part1_rate: float = 0.005,
    empty_interval_rate: float = 0.25,
    extra_term_rate: float = 0.2,
    max_line_chars: int = 70,
) -> CauseText:
    """Sample the handwritten text of one death certificate's *volet médical*.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness; the same seed gives the same text.
    vocabulary : Vocabulary, optional
        Terms to draw from; :meth:`Vocabulary.builtin` when None.
    empty_part2_rate : float, optional
        Share of certificates with an empty Partie II.
    abbreviation_rate : float, optional
        Chance that a condition is written with abbreviations (``IDM``, ``K du poumon``)
        when it has any.
    no_accent_rate : float, optional
        Share of writers who drop all accents (``insuffisance cardiaque aigue``).
    modifier_rate : float, optional
        Chance of a modifier after a condition (``probable``, ``massive``).
    connector_rate : float, optional
        Chance that a condition and its cause share a line (``pneumopathie sur fausse route``).
    patient_rate : float, optional
        Chance of a ``chez un patient diabétique`` tail on one line.
    doubt_rate : float, optional
        Chance of ``?`` or ``suspicion de`` on a condition.
    gap_rate : float, optional
        Chance of an empty line between two used lines of Partie I.
    unknown_rate : float, optional
        Chance that the cause is written as unknown (``inconnu``) on line a alone.
    empty_part1_rate : float, optional
        Chance that Partie I is left blank.
    empty_interval_rate : float, optional
        Chance that a used line has no interval.
    extra_term_rate : float, optional
        Chance of drawing an underlying/contributing term from the non-built-in (CIM-10)
        part of the vocabulary, when it has one.
    max_line_chars : int, optional
        Two conditions are joined on one line only when the result fits.

    Returns
    -------
    CauseText
        Partie I/II text, intervals, date and tick boxes.

    """
    vocab = vocabulary if vocabulary is not None else Vocabulary.builtin()
    style = _sample_style(rng, abbreviation_rate, modifier_rate, doubt_rate, no_accent_rate)
    death_date, death_year = _death_date_with_year(rng)
    roll = rng.random()
    if roll < empty_part1_rate:
        lines: list[str] = []
    elif roll < empty_part1_rate + unknown_rate:
        lines = [_pick(rng, UNKNOWN_CAUSES)]
    else:
        lines = _part1_lines(
            rng,
            vocab,
            style,
            extra_rate=extra_term_rate,
            connector_rate=connector_rate,
            patient_rate=patient_rate,
            gap_rate=gap_rate,
            max_line_chars=max_line_chars,
        )
    lines = [_finish(line, style) for line in lines] + [""] * (4 - len(lines))
    intervals = [
        _finish(i, style) for i in _intervals_for(rng, lines, empty_interval_rate, death_year)
    ]
    part2: tuple[str, ...] = ()
    if not _chance(rng, empty_part2_rate):
        n_lines = 1 if _chance(rng, 0.7) else 2
        exclude = fold_accents(" ".join(lines).lower())
        part2 = tuple(
            _finish(_part2_line(rng, vocab, style, exclude, extra_term_rate), style)
            for _ in range(n_lines)
        )
    a, b, c, d = lines
    ia, ib, ic, id_ = intervals
    return CauseText(
        part1=(a, b, c, d),
        intervals=(ia, ib, ic, id_),
        part2=part2,
        death_date=_finish(death_date, style),
        autopsy=_tick(rng, 0.4, 0.1),
        pregnancy=_tick(rng, 0.75, 0.005),
    )
