"""The bigram model of cause-of-death phrasing stored beside a lexicon's words."""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medocr.errors import LexiconError
from medocr.fileio import write_atomic
from medocr.lexicon.io import BIGRAMS_FILE, FORMAT_VERSION, sha256_hex
from medocr.lexicon.words import fold
from medocr.text import normalize_text, tokenize

if TYPE_CHECKING:
    from medocr.lexicon.model import Lexicon

__all__ = ["BigramModel"]


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
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data, durable=True)
        return sha256_hex(data)

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
