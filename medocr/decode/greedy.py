"""Best-path (greedy) CTC decoding."""

from __future__ import annotations

import numpy as np

from medocr.decode._common import (
    WordSource,
    check_frame_probs,
    empty_hypothesis,
    word_hypotheses,
)
from medocr.decode.trie import lexicon_lookup
from medocr.types import CharSpan, FrameProbs, Hypothesis


def greedy(probs: FrameProbs, *, lexicon: WordSource | None = None) -> Hypothesis:
    """Decode the best path: the most probable class per frame, repeats merged, blanks dropped.

    Parameters
    ----------
    probs : FrameProbs
        ``(T, C)`` softmax outputs, blank last. ``T = 0`` gives the empty hypothesis.
    lexicon : Lexicon-like, mapping or iterable of str, optional
        Only to mark which output words the lexicon knows (``Hypothesis.words``); the
        reading itself is not constrained.

    Returns
    -------
    Hypothesis
        ``log_score`` is the log-probability of the best *path* (not of the labelling,
        which sums every path). Each character spans the run of frames where it was the
        argmax; its confidence is the highest posterior over that run. No alternatives.

    Raises
    ------
    TypeError, ValueError
        Invalid `probs` (see :func:`medocr.decode.check_frame_probs`).
    """
    matrix = check_frame_probs(probs)
    n_frames = matrix.shape[0]
    if n_frames == 0:
        return empty_hypothesis()
    blank = probs.alphabet.blank
    best = matrix.argmax(axis=1)
    peak = matrix[np.arange(n_frames), best]
    log_score = float(np.log(peak, dtype=np.float64).sum())
    # A new run starts where the argmax changes; runs of blank are dropped.
    starts = np.flatnonzero(np.concatenate(([True], best[1:] != best[:-1])))
    ends = np.append(starts[1:], n_frames)
    labels = best[starts]
    keep = labels != blank
    confidence = np.maximum.reduceat(peak, starts)[keep]
    chars = probs.alphabet.chars
    spans = tuple(
        CharSpan(chars[c], s, e, p)
        for c, s, e, p in zip(
            labels[keep].tolist(),
            starts[keep].tolist(),
            ends[keep].tolist(),
            confidence.tolist(),
            strict=True,
        )
    )
    text = "".join(span.char for span in spans)
    return Hypothesis(
        text=text,
        log_score=log_score,
        chars=spans,
        words=word_hypotheses(text, lexicon_lookup(lexicon, probs.alphabet)),
    )
