"""Shared pieces of the decoders: input checks, word splitting, alignment, results.

Conventions used by every decoder of :mod:`medocr.decode`:

- scores are natural logarithms, accumulated in float64;
- a character span ``(start_frame, end_frame)`` is half-open, like the pixel boxes of
  :mod:`medocr.types`: the character was read on frames ``start_frame .. end_frame - 1``;
- a character's confidence is the **highest** posterior of that character over the frames
  of its span. CTC outputs are peaky (a character is usually sure on one or two frames
  and blank elsewhere), so a mean over the span would mostly measure its duration.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from itertools import groupby
from types import ModuleType
from typing import Protocol, runtime_checkable

import numpy as np

from medocr.text import Alphabet, tokenize
from medocr.types import CharSpan, FrameProbs, Hypothesis, WordHypothesis


def _load_kernels() -> ModuleType | None:
    """Return the compiled inner loops, None when built without a C compiler."""
    try:
        from medocr.decode import _kernels
    except ImportError:  # the Python references run instead
        return None
    return _kernels


KERNELS = _load_kernels()
"""The compiled inner loops (``medocr/decode/_kernels.c``), or None when not built."""

NEG_INF = -math.inf
SUM_TOLERANCE = 1e-3
"""How far from 1 a row of probabilities may sum (float32 softmax rows are within 1e-6)."""


@runtime_checkable
class LexiconLike(Protocol):
    """What the decoders need from a lexicon (:class:`medocr.lexicon.Lexicon` fits).

    ``ref``, when the object has it, identifies its content (name@version+sha) and keys
    the trie cache; objects without it are cached by identity.
    """

    def surface_forms(self, alphabet: Alphabet) -> Mapping[str, str]:
        """Return every written variant to accept, mapped to its canonical form."""
        ...


class BigramLike(Protocol):
    """What word beam search needs from a language model (``medocr.lexicon.BigramModel``)."""

    def log_prob(self, prev: str | None, word: str) -> float:
        """Return ``log P(word | prev)`` (natural log) on canonical forms; None = start."""
        ...


WordSource = LexiconLike | Mapping[str, str] | Iterable[str]
"""A lexicon-like object, a ``surface -> canonical`` mapping, or plain words."""


def check_frame_probs(probs: FrameProbs) -> np.ndarray:
    """Validate a decoder input once and return its ``(T, C)`` matrix.

    Parameters
    ----------
    probs : FrameProbs
        Softmax outputs of a CTC recognizer, blank last.

    Returns
    -------
    numpy.ndarray
        ``probs.probs``, float32 ``(T, C)``, unchanged (not copied).

    Raises
    ------
    TypeError
        If `probs` is not a :class:`~medocr.types.FrameProbs`.
    ValueError
        Wrong number of classes, NaN or infinite values, negative values, or a row that
        does not sum to 1 (see :func:`check_matrix`).
    """
    if not isinstance(probs, FrameProbs):
        raise TypeError(
            f"decoders take a medocr.types.FrameProbs, got {type(probs).__name__}; "
            "wrap the array: FrameProbs(probs.astype(np.float32), alphabet)"
        )
    return check_matrix(probs.probs, probs.alphabet.num_classes, "FrameProbs.probs", "blank")


def check_matrix(matrix: np.ndarray, num_classes: int, what: str, blank: str) -> np.ndarray:
    """Check that `matrix` holds one probability distribution per row.

    Parameters
    ----------
    matrix : numpy.ndarray
        ``(T, C)`` array of probabilities.
    num_classes : int
        The ``C`` the alphabet implies.
    what : str
        Name of the array in error messages.
    blank : str
        ``"blank"`` when ``C`` counts the CTC blank, ``"no blank"`` otherwise (for messages).

    Returns
    -------
    numpy.ndarray
        `matrix` itself.

    Raises
    ------
    ValueError
        The first problem found, in this order: not 2-D, wrong ``C``, NaN/inf (first
        position), negative value (first position), row not summing to 1 within
        :data:`SUM_TOLERANCE` (first such row).
    """
    if not isinstance(matrix, np.ndarray) or matrix.ndim != 2:
        shape = getattr(matrix, "shape", None)
        raise ValueError(f"{what} must be a 2-D array (T, C), got shape {shape}")
    rows, cols = matrix.shape
    if cols != num_classes:
        raise ValueError(
            f"{what} has {cols} classes per row but the alphabet needs {num_classes} "
            f"({blank}); was the matrix made with another alphabet?"
        )
    if rows == 0:
        return matrix
    low, high = matrix.min(), matrix.max()
    if not (math.isfinite(low) and math.isfinite(high)):
        t, c = (int(i) for i in np.argwhere(~np.isfinite(matrix))[0])
        raise ValueError(f"{what} has a non-finite value ({matrix[t, c]}) at frame {t}, class {c}")
    if low < 0:
        t, c = (int(i) for i in np.argwhere(matrix < 0)[0])
        raise ValueError(
            f"{what} has a negative value ({float(matrix[t, c]):.6g}) at frame {t}, class {c}: "
            "pass probabilities, not logits or log-probabilities"
        )
    sums = matrix.sum(axis=1, dtype=np.float64)
    bad = np.abs(sums - 1.0) > SUM_TOLERANCE
    if bad.any():
        t = int(np.argmax(bad))
        raise ValueError(
            f"{what} row {t} sums to {sums[t]:.6g}, not 1 (tolerance {SUM_TOLERANCE:g}): "
            "pass softmax probabilities"
        )
    return matrix


def log_probs(matrix: np.ndarray) -> np.ndarray:
    """Return ``log(matrix)`` in float64, with ``-inf`` for zeros (no warning).

    Parameters
    ----------
    matrix : numpy.ndarray
        ``(T, C)`` non-negative probabilities.

    Returns
    -------
    numpy.ndarray
        float64 ``(T, C)``.
    """
    with np.errstate(divide="ignore"):
        return np.log(matrix, dtype=np.float64)


def lse(a: float, b: float) -> float:
    """Return ``log(exp(a) + exp(b))`` for two Python floats (``-inf`` allowed)."""
    if a < b:
        a, b = b, a
    if b == NEG_INF:
        return a
    return a + math.log1p(math.exp(b - a))


def word_hypotheses(
    text: str,
    lookup: Callable[[str], str | None] | None = None,
    word_chars: Container[str] | None = None,
) -> tuple[WordHypothesis, ...]:
    """Return the words of `text` with their lexicon status.

    Parameters
    ----------
    text : str
        A decoded reading.
    lookup : callable, optional
        Maps a written word to its canonical lexicon form, or None when the lexicon does
        not know it. Without it every word is ``in_lexicon=False``.
    word_chars : container of str, optional
        The characters words are made of; by default letters, as :func:`tokenize` says
        (word beam search passes its own when ``non_word_chars`` was customised).

    Returns
    -------
    tuple of WordHypothesis
        One per word (maximal run of word characters).
    """
    if word_chars is None:
        tokens = tokenize(text)
    else:
        tokens = ["".join(run) for inside, run in groupby(text, word_chars.__contains__) if inside]
    words = []
    for word in tokens:
        canonical = lookup(word) if lookup is not None else None
        words.append(WordHypothesis(word, canonical is not None, canonical))
    return tuple(words)


def empty_hypothesis() -> Hypothesis:
    """Return the reading of an empty input (no frames): empty text, log-score 0."""
    return Hypothesis(text="", log_score=0.0)


def align(logp: np.ndarray, labels: Sequence[int], blank: int) -> list[tuple[int, int]] | None:
    """Find the frames of each label on the most probable CTC path of a labelling.

    The compiled kernel when built (:data:`KERNELS`), else :func:`_align_python`; both
    give the same spans.

    Parameters
    ----------
    logp : numpy.ndarray
        float64 ``(T, C)`` log-probabilities, ``T >= 1``.
    labels : sequence of int
        The labelling (no blanks), length ``L``.
    blank : int
        Index of the blank class.

    Returns
    -------
    list of (int, int) or None
        For each label its half-open frame span ``(start, end)`` on the best path; None
        when no path of ``T`` frames produces the labelling.
    """
    if len(labels) == 0:
        return []
    if KERNELS is None:
        return _align_python(logp, labels, blank)
    matrix = np.ascontiguousarray(logp, dtype=np.float64)
    return KERNELS.align(matrix, matrix.shape[1], np.asarray(labels, dtype=np.int32), blank)


def _align_python(
    logp: np.ndarray, labels: Sequence[int], blank: int
) -> list[tuple[int, int]] | None:
    """:func:`align` in Python, the compiled kernel's reference (same parameters, result).

    Viterbi forced alignment over the usual extended sequence ``blank l1 blank l2 ...
    blank``, vectorised over states, in log space.
    """
    n_labels = len(labels)
    if n_labels == 0:
        return []
    n_frames = logp.shape[0]
    n_states = 2 * n_labels + 1
    ext = np.full(n_states, blank, dtype=np.intp)
    ext[1::2] = labels
    # A label state may be entered from two states back unless it repeats the label there.
    skip = np.zeros(n_states, dtype=bool)
    skip[3::2] = ext[3::2] != ext[1:-2:2]
    skip_cost = np.where(skip, 0.0, NEG_INF)
    emit = logp[:, ext]
    # Two always-impossible columns in front make the shifted rows plain slices.
    padded = np.full((n_frames, n_states + 2), NEG_INF)
    padded[0, 2:4] = emit[0, :2]
    jump = np.empty(n_states)
    for t in range(1, n_frames):
        prev, cur = padded[t - 1], padded[t, 2:]
        np.maximum(prev[2:], prev[1:-1], out=cur)
        np.add(prev[:-2], skip_cost, out=jump)
        np.maximum(cur, jump, out=cur)
        cur += emit[t]
    score = padded[:, 2:]
    last = score[-1]
    state = n_states - 1 if last[-1] >= last[-2] else n_states - 2
    if last[state] == NEG_INF:
        return None
    # Walk back: at each frame take the best predecessor allowed by the CTC topology.
    skip_list = skip.tolist()
    spans = [[n_frames, 0] for _ in range(n_labels)]
    for t in range(n_frames - 1, -1, -1):
        if state % 2:
            span = spans[state // 2]
            span[0] = t
            if span[1] == 0:
                span[1] = t + 1
        if t == 0:
            break
        prev = score[t - 1]
        best, value = state, prev[state]
        if state >= 1 and prev[state - 1] > value:
            best, value = state - 1, prev[state - 1]
        if skip_list[state] and prev[state - 2] > value:
            best = state - 2
        state = best
    return [(a, b) for a, b in spans]


def char_spans(
    matrix: np.ndarray,
    alphabet: Alphabet,
    labels: Sequence[int],
    spans: Sequence[tuple[int, int]] | None,
) -> tuple[CharSpan, ...]:
    """Build the per-character spans of a reading.

    Parameters
    ----------
    matrix : numpy.ndarray
        ``(T, C)`` probabilities.
    alphabet : Alphabet
        Maps labels to characters.
    labels : sequence of int
        The reading as class indices.
    spans : sequence of (int, int) or None
        Half-open frame span of each label (from :func:`align` or the best path); None
        when the labelling has no path (every span is then ``(0, 0)``, confidence 0).

    Returns
    -------
    tuple of CharSpan
        One per label; confidence = highest posterior of the label over its span.
    """
    chars = alphabet.chars
    if spans is None:
        return tuple(CharSpan(chars[c], 0, 0, 0.0) for c in labels)
    if not spans:
        return ()
    bounds = np.asarray(spans, dtype=np.intp).reshape(-1, 2)
    lengths = bounds[:, 1] - bounds[:, 0]
    confidence = np.zeros(len(bounds))
    some = lengths > 0
    if some.any():
        # Gather every (frame, label) of the non-empty spans, then a max per span.
        n = lengths[some]
        offsets = np.cumsum(n) - n
        frames = np.repeat(bounds[some, 0] - offsets, n) + np.arange(n.sum())
        values = matrix[frames, np.repeat(np.asarray(labels, dtype=np.intp)[some], n)]
        confidence[some] = np.maximum.reduceat(values, offsets)
    return tuple(
        CharSpan(chars[c], s, e, p)
        for c, (s, e), p in zip(labels, bounds.tolist(), confidence.tolist(), strict=True)
    )


def check_count(value: int, name: str) -> int:
    """Return `value` if it is an int >= 1, else raise ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def check_pruning(min_char_prob: float, max_chars_per_frame: int, score_margin: float) -> int:
    """Validate the pruning settings of the beam searches; return `max_chars_per_frame`.

    Raises
    ------
    ValueError
        `min_char_prob` outside [0, 1], `max_chars_per_frame` below 1, or a negative or
        NaN `score_margin` (``math.inf`` is allowed: no margin).
    """
    if not 0.0 <= min_char_prob <= 1.0:
        raise ValueError(f"min_char_prob must be in [0, 1], got {min_char_prob}")
    if not score_margin >= 0.0:
        raise ValueError(f"score_margin must be >= 0 (math.inf for none), got {score_margin}")
    return check_count(max_chars_per_frame, "max_chars_per_frame")


