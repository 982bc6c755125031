"""What a lexicon word is: the case policy, the limits on words and counts, and their checks.

Tokenisation, normalisation and accent folding are the core text layer's
(:mod:`medocr.text`); this module adds what a *lexicon* asks of a word:

- one word (:func:`~medocr.text.tokenize` gives it back whole), at most
  :data:`MAX_WORD_LENGTH` letters, all in :data:`WORD_LETTERS`;
- a count, an int from 0 to :data:`MAX_COUNT`;
- stored under the case policy :data:`CASE_POLICY` (:func:`canonical_form`,
  :func:`group_by_case`) and looked up through :func:`fold`.
"""

from __future__ import annotations

import math
import string
import unicodedata
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from medocr.errors import LexiconError
from medocr.text import APOSTROPHES, normalize_text, tokenize
from medocr.text import fold_accents as strip_accents

__all__ = [
    "CASE_POLICY",
    "MAX_COUNT",
    "MAX_WORD_LENGTH",
    "NORMALISATION",
    "WORD_LETTERS",
    "canonical_form",
    "check_count",
    "check_total",
    "check_word",
    "fold",
    "group_by_case",
    "show",
]

CASE_POLICY = "lower-except-acronyms"
"""Words in lowercase; acronyms (written only in capitals in their sources) in capitals."""

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


def show(text: str, limit: int = 32) -> str:
    """Return ``repr(text)``, shortened with an ellipsis when longer than `limit` characters."""
    return repr(text) if len(text) <= limit else repr(text[:limit] + "…")


def _show_count(count: int) -> str:
    """Return `count` in digits, or its order of magnitude when it is absurdly long."""
    if count.bit_length() <= 128:
        return str(count)
    return f"about 10^{int(count.bit_length() * math.log10(2))}"


def _letter_name(c: str) -> str:
    return f"U+{ord(c):04X} {unicodedata.name(c, 'unnamed character')}"


def check_word(word: Any, where: str = "", *, strict: bool = True) -> str:
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
            raise LexiconError(f"{prefix}{show(text)} has no letters")
        if tokens != [text]:
            reads = ", ".join(show(t) for t in tokens[:5]) + (", …" if len(tokens) > 5 else "")
            raise LexiconError(f"{prefix}{show(text)} is not one word (medocr reads {reads})")
    if strict:
        if len(text) > MAX_WORD_LENGTH:
            raise LexiconError(
                f"{prefix}{show(text)} has {len(text)} characters; a word has at most "
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


def check_count(count: Any, word: str, where: str = "", *, strict: bool = True) -> int:
    """Return `count`, or raise LexiconError unless it is an int >= 0 (<= MAX_COUNT if strict)."""
    prefix = f"{where}: " if where else ""
    if isinstance(count, bool) or not isinstance(count, int):
        raise LexiconError(f"{prefix}count of {show(word)} must be an int, got {count!r}")
    if count < 0:
        raise LexiconError(f"{prefix}count {_show_count(count)} of {show(word)} is negative")
    if strict and count > MAX_COUNT:
        raise LexiconError(
            f"{prefix}count {_show_count(count)} of {show(word)} is more than {MAX_COUNT}, "
            "the largest count a word may have"
        )
    return count


def check_total(total: int, word: str, where: str = "") -> None:
    """Refuse a word whose counts add up to more than :data:`MAX_COUNT`."""
    if total > MAX_COUNT:
        prefix = f"{where}: " if where else ""
        raise LexiconError(
            f"{prefix}the count of {show(word)} would be {_show_count(total)}, more than "
            f"{MAX_COUNT}, the largest count a word may have"
        )


def group_by_case(entries: Iterable[tuple[str, int]]) -> dict[str, int]:
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
