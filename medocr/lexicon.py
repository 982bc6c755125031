"""Lexicons: the words medocr may read, with counts, versions and a bigram model of phrasing.

A :class:`Lexicon` is an immutable set of *canonical* words with counts. Every change
(:meth:`Lexicon.add`, :meth:`Lexicon.remove`, :meth:`Lexicon.merge`) returns a new lexicon
whose version is bumped (patch) and whose CHANGELOG gains a line. The default lexicon,
``fr-medical``, is built by ``lexicon/fr-medical/build.py`` from the words of the CIM-10 FR
labels and a curated list of death-certificate vocabulary; a frozen copy ships in
``medocr/data/lexicons/fr-medical`` and is what :func:`load_lexicon` returns by default.

Words
    :func:`tokenize` is the one definition of a word used everywhere in medocr: a maximal
    run of letters (``str.isalpha``, accented letters included) in the NFC text with
    apostrophes normalised. Digits, spaces, apostrophes, hyphens and punctuation separate
    words: ``"d'inhalation"`` gives ``d``, ``inhalation``; ``"48h"`` gives ``h``. It lives
    in the core text layer, :mod:`medocr.text`, with :func:`~medocr.text.normalize_text`
    and the one accent folding (:func:`~medocr.text.fold_accents`, also importable here
    as ``strip_accents``).
Case policy (``lower-except-acronyms``)
    A word is stored in lowercase, except acronyms, stored in capitals. A word is an
    acronym when every spelling of it in a source is written in capitals (``AVC``, ``K``,
    ``VIH``); when a source also writes it in lowercase it is a plain word. Two entries
    never differ by case only.
Limits
    A word added (:class:`Lexicon`, :meth:`Lexicon.add`, :meth:`Lexicon.merge`, word lists)
    has at most :data:`MAX_WORD_LENGTH` (64) letters, all in :data:`WORD_LETTERS` (those
    the shipped recognizer writes: ``a-z``, French accented letters, ``æ``, ``œ``, and
    capitals); a count is an int from 0 to :data:`MAX_COUNT` (10^12). A lexicon folder
    already saved loads as it is, whatever it holds.
Saving
    :meth:`Lexicon.save` writes a folder as one transaction: the new files are staged,
    then ``manifest.json`` is replaced in one rename; a killed save leaves one whole
    version, the previous one or the new one.
Matching
    :meth:`Lexicon.lookup` maps a written word to its canonical entry, case- and
    accent-insensitively (``DECES`` and ``deces`` -> ``décès``, ``oedeme`` -> ``œdème``); the
    caller keeps the written form and gets the canonical one alongside.

>>> lexicon = Lexicon({"décès": 3, "AVC": 5}, name="demo")
>>> lexicon.lookup("DECES"), lexicon.lookup("avc"), "Deces" in lexicon
('décès', 'AVC', True)
>>> tokenize("Pneumopathie d'inhalation / arrêt cardio-respiratoire 48h")
['Pneumopathie', 'd', 'inhalation', 'arrêt', 'cardio', 'respiratoire', 'h']
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import functools
import gzip
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import string
import threading
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from medocr._version import __version__
from medocr.errors import LexiconError
from medocr.text import (
    APOSTROPHES,
    expand_ligatures,
    is_word_char,
    normalize_text,
    tokenize,
)
from medocr.text import fold_accents as strip_accents

if TYPE_CHECKING:
    from medocr.text import Alphabet

__all__ = [
    "CASE_POLICY",
    "DEFAULT_LEXICON",
    "MAX_COUNT",
    "MAX_WORD_LENGTH",
    "WORD_LETTERS",
    "BigramModel",
    "Lexicon",
    "LexiconDiff",
    "build_fr_medical",
    "canonical_form",
    "find_cim10",
    "fold",
    "is_word_char",
    "load_lexicon",
    "packaged_lexicon_path",
    "read_word_list",
    "strip_accents",
    "tokenize",
]

DEFAULT_LEXICON = "fr-medical"
"""Name of the lexicon :func:`load_lexicon` returns when given no name."""
CASE_POLICY = "lower-except-acronyms"
"""Words in lowercase; acronyms (written only in capitals in their sources) in capitals."""
FORMAT_VERSION = 1
WORDS_FILE = "words.tsv"
BIGRAMS_FILE = "bigrams.tsv"
MANIFEST_FILE = "manifest.json"
CHANGELOG_FILE = "CHANGELOG.md"
CURATED_FILE = "curated.txt"
STAGING_DIR = ".staging"
"""Hidden folder of a lexicon folder where :meth:`Lexicon.save` stages a new version."""

MAX_WORD_LENGTH = 64
"""Most characters a word added to a lexicon may have (NFC); fr-medical's longest has 25."""
MAX_COUNT = 10**12
"""Largest count a word may have (a word seen once per second for 30,000 years)."""
_ACCENTED = "àâäáçéèêëíîïñóôöùûüæœ"
WORD_LETTERS: frozenset[str] = frozenset(string.ascii_letters + _ACCENTED + _ACCENTED.upper())
"""Letters a word added to a lexicon may use: ``a-z``, ``àâäáçéèêëíîïñóôöùûüæœ`` and capitals.

Every one of them, in lowercase, is in the alphabet of the shipped recognizer, so that a
recognizer can write every word of a lexicon (lookups ignore case).
"""

NORMALISATION: Mapping[str, str] = MappingProxyType(
    {
        "unicode": "NFC",
        "apostrophes": f"{APOSTROPHES} -> '",
        "words": "maximal runs of letters (str.isalpha); everything else separates words",
        "lookup": "exact, then case-insensitive (str.casefold), then also accent-insensitive "
        "(accents removed, œ -> oe, æ -> ae)",
    }
)

_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_CHANGELOG_VERSION = re.compile(r"^- (\d+\.\d+\.\d+) ", re.MULTILINE)
_INTEGER = re.compile(r"[+-]?[0-9]+")
_SHA256 = re.compile(r"[0-9a-f]{64}")


# ---------------------------------------------------------------------------------------------
# Words: the lexicon's keys (tokenisation, normalisation and accent folding: medocr.text).
# ---------------------------------------------------------------------------------------------


def fold(word: str) -> str:
    """Return the case- and accent-insensitive key of `word` (``"Décès"`` -> ``"deces"``).

    Parameters
    ----------
    word : str
        A word.

    Returns
    -------
    str
        ``strip_accents(word.casefold())``.

    """
    return strip_accents(word.casefold())


def canonical_form(word: str) -> str:
    """Return the stored spelling of `word` alone: capitals if all-caps, else lowercase.

    Parameters
    ----------
    word : str
        A single word (see :func:`tokenize`).

    Returns
    -------
    str
        ``"AVC"`` -> ``"AVC"``, ``"K"`` -> ``"K"``, ``"Insuffisance"`` -> ``"insuffisance"``.

    Notes
    -----
    A lexicon applies the rule per entry over all spellings it receives: a word
    given both as ``SIDA`` and ``sida`` is a plain word (``sida``).

    """
    word = normalize_text(word)
    return word if word.isupper() else word.lower()


def _show(text: str, limit: int = 32) -> str:
    """Return ``repr(text)``, shortened with an ellipsis when longer than `limit` characters."""
    return repr(text) if len(text) <= limit else repr(text[:limit] + "…")


def _show_count(count: int) -> str:
    """Return `count` in digits, or its order of magnitude when it is absurdly long."""
    if count.bit_length() <= 128:
        return str(count)
    return f"about 10^{int(count.bit_length() * math.log10(2))}"


def _letter_name(c: str) -> str:
    return f"U+{ord(c):04X} {unicodedata.name(c, 'unnamed character')}"


