"""The character set of a recognizer: building an alphabet from training texts.

:class:`Alphabet`, :func:`normalize_text` and :data:`APOSTROPHES` live in the core text
layer, :mod:`medocr.text`; they are importable from here too, as before.
"""

from __future__ import annotations

from collections import Counter

from medocr.text import APOSTROPHES, Alphabet, normalize_text

__all__ = ["APOSTROPHES", "Alphabet", "build_alphabet", "normalize_text"]


def build_alphabet(
    texts: list[str], min_count: int, extra: str, base: Alphabet | None = None
) -> Alphabet:
    """Alphabet of the characters seen at least `min_count` times (plus `extra`).

    With a `base` alphabet (fine-tuning), its characters keep their indices and new ones
    are appended, so the learned outputs carry over.
    """
    counts = Counter(c for text in texts for c in text)
    wanted = {c for c, n in counts.items() if n >= min_count} | set(extra)
    wanted.discard("\n")
    if base is None:
        return Alphabet(tuple(sorted(wanted)))
    return Alphabet(base.chars + tuple(sorted(wanted - set(base.chars))))
