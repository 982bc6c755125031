"""Word beam search with out-of-vocabulary words forbidden: every output word is a lexicon word.

Columns are the alphabet's characters in order, then the blank (written ``-`` below).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import spelled
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medocr.decode import get_trie, tokenize, word_beam_search
from medocr.decode.trie import LexiconTrie
from medocr.fields import Routing, hypothesis_confidence
from medocr.recognize.alphabet import Alphabet
from medocr.types import FrameProbs, Hypothesis, WordHypothesis

FRENCH = Alphabet(tuple("abcdefghijklmnopqrstuvwxyzéèêàçôûîëœAVCHTRS0123456789 ,.-'?"))
SETTINGS = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,  # the same examples on every run and machine
    suppress_health_check=[HealthCheck.too_slow],
)
PRUNINGS = [
    {"beam_width": 1},
    {"beam_width": 2, "min_char_prob": 0.2, "max_chars_per_frame": 1},
    {"beam_width": 3, "score_margin": 1.0},
    {"beam_width": 4},
    {},  # the defaults
    {"beam_width": 64, "min_char_prob": 0.0, "score_margin": math.inf},
]


def frames(alphabet: Alphabet, rows: list[dict[str, float]]) -> FrameProbs:
    """Build FrameProbs from rows {char: p}; the rest of each row goes to the blank '-'."""
    matrix = np.zeros((len(rows), alphabet.num_classes), dtype=np.float64)
    for t, row in enumerate(rows):
        for char, p in row.items():
            matrix[t, alphabet.blank if char == "-" else alphabet.chars.index(char)] = p
        matrix[t, alphabet.blank] += 1.0 - matrix[t].sum()
    return FrameProbs(matrix.astype(np.float32), alphabet)


def unknown_words(text: str, trie: LexiconTrie) -> list[str]:
    """The words of `text` (runs of word characters) that the trie does not hold."""
    words, current = [], ""
    for char in text + " ":
        if char in trie.word_chars:
            current += char
        elif current:
            words.append(current)
            current = ""
    return [w for w in words if trie.lookup(w) is None]


def check_well_formed(hyp: Hypothesis, n_frames: int) -> None:
    assert len(hyp.chars) == len(hyp.text)
    assert "".join(c.char for c in hyp.chars) == hyp.text
    for span in hyp.chars:
        assert 0 <= span.start_frame <= span.end_frame <= n_frames
        assert 0.0 <= span.confidence <= 1.0
    scores = [hyp.log_score] + [s for _, s in hyp.alternatives]
    assert scores == sorted(scores, reverse=True)
    assert all(s > -math.inf for _, s in hyp.alternatives)
    texts = [hyp.text] + [t for t, _ in hyp.alternatives]
    assert len(set(texts)) == len(texts)


@st.composite
def lexicon_cases(draw: st.DrawFn) -> tuple[FrameProbs, list[str], dict]:
    """A random (T, C) softmax matrix over a small alphabet, a small lexicon, a pruning."""
    letters = draw(st.sampled_from(["ab", "abc", "abcd"]))
    alphabet = Alphabet(tuple(letters + " ,"))  # letters, a space, punctuation
    words = draw(
        st.lists(st.text(letters, min_size=1, max_size=6), min_size=1, max_size=6, unique=True)
    )
    n_frames = draw(st.integers(1, 24))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    peaky = draw(st.booleans())
    matrix = rng.dirichlet(np.full(alphabet.num_classes, 0.1 if peaky else 1.0), size=n_frames)
    if draw(st.booleans()):  # exact zeros, the blank included sometimes
        matrix[rng.random(matrix.shape) < 0.25] = 0.0
        matrix[matrix.sum(axis=1) == 0, 0] = 1.0
        matrix /= matrix.sum(axis=1, keepdims=True)
    return FrameProbs(matrix.astype(np.float32), alphabet), words, draw(st.sampled_from(PRUNINGS))


@SETTINGS
@given(lexicon_cases())
def test_without_oov_every_output_word_is_a_lexicon_word(case) -> None:
    probs, words, pruning = case
    trie = get_trie(words, probs.alphabet)
    hyp = word_beam_search(probs, trie, oov_penalty=None, n_best=4, **pruning)
    check_well_formed(hyp, probs.probs.shape[0])
    assert unknown_words(hyp.text, trie) == []
    assert all(w.in_lexicon for w in hyp.words)
    assert [w.text for w in hyp.words] == [w for w in tokenize(hyp.text)]
    for text, _ in hyp.alternatives:
        assert unknown_words(text, trie) == []
    if hyp.log_score == -math.inf:  # no reading could be made of lexicon words
        assert hyp == Hypothesis(text="", log_score=-math.inf)


# -- regressions ------------------------------------------------------------------------


def test_an_unfinished_last_word_with_one_completion_is_completed():
    # The line ends before the last letter of "idea" shows (its "a" gets 0.04 / 59 at
    # each frame, under the per-frame pruning): the search used to end on "ide".
    probs = spelled(FRENCH, "any ide")
    hyp = word_beam_search(probs, ["any", "idea", "beyond"], oov_penalty=None)
    assert hyp.text == "any idea"
    assert hyp.words == (
        WordHypothesis("any", True, "any"),
        WordHypothesis("idea", True, "idea"),
    )
    # The added letter was never read: the completed line is scored exactly (the "a"
    # takes the last, blank frame), below the same line with the "a" written, and the
    # alignment puts the "a" where it is improbable.
    a = hyp.chars[-1]
    assert a.char == "a" and a.end_frame == probs.probs.shape[0] and a.confidence < 0.01
    read = word_beam_search(spelled(FRENCH, "any idea"), ["any", "idea", "beyond"])
    assert read.text == "any idea" and hyp.log_score < read.log_score - 5


def test_an_unfinished_last_word_with_several_completions_is_not_a_reading():
    probs = spelled(FRENCH, "any ide")
    hyp = word_beam_search(probs, ["any", "ideal", "ideas"], oov_penalty=None)
    assert hyp.words == (WordHypothesis("any", True, "any"),)
    assert "ide" not in hyp.text


def test_a_complete_reading_survives_a_beam_full_of_unfinished_words():
    # "ab", then frames where "c" (.6) starts the longer word: from the first of them
    # "abc" outscores "ab", and a beam of one used to end on "abc", not a word.
    al = Alphabet(tuple("abcxyz"))
    probs = frames(al, [{"a": 0.9}, {"-": 0.9}, {"b": 0.9}] + [{"c": 0.6}] * 3)
    lexicon = ["ab", "abcxyz"]
    hyp = word_beam_search(probs, lexicon, beam_width=1, oov_penalty=None)
    assert hyp.text == "ab"
    assert hyp.log_score == pytest.approx(math.log(0.9 * 0.9 * 0.4**3))
    # Unpruned, the same reading ("abcxyz" has no path: x, y and z never show).
    wide = {"beam_width": 64, "min_char_prob": 0.0, "score_margin": math.inf}
    assert word_beam_search(probs, lexicon, oov_penalty=None, **wide).text == "ab"


def test_no_lexicon_reading_gives_the_empty_text_with_minus_infinity():
    # Two frames without any blank: only "ab" has a path, and it starts two words.
    al = Alphabet(tuple("abcd"))
    probs = frames(al, [{"a": 1.0}, {"b": 1.0}])
    hyp = word_beam_search(probs, ["abc", "abd"], oov_penalty=None)
    assert hyp == Hypothesis(text="", log_score=-math.inf)
    # A field reader turns it into confidence 0, which routes the field to review.
    assert hypothesis_confidence(hyp) == 0.0
    assert Routing().route("cause", hypothesis_confidence(hyp), hyp.text) == "review"
    # With the out-of-vocabulary path the line is read as written.
    assert word_beam_search(probs, ["abc", "abd"]).text == "ab"


def test_an_impossible_reading_is_never_returned():
    # A beam of one keeps "a" (.9) over "b" (.1); the next frame has neither blank nor "a",
    # so "a" becomes impossible (-inf), and "ba" (the only word that fits) is lost.
    al = Alphabet(tuple("ab "))
    probs = frames(al, [{"a": 0.9, "b": 0.1}, {"-": 1.0}, {"a": 0.6, "b": 0.4}])
    narrow = word_beam_search(probs, ["a", "ba"], beam_width=1, oov_penalty=None)
    assert narrow == Hypothesis(text="", log_score=-math.inf)
    assert word_beam_search(probs, ["a", "ba"], beam_width=2, oov_penalty=None).text == "ba"


@pytest.mark.parametrize("oov", [None, -1.5])
def test_completion_needs_a_possible_letter(oov):
    # The "c" of "abc" has probability 0 everywhere: "ab" cannot become "abc".
    al = Alphabet(tuple("abc"))
    probs = frames(al, [{"a": 0.9}, {"b": 0.9}])
    hyp = word_beam_search(probs, ["abc"], oov_penalty=oov)
    if oov is None:  # all blank (.1 x .1) is the only reading left
        assert hyp.text == "" and hyp.log_score == pytest.approx(math.log(0.01))
    else:
        assert hyp.words == (WordHypothesis("ab", False, None),)


def test_lm_weight_zero_turns_off_a_model_that_forbids_a_word():
    class Forbids:
        """A word model that gives "ab" no chance at all (log 0 = -inf)."""

        def log_prob(self, prev, word):
            return -math.inf if word == "ab" else math.log(0.5)

    al = Alphabet(tuple("abc"))
    probs = frames(al, [{"a": 0.9}, {"-": 0.9}, {"b": 0.9}])
    plain = word_beam_search(probs, ["ab", "abc"], oov_penalty=None)
    off = word_beam_search(probs, ["ab", "abc"], lm=Forbids(), lm_weight=0.0, oov_penalty=None)
    assert (off.text, off.log_score) == (plain.text, plain.log_score) == ("ab", plain.log_score)
    assert math.isfinite(off.log_score)  # 0 * -inf used to make it NaN