def per_frame(candidates: np.ndarray, offsets: np.ndarray) -> list[list[int]]:
    """Split :func:`candidate_arrays`' flat candidates into ``T`` Python lists, one a frame.

    The form the Python searches (the compiled kernels' references) iterate over.
    """
    flat, bounds = candidates.tolist(), offsets.tolist()
    return [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def candidate_arrays(
    matrix: np.ndarray, blank: int, min_prob: float, max_chars: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """List, per frame, the non-blank classes worth extending a prefix with.

    A class is kept when its probability is at least `min_prob`, at most `max_chars` per
    frame (the most probable ones). This pruning is standard in CTC beam searches: a
    character below 1e-3 at a frame practically never changes which prefixes survive.

    Parameters
    ----------
    matrix : numpy.ndarray
        ``(T, C)`` probabilities, blank at `blank` (the last column).
    blank : int
        Index of the blank.
    min_prob : float
        Probability threshold.
    max_chars : int
        Cap per frame.

    Returns
    -------
    columns : numpy.ndarray
        int ``(K,)``: the classes kept at some frame, in class order, then the blank
        (``columns[-1] == blank``). A search only ever needs these columns.
    candidates : numpy.ndarray
        int32 ``(N,)``: positions in `columns` (not class indices), frame after frame.
    offsets : numpy.ndarray
        int32 ``(T + 1,)``: frame ``t``'s candidates are ``candidates[offsets[t]:
        offsets[t + 1]]``.
    """
    chars = matrix[:, :blank]
    keep = chars >= min_prob
    counts = keep.sum(axis=1)
    crowded = np.flatnonzero(counts > max_chars)
    if crowded.size:
        top = np.argpartition(-chars[crowded], max_chars - 1, axis=1)[:, :max_chars]
        keep[crowded] = False
        keep[crowded[:, None], top] = True
        counts[crowded] = max_chars
    used = np.flatnonzero(keep.any(axis=0))
    flat = np.nonzero(keep[:, used])[1].astype(np.int32)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int32)
    return np.append(used, blank), flat, offsets
