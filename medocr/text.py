"""Text as medocr compares it: normalisation, the alphabet, words, and accent folding.

This is the core text layer: every module that normalises, encodes, tokenises or folds
text uses these functions, and this module imports nothing from medocr (see
``docs/architecture.md``).

Normalisation (:func:`normalize_text`)
    NFC, and every apostrophe variant (:data:`APOSTROPHES`) written as the straight ``'``.
Alphabet (:class:`Alphabet`)
    The character set of a recognizer: labels <-> integer classes, the CTC blank last.
Words (:func:`tokenize`)
    The one definition of a word in medocr: a maximal run of letters (``str.isalpha``,
    accented letters and ligatures included) in the normalised text. Digits, spaces,
    apostrophes, hyphens and punctuation separate words.
Accent folding (:func:`fold_accents`)
    The one meaning of "without accents" in medocr (lexicon lookups, decoders'
    accent-insensitive matching, ``ignore_accents`` in the metrics, writers who drop
    accents in synthesis, the grammar of intervals). It removes every combining mark of
    the canonical decomposition (NFD: ``é`` -> ``e``, ``ç`` -> ``c``) and writes the
    ligatures with the letters they stand for (:func:`expand_ligatures`): ``œ`` -> ``oe``,
    ``æ`` -> ``ae``, ``ß`` -> ``ss``. Case is kept: a capital ligature becomes a capital
    followed by a lowercase letter when the next character is lowercase (``Œdème`` ->
    ``Oedeme``, as a title-case word is written) and two capitals otherwise (``ŒDÈME`` ->
    ``OEDEME``, ``Œ`` alone -> ``OE``). Only canonical decompositions are used, never the
    compatibility ones (NFKD): ``½``, ``²`` and ``ﬁ`` stay as they are.

Why these ligature rules: a French writer who omits accents writes ``oedeme`` for
``œdème`` (the keyboard has no ``œ``), and ``str.casefold`` already writes ``ß`` as ``ss``,
so folding and case folding commute on Latin text
(``fold_accents(w).casefold() == fold_accents(w.casefold())``).

>>> normalize_text("l’œdème")
"l'œdème"
>>> tokenize("Pneumopathie d'inhalation / arrêt cardio-respiratoire 48h")
['Pneumopathie', 'd', 'inhalation', 'arrêt', 'cardio', 'respiratoire', 'h']
>>> fold_accents("Œdème aigu, ŒDÈME, Straße")
'Oedeme aigu, OEDEME, Strasse'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "APOSTROPHES",
    "LIGATURES",
    "Alphabet",
    "expand_ligatures",
    "fold_accents",
    "is_word_char",
    "normalize_text",
    "tokenize",
]

APOSTROPHES = "’‘ʼ`´"
"""Characters written as the straight apostrophe ``'`` by :func:`normalize_text`."""
_APOSTROPHE_MAP = {ord(a): "'" for a in APOSTROPHES}

LIGATURES: dict[str, str] = {"œ": "oe", "æ": "ae", "ß": "ss", "Œ": "OE", "Æ": "AE", "ẞ": "SS"}
"""Ligatures and how :func:`expand_ligatures` writes them (capitals: see the module notes)."""
_LETTER_RUNS = re.compile(r"[^\W\d_]+")


# ---------------------------------------------------------------------------------------------
# Normalisation.
# ---------------------------------------------------------------------------------------------


def normalize_text(text: str) -> str:
    """Return `text` in NFC with every apostrophe variant mapped to ``'``.

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    str
        The normalised text (same meaning, one spelling per character).
    """
    if text.isascii():  # ASCII is NFC already; its only apostrophe variant is '`'
        return text.replace("`", "'") if "`" in text else text
    text = unicodedata.normalize("NFC", text)
    if any(a in text for a in APOSTROPHES):
        return text.translate(_APOSTROPHE_MAP)
    return text


