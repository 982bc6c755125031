"""Decoders of attention recognizers (medocr.decode.seq2seq) on toy decoder steps.

A toy step reads its next-token distribution from a table keyed by the prefix text
(``$`` is the end token below); its attention is one-hot on frame ``len(prefix)``
(clipped to the line), so character ``i`` is read on frame ``i``.
"""

from __future__ import annotations

import math
import zlib
from itertools import product

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medocr.decode import (
    attention_beam_search,
    attention_closed_list,
    attention_greedy,
    attention_log_likelihood,
    attention_word_beam_search,
    get_trie,
    tokenize,
)
from medocr.text import Alphabet
from medocr.types import CharSpan, EncodedLine, Hypothesis, WordHypothesis

ALPHABET = Alphabet(tuple("abcA 1,"))
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same examples on every run and machine
    suppress_health_check=[HealthCheck.too_slow],
)
L = math.log


class TableStep:
    """A decoder step from a table ``prefix -> {char or '$': p}`` (default: end surely)."""

    def __init__(self, alphabet: Alphabet, table: dict[str, dict[str, float]]):
        self.alphabet = alphabet
        self.table = table
        self.calls: list[tuple[int, int]] = []  # (K, L) of each call

    def distribution(self, prefix: str) -> np.ndarray:
        probs = np.zeros(self.alphabet.num_classes)
        for char, p in self.table.get(prefix, {"$": 1.0}).items():
            probs[-1 if char == "$" else self.alphabet.chars.index(char)] = p
        assert probs.sum() == pytest.approx(1.0)
        return probs

    def __call__(self, memory, frame_mask, tokens):
        k, n_frames, _ = memory.shape
        assert memory.dtype == np.float32 and frame_mask.shape == (k, n_frames)
        assert tokens.dtype == np.int32 and tokens.shape[0] == k
        assert (tokens[:, 0] == self.alphabet.num_classes).all()  # the start token
        self.calls.append(tokens.shape)
        rows = [self.distribution(self.alphabet.decode(row[1:].tolist())) for row in tokens]
        with np.errstate(divide="ignore"):
            log_probs = np.log(np.array(rows)).astype(np.float32)
        attention = np.zeros((k, n_frames), np.float32)
        attention[:, min(tokens.shape[1] - 1, n_frames - 1)] = 1.0
        return log_probs, attention


def encoded(table, max_length: int = 6, n_frames: int = 8, alphabet=ALPHABET) -> EncodedLine:
    memory = np.zeros((n_frames, 4), np.float32)
    return EncodedLine(memory, alphabet, TableStep(alphabet, table), max_length)


# "b" then end (.4 x .9) beats "a" then end (.6 x .4): greedy takes "a", the beam "b".
TRAP = {
    "": {"a": 0.6, "b": 0.4},
    "a": {"$": 0.4, "a": 0.35, "b": 0.25},
    "b": {"$": 0.9, "a": 0.1},
}


def test_greedy_reads_the_argmax_chain_with_spans_and_confidences():
    line = encoded(
        {"": {"a": 0.6, "b": 0.4}, "a": {"b": 0.7, "$": 0.3}, "ab": {"$": 0.9, "a": 0.1}}
    )
    hyp = attention_greedy(line)
    assert hyp.text == "ab"
    assert hyp.log_score == pytest.approx(L(0.6 * 0.7 * 0.9))
    assert hyp.chars == (
        CharSpan("a", 0, 1, pytest.approx(0.6)),
        CharSpan("b", 1, 2, pytest.approx(0.7)),
    )
    assert hyp.words == (WordHypothesis("ab", False, None),)
    assert hyp.alternatives == ()
    assert line.step.calls == [(1, 1), (1, 2), (1, 3)]  # one call per token, end included
    assert attention_greedy(line, lexicon=["ab"]).words == (WordHypothesis("ab", True, "ab"),)


def test_greedy_stops_at_max_length_and_charges_the_end_token():
    line = encoded({"": {"a": 0.9, "$": 0.1}, "a": {"a": 0.8, "$": 0.2}}, max_length=1)
    hyp = attention_greedy(line)
    assert hyp.text == "a" and hyp.log_score == pytest.approx(L(0.9 * 0.2))
    assert attention_greedy(encoded(TRAP, max_length=0)).log_score == -math.inf


