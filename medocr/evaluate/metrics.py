"""Text recognition metrics on NFC-normalised text (rapidfuzz Levenshtein distances).

Every function compares texts after :func:`comparable`: NFC, one apostrophe, runs of
white space collapsed to one space and trimmed. Two options loosen the comparison, for
reports that must not count what coding ignores:

- ``ignore_case``: compare in lower case (``"Choc"`` = ``"choc"``);
- ``ignore_accents``: fold accents as everywhere in medocr
  (:func:`medocr.text.fold_accents`: ``"décès"`` = ``"deces"``, ``"Œdème"`` =
  ``"Oedeme"``, ``"ß"`` = ``"ss"``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rapidfuzz.distance import Levenshtein

from medocr.text import fold_accents, normalize_text


def comparable(text: str, *, ignore_case: bool = False, ignore_accents: bool = False) -> str:
    """Return `text` as metrics compare it (see the module docstring for the options)."""
    text = " ".join(normalize_text(text).split())
    if ignore_accents:
        text = fold_accents(text)
    return text.lower() if ignore_case else text


def _pairs(
    references: Sequence[str], hypotheses: Sequence[str], ignore_case: bool, ignore_accents: bool
) -> list[tuple[str, str]]:
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    options = {"ignore_case": ignore_case, "ignore_accents": ignore_accents}
    return [
        (comparable(r, **options), comparable(h, **options))
        for r, h in zip(references, hypotheses, strict=True)
    ]


def cer(
    references: Sequence[str],
    hypotheses: Sequence[str],
    *,
    ignore_case: bool = False,
    ignore_accents: bool = False,
) -> float:
    """Character error rate: total edit distance / total reference characters.

    Parameters
    ----------
    references, hypotheses : sequence of str
        Same length; compared after :func:`comparable`.
    ignore_case, ignore_accents : bool, optional
        See the module docstring.

    Returns
    -------
    float
        0 for perfect; can exceed 1 with many insertions; 0 when there is no reference
        character and no hypothesis character, 1 when only the hypothesis has some.
    """
    pairs = _pairs(references, hypotheses, ignore_case, ignore_accents)
    errors = sum(Levenshtein.distance(r, h) for r, h in pairs)
    total = sum(len(r) for r, _ in pairs)
    return errors / total if total else float(errors > 0)


def wer(
    references: Sequence[str],
    hypotheses: Sequence[str],
    *,
    ignore_case: bool = False,
    ignore_accents: bool = False,
) -> float:
    """Word error rate: edit distance over space-separated words / reference words."""
    pairs = _pairs(references, hypotheses, ignore_case, ignore_accents)
    errors = sum(Levenshtein.distance(r.split(), h.split()) for r, h in pairs)
    total = sum(len(r.split()) for r, _ in pairs)
    return errors / total if total else float(errors > 0)


def exact_match(
    references: Sequence[str],
    hypotheses: Sequence[str],
    *,
    ignore_case: bool = False,
    ignore_accents: bool = False,
) -> float:
    """Share of hypotheses equal to their reference (1.0 for empty inputs)."""
    pairs = _pairs(references, hypotheses, ignore_case, ignore_accents)
    return sum(r == h for r, h in pairs) / len(pairs) if pairs else 1.0


def confusions(
    references: Sequence[str],
    hypotheses: Sequence[str],
    *,
    ignore_case: bool = False,
    ignore_accents: bool = False,
) -> Counter[tuple[str, str]]:
    """Count character confusions along the optimal alignments.

    Returns
    -------
    collections.Counter
        ``(reference char, hypothesis char) -> count``; a deletion is ``(char, "")``, an
        insertion ``("", char)``.
    """
    counts: Counter[tuple[str, str]] = Counter()
    for ref, hyp in _pairs(references, hypotheses, ignore_case, ignore_accents):
        for op in Levenshtein.editops(ref, hyp):
            if op.tag == "replace":
                counts[(ref[op.src_pos], hyp[op.dest_pos])] += 1
            elif op.tag == "delete":
                counts[(ref[op.src_pos], "")] += 1
            else:
                counts[("", hyp[op.dest_pos])] += 1
    return counts