# ---------------------------------------------------------------------------------------------
# Alphabet.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alphabet:
    """An ordered set of characters; class ``len(chars)`` is the CTC blank.

    The alphabet travels with every model bundle and every
    :class:`~medocr.types.FrameProbs`. Text is normalised (:func:`normalize_text`) before
    encoding.

    Parameters
    ----------
    chars : tuple of str
        Distinct single characters, in class order. The blank is not listed: its
        index is ``len(chars)`` (the last column of a ``(T, C)`` probability matrix).
    """

    chars: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        bad = [c for c in self.chars if len(c) != 1]
        if bad:
            raise ValueError(f"alphabet entries must be single characters, got {bad[:5]!r}")
        if len(set(self.chars)) != len(self.chars):
            raise ValueError("alphabet has duplicate characters")
        object.__setattr__(self, "_index", {c: i for i, c in enumerate(self.chars)})

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Alphabet:
        """Build the sorted alphabet of every character in `texts` (after normalisation)."""
        seen: set[str] = set()
        for text in texts:
            seen.update(normalize_text(text))
        seen.discard("\n")
        return cls(tuple(sorted(seen)))

    @property
    def blank(self) -> int:
        """Index of the CTC blank class (always the last one)."""
        return len(self.chars)

    @property
    def num_classes(self) -> int:
        """Number of output classes, blank included (``C`` of a ``(T, C)`` matrix)."""
        return len(self.chars) + 1

    def unknown(self, text: str) -> set[str]:
        """Return the characters of `text` (normalised) that this alphabet lacks."""
        return {c for c in normalize_text(text) if c not in self._index}

    def encode(self, text: str) -> list[int]:
        """Map normalised `text` to class indices.

        Raises
        ------
        ValueError
            If a character is not in the alphabet (the message lists them).
        """
        text = normalize_text(text)
        missing = self.unknown(text)
        if missing:
            raise ValueError(f"characters not in the alphabet: {''.join(sorted(missing))!r}")
        return [self._index[c] for c in text]

    def decode(self, labels: Sequence[int]) -> str:
        """Map class indices back to text, skipping blanks."""
        return "".join(self.chars[i] for i in labels if i != self.blank)

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready description (``{"chars": "...", "blank": "last"}``)."""
        return {"chars": "".join(self.chars), "blank": "last"}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Alphabet:
        """Inverse of :meth:`to_dict`."""
        if data.get("blank", "last") != "last":
            raise ValueError("only alphabets with the blank last are supported")
        return cls(tuple(str(data["chars"])))


# ---------------------------------------------------------------------------------------------
# Words.
# ---------------------------------------------------------------------------------------------


def is_word_char(c: str) -> bool:
    """Return whether the single character `c` belongs to words (``str.isalpha``).

    Parameters
    ----------
    c : str
        One character (a longer string gives False).

    Returns
    -------
    bool
        True for letters, accented letters and ligatures (``é``, ``œ``); False for
        digits, spaces, apostrophes, hyphens, punctuation and combining marks.

    """
    return len(c) == 1 and c.isalpha()


def tokenize(text: str) -> list[str]:
    """Return the words of `text`: its maximal runs of letters, in order.

    The text is first normalised (:func:`normalize_text`); every character that is not a
    letter (:func:`is_word_char`) separates words and is dropped.

    Parameters
    ----------
    text : str
        Any text, e.g. a decoded line.

    Returns
    -------
    list of str
        The words as written (case and accents kept).

    Examples
    --------
    >>> tokenize("cardio-respiratoire, d'inhalation, 48h, Covid-19")
    ['cardio', 'respiratoire', 'd', 'inhalation', 'h', 'Covid']

    """
    words: list[str] = []
    for run in _LETTER_RUNS.findall(normalize_text(text)):
        if run.isalpha():
            words.append(run)
        else:  # the regex also takes non-decimal numerals such as '²': split on them
            words.extend(w for w in "".join(c if c.isalpha() else " " for c in run).split())
    return words


# ---------------------------------------------------------------------------------------------
# Accent folding.
# ---------------------------------------------------------------------------------------------


def expand_ligatures(text: str) -> str:
    """Write the ligatures of `text` with their letters (:data:`LIGATURES`), case kept.

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    str
        ``œ`` -> ``oe``, ``æ`` -> ``ae``, ``ß`` -> ``ss``; a capital ligature followed by a
        lowercase character gives a capital and a lowercase letter (``Œdème`` ->
        ``Oedème``), otherwise two capitals (``ŒDÈME`` -> ``OEDÈME``, ``Œ`` -> ``OE``).

    """
    if not any(c in LIGATURES for c in text):
        return text
    out = []
    for i, c in enumerate(text):
        pair = LIGATURES.get(c)
        if pair is None:
            out.append(c)
        elif c.isupper() and text[i + 1 : i + 2].islower():
            out.append(pair.capitalize())
        else:
            out.append(pair)
    return "".join(out)


def _is_mark(c: str) -> bool:
    return unicodedata.combining(c) != 0 or unicodedata.category(c) == "Mn"


def fold_accents(text: str) -> str:
    """Return `text` without accents, its ligatures written out; case is kept.

    The one accent folding of medocr (see the module notes for the rules and why).

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    str
        NFC text with no combining mark: ``"Œdème aigu, décès"`` -> ``"Oedeme aigu,
        deces"``, ``"Straße"`` -> ``"Strasse"``.

    """
    text = expand_ligatures(text)
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not _is_mark(c)))