def test_attention_span_covers_the_frames_above_half_the_peak():
    def step(memory, mask, tokens):
        weights = np.array([[0.05, 0.3, 0.4, 0.19, 0.06]], np.float32)
        end = np.log(np.eye(ALPHABET.num_classes, dtype=np.float32)[-1] + 1e-30)
        first = np.log(np.eye(ALPHABET.num_classes, dtype=np.float32)[0] + 1e-30)
        return (first if tokens.shape[1] == 1 else end)[None], weights

    line = EncodedLine(np.zeros((5, 2), np.float32), ALPHABET, step, 3)
    span = attention_greedy(line).chars[0]
    assert (span.start_frame, span.end_frame) == (1, 3)  # .3 and .4 are >= .2, not .19


def test_beam_finds_the_reading_greedy_misses_with_exact_alternatives():
    line = encoded(TRAP)
    assert attention_greedy(line).text == "a"
    line.step.calls.clear()
    hyp = attention_beam_search(line, beam_width=4, n_best=3)
    assert hyp.text == "b" and hyp.log_score == pytest.approx(L(0.4 * 0.9))
    assert [t for t, _ in hyp.alternatives] == ["a", "aa"]
    assert [s for _, s in hyp.alternatives] == pytest.approx([L(0.6 * 0.4), L(0.6 * 0.35)])
    assert hyp.chars == (CharSpan("b", 0, 1, pytest.approx(0.4)),)
    # One step call per position for all live beams: 1, then "a" and "b", then 3 left.
    assert line.step.calls == [(1, 1), (2, 2), (3, 3)]


def test_beam_stops_once_no_live_beam_can_beat_the_kept_readings():
    line = encoded(TRAP)
    # Width 2: "b$" and "a$" end at the second step, above "aa" (.21): no third call.
    hyp = attention_beam_search(line, beam_width=2, n_best=5)
    assert [hyp.text, *(t for t, _ in hyp.alternatives)] == ["b", "a"]
    assert line.step.calls == [(1, 1), (2, 2)]
    # A beam of one is greedy.
    narrow = attention_beam_search(encoded(TRAP), beam_width=1)
    assert (narrow.text, narrow.log_score) == ("a", pytest.approx(L(0.24)))


def test_beam_ends_every_prefix_at_max_length():
    # "aa" (.9) would take the only slot; at max_length the end token is all that is left.
    line = encoded({"": {"a": 1.0}, "a": {"a": 0.9, "$": 0.1}}, max_length=1)
    hyp = attention_beam_search(line, beam_width=1)
    assert (hyp.text, hyp.log_score) == ("a", pytest.approx(L(0.1)))
    assert line.step.calls == [(1, 1), (1, 2)]


def test_beam_scores_are_the_teacher_forced_likelihoods():
    line = encoded(TRAP)
    hyp = attention_beam_search(line, beam_width=8, n_best=5)
    texts = [hyp.text, *(t for t, _ in hyp.alternatives)]
    scores = [hyp.log_score, *(s for _, s in hyp.alternatives)]
    assert texts == ["b", "a", "aa", "ab", "ba"]
    assert scores == pytest.approx(attention_log_likelihood(line, texts).tolist())


def test_closed_list_ranks_values_by_exact_likelihood():
    line = encoded(TRAP, max_length=2)
    hyp = attention_closed_list(line, ["a", "ab", "b", "abc", "a"], n_best=3)
    assert hyp.text == "b" and hyp.log_score == pytest.approx(L(0.36))
    assert hyp.alternatives == (("a", pytest.approx(L(0.24))), ("ab", pytest.approx(L(0.15))))
    assert hyp.chars == (CharSpan("b", 0, 1, pytest.approx(0.4)),)
    everything = attention_closed_list(line, ["abc", "ab", "c"], n_best=5)
    # "abc" is longer than max_length (-inf), "c" has probability 0: both last, in order.
    assert everything.alternatives == (("abc", -math.inf), ("c", -math.inf))
    scores = attention_log_likelihood(line, ["", "ba", "abc"])
    assert scores.tolist() == pytest.approx([-math.inf, L(0.04), -math.inf])


