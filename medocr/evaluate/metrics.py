"""Text recognition metrics on NFC-normalised text (rapidfuzz Levenshtein distances)."""

from __future__ import annotations

from collections.abc import Sequence

from rapidfuzz.distance import Levenshtein

from medocr.recognize.alphabet import normalize_text


def _pairs(references: Sequence[str], hypotheses: Sequence[str]) -> list[tuple[str, str]]:
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    return [
        (normalize_text(r), normalize_text(h)) for r, h in zip(references, hypotheses, strict=True)
    ]


def cer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Character error rate: total edit distance / total reference characters.

    Parameters
    ----------
    references, hypotheses : sequence of str
        Same length; texts are NFC-normalised with one apostrophe policy first.

    Returns
    -------
    float
        0 for perfect; can exceed 1 with many insertions; 0 when there is no reference
        character and no hypothesis character.
    """
    pairs = _pairs(references, hypotheses)
    errors = sum(Levenshtein.distance(r, h) for r, h in pairs)
    total = sum(len(r) for r, _ in pairs)
    return errors / total if total else float(errors > 0)


def wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Word error rate: edit distance over space-separated words / reference words."""
    pairs = _pairs(references, hypotheses)
    errors = sum(Levenshtein.distance(r.split(), h.split()) for r, h in pairs)
    total = sum(len(r.split()) for r, _ in pairs)
    return errors / total if total else float(errors > 0)
