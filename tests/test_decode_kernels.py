"""The compiled decoder kernels (medocr/decode/_kernels.c) against their Python references.

Every result must be identical, scores bit for bit: the kernels replay the references'
floating-point operations in the same order. Skipped where the optional C build did not
happen (no compiler); `make test` builds it.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medocr.decode._common import (
    KERNELS,
    _align_python,
    candidate_arrays,
    log_probs,
    per_frame,
)
from medocr.decode.beam import _prefix_beam_python

pytestmark = pytest.mark.skipif(KERNELS is None, reason="medocr.decode._kernels not built")
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def log_matrices(draw: st.DrawFn) -> np.ndarray:
    """float64 (T, C) log-probabilities, T in 1..60, C in 2..12, peaky or flat, some -inf."""
    n_classes = draw(st.integers(2, 12))
    n_frames = draw(st.integers(1, 60))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    matrix = rng.dirichlet(np.full(n_classes, draw(st.sampled_from([0.05, 0.3, 1.0]))), n_frames)
    if draw(st.booleans()):
        matrix[rng.random(matrix.shape) < 0.2] = 0.0
        matrix[:, -1] += 1e-3
        matrix /= matrix.sum(axis=1, keepdims=True)
    return log_probs(matrix.astype(np.float32))


@SETTINGS
@given(
    log_matrices(),
    st.integers(1, 20),
    st.sampled_from([0.0, 1e-3, 1e-2, 0.2]),
    st.integers(1, 12),
    st.sampled_from([0.5, 3.0, 10.0, math.inf]),
)
def test_prefix_beam_kernel_equals_the_python_search(logp, beam, min_prob, max_chars, margin):
    blank = logp.shape[1] - 1
    columns, flat, offsets = candidate_arrays(np.exp(logp), blank, min_prob, max_chars)
    rows = np.ascontiguousarray(logp[:, columns])
    compiled = KERNELS.prefix_beam(rows, rows.shape[1], flat, offsets, beam, margin)
    frames = per_frame(flat, offsets)
    assert compiled == _prefix_beam_python(rows.tolist(), frames, beam, margin)


@SETTINGS
@given(log_matrices(), st.data())
def test_align_kernel_equals_the_python_alignment(logp, data):
    blank = logp.shape[1] - 1
    labels = data.draw(st.lists(st.integers(0, blank - 1), min_size=1, max_size=40))
    compiled = KERNELS.align(logp, logp.shape[1], np.asarray(labels, np.int32), blank)
    assert compiled == _align_python(logp, labels, blank)  # None when no path fits


def test_kernels_refuse_inconsistent_input():
    logp = np.log(np.full((4, 3), 1 / 3))
    with pytest.raises(ValueError, match="inconsistent"):
        KERNELS.align(logp, 3, np.array([5], np.int32), 2)  # a label outside the classes
    with pytest.raises(ValueError, match="inconsistent"):
        KERNELS.align(logp, 3, np.array([], np.int32), 2)
    with pytest.raises(TypeError, match="float64"):
        KERNELS.align(logp.astype(np.float32), 3, np.array([0], np.int32), 2)
    offsets = np.array([0, 1, 1, 1, 1], np.int32)
    with pytest.raises(ValueError, match="candidates"):  # the blank is not a candidate
        KERNELS.prefix_beam(logp, 3, np.array([2], np.int32), offsets, 4, 10.0)
    with pytest.raises(ValueError, match="candidates"):  # offsets past the candidates
        KERNELS.prefix_beam(logp, 3, np.array([0], np.int32), offsets + 1, 4, 10.0)


class ToyBigram:
    """A bigram model over any strings, with an END token (deterministic, uneven)."""

    END = "</s>"

    def log_prob(self, prev, word):
        key = f"{prev}|{word}".encode()
        return -1.0 - (zlib.crc32(key) % 1000) / 250.0 if prev != word else -0.5


WORDS = ["a", "ab", "bad", "cab", "fee", "hg", "dh", "ce", "abc", "abcd"]


@SETTINGS
@given(
    log_matrices(),
    st.integers(1, 8),
    st.sampled_from([None, -0.5, -1.5, 0.0]),
    st.sampled_from([None, 0.0, 0.3, 1.0]),
    st.sampled_from([(1e-3, 8, 10.0), (0.0, 12, math.inf), (0.05, 2, 2.0)]),
    st.integers(0, len(WORDS)),
)
def test_decoders_read_the_same_with_and_without_kernels(
    logp, beam, oov, lm_weight, pruning, n_words
):
    import medocr.decode._common as common
    import medocr.decode.beam as beam_module
    import medocr.decode.wordbeam as wordbeam_module
    from medocr.decode import beam_search, word_beam_search
    from medocr.recognize.alphabet import Alphabet
    from medocr.types import FrameProbs

    alphabet = Alphabet(tuple("ab c,de-fgh"[: logp.shape[1] - 1]))
    probs = FrameProbs(np.exp(logp).astype(np.float32), alphabet)
    min_prob, max_chars, margin = pruning
    settings = {
        "beam_width": beam,
        "min_char_prob": min_prob,
        "max_chars_per_frame": max_chars,
        "score_margin": margin,
    }
    lm = None if lm_weight is None else ToyBigram()

    def read():
        return (
            beam_search(probs, **settings),
            word_beam_search(
                probs, WORDS[:n_words] or ["x"], lm=lm, lm_weight=lm_weight or 0.0,
                oov_penalty=oov, **settings,
            ),
        )  # fmt: skip

    compiled = read()
    modules = (common, beam_module, wordbeam_module)
    try:
        for module in modules:
            module.KERNELS = None
        assert read() == compiled
    finally:
        for module in modules:
            module.KERNELS = common._load_kernels()
