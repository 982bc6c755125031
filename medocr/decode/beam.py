"""CTC prefix beam search (no lexicon), in log space with the blank / non-blank split."""

from __future__ import annotations

import math

import numpy as np

from medocr.decode._common import (
    KERNELS,
    NEG_INF,
    WordSource,
    align,
    candidate_arrays,
    char_spans,
    check_count,
    check_frame_probs,
    check_pruning,
    empty_hypothesis,
    log_probs,
    lse,
    per_frame,
    word_hypotheses,
)
from medocr.decode.trie import lexicon_lookup
from medocr.types import FrameProbs, Hypothesis

MIN_CHAR_PROB = 1e-2
"""Default per-frame pruning: characters below this probability do not extend prefixes."""

MAX_CHARS_PER_FRAME = 8
"""Default cap on the characters that may extend prefixes at one frame."""

SCORE_MARGIN = 10.0
"""Default beam threshold: prefixes this many nats below the best one are dropped."""


def beam_search(
    probs: FrameProbs,
    beam_width: int = 16,
    n_best: int = 5,
    *,
    min_char_prob: float = MIN_CHAR_PROB,
    max_chars_per_frame: int = MAX_CHARS_PER_FRAME,
    score_margin: float = SCORE_MARGIN,
    lexicon: WordSource | None = None,
) -> Hypothesis:
    """Decode with CTC prefix beam search.

    Each prefix (labelling so far) keeps two log-probabilities: of the paths ending in a
    blank and of those ending in its last character, so that a repeated character needs a
    blank in between (``"ll"``) while ``l`` on two frames in a row stays one ``l``. The
    score of a prefix sums all its paths, which is why beam search can find a labelling
    more probable than the best path's (greedy decoding).

    Parameters
    ----------
    probs : FrameProbs
        ``(T, C)`` softmax outputs, blank last. ``T = 0`` gives the empty hypothesis.
    beam_width : int, optional
        Prefixes kept after each frame.
    n_best : int, optional
        Readings returned (the best plus ``n_best - 1`` alternatives).
    min_char_prob : float, optional
        A character extends prefixes at a frame only if its probability there is at least
        this (the blank and the continuation of a prefix's last character are always
        scored).
    max_chars_per_frame : int, optional
        At most this many characters (the most probable) extend prefixes at one frame.
    score_margin : float, optional
        Beam threshold: a prefix whose log-probability is more than this below the best
        one's is dropped even when the beam has room (``beam_prune_logp`` of other
        decoders); ``math.inf`` disables it.
    lexicon : Lexicon-like, mapping or iterable of str, optional
        Only to mark which output words the lexicon knows.

    Returns
    -------
    Hypothesis
        ``log_score`` = log-probability of the best labelling summed over the paths kept
        in the beam; alternatives = the next readings with their log-probabilities;
        character spans from the Viterbi alignment of the best reading.

    Raises
    ------
    TypeError, ValueError
        Invalid `probs`, `beam_width` / `n_best` / `max_chars_per_frame` below 1, or
        invalid pruning settings.
    """
    matrix = check_frame_probs(probs)
    beam_width = check_count(beam_width, "beam_width")
    n_best = check_count(n_best, "n_best")
    max_chars_per_frame = check_pruning(min_char_prob, max_chars_per_frame, score_margin)
    if matrix.shape[0] == 0:
        return empty_hypothesis()
    alphabet = probs.alphabet
    blank = alphabet.blank
    logp = log_probs(matrix)
    columns, candidates, offsets = candidate_arrays(
        matrix, blank, min_char_prob, max_chars_per_frame
    )
    ranked = _prefix_beam(
        np.ascontiguousarray(logp[:, columns]), candidates, offsets, beam_width, float(score_margin)
    )
    label_of = columns.tolist()
    readings = [([label_of[c] for c in path], score) for path, score in ranked[:n_best]]
    best_labels, best_score = readings[0]
    text = alphabet.decode(best_labels)
    spans = align(logp, best_labels, blank)
    return Hypothesis(
        text=text,
        log_score=best_score,
        chars=char_spans(matrix, alphabet, best_labels, spans),
        words=word_hypotheses(text, lexicon_lookup(lexicon, alphabet)),
        alternatives=tuple(
            (alphabet.decode(lab), score) for lab, score in readings[1:] if score > NEG_INF
        ),
    )


