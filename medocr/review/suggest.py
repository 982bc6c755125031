"""Words operators wrote that the lexicon lacks: candidates for ``medocr lexicon import``.

The corrected texts of cause and free-text fields (the latest decision per field,
``illegible`` left out) are cut into words as the lexicon cuts them
(:func:`medocr.text.tokenize`: runs of letters; digits and punctuation separate words).
A word the lexicon does not find (:meth:`medocr.lexicon.Lexicon.lookup`: exact, then
ignoring case, then ignoring accents too) is a candidate, counted over the corrections,
spellings that differ by case merged as the lexicon's case policy merges them. One-letter
words are left out, and so are words a lexicon would refuse (letters outside
:data:`medocr.lexicon.WORD_LETTERS`, too long), counted apart.

:func:`suggestions_tsv` writes them as ``word<TAB>count`` lines under ``#`` comments, the
word-list format ``medocr lexicon import LEXICON_DIR FILE`` reads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medocr.errors import LexiconError
from medocr.lexicon.words import check_word, group_by_case
from medocr.text import tokenize

#: Field kinds whose corrections hold lexicon words.
WORD_KINDS = ("cause", "text")


@dataclass
class WordSuggestions:
    """Words of the corrections that a lexicon lacks.

    Parameters
    ----------
    lexicon : str
        The lexicon compared with (``name@version+sha``).
    words : list of (str, int)
        Missing words with their counts, most frequent first (then alphabetical).
    fields : int
        Corrected cause/text fields read.
    tokens : int
        Words in them.
    refused : int
        Missing words a lexicon would refuse (left out).
    """

    lexicon: str
    words: list[tuple[str, int]] = field(default_factory=list)
    fields: int = 0
    tokens: int = 0
    refused: int = 0


def suggest_words(
    db: str | os.PathLike[str],
    lexicon: Any = None,
    *,
    min_count: int = 1,
    kinds: tuple[str, ...] = WORD_KINDS,
) -> WordSuggestions:
    """Count the words of a results database's corrections that `lexicon` lacks.

    Parameters
    ----------
    db : str or PathLike
        A results database with corrections; only read.
    lexicon : Lexicon, str, PathLike or None
        The lexicon, or what :func:`medocr.lexicon.load_lexicon` loads (default
        ``fr-medical``).
    min_count : int
        Keep words seen at least this many times.
    kinds : tuple of str
        Field kinds whose corrections are read.

    Returns
    -------
    WordSuggestions

    Raises
    ------
    medocr.review.ReviewError
        Not a results database, or no correction giving a text in it.
    ValueError
        `min_count` is below 1.
    """
    from medocr.lexicon import Lexicon, load_lexicon
    from medocr.review.training import read_operator_truth

    if min_count < 1:
        raise ValueError(f"min_count must be at least 1, got {min_count}")
    if not isinstance(lexicon, Lexicon):
        lexicon = load_lexicon(lexicon)
    truth = read_operator_truth(db)
    suggestions = WordSuggestions(lexicon.ref)
    missing: list[tuple[str, int]] = []
    for correction in truth.corrections:
        if truth.kinds.get(correction.key) not in kinds:
            continue
        suggestions.fields += 1
        words = tokenize(correction.text)
        suggestions.tokens += len(words)
        missing.extend((w, 1) for w in words if len(w) > 1 and lexicon.lookup(w) is None)
    counts = {}
    for word, count in group_by_case(missing).items():
        try:
            counts[check_word(word)] = count
        except LexiconError:
            suggestions.refused += 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    suggestions.words = [(w, n) for w, n in ranked if n >= min_count]
    return suggestions


def suggestions_tsv(suggestions: WordSuggestions, db: str | os.PathLike[str]) -> str:
    """Return the suggestions as a word list: ``#`` comments, then ``word<TAB>count`` lines."""
    name = Path(db).name
    lines = [
        f"# words of operator corrections in {name} that {suggestions.lexicon} lacks",
        f"# {suggestions.fields} corrected cause/text fields, {suggestions.tokens} words; "
        "most frequent first",
        "# check them, then: medocr lexicon import LEXICON_DIR THIS_FILE",
        *(f"{word}\t{count}" for word, count in suggestions.words),
    ]
    return "\n".join(lines) + "\n"
