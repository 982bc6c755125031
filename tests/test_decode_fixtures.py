"""Decoder regression on stored outputs of the shipped recognizer on real handwriting.

``tests/data/decoder/`` holds the frame probabilities of ``fr-crnn-small`` on a few real
validation lines, and what each decoder read from them when they were made (format,
attribution and the command that remakes them: ``tests/data/decoder/README.md``). A
decoder whose reading of any of them changes (text, score, alternatives, character spans,
words) fails here; a change that is meant regenerates the expectations with
``python scripts/make-decoder-fixtures.py --expectations-only``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from medocr.decode import beam_search, greedy, word_beam_search
from medocr.evaluate.metrics import cer
from medocr.lexicon import load_lexicon
from medocr.recognize.alphabet import Alphabet
from medocr.types import FrameProbs, Hypothesis

FIXTURES = Path(__file__).resolve().parent / "data" / "decoder"
FLOOR = 1e-7  # stored float16 zeros (below 6e-8) become this before rows are renormalised
RTOL, ATOL = 1e-4, 1e-5  # for scores and confidences; texts and spans must be equal

Decoder = Callable[[FrameProbs], Hypothesis]


def fixture_probs(stored: np.ndarray, alphabet: Alphabet) -> FrameProbs:
    """Turn a stored float16 ``(T, C)`` probability matrix into the FrameProbs decoded."""
    probs = np.maximum(stored.astype(np.float64), FLOOR)
    probs /= probs.sum(axis=1, keepdims=True)
    return FrameProbs(probs.astype(np.float32), alphabet)


def load_fixtures(folder: Path = FIXTURES) -> tuple[dict[str, Any], dict[str, FrameProbs]]:
    """``expected.json`` and each line's FrameProbs (by line key) from ``frames.npz``."""
    expected = json.loads((folder / "expected.json").read_text("utf-8"))
    alphabet = Alphabet.from_dict(expected["alphabet"])
    with np.load(folder / "frames.npz") as stored:
        probs = {
            line["key"]: fixture_probs(stored[line["key"]], alphabet) for line in expected["lines"]
        }
    return expected, probs


def make_decoders() -> dict[str, Decoder]:
    """The decoders under test, with the settings the pipeline uses for cause fields."""
    lexicon = load_lexicon()
    return {
        "greedy": greedy,
        "beam": lambda p: beam_search(p, beam_width=16, n_best=5),
        "wordbeam": lambda p: word_beam_search(p, lexicon, beam_width=16, n_best=5),
        "wordbeam_bigram": lambda p: word_beam_search(
            p, lexicon, beam_width=16, lm=lexicon.bigrams, n_best=5
        ),
    }


def differences(got: Hypothesis, want: Hypothesis) -> list[str]:
    """What differs between two readings of a line (empty when they agree)."""
    found = []
    if got.text != want.text:
        found.append(f"text {got.text!r} != {want.text!r}")
    if [t for t, _ in got.alternatives] != [t for t, _ in want.alternatives]:
        found.append(f"alternatives {got.alternatives} != {want.alternatives}")
    if [(c.char, c.start_frame, c.end_frame) for c in got.chars] != [
        (c.char, c.start_frame, c.end_frame) for c in want.chars
    ]:
        found.append("character spans differ")
    if got.words != want.words:
        found.append(f"words {got.words} != {want.words}")
    if not found:
        numbers = [
            (got.log_score, want.log_score),
            *((a[1], b[1]) for a, b in zip(got.alternatives, want.alternatives, strict=True)),
            *((a.confidence, b.confidence) for a, b in zip(got.chars, want.chars, strict=True)),
        ]
        got_n, want_n = np.array(numbers).T if numbers else (np.zeros(0), np.zeros(0))
        if not np.allclose(got_n, want_n, rtol=RTOL, atol=ATOL):
            found.append(f"scores {got_n.tolist()} != {want_n.tolist()}")
    return found


@pytest.fixture(scope="module")
def fixtures():
    return load_fixtures()


@pytest.fixture(scope="module")
def decoders():
    return make_decoders()


def test_fixtures_are_small_real_and_documented(fixtures):
    expected, probs = fixtures
    size = sum(path.stat().st_size for path in FIXTURES.iterdir())
    assert size < 300_000, f"tests/data/decoder holds {size} bytes"
    sources = {line["source"] for line in expected["lines"]}
    assert sources == {"poilus-lines", "lectaurep-lines"} and len(probs) >= 6
    readme = (FIXTURES / "README.md").read_text("utf-8")
    assert "CC BY 4.0" in readme and "make-decoder-fixtures.py" in readme
    for line in expected["lines"]:
        assert probs[line["key"]].probs.shape == (
            line["frames"],
            len(expected["alphabet"]["chars"]) + 1,
        )
    # real network outputs of real lines: read far better than chance
    truths = [line["truth"] for line in expected["lines"]]
    readings = [greedy(probs[line["key"]]).text for line in expected["lines"]]
    assert cer(truths, readings) < 0.35


@pytest.mark.parametrize("name", ["greedy", "beam", "wordbeam", "wordbeam_bigram"])
def test_decoders_read_the_stored_lines_as_before(fixtures, decoders, name):
    expected, probs = fixtures
    failures = []
    for line in expected["lines"]:
        want = Hypothesis.from_dict(line["decodes"][name])
        found = differences(decoders[name](probs[line["key"]]), want)
        failures += [f"{line['key']}: {difference}" for difference in found]
    lexicon = f"(fixtures made with lexicon {expected['lexicon']}, now {load_lexicon().ref})"
    assert not failures, "\n".join([f"{name} reads differently {lexicon}:", *failures])


def test_the_comparison_can_fail(fixtures, decoders):
    expected, probs = fixtures
    line = expected["lines"][0]
    want = Hypothesis.from_dict(line["decodes"]["beam"])
    got = decoders["beam"](probs[line["key"]])
    assert differences(got, want) == []
    narrower = beam_search(probs[line["key"]], beam_width=16, n_best=2)
    assert differences(narrower, want)  # fewer alternatives
    shifted = Hypothesis.from_dict({**want.to_dict(), "log_score": want.log_score * 1.01})
    assert differences(got, shifted)
