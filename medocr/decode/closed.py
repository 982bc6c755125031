"""Closed-list decoding: the field holds one of a few known values; rank them exactly."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from medocr.decode._common import (
    NEG_INF,
    WordSource,
    align,
    char_spans,
    check_count,
    check_frame_probs,
    empty_hypothesis,
    log_probs,
    word_hypotheses,
)
from medocr.decode.trie import lexicon_lookup
from medocr.text import normalize_text
from medocr.types import FrameProbs, Hypothesis

_CHUNK = 256  # values scored together (bounds the (values, states) work arrays)


def ctc_log_likelihood(probs: FrameProbs, texts: Sequence[str]) -> np.ndarray:
    """Return the exact CTC log-likelihood ``log P(text | probs)`` of each text.

    The forward algorithm in log space over the extended labelling ``blank l1 blank ...``,
    summing every path of ``T`` frames that collapses to the text; vectorised over texts
    and states, one step per frame.

    Parameters
    ----------
    probs : FrameProbs
        ``(T, C)`` softmax outputs, blank last.
    texts : sequence of str
        Texts to score (normalised like the alphabet does).

    Returns
    -------
    numpy.ndarray
        float64 ``(len(texts),)``; ``-inf`` for a text that no path produces (too long for
        ``T``). With ``T = 0``, 0 for ``""`` and ``-inf`` otherwise.

    Raises
    ------
    TypeError, ValueError
        Invalid `probs`, or a text with characters outside the alphabet.
    """
    matrix = check_frame_probs(probs)
    labellings = [probs.alphabet.encode(t) for t in texts]
    if matrix.shape[0] == 0:
        return np.array([0.0 if not lab else NEG_INF for lab in labellings])
    return _forward(log_probs(matrix), labellings, probs.alphabet.blank)


def _forward(logp: np.ndarray, labellings: list[list[int]], blank: int) -> np.ndarray:
    """Forward algorithm for several labellings at once (see :func:`ctc_log_likelihood`)."""
    out = np.empty(len(labellings))
    for start in range(0, len(labellings), _CHUNK):
        chunk = labellings[start : start + _CHUNK]
        out[start : start + len(chunk)] = _forward_chunk(logp, chunk, blank)
    return out


def _forward_chunk(logp: np.ndarray, labellings: list[list[int]], blank: int) -> np.ndarray:
    n_values = len(labellings)
    lengths = np.array([len(lab) for lab in labellings], dtype=np.intp)
    n_states = 2 * int(lengths.max()) + 1
    # Extended labellings, padded with blanks (padding states are never read back).
    ext = np.full((n_values, n_states), blank, dtype=np.intp)
    for row, lab in enumerate(labellings):
        ext[row, 1 : 2 * len(lab) : 2] = lab
    skip = np.zeros((n_values, n_states), dtype=bool)
    skip[:, 3::2] = ext[:, 3::2] != ext[:, 1:-2:2]
    skip_cost = np.where(skip, 0.0, NEG_INF)
    # Two impossible columns in front turn the s-1 and s-2 predecessors into slices.
    alpha = np.full((n_values, n_states + 2), NEG_INF)
    alpha[:, 2] = logp[0, blank]
    if n_states > 1:
        alpha[:, 3] = logp[0, ext[:, 1]]
    for t in range(1, logp.shape[0]):
        stay, step, jump = alpha[:, 2:], alpha[:, 1:-1], alpha[:, :-2] + skip_cost
        alpha[:, 2:] = np.logaddexp(np.logaddexp(stay, step), jump) + logp[t][ext]
    rows = np.arange(n_values)
    end = alpha[rows, 2 + 2 * lengths]  # final blank
    last_label = alpha[rows, 1 + 2 * lengths]  # last label (column 1, -inf, when empty)
    return np.where(lengths > 0, np.logaddexp(end, last_label), end)


def closed_list(
    probs: FrameProbs,
    values: Sequence[str],
    n_best: int = 5,
    *,
    skip_unknown: bool = False,
    lexicon: WordSource | None = None,
) -> Hypothesis:
    """Read a field that holds one of `values`: rank them by exact CTC log-likelihood.

    Parameters
    ----------
    probs : FrameProbs
        ``(T, C)`` softmax outputs, blank last. ``T = 0`` gives the empty hypothesis
        (text ``""``, which need not be one of `values`).
    values : sequence of str
        The possible contents (e.g. ``["oui", "non"]``). They are normalised like the
        alphabet does (NFC, one apostrophe); duplicates after normalisation count once.
    n_best : int, optional
        Values returned (the best plus ``n_best - 1`` alternatives).
    skip_unknown : bool, optional
        By default a value with characters outside the alphabet is an error (it could
        never be read); with True such values are left out of the ranking.
    lexicon : Lexicon-like, mapping or iterable of str, optional
        Only to mark which words of the result the lexicon knows.

    Returns
    -------
    Hypothesis
        ``text`` = the most likely value (normalised), ``log_score`` = its
        ``log P(value | probs)``; alternatives = the next values with theirs, most likely
        first (ties keep the order of `values`); character spans from the Viterbi
        alignment of the best value (all ``(0, 0)``, confidence 0, when no value fits
        in ``T`` frames).

    Raises
    ------
    TypeError
        `values` is a single string.
    ValueError
        Invalid `probs`; `values` empty; a value with characters outside the alphabet
        (the message names them) unless `skip_unknown`.
    """
    matrix = check_frame_probs(probs)
    n_best = check_count(n_best, "n_best")
    if isinstance(values, str | bytes):
        raise TypeError("values must be a sequence of strings, not a single string")
    alphabet = probs.alphabet
    candidates = list(dict.fromkeys(normalize_text(str(v)) for v in values))
    if not candidates:
        raise ValueError("values is empty: closed_list needs at least one possible value")
    unknown = {v: alphabet.unknown(v) for v in candidates if alphabet.unknown(v)}
    if unknown:
        if not skip_unknown:
            listed = "; ".join(f"{v!r} ({''.join(sorted(c))!r})" for v, c in unknown.items())
            raise ValueError(
                f"closed_list values with characters outside the alphabet: {listed}; "
                "pass skip_unknown=True to leave them out"
            )
        candidates = [v for v in candidates if v not in unknown]
        if not candidates:
            raise ValueError("no value of values can be written with this alphabet")
    if matrix.shape[0] == 0:
        return empty_hypothesis()
    labellings = [alphabet.encode(v) for v in candidates]
    logp = log_probs(matrix)
    scores = _forward(logp, labellings, alphabet.blank)
    order = np.argsort(-scores, kind="stable")[:n_best].tolist()
    best = order[0]
    text = candidates[best]
    spans = align(logp, labellings[best], alphabet.blank)
    return Hypothesis(
        text=text,
        log_score=float(scores[best]),
        chars=char_spans(matrix, alphabet, labellings[best], spans),
        words=word_hypotheses(text, lexicon_lookup(lexicon, alphabet)),
        alternatives=tuple((candidates[i], float(scores[i])) for i in order[1:]),
    )