def _prefix_beam(
    rows: np.ndarray, candidates: np.ndarray, offsets: np.ndarray, beam_width: int, margin: float
) -> list[tuple[list[int], float]]:
    """Run the prefix beam search on log-probability rows whose last column is the blank.

    The compiled kernel when built (:data:`medocr.decode._common.KERNELS`), else
    :func:`_prefix_beam_python`; both give the same readings and scores.

    Parameters
    ----------
    rows : numpy.ndarray
        float64 ``(T, K)`` log-probabilities over the kept columns, blank last.
    candidates, offsets : numpy.ndarray
        int32: per frame, the columns that may extend a prefix (see
        :func:`medocr.decode._common.candidate_arrays`).
    beam_width : int
        Prefixes kept per frame.
    margin : float
        Prefixes more than this below the best one (log) are dropped.

    Returns
    -------
    list of (list of int, float)
        The final prefixes (columns) with their log-probabilities, best first.
    """
    if KERNELS is not None:
        return KERNELS.prefix_beam(rows, rows.shape[1], candidates, offsets, beam_width, margin)
    return _prefix_beam_python(rows.tolist(), per_frame(candidates, offsets), beam_width, margin)


def _prefix_beam_python(
    rows: list[list[float]], candidates: list[list[int]], beam_width: int, margin: float
) -> list[tuple[list[int], float]]:
    """Run the prefix beam search (the Python reference of the compiled kernel).

    Parameters
    ----------
    rows : list of list of float
        ``T`` rows of log-probabilities over the kept columns, blank last.
    candidates : list of list of int
        Per frame, the columns that may extend a prefix.
    beam_width : int
        Prefixes kept per frame.
    margin : float
        Prefixes more than this below the best one (log) are dropped.

    Returns
    -------
    list of (list of int, float)
        The final prefixes (columns) with their log-probabilities, best first.
    """
    blank = len(rows[0]) - 1
    # Prefix tree of every labelling met: id -> parent, last column, children by column.
    parent = [-1]
    last = [blank]  # the root "ends" in blank: its stay-non-blank term is then -inf
    kids: list[dict[int, int]] = [{}]
    beams: list[tuple[int, float, float]] = [(0, 0.0, NEG_INF)]  # id, log P(.. blank), (.. char)
    log1p, exp = math.log1p, math.exp
    best = 0.0  # a lower bound of the best prefix's log-probability at the previous frame
    for row, chars in zip(rows, candidates, strict=True):
        p_blank = row[blank]
        floor = best + p_blank - margin  # extensions below it would be dropped anyway
        new_b: dict[int, float] = {}
        new_nb: dict[int, float] = {}
        for pid, pb, pnb in beams:
            # ptot = log(exp(pb) + exp(pnb)), inlined.
            if pb >= pnb:
                ptot = pb if pnb == NEG_INF else pb + log1p(exp(pnb - pb))
            else:
                ptot = pnb if pb == NEG_INF else pnb + log1p(exp(pb - pnb))
            c_last = last[pid]
            new_b[pid] = ptot + p_blank
            stay = pnb + row[c_last] if c_last != blank else NEG_INF
            old = new_nb.get(pid)
            new_nb[pid] = stay if old is None else lse(old, stay)
            if not chars:
                continue
            children = kids[pid]
            for c in chars:
                score = (pb if c == c_last else ptot) + row[c]
                if score < floor:
                    continue
                child = children.get(c)
                if child is None:
                    child = children[c] = len(parent)
                    parent.append(pid)
                    last.append(c)
                    kids.append({})
                old = new_nb.get(child)
                new_nb[child] = score if old is None else lse(old, score)
        if len(new_nb) <= beam_width and not chars:
            beams = [(pid, new_b.get(pid, NEG_INF), pnb) for pid, pnb in new_nb.items()]
            best += p_blank
            continue
        scored = [
            (lse(new_b[pid], pnb) if pid in new_b else pnb, pid, pnb) for pid, pnb in new_nb.items()
        ]
        scored.sort(reverse=True)
        best = scored[0][0]
        cut = best - margin
        beams = [
            (pid, new_b.get(pid, NEG_INF), pnb)
            for total, pid, pnb in scored[:beam_width]
            if total >= cut
        ]
    final = sorted(((lse(pb, pnb), pid) for pid, pb, pnb in beams), reverse=True)
    out = []
    for score, pid in final:
        path = []
        while pid > 0:
            path.append(last[pid])
            pid = parent[pid]
        out.append((path[::-1], score))
    return out
