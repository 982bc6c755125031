"""Lexicon search for the segmentation path: per-character class probabilities -> words.

The segmentation path classifies ``N`` segmented characters one by one, giving a
``(N, C_chars)`` matrix of class probabilities (no blank). :func:`lexicon_search` reads it as
follows.

1. **Positions.** A position is a *letter* when its most probable class is a word
   character (by default a letter) or when word characters hold at least half of its
   probability; any other position is written as its most probable non-word character
   (space, digit, punctuation). Runs of letter positions are the words; spaces and other
   non-word positions separate them.
2. **Weighted edit distance.** A word of ``n`` positions is compared with a lexicon form
   ``w`` by an edit distance whose substitution cost uses the classifier's probabilities:
   writing ``w_j`` at position ``i`` costs ``1 - p_i(w_j) / max_c p_i(c)``, 0 for the
   classifier's first choice and close to 1 for a character it found implausible;
   inserting or deleting a character costs 1. With one-hot probabilities this is the plain
   Levenshtein distance.
3. **Shortlist.** Because the weighted distance never exceeds the plain Levenshtein
   distance to the classifier's best reading by more than the number of uncertain
   positions, rapidfuzz shortlists the forms within that plain distance (``shortlist``
   closest), and only those are scored exactly (dynamic programming vectorised over the
   shortlist).
4. **Out-of-vocabulary.** The classifier's best reading is always a candidate too, at the
   cost ``max_distance * n``: the nearest lexicon form wins only when it is closer than
   that, so a clear non-word is kept (``in_lexicon=False``) rather than forced into a
   wrong word. ``max_distance=None`` always takes the nearest form found.

The hypothesis' ``log_score`` is minus the total weighted distance (0: every letter is the
classifier's first choice and every word is in the lexicon). Character "frames" are
positions: a character read at position ``i`` spans ``(i, i + 1)`` with confidence
``p_i(char)``; a character the lexicon form inserts spans ``(i, i)`` with confidence 0.
"""

from __future__ import annotations

import heapq
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from medocr.decode._common import WordSource, check_count, check_matrix, empty_hypothesis
from medocr.decode.trie import LexiconTrie, get_trie
from medocr.text import Alphabet
from medocr.types import CharSpan, Hypothesis, WordHypothesis

DEFAULT_MAX_DISTANCE = 0.34
"""Weighted distance per letter above which the classifier's own reading is kept (OOV)."""

UNCERTAIN = 0.05
"""A position is uncertain when its second choice has at least this share of the first's."""