def test_closed_list_batches_values_one_call_per_position():
    line = encoded(TRAP, max_length=3)
    attention_closed_list(line, ["a", "aa", "ab", "b"])
    assert line.step.calls == [(4, 1), (4, 2), (2, 3)]  # prefixes "", 1 char, 2 chars


def test_closed_list_values_outside_the_alphabet():
    line = encoded(TRAP)
    with pytest.raises(ValueError) as err:
        attention_closed_list(line, ["a", "xy"])
    assert str(err.value) == (
        "attention_closed_list values with characters outside the alphabet: 'xy' ('xy'); "
        "pass skip_unknown=True to leave them out"
    )
    assert attention_closed_list(line, ["a", "xy"], skip_unknown=True).text == "a"
    with pytest.raises(ValueError, match="^no value of values can be written with this alphabet$"):
        attention_closed_list(line, ["xy"], skip_unknown=True)
    with pytest.raises(ValueError, match="^values is empty: attention_closed_list needs at least"):
        attention_closed_list(line, [])
    with pytest.raises(TypeError, match="^values must be a sequence of strings, not a single"):
        attention_closed_list(line, "ab")
    with pytest.raises(TypeError, match="^texts must be a sequence of strings, not a single"):
        attention_log_likelihood(line, "ab")
    with pytest.raises(ValueError, match=r"^characters not in the alphabet: 'x'$"):
        attention_log_likelihood(line, ["x"])


# -- lexicon beam ------------------------------------------------------------------------


def test_lexicon_word_wins_over_a_likelier_non_word():
    table = {"": {"c": 0.7, "a": 0.3}, "a": {"b": 1.0}}
    line = encoded(table)
    assert attention_beam_search(line).text == "c"
    hyp = attention_word_beam_search(line, ["ab"], oov_penalty=None)
    assert hyp.text == "ab" and hyp.log_score == pytest.approx(L(0.3))
    assert hyp.words == (WordHypothesis("ab", True, "ab"),)
    assert hyp.alternatives == ()  # nothing else is made of lexicon words
    # The default penalty (-1.5 per letter) still prefers "ab"; a light one lets "c" pass.
    assert attention_word_beam_search(line, ["ab"]).text == "ab"
    light = attention_word_beam_search(line, ["ab"], oov_penalty=-0.1)
    assert light.text == "c" and light.log_score == pytest.approx(L(0.7) - 0.1)
    assert light.words == (WordHypothesis("c", False, None),)
    assert light.alternatives[0] == ("ab", pytest.approx(L(0.3)))


def test_digits_punctuation_and_spaces_pass_between_words():
    table = {
        "": {"A": 0.5, "a": 0.4, "1": 0.1},
        "A": {"b": 0.9, "c": 0.1},
        "Ab": {",": 0.8, "$": 0.2},
        "Ab,": {" ": 1.0},
        "Ab, ": {"1": 0.6, "c": 0.4},
    }
    hyp = attention_word_beam_search(encoded(table), ["ab"], oov_penalty=None)
    assert hyp.text == "Ab, 1"
    assert hyp.log_score == pytest.approx(L(0.5 * 0.9 * 0.8 * 0.6))
    assert hyp.words == (WordHypothesis("Ab", True, "ab"),)  # a surface form, canonical "ab"
    assert [s.start_frame for s in hyp.chars] == [0, 1, 2, 3, 4]
    # A word must end on a whole form: "a" alone (a prefix of "ab") cannot end the line.
    short = encoded({"": {"a": 1.0}, "a": {"$": 0.9, "b": 0.1}})
    assert attention_word_beam_search(short, ["ab"], oov_penalty=None).text == "ab"


def test_no_lexicon_reading_gives_the_empty_text_with_minus_infinity():
    line = encoded({"": {"c": 1.0}})
    assert attention_word_beam_search(line, ["ab"], oov_penalty=None) == Hypothesis("", -math.inf)
    assert attention_word_beam_search(line, ["ab"]).text == "c"  # the OOV path reads it
    # Too long for max_length: "abc" would need 3 characters.
    long = encoded({"": {"a": 1.0}, "a": {"b": 1.0}, "ab": {"c": 1.0}}, max_length=2)
    assert attention_word_beam_search(long, ["abc"], oov_penalty=None).log_score == -math.inf