def _check_word(word: Any, where: str = "", *, strict: bool = True) -> str:
    """Return `word` normalised, or raise LexiconError when it is not exactly one word.

    With `strict` (words being added), also refuse words longer than
    :data:`MAX_WORD_LENGTH` and letters outside :data:`WORD_LETTERS`; words read back
    from a saved lexicon folder are not held to these limits, so that folders saved before
    them still load.
    """
    prefix = f"{where}: " if where else ""
    if not isinstance(word, str):
        raise LexiconError(f"{prefix}words must be str, got {type(word).__name__}")
    text = normalize_text(word)
    if not text.isalpha():
        tokens = tokenize(text)
        if not text:
            raise LexiconError(f"{prefix}empty word")
        if not tokens:
            raise LexiconError(f"{prefix}{_show(text)} has no letters")
        if tokens != [text]:
            reads = ", ".join(_show(t) for t in tokens[:5]) + (", …" if len(tokens) > 5 else "")
            raise LexiconError(f"{prefix}{_show(text)} is not one word (medocr reads {reads})")
    if strict:
        if len(text) > MAX_WORD_LENGTH:
            raise LexiconError(
                f"{prefix}{_show(text)} has {len(text)} characters; a word has at most "
                f"{MAX_WORD_LENGTH}"
            )
        for c in text:
            if c not in WORD_LETTERS:
                raise LexiconError(
                    f"{prefix}{text!r} has the character {c!r} ({_letter_name(c)}), which "
                    f"medocr's recognizers do not write; words use a-z, {_ACCENTED} "
                    "and their capitals"
                )
    return text


def _check_count(count: Any, word: str, where: str = "", *, strict: bool = True) -> int:
    """Return `count`, or raise LexiconError unless it is an int >= 0 (<= MAX_COUNT if strict)."""
    prefix = f"{where}: " if where else ""
    if isinstance(count, bool) or not isinstance(count, int):
        raise LexiconError(f"{prefix}count of {_show(word)} must be an int, got {count!r}")
    if count < 0:
        raise LexiconError(f"{prefix}count {_show_count(count)} of {_show(word)} is negative")
    if strict and count > MAX_COUNT:
        raise LexiconError(
            f"{prefix}count {_show_count(count)} of {_show(word)} is more than {MAX_COUNT}, "
            "the largest count a word may have"
        )
    return count


def _check_total(total: int, word: str, where: str = "") -> None:
    """Refuse a word whose counts add up to more than :data:`MAX_COUNT`."""
    if total > MAX_COUNT:
        prefix = f"{where}: " if where else ""
        raise LexiconError(
            f"{prefix}the count of {_show(word)} would be {_show_count(total)}, more than "
            f"{MAX_COUNT}, the largest count a word may have"
        )