_SURFACES: weakref.WeakKeyDictionary[LexiconTrie, list[str]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class _Option:
    """One way to write one piece of the line (a word or a single non-word position)."""

    cost: float
    text: str
    spans: tuple[CharSpan, ...]
    canonical: str | None = None
    is_word: bool = False


def lexicon_search(
    char_probs: np.ndarray,
    alphabet: Alphabet,
    lexicon: WordSource | LexiconTrie,
    n_best: int = 5,
    *,
    max_distance: float | None = DEFAULT_MAX_DISTANCE,
    shortlist: int = 64,
) -> Hypothesis:
    """Read segmented characters as lexicon words by probability-weighted edit distance.

    See the module docstring for the scheme.

    Parameters
    ----------
    char_probs : numpy.ndarray
        ``(N, C_chars)`` class probabilities of ``N`` segmented characters, one row per
        character, ``C_chars = len(alphabet.chars)`` (no blank); each row sums to 1.
        ``N = 0`` gives the empty hypothesis.
    alphabet : Alphabet
        The classifier's classes, in column order.
    lexicon : Lexicon-like, mapping, iterable of str, or LexiconTrie
        The accepted words.
    n_best : int, optional
        Readings returned (the best plus ``n_best - 1`` alternatives).
    max_distance : float or None, optional
        Out-of-vocabulary threshold, as a weighted distance per letter; None disables
        the out-of-vocabulary reading.
    shortlist : int, optional
        Lexicon forms scored exactly per word.

    Returns
    -------
    Hypothesis
        Text, ``log_score`` (minus the weighted distance), alternatives, per-position
        character spans and words with ``in_lexicon`` and the canonical form.

    Raises
    ------
    ValueError
        Invalid `char_probs` (not 2-D, wrong number of columns, NaN/inf, negative, rows
        not summing to 1), counts below 1, or a negative `max_distance`.
    """
    matrix = check_matrix(char_probs, len(alphabet.chars), "char_probs", "no blank")
    n_best = check_count(n_best, "n_best")
    shortlist = check_count(shortlist, "shortlist")
    if max_distance is not None and not max_distance >= 0:
        raise ValueError(f"max_distance must be >= 0 or None, got {max_distance}")
    trie = get_trie(lexicon, alphabet)
    if matrix.shape[0] == 0:
        return empty_hypothesis()
    matrix = np.asarray(matrix, dtype=np.float64)
    surfaces = _surfaces(trie)
    chars = alphabet.chars
    is_word_col = np.array([c in trie.word_chars for c in chars], dtype=bool)
    best = matrix.argmax(axis=1)
    word_mass = matrix[:, is_word_col].sum(axis=1)
    is_letter = (is_word_col[best] | (word_mass >= 0.5)) & is_word_col.any()
    other = np.where(is_word_col, -1.0, matrix).argmax(axis=1)  # best non-word class
    best_letter = np.where(is_word_col, matrix, -1.0).argmax(axis=1)
    pieces: list[list[_Option]] = []
    i = 0
    n_pos = matrix.shape[0]
    while i < n_pos:
        if not is_letter[i]:
            c = int(other[i])
            span = CharSpan(chars[c], i, i + 1, float(matrix[i, c]))
            pieces.append([_Option(0.0, chars[c], (span,))])
            i += 1
            continue
        j = i
        while j < n_pos and is_letter[j]:
            j += 1
        options = _word_options(
            matrix[i:j],
            i,
            best_letter[i:j],
            alphabet,
            trie,
            surfaces,
            n_best,
            max_distance,
            shortlist,
        )
        pieces.append(options)
        i = j
    readings = _k_best(pieces, n_best)
    cost, picks = readings[0]
    chosen = [piece[k] for piece, k in zip(pieces, picks, strict=True)]
    return Hypothesis(
        text="".join(o.text for o in chosen),
        log_score=0.0 - cost,
        chars=tuple(span for o in chosen for span in o.spans),
        words=tuple(
            WordHypothesis(o.text, o.canonical is not None, o.canonical)
            for o in chosen
            if o.is_word
        ),
        alternatives=tuple(
            ("".join(piece[k].text for piece, k in zip(pieces, ks, strict=True)), 0.0 - c)
            for c, ks in readings[1:]
        ),
    )


def _surfaces(trie: LexiconTrie) -> list[str]:
    """Return the surface forms stored in `trie` (cached alongside it)."""
    found = _SURFACES.get(trie)
    if found is None:
        found = _SURFACES[trie] = trie.surfaces()
    return found


def _word_options(
    probs: np.ndarray,
    offset: int,
    best_letter: np.ndarray,
    alphabet: Alphabet,
    trie: LexiconTrie,
    surfaces: Sequence[str],
    n_best: int,
    max_distance: float | None,
    shortlist: int,
) -> list[_Option]:
    """Return the best ways to write one word of ``n`` letter positions, cheapest first."""
    chars = alphabet.chars
    n = probs.shape[0]
    reading = "".join(chars[c] for c in best_letter.tolist())
    peak = probs.max(axis=1)
    relative = probs / peak[:, None]
    second = np.sort(relative, axis=1)[:, -2] if relative.shape[1] > 1 else np.zeros(n)
    uncertain = int((second >= UNCERTAIN).sum())
    allowed = max_distance * n if max_distance is not None else float(n)
    cutoff = int(allowed / (1.0 - UNCERTAIN)) + uncertain + 1
    from rapidfuzz import process
    from rapidfuzz.distance import Levenshtein

    found = process.extract(
        reading, surfaces, scorer=Levenshtein.distance, score_cutoff=cutoff, limit=shortlist
    )
    options = []
    if found:
        index = {c: k for k, c in enumerate(chars)}
        words = [w for w, _, _ in found]
        labels = [[index[c] for c in w] for w in words]
        costs = _weighted_distances(relative, labels)
        for k in np.argsort(costs, kind="stable")[:n_best].tolist():
            word = words[k]
            spans = _aligned_spans(probs, relative, labels[k], word, offset)
            options.append(_Option(float(costs[k]), word, spans, trie.lookup(word), True))
    if max_distance is not None or not options:
        own = trie.lookup(reading)
        if own is None or not options:
            spans = tuple(
                CharSpan(chars[c], offset + i, offset + i + 1, float(probs[i, c]))
                for i, c in enumerate(best_letter.tolist())
            )
            options.append(_Option(allowed if own is None else 0.0, reading, spans, own, True))
    options.sort(key=lambda o: o.cost)
    return options[:n_best]


def _weighted_distances(relative: np.ndarray, labels: list[list[int]]) -> np.ndarray:
    """Weighted edit distance of ``n`` positions to each labelling, vectorised over them.

    Parameters
    ----------
    relative : numpy.ndarray
        ``(n, C_chars)``: each position's probabilities divided by its maximum.
    labels : list of list of int
        The candidate words as class indices.

    Returns
    -------
    numpy.ndarray
        float64 ``(len(labels),)`` distances (substitution ``1 - relative``, indel 1).
    """
    n_words = len(labels)
    lengths = np.array([len(lab) for lab in labels])
    width = int(lengths.max())
    padded = np.zeros((n_words, width), dtype=np.intp)
    for row, lab in enumerate(labels):
        padded[row, : len(lab)] = lab
    steps = np.arange(width + 1, dtype=np.float64)
    prev = np.broadcast_to(steps, (n_words, width + 1)).copy()  # row 0: j insertions
    for i in range(relative.shape[0]):
        substitute = prev[:, :-1] + (1.0 - relative[i][padded])
        cur = prev + 1.0  # delete position i
        np.minimum(cur[:, 1:], substitute, out=cur[:, 1:])
        # Insertions along the row: D[j] = min_k<=j (E[k] + j - k).
        prev = np.minimum.accumulate(cur - steps, axis=1) + steps
    return prev[np.arange(n_words), lengths]


def _aligned_spans(
    probs: np.ndarray, relative: np.ndarray, labels: list[int], word: str, offset: int
) -> tuple[CharSpan, ...]:
    """Align `word` to the positions (same costs as the distance) and return its spans."""
    n, m = probs.shape[0], len(labels)
    cost = np.empty((n + 1, m + 1))
    cost[0] = np.arange(m + 1)
    cost[:, 0] = np.arange(n + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost[i, j] = min(
                cost[i - 1, j] + 1.0,
                cost[i, j - 1] + 1.0,
                cost[i - 1, j - 1] + 1.0 - relative[i - 1, labels[j - 1]],
            )
    spans: list[CharSpan] = []
    i, j = n, m
    while j > 0:
        if i > 0 and np.isclose(
            cost[i, j], cost[i - 1, j - 1] + 1.0 - relative[i - 1, labels[j - 1]]
        ):
            i -= 1
            j -= 1
            spans.append(CharSpan(word[j], offset + i, offset + i + 1, float(probs[i, labels[j]])))
        elif i > 0 and np.isclose(cost[i, j], cost[i - 1, j] + 1.0):
            i -= 1
        else:
            j -= 1
            spans.append(CharSpan(word[j], offset + i, offset + i, 0.0))
    return tuple(reversed(spans))


def _k_best(pieces: list[list[_Option]], k: int) -> list[tuple[float, tuple[int, ...]]]:
    """Return the `k` cheapest choices of one option per piece (costs add up)."""
    start = tuple(0 for _ in pieces)
    heap = [(sum(p[0].cost for p in pieces), start, 0)]
    seen = {start}
    out: list[tuple[float, tuple[int, ...]]] = []
    while heap and len(out) < k:
        cost, picks, _ = heapq.heappop(heap)
        out.append((cost, picks))
        for at, piece in enumerate(pieces):
            if picks[at] + 1 < len(piece):
                nxt = picks[:at] + (picks[at] + 1,) + picks[at + 1 :]
                if nxt not in seen:
                    seen.add(nxt)
                    delta = piece[picks[at] + 1].cost - piece[picks[at]].cost
                    heapq.heappush(heap, (cost + delta, nxt, len(seen)))
    return out