def test_out_of_vocabulary_words_pay_for_every_letter():
    # "ac" leaves the trie of "ab" at its second letter: both letters are charged.
    line = encoded({"": {"a": 1.0}, "a": {"c": 1.0}})
    assert attention_word_beam_search(line, ["ab"], oov_penalty=-0.5).log_score == -1.0
    # "ab" ends on a prefix of "abc": charged the same way, when the word ends.
    line = encoded({"": {"a": 1.0}, "a": {"b": 1.0}, "ab": {",": 1.0}})
    hyp = attention_word_beam_search(line, ["abc"], oov_penalty=-0.5)
    assert (hyp.text, hyp.log_score) == ("ab,", -1.0)
    assert hyp.words == (WordHypothesis("ab", False, None),)


class TinyBigram:
    """log P(word | prev) from a table; unknown pairs get log(0.01)."""

    END = "</s>"

    def __init__(self, table: dict[tuple[str | None, str], float]):
        self.table = table
        self.calls: set[tuple[str | None, str]] = set()

    def log_prob(self, prev: str | None, word: str) -> float:
        self.calls.add((prev, word))
        return L(self.table.get((prev, word), 0.01))


def test_bigram_scores_each_completed_word_and_the_line_end():
    table = {"": {"a": 0.55, "b": 0.45}, "a": {"b": 1.0}, "b": {"a": 1.0}}
    line = encoded(table)
    assert attention_word_beam_search(line, ["ab", "ba"]).text == "ab"
    lm = TinyBigram({(None, "ba"): 0.9, ("ba", "</s>"): 0.5})
    hyp = attention_word_beam_search(line, ["ab", "ba"], lm=lm, lm_weight=1.0)
    assert hyp.text == "ba"
    assert hyp.log_score == pytest.approx(L(0.45) + L(0.9) + L(0.5))
    assert hyp.alternatives == (("ab", pytest.approx(L(0.55) + 2 * L(0.01))),)
    # An out-of-vocabulary word goes to the model as written.
    lm = TinyBigram({})
    oov = attention_word_beam_search(encoded({"": {"c": 1.0}}), ["ab"], lm=lm, lm_weight=0.5)
    assert oov.log_score == pytest.approx(-1.5 + 0.5 * 2 * L(0.01))
    assert {(None, "c"), ("c", "</s>")} <= lm.calls


# -- properties --------------------------------------------------------------------------


class RandomStep(TableStep):
    """A decoder step whose distribution of each prefix is random but fixed (seeded)."""

    def __init__(self, alphabet: Alphabet, seed: int, zeros: bool):
        super().__init__(alphabet, {})
        self.seed, self.zeros = seed, zeros

    def distribution(self, prefix: str) -> np.ndarray:
        rng = np.random.default_rng([self.seed, zlib.crc32(prefix.encode())])
        probs = rng.dirichlet(np.full(self.alphabet.num_classes, 0.5))
        if self.zeros:  # some exact zeros, the end token's included
            probs[rng.random(probs.size) < 0.3] = 0.0
            if probs.sum() == 0:
                probs[rng.integers(probs.size)] = 1.0
            probs /= probs.sum()
        return probs


@st.composite
def random_lines(draw: st.DrawFn) -> tuple[EncodedLine, list[str]]:
    alphabet = Alphabet(tuple("ab ,"))
    words = draw(st.lists(st.text("ab", min_size=1, max_size=3), min_size=1, max_size=4))
    step = RandomStep(alphabet, draw(st.integers(0, 2**32 - 1)), draw(st.booleans()))
    max_length = draw(st.integers(0, 4))
    return EncodedLine(np.zeros((5, 3), np.float32), alphabet, step, max_length), words


def every_text(line: EncodedLine) -> list[str]:
    chars = line.alphabet.chars
    return ["".join(t) for n in range(line.max_length + 1) for t in product(chars, repeat=n)]


