"""Property tests for medocr.decode: random valid matrices never make a decoder fail, and
invalid ones always get the same precise error."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medocr.decode import (
    beam_search,
    closed_list,
    greedy,
    lexicon_search,
    word_beam_search,
)
from medocr.recognize.alphabet import Alphabet
from medocr.types import FrameProbs, Hypothesis

SYMBOLS = "ab 1c,d"  # letters, a space, a digit, punctuation: C = 2..8 with the blank
SETTINGS = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,  # the same examples on every run and machine
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def frame_probs(draw: st.DrawFn) -> FrameProbs:
    """A random valid (T, C) softmax matrix, T in 0..30, C in 2..8, some exact zeros."""
    n_classes = draw(st.integers(2, 8))
    n_frames = draw(st.integers(0, 30))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    peaky = draw(st.booleans())
    matrix = rng.dirichlet(np.full(n_classes, 0.1 if peaky else 1.0), size=n_frames)
    if n_frames and draw(st.booleans()):
        matrix[rng.random(matrix.shape) < 0.2] = 0.0
        matrix[:, -1] += 1e-3  # keep every row non-empty
        matrix /= matrix.sum(axis=1, keepdims=True)
    return FrameProbs(matrix.astype(np.float32), Alphabet(tuple(SYMBOLS[: n_classes - 1])))


def check_hypothesis(hyp: Hypothesis, probs: FrameProbs) -> None:
    assert isinstance(hyp, Hypothesis)
    assert len(hyp.chars) == len(hyp.text)
    assert "".join(c.char for c in hyp.chars) == hyp.text
    assert set(hyp.text) <= set(probs.alphabet.chars)
    n_frames = probs.probs.shape[0]
    for span in hyp.chars:
        assert 0 <= span.start_frame <= span.end_frame <= n_frames
        assert 0.0 <= span.confidence <= 1.0
    scores = [hyp.log_score] + [s for _, s in hyp.alternatives]
    assert scores == sorted(scores, reverse=True)
    assert hyp.text not in [t for t, _ in hyp.alternatives]


@SETTINGS
@given(frame_probs(), st.integers(1, 6))
def test_no_decoder_raises_on_valid_input(probs: FrameProbs, beam: int) -> None:
    letters = [c for c in probs.alphabet.chars if c.isalpha()]
    lexicon = ["".join(letters[: k + 1]) for k in range(len(letters))] or ["a"]
    values = ["", *probs.alphabet.chars, "".join(probs.alphabet.chars)]
    for hyp in (
        greedy(probs),
        beam_search(probs, beam_width=beam, n_best=3),
        word_beam_search(probs, lexicon, beam_width=beam, n_best=3),
        word_beam_search(probs, lexicon, beam_width=beam, oov_penalty=None),
        closed_list(probs, values, n_best=3),
    ):
        check_hypothesis(hyp, probs)


@SETTINGS
@given(frame_probs())
def test_lexicon_search_never_raises(probs: FrameProbs) -> None:
    chars = probs.probs[:, :-1].astype(np.float64) + 1e-6
    chars /= chars.sum(axis=1, keepdims=True)
    letters = [c for c in probs.alphabet.chars if c.isalpha()] or ["a"]
    hyp = lexicon_search(chars, probs.alphabet, ["".join(letters), letters[0]], n_best=3)
    assert len(hyp.chars) == len(hyp.text)
    assert all(0 <= c.start_frame <= c.end_frame <= len(chars) for c in hyp.chars)


DECODERS = {
    "greedy": lambda p: greedy(p),
    "beam": lambda p: beam_search(p),
    "word beam": lambda p: word_beam_search(p, ["ab"]),
    "closed list": lambda p: closed_list(p, ["a"]),
}


@SETTINGS
@given(frame_probs(), st.sampled_from(sorted(DECODERS)), st.data())
def test_invalid_values_get_the_exact_error(
    probs: FrameProbs, name: str, data: st.DataObject
) -> None:
    n_frames, n_classes = probs.probs.shape
    if n_frames == 0:
        return
    t = data.draw(st.integers(0, n_frames - 1))
    c = data.draw(st.integers(0, n_classes - 1))
    kind = data.draw(st.sampled_from(["nan", "negative", "sum"]))
    matrix = probs.probs.copy()
    if kind == "nan":
        matrix[t, c] = np.nan
        message = rf"^FrameProbs.probs has a non-finite value \(nan\) at frame {t}, class {c}$"
    elif kind == "negative":
        matrix[t, c] = -0.5
        message = rf"^FrameProbs.probs has a negative value \(-0.5\) at frame {t}, class {c}: "
    else:
        matrix[t] *= 0.5
        message = rf"^FrameProbs.probs row {t} sums to 0.5\d*, not 1 \(tolerance 0.001\)"
    with pytest.raises(ValueError, match=message):
        DECODERS[name](FrameProbs(matrix, probs.alphabet))


@SETTINGS
@given(frame_probs(), st.integers(1, 3))
def test_wrong_number_of_classes_is_refused(probs: FrameProbs, extra: int) -> None:
    n_frames, n_classes = probs.probs.shape
    wider = np.full((n_frames, n_classes + extra), 1.0 / (n_classes + extra), dtype=np.float32)
    with pytest.raises(
        ValueError,
        match=rf"^FrameProbs has {n_classes + extra} classes but the alphabet has {n_classes} ",
    ):
        FrameProbs(wider, probs.alphabet)
    with pytest.raises(
        ValueError,
        match=rf"^char_probs has {n_classes + extra} classes per row but the alphabet needs "
        rf"{n_classes - 1} \(no blank\)",
    ):
        lexicon_search(wider, probs.alphabet, ["a"])
