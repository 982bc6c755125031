"""The character set of a recognizer: labels <-> integer classes, blank last.

The alphabet travels with every model bundle and every :class:`~medocr.types.FrameProbs`.
Text is NFC-normalised and apostrophes follow one policy (typographic ``’`` and
straight ``'`` both become ``'``) before encoding.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

APOSTROPHES = "’‘ʼ`´"


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
    text = unicodedata.normalize("NFC", text)
    return text.translate({ord(a): "'" for a in APOSTROPHES})


@dataclass(frozen=True)
class Alphabet:
    """An ordered set of characters; class ``len(chars)`` is the CTC blank.

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