@SETTINGS
@given(random_lines())
def test_a_wide_beam_is_exact_and_lexicon_words_only(case) -> None:
    line, words = case
    trie = get_trie(words, line.alphabet)
    texts = every_text(line)
    scores = attention_log_likelihood(line, texts)
    allowed = np.array([all(trie.lookup(w) for w in tokenize(t)) for t in texts])
    hyp = attention_word_beam_search(line, trie, 400, oov_penalty=None, n_best=4)
    if not np.isfinite(scores[allowed]).any():
        assert hyp == Hypothesis("", -math.inf)
    else:  # lm=None: the score is the likelihood, and the wide beam finds the best
        assert hyp.log_score == pytest.approx(scores[allowed].max())
    assert all(w.in_lexicon for w in hyp.words)
    readings = [(hyp.text, hyp.log_score), *hyp.alternatives] if hyp.log_score > -math.inf else []
    for text, score in readings:
        assert all(trie.lookup(w) for w in tokenize(text))
        assert score == pytest.approx(scores[texts.index(text)])
    top = sorted(scores[allowed & np.isfinite(scores)], reverse=True)[:4]
    assert [s for _, s in readings] == pytest.approx(top)
    free = attention_beam_search(line, 400, n_best=3)
    best = sorted(scores[np.isfinite(scores)], reverse=True)[:3] or [-math.inf]
    assert [free.log_score, *(s for _, s in free.alternatives)] == pytest.approx(best)


@SETTINGS
@given(random_lines(), st.integers(1, 3))
def test_one_step_call_per_position_for_all_beams(case, width) -> None:
    line, words = case
    searches = (
        lambda: attention_beam_search(line, beam_width=width),
        lambda: attention_word_beam_search(line, words, beam_width=width),
    )
    for search in searches:
        line.step.calls.clear()
        hyp = search()
        lengths = [n for _, n in line.step.calls]
        assert lengths == list(range(1, len(lengths) + 1))
        assert len(lengths) <= line.max_length + 1
        assert all(k <= width for k, _ in line.step.calls)
        assert len(hyp.chars) == len(hyp.text)


# -- inputs ----------------------------------------------------------------------------


def test_a_line_without_frames_is_the_empty_reading():
    line = encoded(TRAP, n_frames=0)
    for hyp in (
        attention_greedy(line),
        attention_beam_search(line),
        attention_word_beam_search(line, ["ab"], oov_penalty=None),
        attention_closed_list(line, ["ab", "b"]),
    ):
        assert hyp == Hypothesis("", 0.0)
    assert attention_log_likelihood(line, ["", "a"]).tolist() == [0.0, -math.inf]
    assert line.step.calls == []


def test_bad_inputs_get_precise_errors():
    line = encoded(TRAP)
    with pytest.raises(TypeError, match="^attention decoders take a medocr.types.EncodedLine, got"):
        attention_greedy(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="^beam_width must be an integer >= 1, got 0$"):
        attention_beam_search(line, beam_width=0)
    with pytest.raises(ValueError, match="^n_best must be an integer >= 1, got True$"):
        attention_word_beam_search(line, ["ab"], n_best=True)
    with pytest.raises(ValueError, match="^n_best must be an integer >= 1, got 0$"):
        attention_closed_list(line, ["a"], n_best=0)
    with pytest.raises(ValueError, match=r"^oov_penalty must be <= 0 \(a log-penalty\) or None"):
        attention_word_beam_search(line, ["ab"], oov_penalty=0.5)
    with pytest.raises(ValueError, match="^lm_weight must be a finite number >= 0, got -1"):
        attention_word_beam_search(line, ["ab"], lm_weight=-1)
    with pytest.raises(ValueError, match="^this LexiconTrie was built for another alphabet"):
        attention_word_beam_search(line, get_trie(["ab"], Alphabet(tuple("ab"))))


def test_a_step_returning_wrong_shapes_is_an_error():
    def step(memory, mask, tokens):
        return np.zeros((len(tokens), 3), np.float32), np.zeros((len(tokens), 8), np.float32)

    line = EncodedLine(np.zeros((8, 2), np.float32), ALPHABET, step, 4)
    with pytest.raises(ValueError) as err:
        attention_greedy(line)
    assert str(err.value) == (
        "the decoder step returned log_probs (1, 3) and attention (1, 8) for 1 prefixes; "
        "expected (1, 8) and (1, 8)"
    )

    def nan_step(memory, mask, tokens):
        return np.full((len(tokens), 8), np.nan, np.float32), np.ones((len(tokens), 8))

    nan_line = EncodedLine(np.zeros((8, 2), np.float32), ALPHABET, nan_step, 4)
    with pytest.raises(ValueError, match="^the decoder step returned NaN log-probabilities$"):
        attention_beam_search(nan_line)