def _group_by_case(entries: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Merge spellings that differ by case only; apply the case policy to each group."""
    groups: dict[str, dict[str, int]] = {}
    for word, count in entries:
        forms = groups.setdefault(word.casefold(), {})
        forms[word] = forms.get(word, 0) + count
    counts: dict[str, int] = {}
    for forms in groups.values():
        if all(form.isupper() for form in forms):
            canonical = next(iter(forms)).upper()
        else:
            canonical = next(iter(forms)).lower()
        counts[canonical] = sum(forms.values())
    return counts


# ---------------------------------------------------------------------------------------------
# Files: word lists, atomic writes, sha256.
# ---------------------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a hidden temp file in the same folder and ``os.replace``.

    The temp file is created with mode 0o666 less the umask (as ``open`` would), flushed
    and fsynced before the rename; a failure removes it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
def _locked(folder: Path) -> Iterator[None]:
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


def _parse_word_lines(data: bytes, source: str, *, strict: bool = True) -> dict[str, int]:
    """Parse a word list (see :func:`read_word_list`); `source` names it in errors.

    `strict` applies the limits on words and counts (:func:`_check_word`); False reads a
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
        word = _check_word(word, where, strict=strict)
        count = 1
        if len(fields) == 2:
            raw_count = fields[1]
            if not _INTEGER.fullmatch(raw_count):
                raise LexiconError(f"{where}: count {_show(raw_count)} is not an integer")
            digits = raw_count.lstrip("+-").lstrip("0")
            if raw_count.startswith("-") and digits:
                shown = raw_count if len(raw_count) <= 32 else raw_count[:32] + "…"
                raise LexiconError(f"{where}: count {shown} is negative")
            if len(digits) > (len(str(MAX_COUNT)) if strict else 1000):
                raise LexiconError(
                    f"{where}: count {_show(raw_count)} of {_show(word)} is more than "
                    f"{MAX_COUNT}, the largest count a word may have"
                )
            count = int(raw_count)
            if strict:
                _check_count(count, word, where)
        total = counts.get(word, 0) + count
        if strict:
            _check_total(total, word, where)
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
    return _parse_word_lines(data, str(path))


# ---------------------------------------------------------------------------------------------
# Bigram model.
# ---------------------------------------------------------------------------------------------


class BigramModel:
    """A bigram model of cause-of-death phrasing over canonical lexicon words.

    Smoothing: *interpolated absolute discounting* (Ney, Essen & Kneser 1994) with one
    discount ``D``, interpolated with an add-``delta`` unigram distribution::

        P(w | v) = max(c(v, w) - D, 0) / c(v) + gamma(v) * P1(w)
        P1(w)    = (c(w) + delta) / (N + delta * V)
        gamma(v) = 1 - sum over stored w of max(c(v, w) - D, 0) / c(v)

    where ``c(v, w)`` counts ``w`` after ``v`` (``v`` is :attr:`START` at the start of a
    line), ``c(v)`` counts all words after ``v`` (before any pruning, so pruned pairs give
    their mass to the unigram term and each ``P(. | v)`` still sums to 1), ``c(w)`` counts
    ``w`` as a predicted token, ``N`` is the number of predicted tokens and ``V`` the size
    of the vocabulary (the lexicon's words plus :attr:`END`). ``D = n1 / (n1 + 2 n2)``
    from the counts of bigrams seen once and twice. A word without counts (unseen in
    training, or unknown) gets the floor ``gamma(v) * delta / (N + delta * V)``; an
    unseen ``prev`` gives the unigram distribution.

    Parameters
    ----------
    unigrams : Mapping of str to int
        ``c(w)`` for every predicted token with a count (words and :attr:`END`).
    bigrams : Mapping of str to Mapping of str to int
        ``c(v, w)`` by context ``v`` (stored pairs only).
    context_totals : Mapping of str to int
        ``c(v)`` for every context, counted before pruning.
    vocabulary_size : int
        ``V``.
    discount : float
        ``D``, in (0, 1).
    delta : float, optional
        Add-``delta`` of the unigram distribution.
    min_count : int, optional
        Pairs seen fewer times were pruned (1: none), for the record.

    """

    START = "<s>"
    END = "</s>"
    SMOOTHING = "interpolated absolute discounting"

    def __init__(
        self,
        unigrams: Mapping[str, int],
        bigrams: Mapping[str, Mapping[str, int]],
        context_totals: Mapping[str, int],
        *,
        vocabulary_size: int,
        discount: float,
        delta: float = 0.5,
        min_count: int = 1,
    ) -> None:
        if not 0.0 < discount < 1.0:
            raise LexiconError(f"bigram discount must be in (0, 1), got {discount}")
        if delta <= 0:
            raise LexiconError(f"bigram delta must be > 0, got {delta}")
        self._uni = dict(unigrams)
        self._next = {v: dict(ws) for v, ws in bigrams.items() if ws}
        self._totals = dict(context_totals)
        self.discount = float(discount)
        self.delta = float(delta)
        self.min_count = int(min_count)
        self.tokens = sum(self._uni.values())
        self.vocabulary_size = max(int(vocabulary_size), len(self._uni), 1)
        self._denominator = self.tokens + self.delta * self.vocabulary_size
        self._gamma: dict[str, float] = {}
        for context, total in self._totals.items():
            if total <= 0:
                continue
            kept = sum(max(c - self.discount, 0.0) for c in self._next.get(context, {}).values())
            self._gamma[context] = 1.0 - kept / total
        missing = set(self._next) - set(self._gamma)
        if missing:
            raise LexiconError(f"bigram contexts without a total: {sorted(missing)[:5]}")
        self._fold_index: dict[str, str] | None = None

    def __len__(self) -> int:
        """Return the number of stored bigrams (pairs with a count)."""
        return sum(len(ws) for ws in self._next.values())

    def __repr__(self) -> str:
        return (
            f"BigramModel({len(self)} bigrams, {len(self._totals)} contexts, "
            f"{self.tokens} tokens, D={self.discount:g})"
        )

    @property
    def contexts(self) -> int:
        """Number of contexts (words followed by something in training, and START)."""
        return len(self._totals)

    def _canonical(self, word: str) -> str:
        if word in self._uni or word in self._totals:
            return word
        if self._fold_index is None:
            index: dict[str, str] = {}
            for known in sorted(set(self._uni) | set(self._totals), key=self._rank):
                index.setdefault(fold(known), known)
            self._fold_index = index
        return self._fold_index.get(fold(normalize_text(word)), word)

    def _rank(self, word: str) -> tuple[int, str]:
        return (-self._uni.get(word, 0), word)

    def log_prob(self, prev: str | None, word: str) -> float:
        """Return ``ln P(word | prev)``.

        Parameters
        ----------
        prev : str or None
            The previous word; None at the start of a line.
        word : str
            The next word, or :attr:`END` for the end of the line. Pass canonical forms
            (:meth:`Lexicon.lookup`); other spellings are matched case- and
            accent-insensitively.

        Returns
        -------
        float
            A natural log, always finite (unseen words get the floor).

        """
        context = self.START if prev is None else self._canonical(prev)
        target = self._canonical(word)
        unigram = (self._uni.get(target, 0) + self.delta) / self._denominator
        total = self._totals.get(context, 0)
        if total <= 0:
            return math.log(unigram)
        seen = self._next.get(context, {}).get(target, 0)
        return math.log(max(seen - self.discount, 0.0) / total + self._gamma[context] * unigram)

    @classmethod
    def from_texts(
        cls,
        texts: Iterable[str],
        lexicon: Lexicon,
        *,
        min_count: int = 1,
        delta: float = 0.5,
    ) -> BigramModel:
        """Count the bigrams of `texts` over `lexicon`'s canonical words.

        Each line of each text is one sequence ``START w1 ... wn END``; words are looked up
        in `lexicon` first (a word it lacks is skipped with the two pairs it belongs to);
        lines without words are skipped.

        Parameters
        ----------
        texts : iterable of str
            Training texts.
        lexicon : Lexicon
            Gives the canonical forms and ``V = len(lexicon) + 1``.
        min_count : int, optional
            Drop pairs seen fewer times (their mass goes to the unigram term).
        delta : float, optional
            Add-``delta`` of the unigram distribution.

        Returns
        -------
        BigramModel
            With ``D`` estimated from the counts (rounded to 6 decimals).

        """
        pairs: Counter[tuple[str, str]] = Counter()
        unigrams: Counter[str] = Counter()
        canonical: dict[str, str | None] = {}
        for text in texts:
            for line in text.split("\n"):
                words = []
                for written in tokenize(line):
                    if written not in canonical:
                        canonical[written] = lexicon.lookup(written)
                    words.append(canonical[written])
                if not words:
                    continue
                sequence = [cls.START, *words, cls.END]
                for prev, word in zip(sequence, sequence[1:], strict=False):
                    if prev is not None and word is not None:
                        pairs[(prev, word)] += 1
                unigrams.update(w for w in sequence[1:] if w is not None)
        n1 = sum(1 for c in pairs.values() if c == 1)
        n2 = sum(1 for c in pairs.values() if c == 2)
        discount = n1 / (n1 + 2 * n2) if n1 + n2 else 0.5
        discount = round(min(max(discount, 0.05), 0.95), 6)
        totals: Counter[str] = Counter()
        nested: dict[str, dict[str, int]] = {}
        for (prev, word), count in pairs.items():
            totals[prev] += count
            if count >= min_count:
                nested.setdefault(prev, {})[word] = count
        return cls(
            unigrams,
            nested,
            totals,
            vocabulary_size=len(lexicon) + 1,
            discount=discount,
            delta=delta,
            min_count=min_count,
        )

    def to_tsv(self) -> bytes:
        """Serialise to the ``bigrams.tsv`` format (deterministic bytes).

        Returns
        -------
        bytes
            UTF-8: ``#key=value`` header lines, then ``U word count`` (unigrams),
            ``C prev total`` (context totals) and ``B prev word count`` (bigrams), tab
            separated and sorted.

        """
        lines = [
            f"# medocr bigram model ({self.SMOOTHING}); see medocr.lexicon.BigramModel",
            f"#format={FORMAT_VERSION}",
            f"#discount={self.discount:.6f}",
            f"#delta={self.delta:g}",
            f"#vocabulary_size={self.vocabulary_size}",
            f"#min_count={self.min_count}",
        ]
        lines += [f"U\t{w}\t{c}" for w, c in sorted(self._uni.items())]
        lines += [f"C\t{v}\t{c}" for v, c in sorted(self._totals.items())]
        for prev in sorted(self._next):
            lines += [f"B\t{prev}\t{w}\t{c}" for w, c in sorted(self._next[prev].items())]
        return ("\n".join(lines) + "\n").encode("utf-8")

    @classmethod
    def from_tsv(cls, data: bytes, source: str = BIGRAMS_FILE) -> BigramModel:
        """Parse :meth:`to_tsv` output; errors read ``"SOURCE:LINE: reason"``.

        Parameters
        ----------
        data : bytes
            The file content.
        source : str, optional
            The file name, for error messages.

        Returns
        -------
        BigramModel
            The model.

        """
        header: dict[str, str] = {}
        uni: dict[str, int] = {}
        totals: dict[str, int] = {}
        nested: dict[str, dict[str, int]] = {}
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad_line = data[: exc.start].count(b"\n") + 1
            raise LexiconError(f"{source}:{bad_line}: invalid UTF-8") from None
        for number, line in enumerate(text.split("\n"), start=1):
            if not line or line.startswith("# "):
                continue
            if line.startswith("#"):
                key, _, value = line[1:].partition("=")
                header[key] = value
                continue
            fields = line.split("\t")
            try:
                kind = fields[0]
                if kind == "U" and len(fields) == 3:
                    uni[fields[1]] = int(fields[2])
                elif kind == "C" and len(fields) == 3:
                    totals[fields[1]] = int(fields[2])
                elif kind == "B" and len(fields) == 4:
                    nested.setdefault(fields[1], {})[fields[2]] = int(fields[3])
                else:
                    raise ValueError
            except ValueError:
                raise LexiconError(f"{source}:{number}: malformed line {line[:60]!r}") from None
        if header.get("format") != str(FORMAT_VERSION):
            raise LexiconError(f"{source}: unknown bigram format {header.get('format')!r}")
        try:
            return cls(
                uni,
                nested,
                totals,
                vocabulary_size=int(header["vocabulary_size"]),
                discount=float(header["discount"]),
                delta=float(header["delta"]),
                min_count=int(header.get("min_count", "1")),
            )
        except (KeyError, ValueError) as exc:
            raise LexiconError(f"{source}: bad or missing header {exc}") from None

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write the model to `path` atomically; return the file's sha256."""
        data = self.to_tsv()
        _atomic_write(Path(path), data)
        return _sha256(data)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BigramModel:
        """Read a model written by :meth:`save`."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise LexiconError(f"{path}: cannot read ({exc.strerror})") from None
        return cls.from_tsv(data, str(path))

    def describe(self) -> dict[str, Any]:
        """Return the manifest's description of this model (JSON-ready)."""
        return {
            "smoothing": self.SMOOTHING,
            "discount": self.discount,
            "unigram": f"add-{self.delta:g} over V = {self.vocabulary_size} (lexicon + </s>)",
            "bigrams": len(self),
            "contexts": self.contexts,
            "tokens": self.tokens,
            "pruned": "none"
            if self.min_count <= 1
            else f"bigrams seen fewer than {self.min_count} times (their mass goes to the "
            "unigram term)",
        }


# ---------------------------------------------------------------------------------------------
# Lexicon.
# ---------------------------------------------------------------------------------------------


class _Folder(Protocol):
    """What a lexicon folder must offer: a Path or an importlib.resources Traversable."""

    def __truediv__(self, name: str) -> Any: ...


class _NoChangeError(LexiconError):
    """A change that would leave the lexicon as it is (no new version is made)."""


@dataclass(frozen=True)
class LexiconDiff:
    """What changed from one lexicon to another.

    Parameters
    ----------
    old, new : str
        The refs (``name@version+sha``) of the two lexicons.
    added : tuple of str
        Canonical words only in `new`, sorted.
    removed : tuple of str
        Canonical words only in `old`, sorted.
    changed : tuple of (str, int, int)
        ``(word, old count, new count)`` for words in both whose count differs, sorted.

    """

    old: str
    new: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[tuple[str, int, int], ...]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def summary(self) -> str:
        """Return a one-line summary (``+3 words, -1 word, 2 counts changed``)."""
        return (
            f"{self.old} -> {self.new}: +{_plural(len(self.added), 'word')}, "
            f"-{_plural(len(self.removed), 'word')}, "
            f"{_plural(len(self.changed), 'count')} changed"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready data."""
        return {
            "old": self.old,
            "new": self.new,
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": [list(c) for c in self.changed],
        }


def _plural(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _bump_patch(version: str) -> str:
    major, minor, patch = (int(x) for x in _SEMVER.fullmatch(version).groups())  # type: ignore[union-attr]
    return f"{major}.{minor}.{patch + 1}"


def _changelog_header(name: str) -> str:
    return (
        f"# Changelog of the {name} lexicon\n\n"
        "One line per version, oldest first: `- VERSION (DATE): what changed [counts]`.\n\n"
    )


class Lexicon:
    """An immutable set of canonical words with counts, a version and its provenance.

    Parameters
    ----------
    counts : Mapping of str to int, or iterable of str
        Word -> count (0 to :data:`MAX_COUNT`), or words (count 1 each). Every key must be
        one word (:func:`tokenize`) of at most :data:`MAX_WORD_LENGTH` letters, all in
        :data:`WORD_LETTERS`; spellings differing by case only are merged and stored under
        the case policy (:func:`canonical_form`).
    name : str
        Lexicon name (``fr-medical``).
    version : str, optional
        Semantic version ``MAJOR.MINOR.PATCH``.
    sources : sequence of dict, optional
        Where the words come from; each dict has ``name``, ``attribution``, ``licence``.
    case_policy : str, optional
        :data:`CASE_POLICY`.
    changelog : str, optional
        Text of CHANGELOG.md (one line per version).
    bigrams : BigramModel or callable returning one, optional
        The phrasing model stored beside the words (a callable is loaded on first use).
    meta : Mapping, optional
        Further manifest fields carried along (``description``, ``build``, ``parent``).
    origin : str, optional
        Where the lexicon was loaded from, for display.

    Notes
    -----
    Modifications return a new Lexicon with the patch version bumped and a CHANGELOG
    line added; nothing is written until :meth:`save`.

    """

    __slots__ = (
        "_bigrams",
        "_by_case",
        "_by_fold",
        "_case_policy",
        "_changelog",
        "_counts",
        "_meta",
        "_name",
        "_origin",
        "_sha256",
        "_sources",
        "_surface_cache",
        "_version",
        "_words_tsv",
    )

    def __init__(
        self,
        counts: Mapping[str, int] | Iterable[str],
        *,
        name: str,
        version: str = "0.0.0",
        sources: Sequence[Mapping[str, Any]] = (),
        case_policy: str = CASE_POLICY,
        changelog: str = "",
        bigrams: BigramModel | Callable[[], BigramModel] | None = None,
        meta: Mapping[str, Any] | None = None,
        origin: str | None = None,
    ) -> None:
        self._setup(
            counts,
            strict=True,
            name=name,
            version=version,
            sources=sources,
            case_policy=case_policy,
            changelog=changelog,
            bigrams=bigrams,
            meta=meta,
            origin=origin,
        )

    @classmethod
    def _saved(cls, counts: Mapping[str, int], **kwargs: Any) -> Lexicon:
        """Return a lexicon of words already in a lexicon (not held to the entry limits)."""
        lexicon = cls.__new__(cls)
        lexicon._setup(counts, strict=False, **kwargs)
        return lexicon

    def _setup(
        self,
        counts: Mapping[str, int] | Iterable[str],
        *,
        strict: bool,
        name: str,
        version: str = "0.0.0",
        sources: Sequence[Mapping[str, Any]] = (),
        case_policy: str = CASE_POLICY,
        changelog: str = "",
        bigrams: BigramModel | Callable[[], BigramModel] | None = None,
        meta: Mapping[str, Any] | None = None,
        origin: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not name or any(c in name for c in "@/\\\n"):
            raise LexiconError(f"bad lexicon name {name!r}")
        if not isinstance(version, str) or not _SEMVER.fullmatch(version):
            raise LexiconError(f"lexicon version must be MAJOR.MINOR.PATCH, got {version!r}")
        if case_policy != CASE_POLICY:
            raise LexiconError(f"unknown case policy {case_policy!r} (known: {CASE_POLICY})")
        if isinstance(counts, str):
            raise LexiconError("give a list of words or a word -> count mapping, not a str")
        items = counts.items() if isinstance(counts, Mapping) else ((w, 1) for w in counts)
        checked = []
        for word, count in items:
            text = _check_word(word, strict=strict)
            checked.append((text, _check_count(count, text, strict=strict)))
        grouped = _group_by_case(checked)
        if strict:
            for word, count in grouped.items():
                _check_total(count, word)
        sorted_counts = dict(sorted(grouped.items()))
        source_list = []
        for source in sources:
            missing = {"name", "attribution", "licence"} - set(source)
            if missing:
                raise LexiconError(f"lexicon source {dict(source)} lacks {sorted(missing)}")
            source_list.append(dict(source))
        self._name = name
        self._version = version
        self._counts: Mapping[str, int] = MappingProxyType(sorted_counts)
        self._sources = tuple(source_list)
        self._case_policy = case_policy
        self._changelog = changelog
        self._bigrams = bigrams
        self._meta = dict(meta or {})
        self._origin = origin
        self._by_case: dict[str, str] | None = None
        self._by_fold: dict[str, tuple[str, ...]] | None = None
        self._surface_cache: dict[tuple[str, ...] | None, dict[str, str]] = {}
        self._words_tsv: bytes | None = None
        self._sha256: str | None = None

    # --- identity -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """Lexicon name."""
        return self._name

    @property
    def version(self) -> str:
        """Semantic version (``MAJOR.MINOR.PATCH``)."""
        return self._version

    @property
    def counts(self) -> Mapping[str, int]:
        """Read-only mapping canonical word -> count, sorted by word."""
        return self._counts

    @property
    def sources(self) -> list[dict[str, Any]]:
        """Where the words come from: dicts with ``name``, ``attribution``, ``licence``."""
        return [dict(s) for s in self._sources]

    @property
    def case_policy(self) -> str:
        """How entries are stored (:data:`CASE_POLICY`)."""
        return self._case_policy

    @property
    def changelog(self) -> str:
        """The text of CHANGELOG.md, one line per version."""
        return self._changelog

    @property
    def meta(self) -> dict[str, Any]:
        """Further manifest fields (``description``, ``build``, ``parent``...), a copy."""
        return json.loads(json.dumps(self._meta))

    @property
    def origin(self) -> str | None:
        """Where this lexicon was loaded from (None when built in memory)."""
        return self._origin

    @property
    def acronyms(self) -> tuple[str, ...]:
        """The entries stored in capitals, sorted."""
        return tuple(w for w in self._counts if w.isupper())

    @property
    def total(self) -> int:
        """Sum of the counts (tokens)."""
        return sum(self._counts.values())

    def words_tsv(self) -> bytes:
        """Return the canonical words file: ``word<TAB>count`` lines sorted by word (UTF-8)."""
        if self._words_tsv is None:
            self._words_tsv = "".join(f"{w}\t{c}\n" for w, c in self._counts.items()).encode()
        return self._words_tsv

    @property
    def sha256(self) -> str:
        """sha256 of :meth:`words_tsv` (the ``words.tsv`` file)."""
        if self._sha256 is None:
            self._sha256 = _sha256(self.words_tsv())
        return self._sha256

    @property
    def ref(self) -> str:
        """``name@version+sha256[:12]``, what results record."""
        return f"{self._name}@{self._version}+{self.sha256[:12]}"

    @property
    def bigrams(self) -> BigramModel | None:
        """The bigram model stored beside the words (loaded on first use), or None."""
        if callable(self._bigrams) and not isinstance(self._bigrams, BigramModel):
            self._bigrams = self._bigrams()
        return self._bigrams

    def __len__(self) -> int:
        return len(self._counts)

    def __iter__(self) -> Iterator[str]:
        return iter(self._counts)

    def __repr__(self) -> str:
        return f"Lexicon({self.ref}, {len(self)} words)"

    @classmethod
    def from_word_list(cls, path: str | os.PathLike[str]) -> Lexicon:
        """Return a lexicon of the words of a user word list (:func:`read_word_list`).

        Parameters
        ----------
        path : str or PathLike
            The word list.

        Returns
        -------
        Lexicon
            Named after the file, version 0.0.0, source ``word list NAME``.

        """
        path = Path(path)
        name = re.sub(r"[@/\\\s]+", "-", path.stem) or "words"
        return cls(
            read_word_list(path),
            name=name,
            version="0.0.0",
            sources=[
                {
                    "name": f"word list {path.name}",
                    "attribution": "supplied by the user",
                    "licence": "unknown",
                }
            ],
            meta={"description": f"imported from {path.name}"},
            origin=str(path),
        )

    # --- lookup ---------------------------------------------------------------------------

    def _indices(self) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
        if self._by_case is None or self._by_fold is None:
            by_case = {w.casefold(): w for w in self._counts}
            by_fold: dict[str, list[str]] = {}
            for word in self._counts:
                by_fold.setdefault(fold(word), []).append(word)
            ranked = {k: tuple(sorted(v, key=self._rank)) for k, v in by_fold.items()}
            self._by_case, self._by_fold = by_case, ranked
        return self._by_case, self._by_fold

    def _rank(self, word: str) -> tuple[int, str]:
        return (-self._counts[word], word)

    def lookup(self, written: str) -> str | None:
        """Return the canonical entry of a written word, or None.

        Matching goes exact, then case-insensitive, then accent-insensitive too. When
        several entries differ only by accents (``âge``, ``âgé``), those agreeing with
        the accents actually written win, then the most frequent.

        Parameters
        ----------
        written : str
            One word as written (``"DECES"``, ``"Insuffisance"``, ``"oedeme"``).

        Returns
        -------
        str or None
            The canonical form (``"décès"``), or None when no entry matches.

        """
        if not isinstance(written, str):
            return None
        text = normalize_text(written)
        if text in self._counts:
            return text
        by_case, by_fold = self._indices()
        found = by_case.get(text.casefold())
        if found is not None:
            return found
        candidates = by_fold.get(fold(text))
        if not candidates:
            return None
        if len(candidates) == 1:
            return candidates[0]
        for candidate in candidates:  # most frequent first
            if _accents_agree(text, candidate):
                return candidate
        return candidates[0]

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self.lookup(word) is not None

    def count(self, word: str) -> int:
        """Return the count of `word`'s entry (found as :meth:`lookup` does), 0 if absent."""
        found = self.lookup(word)
        return 0 if found is None else self._counts[found]

    def surface_forms(self, alphabet: Alphabet | None = None) -> dict[str, str]:
        """Return every written variant a decoder should accept -> its canonical form.

        For each entry: the canonical form, lowercase, Capitalised and UPPER, each also
        without accents and with ``œ``/``æ`` written ``oe``/``ae`` (accents kept). Each
        variant maps to what :meth:`lookup` returns for it, so a variant shared by
        several entries (``age``) maps to the preferred one. The result is cached per
        alphabet.

        Parameters
        ----------
        alphabet : Alphabet, optional
            When given, keep only variants whose characters are all in it.

        Returns
        -------
        dict of str to str
            A new dict (the cache is not exposed).

        """
        key = None if alphabet is None else tuple(alphabet.chars)
        cached = self._surface_cache.get(key)
        if cached is None:
            if key is not None:
                allowed = set(key)
                full = self.surface_forms()
                cached = {v: c for v, c in full.items() if set(v) <= allowed}
            else:
                cached = {}
                for word in self._counts:
                    for variant in _variants(word):
                        if variant not in cached:
                            cached[variant] = self.lookup(variant) or word
            self._surface_cache[key] = cached
        return dict(cached)

    # --- modifications --------------------------------------------------------------------

    def _derive(
        self,
        counts: Mapping[str, int],
        note: str,
        action: str,
        sources: Sequence[Mapping[str, Any]] | None = None,
    ) -> Lexicon:
        if not isinstance(note, str):
            raise LexiconError("note must be a str")
        version = _bump_patch(self._version)
        child = Lexicon._saved(
            counts,
            name=self._name,
            version=version,
            sources=self._sources if sources is None else sources,
            case_policy=self._case_policy,
            changelog="",
            bigrams=self._bigrams,
            meta={**self._meta, "parent": self.ref},
            origin=None,
        )
        text = " ".join(f"{action}: {note}".split()) if note.strip() else action
        date = dt.date.today().isoformat()
        line = f"- {version} ({date}): {text} {_counts_note(child)}\n"
        changelog = self._changelog or _changelog_header(self._name)
        if not changelog.endswith("\n"):
            changelog += "\n"
        child._changelog = changelog + line
        return child

    def _resolve_additions(self, items: Iterable[tuple[str, int]]) -> dict[str, int]:
        by_case, _ = self._indices()
        new: list[tuple[str, int]] = []
        resolved: dict[str, int] = {}
        for word, count in items:
            text = _check_word(word)
            count = _check_count(count, text)
            existing = by_case.get(text.casefold())
            if existing is not None:
                resolved[existing] = resolved.get(existing, 0) + count
            else:
                new.append((text, count))
        for word, count in _group_by_case(new).items():
            resolved[word] = resolved.get(word, 0) + count
        return resolved

    def _added(self, additions: Mapping[str, int]) -> dict[str, int]:
        """Return this lexicon's counts plus `additions`, each total at most MAX_COUNT."""
        counts = dict(self._counts)
        for word, count in additions.items():
            total = counts.get(word, 0) + count
            _check_total(total, word)
            counts[word] = total
        return counts

    def add(self, words_or_counts: Mapping[str, int] | Iterable[str], *, note: str) -> Lexicon:
        """Return a new lexicon with words added (or their counts increased).

        Parameters
        ----------
        words_or_counts : Mapping of str to int, or iterable of str
            Word -> count to add, or words (count 1 each). A word matching an entry
            case-insensitively adds to that entry; a new word follows the case policy.
        note : str
            Why, for the CHANGELOG.

        Returns
        -------
        Lexicon
            Patch version bumped, one CHANGELOG line added.

        Raises
        ------
        LexiconError
            When a word is not exactly one word, is longer than :data:`MAX_WORD_LENGTH` or
            has a letter outside :data:`WORD_LETTERS`; when a count is not an int from 0
            to :data:`MAX_COUNT` or would exceed :data:`MAX_COUNT`; when nothing would
            change (no words, or counts of 0 for words already there).

        """
        if isinstance(words_or_counts, str):
            words_or_counts = [words_or_counts]
        items = (
            words_or_counts.items()
            if isinstance(words_or_counts, Mapping)
            else ((w, 1) for w in words_or_counts)
        )
        additions = self._resolve_additions(items)
        if not additions:
            raise _NoChangeError("nothing to add")
        counts = self._added(additions)
        if counts == dict(self._counts):
            raise _NoChangeError(
                f"nothing to add: every word is already in the {self._name} lexicon and "
                "a count of 0 changes nothing"
            )
        n_new = sum(1 for w in additions if w not in self._counts)
        what = f"added {_plural(n_new, 'word')}"
        if len(additions) > n_new:
            what += f", raised {_plural(len(additions) - n_new, 'count')}"
        return self._derive(counts, note, what)

    def find(self, word: str) -> str | None:
        """Return the entry matching `word` exactly or by case only (accents respected)."""
        text = normalize_text(word)
        if text in self._counts:
            return text
        return self._indices()[0].get(text.casefold())

    def remove(self, words: Iterable[str], *, note: str) -> Lexicon:
        """Return a new lexicon without `words`.

        Words match entries exactly or case-insensitively, never accent-insensitively
        (removing ``age`` never removes ``âge``).

        Parameters
        ----------
        words : iterable of str
            Words to remove.
        note : str
            Why, for the CHANGELOG.

        Returns
        -------
        Lexicon
            Patch version bumped, one CHANGELOG line added.

        Raises
        ------
        LexiconError
            Listing the words that are not in the lexicon (nothing is removed then).

        """
        if isinstance(words, str):
            words = [words]
        words = list(words)
        found = {w: self.find(w) for w in words}
        missing = [w for w, entry in found.items() if entry is None]
        if missing:
            listed = ", ".join(_show(w) for w in missing[:20]) + (
                ", …" if len(missing) > 20 else ""
            )
            raise LexiconError(f"not in the {self._name} lexicon: {listed}")
        if not words:
            raise LexiconError("nothing to remove")
        drop = {entry for entry in found.values() if entry is not None}
        counts = {w: c for w, c in self._counts.items() if w not in drop}
        return self._derive(counts, note, f"removed {_plural(len(drop), 'word')}")

    def merge(self, other: Lexicon | Mapping[str, int], *, note: str) -> Lexicon:
        """Return a new lexicon holding both word sets, counts summed.

        Entries of this lexicon keep their spelling; `other`'s sources are appended.

        Parameters
        ----------
        other : Lexicon or Mapping of str to int
            Words to merge in (e.g. :func:`read_word_list` output).
        note : str
            Why, for the CHANGELOG.

        Returns
        -------
        Lexicon
            Patch version bumped, one CHANGELOG line added.

        Raises
        ------
        LexiconError
            As :meth:`add`: a word or count beyond the limits, or nothing to merge (`other`
            has no words, or only words already there with counts of 0).

        """
        counts_in = other.counts if isinstance(other, Lexicon) else other
        additions = self._resolve_additions(counts_in.items())
        given = other.ref if isinstance(other, Lexicon) else "the words given"
        if not additions:
            raise _NoChangeError(f"nothing to merge: {given} has no words")
        counts = self._added(additions)
        if counts == dict(self._counts):
            raise _NoChangeError(
                f"nothing to merge: every word of {given} is already in the {self._name} "
                "lexicon and its counts add 0"
            )
        sources = list(self._sources)
        if isinstance(other, Lexicon):
            sources += [s for s in other._sources if s not in sources]
            what = f"merged {other.ref}"
        else:
            what = f"merged {len(additions)} words"
        n_new = sum(1 for w in additions if w not in self._counts)
        return self._derive(counts, note, f"{what} ({n_new} new)", sources)

    def diff(self, other: Lexicon) -> LexiconDiff:
        """Return what changes from this lexicon to `other` (canonical words compared).

        Parameters
        ----------
        other : Lexicon
            The newer lexicon.

        Returns
        -------
        LexiconDiff
            Added, removed and count changes.

        """
        mine, theirs = self._counts, other.counts
        return LexiconDiff(
            old=self.ref,
            new=other.ref,
            added=tuple(sorted(w for w in theirs if w not in mine)),
            removed=tuple(sorted(w for w in mine if w not in theirs)),
            changed=tuple(
                (w, mine[w], theirs[w])
                for w in sorted(mine)
                if w in theirs and mine[w] != theirs[w]
            ),
        )

    # --- files ----------------------------------------------------------------------------

    def manifest(self, files: Mapping[str, bytes] | None = None) -> dict[str, Any]:
        """Return the manifest describing this lexicon (JSON-ready).

        Parameters
        ----------
        files : Mapping of str to bytes, optional
            The files to list with their sha256 (default: words.tsv, bigrams.tsv when the
            lexicon has a bigram model, and CHANGELOG.md).

        Returns
        -------
        dict
            ``name``, ``version``, ``sources``, ``normalisation``, ``case_policy``,
            ``counts``, ``sha256`` (of words.tsv), ``files``, ``medocr_version`` and the
            carried fields (``description``, ``build``, ``bigram_model``, ``parent``).

        """
        if files is None:
            files = self._files()
        counts: dict[str, Any] = {
            "words": len(self),
            "acronyms": len(self.acronyms),
            "tokens": self.total,
        }
        model = self.bigrams
        if model is not None:
            counts["bigrams"] = len(model)
            counts["bigram_contexts"] = model.contexts
        manifest: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "name": self._name,
            "version": self._version,
            "description": self._meta.get("description", ""),
            "sources": [dict(s) for s in self._sources],
            "normalisation": dict(NORMALISATION),
            "case_policy": self._case_policy,
            "counts": counts,
            "sha256": self.sha256,
            "files": {
                name: {"sha256": _sha256(data), "bytes": len(data)}
                for name, data in sorted(files.items())
            },
            "medocr_version": __version__,
        }
        if model is not None:
            manifest["bigram_model"] = {**self._meta.get("bigram_model", {}), **model.describe()}
        for key in ("build", "parent"):
            if key in self._meta:
                manifest[key] = self._meta[key]
        return manifest

    def _files(self) -> dict[str, bytes]:
        """Return the files of a saved lexicon but the manifest: name -> bytes."""
        files = {WORDS_FILE: self.words_tsv()}
        if self.bigrams is not None:
            files[BIGRAMS_FILE] = self.bigrams.to_tsv()
        changelog = self._changelog or _changelog_header(self._name)
        files[CHANGELOG_FILE] = changelog.encode("utf-8")
        return files

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write the lexicon to `folder` as one transaction: all of it, or nothing.

        The folder holds ``manifest.json``, ``words.tsv``, ``bigrams.tsv`` (when the
        lexicon has a bigram model) and ``CHANGELOG.md``; the manifest lists the sha256 of
        every other file. A save writes the new files complete (fsynced) into the hidden
        folder ``.staging/`` under their sha256, then replaces ``manifest.json`` in one
        ``os.replace``: that rename is the switch from the previous version to the new one.
        The staged files are then renamed over the old ones and ``.staging/`` is removed.
        A save killed before the switch leaves the previous version current and whole
        (stale staged files are ignored, then removed by the next save); killed after it,
        the new version is current, :func:`load_lexicon` reading the files still staged.
        Saves to one folder are serialised by a lock on the folder (POSIX ``flock``).

        Parameters
        ----------
        folder : str or PathLike
            Created if needed.

        Returns
        -------
        Path
            The folder.

        Raises
        ------
        LexiconError
            For the folder of the lexicon shipped inside medocr, or when the folder cannot
            be written (the previous version, if any, is then still current).

        """
        out = Path(folder)
        if _inside_package(out):
            raise LexiconError(
                f"{out}: this is the lexicon shipped inside medocr; it is only written by "
                "lexicon/fr-medical/build.py"
            )
        files = self._files()
        manifest = json.dumps(self.manifest(files), ensure_ascii=False, indent=2) + "\n"
        try:
            out.mkdir(parents=True, exist_ok=True)
            with _locked(out):
                _commit(out, files, manifest.encode("utf-8"))
        except OSError as exc:
            raise LexiconError(
                f"{out}: cannot save the lexicon ({exc.strerror or exc}); the previous "
                "version, if any, is unchanged"
            ) from None
        return out


def _staged_name(name: str, sha256: str) -> str:
    return f"{name}.{sha256}"


def _commit(out: Path, files: Mapping[str, bytes], manifest: bytes) -> None:
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
            blob = staging / _staged_name(name, _sha256(data))
            _atomic_write(blob, data)
            staged[name] = blob
        _fsync_dir(staging)
        _atomic_write(out / MANIFEST_FILE, manifest)  # the switch
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
        if not isinstance(expected, str) or not _SHA256.fullmatch(expected):
            continue
        blob = out / STAGING_DIR / _staged_name(name, expected)
        if blob.is_file() and _sha256(blob.read_bytes()) == expected:
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


def _accents_agree(written: str, candidate: str) -> bool:
    """Return whether every accent written is also in `candidate` (missing ones are fine)."""
    a = expand_ligatures(written.casefold())
    b = expand_ligatures(candidate.casefold())
    if len(a) != len(b):
        return False
    return all(x == y or x == strip_accents(y) for x, y in zip(a, b, strict=True))


def _variants(word: str) -> dict[str, None]:
    """Return the written variants of a canonical word, in a fixed order."""
    bases = [word, word.lower(), word[:1].upper() + word[1:].lower(), word.upper()]
    variants: dict[str, None] = {}
    for base in bases:
        variants.setdefault(base, None)
        variants.setdefault(expand_ligatures(base), None)
        variants.setdefault(strip_accents(base), None)
    return variants


# ---------------------------------------------------------------------------------------------
# Loading.
# ---------------------------------------------------------------------------------------------


def _package_root() -> Any:
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
    folder = _package_root() / name
    if not (folder / MANIFEST_FILE).is_file():
        return None
    try:
        return Path(str(folder))
    except TypeError:  # pragma: no cover - zipped installs
        return None


def _inside_package(path: Path) -> bool:
    root = Path(str(_package_root()))
    try:
        resolved = path.resolve()
        return resolved == root.resolve() or root.resolve() in resolved.parents
    except (OSError, RuntimeError):  # pragma: no cover
        return False


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
        if data is not None and _sha256(data) == expected:
            return data
        if _SHA256.fullmatch(expected):  # a save killed after its switch left it staged
            try:
                staged = (folder / STAGING_DIR / _staged_name(name, expected)).read_bytes()
            except OSError:
                staged = None
            if staged is not None and _sha256(staged) == expected:
                return staged
        data = _read_member(folder, name, label)  # again: a save may have just moved it in
        actual = _sha256(data)
        if actual != expected:
            raise LexiconError(
                f"{label}/{name}: sha256 mismatch (manifest {expected[:12]}, file "
                f"{actual[:12]}): the file was changed after the lexicon was saved"
            )
        return data

    words = _parse_word_lines(verified(WORDS_FILE), f"{label}/{WORDS_FILE}", strict=False)
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
    folder = _package_root() / name
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
    if (
        "/" not in name
        and os.sep not in name
        and (_package_root() / name / MANIFEST_FILE).is_file()
    ):
        return _load_packaged(name)
    shipped = (
        sorted(p.name for p in _package_root().iterdir() if (p / MANIFEST_FILE).is_file())
        if _package_root().is_dir()
        else []
    )
    raise LexiconError(
        f"unknown lexicon {name!r}: not a packaged lexicon ({', '.join(shipped) or 'none'}), "
        "a lexicon folder or a .txt/.csv/.tsv word list"
    )


# ---------------------------------------------------------------------------------------------
# Building fr-medical.
# ---------------------------------------------------------------------------------------------

CIM10_SOURCE: Mapping[str, str] = MappingProxyType(
    {
        "name": "CIM-10 FR labels",
        "attribution": "CIM-10 FR labels © AP-HP (BSD-3-Clause), data from ATIH and the WHO, "
        "as shipped in the PyPI package edsnlp 0.23.0 (edsnlp/resources/cim10.csv.gz)",
        "licence": "BSD-3-Clause",
        "use": "word forms and their counts over the 'long' labels of every code; bigrams of "
        "the labels' word sequences. No label is copied.",
    }
)
CURATED_SOURCE: Mapping[str, str] = MappingProxyType(
    {
        "name": "medocr curated list",
        "attribution": "the medocr team (lexicon/fr-medical/curated.txt)",
        "licence": "MIT",
        "use": "death-certificate vocabulary the CIM-10 labels lack: abbreviations, acronyms, "
        "everyday wording, durations and units, months",
    }
)
DEFAULT_SAMPLES = 20_000
DEFAULT_SEED = 0

# CIM-10 writes "oe" where French writes "œ"; words are stored with the ligature
# (lookups of "oe" spellings still find them).
_OE_WORDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^coeur"), "cœur"),
    (re.compile(r"^coeliaque"), "cœliaque"),
    (re.compile(r"^oeil"), "œil"),
    (re.compile(r"^oeuf"), "œuf"),
    (re.compile(r"oed([èéeê]m)"), r"œd\1"),
    (re.compile(r"oeso"), "œso"),
    (re.compile(r"oestrog"), "œstrog"),
    (re.compile(r"^foet"), "fœt"),
)


def _fix_oe(word: str) -> str:
    lower = word.lower()
    if "oe" not in lower:
        return word
    fixed = lower
    for pattern, replacement in _OE_WORDS:
        fixed = pattern.sub(replacement, fixed)
    if fixed == lower:
        return word
    return fixed.upper() if word.isupper() else (fixed if word.islower() else fixed.capitalize())


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
    if path is None:
        path = os.environ.get("MEDOCR_DATA") or None
    if path is None:
        raise LexiconError(
            "no CIM-10 labels given: pass --cim10 DIR or set MEDOCR_DATA to the folder "
            "holding cim10/"
        )
    base = Path(path)
    for candidate in (base, base / "cim10.csv.gz", base / "cim10" / "cim10.csv.gz"):
        if candidate.is_file():
            return candidate
    raise LexiconError(
        f"{base}: no cim10.csv.gz there (pass --cim10 DIR or set MEDOCR_DATA to the folder "
        "holding cim10/)"
    )


def _cim10_labels(path: Path) -> list[str]:
    try:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if "long" not in (reader.fieldnames or ()):
                raise LexiconError(f"{path}: no 'long' column")
            return [_fix_oe_text(row["long"] or "") for row in reader]
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise LexiconError(f"{path}: cannot read ({exc})") from None


def _fix_oe_text(text: str) -> str:
    text = normalize_text(text)
    if "oe" not in text.lower():
        return text
    return re.sub(r"[^\W\d_]+", lambda m: _fix_oe(m.group()), text)


def _sampler_lines(samples: int, seed: int) -> list[str]:
    import numpy as np

    from medocr.synth.text import Vocabulary, sample_cause_text

    rng = np.random.default_rng(seed)
    vocabulary = Vocabulary.builtin()
    lines: list[str] = []
    for _ in range(samples):
        text = sample_cause_text(rng, vocabulary)
        fields = (*text.part1, *text.intervals, *text.part2, text.death_date)
        lines.extend(line for line in fields if line)
    return lines


def _counts_note(lexicon: Lexicon) -> str:
    return f"[{len(lexicon)} words, {len(lexicon.acronyms)} acronyms, {lexicon.total} tokens]"


def _check_changelog_counts(changelog: str, lexicon: Lexicon, source: Path) -> None:
    """Refuse a build whose words differ from what the CHANGELOG's last version line says."""
    lines = [line for line in changelog.splitlines() if _CHANGELOG_VERSION.match(line)]
    expected = _counts_note(lexicon)
    if not lines[-1].rstrip().endswith(expected):
        raise LexiconError(
            f"{source}: the last line (version {lexicon.version}) must end with {expected}, "
            "the counts of this build; when the words changed, append a line for a new version"
        )


def _changelog_version(changelog: str, source: str) -> str:
    versions = _CHANGELOG_VERSION.findall(changelog)
    if not versions:
        raise LexiconError(f"{source}: no version line ('- X.Y.Z (DATE): ...')")
    return versions[-1]


def build_fr_medical(
    cim10: str | os.PathLike[str] | None,
    out: str | os.PathLike[str] | None,
    *,
    curated: str | os.PathLike[str] | None = None,
    changelog: str | os.PathLike[str] | None = None,
    samples: int = DEFAULT_SAMPLES,
    seed: int = DEFAULT_SEED,
    command: str = "medocr lexicon build",
) -> Lexicon:
    """Build the ``fr-medical`` lexicon and its bigram model; save it to `out`.

    Words: every word form of the CIM-10 ``long`` labels with its count (``oe`` written
    ``œ`` where French does), plus the curated list (counts added). Bigrams: the word
    sequences of the labels plus every line of `samples` texts of the synthetic phrase
    sampler (built-in vocabulary, seeded). Deterministic: the same inputs give the same
    bytes.

    Parameters
    ----------
    cim10 : str or PathLike or None
        See :func:`find_cim10`.
    out : str or PathLike or None
        Folder to save into; None to only return the lexicon.
    curated : str or PathLike, optional
        The curated list (default: ``lexicon/fr-medical/curated.txt`` under the current
        directory when there, else the copy shipped in the package).
    changelog : str or PathLike, optional
        The CHANGELOG.md whose last line gives the version (default: beside `curated`).
    samples, seed : int, optional
        Number of synthetic texts and their seed.
    command : str, optional
        Recorded in the manifest.

    Returns
    -------
    Lexicon
        The built lexicon (with its bigram model).

    Raises
    ------
    LexiconError
        Missing inputs, a malformed or duplicated curated entry, or sampler words
        missing from the lexicon (they must be added to the curated list).

    """
    cim10_file = find_cim10(cim10)
    curated_path = Path(curated) if curated is not None else _default_curated()
    changelog_path = (
        Path(changelog) if changelog is not None else curated_path.with_name(CHANGELOG_FILE)
    )
    curated_bytes = _read_input(curated_path)
    curated_counts = _parse_word_lines(curated_bytes, str(curated_path))
    seen: dict[str, str] = {}
    for word in curated_counts:
        if word.casefold() in seen:
            raise LexiconError(
                f"{curated_path}: {word!r} is listed twice (also as {seen[word.casefold()]!r})"
            )
        seen[word.casefold()] = word
    changelog_text = _read_input(changelog_path).decode("utf-8")
    version = _changelog_version(changelog_text, str(changelog_path))

    labels = _cim10_labels(cim10_file)
    label_counts: Counter[str] = Counter()
    for label in labels:
        label_counts.update(tokenize(label))
    cim_words = _group_by_case(label_counts.items())
    curated_words = _group_by_case(curated_counts.items())
    counts = dict(curated_words)
    curated_case = {w.casefold(): w for w in curated_words}
    for word, count in cim_words.items():
        key = curated_case.get(word.casefold(), word)
        counts[key] = counts.get(key, 0) + count
    sampler = {
        "name": "medocr synthetic phrase sampler",
        "attribution": "the medocr team (medocr.synth.text, built-in vocabulary)",
        "licence": "MIT",
        "use": "bigram counts of every non-empty line (causes, intervals, date) of the "
        "sampled certificates",
        "seed": seed,
        "texts": samples,
    }
    lexicon = Lexicon(
        counts,
        name=DEFAULT_LEXICON,
        version=version,
        sources=[dict(CIM10_SOURCE), dict(CURATED_SOURCE), sampler],
        changelog=changelog_text,
    )
    sampled = _sampler_lines(samples, seed)
    missing = sorted(
        {canonical_form(w) for line in sampled for w in tokenize(line) if w not in lexicon}
    )
    if missing:
        raise LexiconError(
            f"the phrase sampler writes words the lexicon lacks; add them to {curated_path}: "
            + ", ".join(missing)
        )
    _check_changelog_counts(changelog_text, lexicon, changelog_path)
    model = BigramModel.from_texts([*labels, *sampled], lexicon)
    build = {
        "command": command,
        "inputs": {
            "cim10.csv.gz": {"sha256": _sha256(cim10_file.read_bytes()), "labels": len(labels)},
            CURATED_FILE: {"sha256": _sha256(curated_bytes), "entries": len(curated_counts)},
        },
        "words": {
            "cim10": len(cim_words),
            "curated": len(curated_words),
            "curated_not_in_cim10": len(
                {w.casefold() for w in curated_words} - {w.casefold() for w in cim_words}
            ),
        },
        "sampler": {
            "module": "medocr.synth.text",
            "vocabulary": "builtin",
            "seed": seed,
            "texts": samples,
            "lines": len(sampled),
        },
    }
    result = Lexicon(
        lexicon.counts,
        name=DEFAULT_LEXICON,
        version=version,
        sources=lexicon.sources,
        changelog=changelog_text,
        bigrams=model,
        meta={
            "description": "French words of death certificates: CIM-10 FR label words and "
            "the certificate vocabulary they lack (abbreviations, acronyms, durations), with "
            "a bigram model of cause-of-death phrasing",
            "build": build,
            "bigram_model": {
                "training": f"{len(labels)} CIM-10 labels + {len(sampled)} lines of {samples} "
                f"synthetic certificates (seed {seed})"
            },
        },
    )
    if out is not None:
        result.save(out)
    return result


def _read_input(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise LexiconError(f"{path}: cannot read ({exc.strerror})") from None


def _default_curated() -> Path:
    repo = Path.cwd() / "lexicon" / DEFAULT_LEXICON / CURATED_FILE
    if repo.is_file():
        return repo
    packaged = packaged_lexicon_path(DEFAULT_LEXICON)
    if packaged is not None and (packaged / CURATED_FILE).is_file():
        return packaged / CURATED_FILE
    raise LexiconError(f"no {CURATED_FILE} found: pass --curated FILE")
