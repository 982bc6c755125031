"""Tests for medocr.decode on tiny hand-made matrices whose answers are worked out by hand.

Columns are the alphabet's characters in order, then the blank (written ``-`` below).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from helpers import spelled

from medocr.decode import (
    LexiconTrie,
    beam_search,
    check_frame_probs,
    clear_trie_cache,
    closed_list,
    ctc_log_likelihood,
    get_trie,
    greedy,
    lexicon_search,
    surface_forms,
    tokenize,
    word_beam_search,
)
from medocr.recognize.alphabet import Alphabet
from medocr.types import CharSpan, FrameProbs, Hypothesis, WordHypothesis

ALL_DECODERS = {
    "greedy": lambda p: greedy(p),
    "beam": lambda p: beam_search(p),
    "word beam": lambda p: word_beam_search(p, ["a", "ab"]),
    "closed list": lambda p: closed_list(p, ["a", "b"]),
}


def frames(alphabet: Alphabet, rows: list[dict[str, float]]) -> FrameProbs:
    """Build FrameProbs from rows {char: p}; the rest of each row goes to the blank '-'."""
    matrix = np.zeros((len(rows), alphabet.num_classes), dtype=np.float64)
    for t, row in enumerate(rows):
        for char, p in row.items():
            matrix[t, alphabet.blank if char == "-" else alphabet.chars.index(char)] = p
        matrix[t, alphabet.blank] += 1.0 - matrix[t].sum()
    return FrameProbs(matrix.astype(np.float32), alphabet)


# -- greedy and beam search --------------------------------------------------------------


def test_double_letter_needs_a_blank_between():
    al = Alphabet(("l",))
    # l l : one run of the argmax "l" -> "l" (repeats merge)
    assert greedy(frames(al, [{"l": 0.9}, {"l": 0.9}])).text == "l"
    # l - l : the blank separates two "l"
    hyp = greedy(frames(al, [{"l": 0.9}, {"-": 0.9}, {"l": 0.9}]))
    assert hyp.text == "ll"
    assert [(c.start_frame, c.end_frame) for c in hyp.chars] == [(0, 1), (2, 3)]
    assert beam_search(frames(al, [{"l": 0.9}, {"-": 0.9}, {"l": 0.9}])).text == "ll"


def test_repeated_characters_across_blanks():
    al = Alphabet(tuple("ab"))
    # a a - a b b - - : runs a, -, a, b, - -> "aab"
    probs = frames(al, [{"a": 0.8}, {"a": 0.8}, {}, {"a": 0.7}, {"b": 0.9}, {"b": 0.6}, {}, {}])
    hyp = greedy(probs)
    assert hyp.text == "aab"
    assert [(c.char, c.start_frame, c.end_frame) for c in hyp.chars] == [
        ("a", 0, 2),
        ("a", 3, 4),
        ("b", 4, 6),
    ]
    # confidence = highest posterior of the character over its frames
    assert [round(c.confidence, 6) for c in hyp.chars] == [0.8, 0.7, 0.9]
    assert beam_search(probs).text == "aab"


@pytest.mark.parametrize("name", sorted(ALL_DECODERS))
def test_empty_input_gives_the_empty_hypothesis(name):
    al = Alphabet(tuple("ab"))
    probs = FrameProbs(np.zeros((0, 3), dtype=np.float32), al)
    assert ALL_DECODERS[name](probs) == Hypothesis(text="", log_score=0.0)


def test_single_frame():
    al = Alphabet(("a",))
    probs = frames(al, [{"a": 0.7}])  # a .7, - .3
    hyp = greedy(probs)
    assert (hyp.text, hyp.chars) == ("a", (CharSpan("a", 0, 1, pytest.approx(0.7)),))
    assert hyp.log_score == pytest.approx(math.log(0.7))
    hyp = beam_search(probs)
    assert hyp.text == "a"
    assert hyp.log_score == pytest.approx(math.log(0.7))
    assert hyp.alternatives == (("", pytest.approx(math.log(0.3))),)


@pytest.mark.parametrize("name", ["greedy", "beam"])
def test_all_blank(name):
    al = Alphabet(tuple("ab"))
    probs = frames(al, [{"-": 0.98, "a": 0.01, "b": 0.01}] * 4)
    hyp = ALL_DECODERS[name](probs)
    assert (hyp.text, hyp.chars, hyp.words) == ("", (), ())
    # greedy: the best path; beam: P("") = 0.98^4 too (the only path to "")
    assert hyp.log_score == pytest.approx(4 * math.log(0.98))


def test_beam_sums_paths_where_greedy_takes_one():
    al = Alphabet(("a",))
    # Two frames, a .4 / - .6 each. Best path "- -" (.36) gives "", but
    # P("a") = P(a a) + P(a -) + P(- a) = .16 + .24 + .24 = .64 > P("") = .36.
    probs = frames(al, [{"a": 0.4}, {"a": 0.4}])
    assert greedy(probs).text == ""
    assert greedy(probs).log_score == pytest.approx(math.log(0.36))
    hyp = beam_search(probs)
    assert hyp.text == "a"
    assert hyp.log_score == pytest.approx(math.log(0.64))
    assert hyp.alternatives[0] == ("", pytest.approx(math.log(0.36)))
    # The span is the Viterbi alignment of "a": a - (.24) ties - a (.24); a a is .16.
    assert hyp.chars[0].char == "a"


def brute_force(probs: FrameProbs) -> dict[str, float]:
    """P(labelling) for every labelling, by enumerating all C^T paths."""
    matrix = probs.probs.astype(np.float64)
    n_frames, n_classes = matrix.shape
    out: dict[str, float] = {}
    for path in itertools.product(range(n_classes), repeat=n_frames):
        labels = [
            c for i, c in enumerate(path) if c != n_classes - 1 and (i == 0 or c != path[i - 1])
        ]
        text = probs.alphabet.decode(labels)
        out[text] = out.get(text, 0.0) + float(np.prod(matrix[np.arange(n_frames), path]))
    return out


def test_beam_and_forward_match_enumeration():
    rng = np.random.default_rng(3)
    al = Alphabet(tuple("ab"))
    for n_frames in (1, 2, 4, 5):
        probs = FrameProbs(rng.dirichlet(np.ones(3), size=n_frames).astype(np.float32), al)
        exact = brute_force(probs)
        texts = sorted(exact)
        assert np.exp(ctc_log_likelihood(probs, texts)) == pytest.approx(
            [exact[t] for t in texts], rel=1e-5
        )
        hyp = beam_search(probs, beam_width=64, n_best=3, min_char_prob=0.0)
        ranked = sorted(exact, key=exact.get, reverse=True)
        assert hyp.text == ranked[0]
        assert math.exp(hyp.log_score) == pytest.approx(exact[ranked[0]], rel=1e-5)
        assert [t for t, _ in hyp.alternatives] == ranked[1:3]


def test_beam_char_spans_follow_the_viterbi_alignment():
    al = Alphabet(tuple("ab"))
    # a a - b - : best path for "ab" keeps a on frames 0-1 and b on frame 3.
    probs = frames(al, [{"a": 0.9}, {"a": 0.6}, {"a": 0.1}, {"b": 0.8}, {"b": 0.1}])
    hyp = beam_search(probs)
    assert hyp.text == "ab"
    assert [(c.char, c.start_frame, c.end_frame) for c in hyp.chars] == [("a", 0, 2), ("b", 3, 4)]
    assert [round(c.confidence, 6) for c in hyp.chars] == [0.9, 0.8]


def test_beam_width_and_n_best_are_checked():
    probs = frames(Alphabet(("a",)), [{"a": 0.5}])
    with pytest.raises(ValueError, match=r"^beam_width must be an integer >= 1, got 0$"):
        beam_search(probs, beam_width=0)
    with pytest.raises(ValueError, match=r"^n_best must be an integer >= 1, got 2.5$"):
        beam_search(probs, n_best=2.5)


# -- word beam search --------------------------------------------------------------------

FRENCH = Alphabet(tuple("abcdefghijklmnopqrstuvwxyzéèêàçôûîëœAVCHTRS0123456789 ,.-'?"))


def test_word_beam_corrects_a_misspelling_into_a_lexicon_word():
    # Position 5 of "pneumopathie" reads "a" (.56) rather than "o" (.40).
    probs = spelled(FRENCH, "pneumopathie", {5: ("a", 0.56)})
    assert greedy(probs).text == "pneumapathie"
    hyp = word_beam_search(probs, ["pneumopathie", "pneumonie", "cardiopathie"])
    assert hyp.text == "pneumopathie"
    assert hyp.words == (WordHypothesis("pneumopathie", True, "pneumopathie"),)
    assert len(hyp.chars) == len(hyp.text)
    assert hyp.chars[5].char == "o"
    assert hyp.chars[5].confidence == pytest.approx(0.40, abs=1e-3)


def test_oov_path_keeps_a_clear_non_word():
    probs = spelled(FRENCH, "xylophage")
    hyp = word_beam_search(probs, ["pneumopathie", "pneumonie"])
    assert hyp.text == "xylophage"
    assert hyp.words == (WordHypothesis("xylophage", False, None),)
    # Without the out-of-vocabulary path every letter must spell a lexicon word.
    forced = word_beam_search(probs, ["pneumopathie", "pneumonie"], oov_penalty=None)
    assert all(w.in_lexicon for w in forced.words)
    assert forced.log_score < hyp.log_score


def test_oov_penalty_must_be_a_log_penalty():
    probs = spelled(FRENCH, "a")
    with pytest.raises(ValueError, match=r"^oov_penalty must be <= 0 \(a log-penalty\) or None"):
        word_beam_search(probs, ["a"], oov_penalty=1.0)


def test_digits_and_punctuation_are_free_between_words():
    lexicon = ["AVC", "HTA", "h", "cardiaque"]
    hyp = word_beam_search(spelled(FRENCH, "AVC, HTA"), lexicon)
    assert hyp.text == "AVC, HTA"
    assert [(w.text, w.in_lexicon, w.canonical) for w in hyp.words] == [
        ("AVC", True, "AVC"),
        ("HTA", True, "HTA"),
    ]
    hyp = word_beam_search(spelled(FRENCH, "48h"), lexicon)
    assert hyp.text == "48h"
    assert hyp.words == (WordHypothesis("h", True, "h"),)


def test_custom_non_word_chars_let_words_hold_a_hyphen():
    lexicon = ["cardio-respiratoire", "arrêt"]
    probs = spelled(FRENCH, "arrêt cardio-respiratoire")
    hyp = word_beam_search(probs, lexicon, non_word_chars=" ,.'?0123456789")
    assert hyp.text == "arrêt cardio-respiratoire"
    assert hyp.words[1] == WordHypothesis("cardio-respiratoire", True, "cardio-respiratoire")
    # By default the hyphen separates words, and the two halves are out of vocabulary.
    default = word_beam_search(probs, lexicon)
    assert [w.text for w in default.words] == ["arrêt", "cardio", "respiratoire"]
    assert [w.in_lexicon for w in default.words] == [True, False, False]


def test_surface_variants_map_to_the_canonical_form():
    hyp = word_beam_search(spelled(FRENCH, "arret cardiaque"), ["arrêt", "cardiaque"])
    assert hyp.text == "arret cardiaque"
    assert hyp.words[0] == WordHypothesis("arret", True, "arrêt")


class TinyBigram:
    """log P(word | prev) from a table; unknown pairs get log(0.01)."""

    def __init__(self, table: dict[tuple[str | None, str], float]):
        self.table = table
        self.calls: list[tuple[str | None, str]] = []

    def log_prob(self, prev: str | None, word: str) -> float:
        self.calls.append((prev, word))
        return math.log(self.table.get((prev, word), 0.01))


def test_bigram_changes_the_choice_between_two_lexicon_words():
    lexicon = ["cancer", "du", "sein", "rein"]
    # The first letter of the last word reads "r" (.52) slightly more than "s" (.44).
    probs = spelled(FRENCH, "cancer du sein", {10: ("r", 0.52)})
    assert word_beam_search(probs, lexicon).text == "cancer du rein"
    lm = TinyBigram({(None, "cancer"): 0.5, ("cancer", "du"): 0.9, ("du", "sein"): 0.5})
    hyp = word_beam_search(probs, lexicon, lm=lm, lm_weight=1.0)
    assert hyp.text == "cancer du sein"
    assert ("du", "sein") in lm.calls and ("du", "rein") in lm.calls
    # The LM counts as much as lm_weight says: at 0 it changes nothing.
    assert word_beam_search(probs, lexicon, lm=lm, lm_weight=0.0).text == "cancer du rein"


def test_bigram_end_token_and_out_of_vocabulary_words():
    class WithEnd(TinyBigram):
        END = "</s>"

    lm = WithEnd({})
    hyp = word_beam_search(spelled(FRENCH, "cancer xyz"), ["cancer"], lm=lm, lm_weight=0.1)
    assert hyp.text == "cancer xyz"
    assert hyp.words[1] == WordHypothesis("xyz", False, None)
    # The unknown word is scored as written, then closes the line.
    assert {(None, "cancer"), ("cancer", "xyz"), ("xyz", "</s>")} <= set(lm.calls)


def test_pruning_settings_are_checked():
    probs = spelled(FRENCH, "a")
    with pytest.raises(ValueError, match=r"^min_char_prob must be in \[0, 1\], got 1.5$"):
        beam_search(probs, min_char_prob=1.5)
    with pytest.raises(ValueError, match=r"^score_margin must be >= 0 \(math.inf for none\)"):
        word_beam_search(probs, ["a"], score_margin=-1.0)
    with pytest.raises(ValueError, match=r"^max_chars_per_frame must be an integer >= 1, got 0$"):
        word_beam_search(probs, ["a"], max_chars_per_frame=0)
    with pytest.raises(ValueError, match=r"^lm_weight must be a finite number >= 0, got -1"):
        word_beam_search(probs, ["a"], lm=TinyBigram({}), lm_weight=-1)
    # No margin and no per-frame threshold: the same reading, only slower.
    wide = word_beam_search(probs, ["a"], min_char_prob=0.0, score_margin=math.inf)
    assert wide.text == "a"


def test_word_beam_works_with_a_lexicon_like_object_and_caches_its_trie():
    class Lex:
        ref = "demo@1.0.0+abc"

        def __init__(self):
            self.calls = 0

        def surface_forms(self, alphabet):
            self.calls += 1
            return {"avc": "AVC", "AVC": "AVC", "Avc": "AVC"}

    clear_trie_cache()
    lex = Lex()
    probs = spelled(FRENCH, "AVC")
    assert word_beam_search(probs, lex).words == (WordHypothesis("AVC", True, "AVC"),)
    word_beam_search(probs, lex)
    assert get_trie(lex, FRENCH) is get_trie(Lex(), FRENCH)  # same ref: same trie
    assert lex.calls == 1


def test_word_beam_with_prebuilt_trie_and_unfinished_word():
    trie = get_trie(["abc"], FRENCH)
    assert isinstance(trie, LexiconTrie)
    probs = spelled(FRENCH, "ab")  # "ab" is only the start of "abc"
    assert word_beam_search(probs, trie).words == (WordHypothesis("ab", False, None),)
    # Without the OOV path, "ab" has one completion: the line is read "abc" (the "c",
    # at .04 / 59 per frame, was never proposed by the search).
    hyp = word_beam_search(probs, trie, oov_penalty=None)
    assert hyp.words == (WordHypothesis("abc", True, "abc"),)
    with pytest.raises(ValueError, match="another alphabet"):
        word_beam_search(spelled(Alphabet(tuple("abc")), "ab"), trie)


# -- closed list ---------------------------------------------------------------------------


def test_closed_list_ranks_by_exact_likelihood():
    al = Alphabet(tuple("ab"))
    # frame 0: a .6 b .1 - .3 | frame 1: a .2 b .2 - .6 | frame 2: a .1 b .6 - .3
    probs = frames(al, [{"a": 0.6, "b": 0.1}, {"a": 0.2, "b": 0.2}, {"a": 0.1, "b": 0.6}])
    # P(ab) = aab .072 + abb .072 + a-b .216 + -ab .036 + ab- .036 = .432
    # P(a)  = a-- .108 + aa- .036 + aaa .012 + -a- .018 + -aa .006 + --a .018 = .198
    # P(b)  = b-- .018 + bb- .006 + bbb .012 + -b- .018 + -bb .036 + --b .108 = .198
    hyp = closed_list(probs, ["b", "a", "ab", "aba"], n_best=4)
    assert hyp.text == "ab"
    assert hyp.log_score == pytest.approx(math.log(0.432))
    # a tie keeps the order of the values; "aba" cannot fit without a..b..a (P=.6*.2*.1...)
    assert [t for t, _ in hyp.alternatives] == ["b", "a", "aba"]
    assert [s for _, s in hyp.alternatives[:2]] == pytest.approx([math.log(0.198)] * 2)
    assert hyp.alternatives[2][1] == pytest.approx(math.log(0.6 * 0.2 * 0.1))
    assert [(c.char, c.start_frame, c.end_frame) for c in hyp.chars] == [("a", 0, 1), ("b", 2, 3)]


def test_closed_list_on_a_rendered_field():
    values = ["oui", "non", "ne sait pas"]
    hyp = closed_list(spelled(FRENCH, "non"), values, n_best=2)
    assert hyp.text == "non"
    assert [t for t, _ in hyp.alternatives] == ["oui"]
    assert hyp.words == (WordHypothesis("non", False, None),)
    hyp = closed_list(spelled(FRENCH, "non"), values, lexicon=["non"])
    assert hyp.words == (WordHypothesis("non", True, "non"),)


def test_closed_list_value_that_cannot_fit():
    probs = spelled(FRENCH, "a")  # two frames: "aaa" needs five
    hyp = closed_list(probs, ["aaa"])
    assert hyp.text == "aaa" and hyp.log_score == -math.inf
    assert all((c.start_frame, c.end_frame, c.confidence) == (0, 0, 0.0) for c in hyp.chars)


def test_closed_list_unknown_characters():
    probs = spelled(FRENCH, "non")
    with pytest.raises(
        ValueError,
        match=r"^closed_list values with characters outside the alphabet: 'NON' \('NO'\); "
        r"'ß' \('ß'\); pass skip_unknown=True to leave them out$",
    ):
        closed_list(probs, ["non", "NON", "ß"])
    assert closed_list(probs, ["NON", "non"], skip_unknown=True).text == "non"
    with pytest.raises(ValueError, match="^no value of values can be written"):
        closed_list(probs, ["NON"], skip_unknown=True)
    with pytest.raises(ValueError, match="^values is empty"):
        closed_list(probs, [])
    with pytest.raises(TypeError, match="not a single string"):
        closed_list(probs, "non")


# -- lexicon search (segmentation path) --------------------------------------------------

LETTERS = Alphabet(tuple("abcdefghijklmnopqrstuvwxyz ,0123456789"))


def char_rows(text: str, confusions: dict[int, tuple[str, float]] | None = None) -> np.ndarray:
    """(N, C) rows: 0.95 on each character, 0.05 spread; confusions move mass as in spelled()."""
    n = len(LETTERS.chars)
    out = np.full((len(text), n), 0.05 / (n - 1))
    for i, char in enumerate(text):
        out[i, LETTERS.chars.index(char)] = 0.95
        if confusions and i in confusions:
            other, p = confusions[i]
            out[i, LETTERS.chars.index(char)] -= p
            out[i, LETTERS.chars.index(other)] += p
    return out


def test_lexicon_search_picks_the_nearest_word_by_weighted_distance():
    lexicon = ["pneumopathie", "pneumonie", "h"]
    # Position 5 reads "a" .60 (+ its .05/37 share of the spread) and "o" .35:
    # substituting "o" costs 1 - p(o) / p(a) = 1 - .35 / .6014 = .418.
    rows = char_rows("pneumopathie 48h", {5: ("a", 0.60)})
    hyp = lexicon_search(rows, LETTERS, lexicon, n_best=3)
    assert hyp.text == "pneumopathie 48h"
    assert hyp.log_score == pytest.approx(-(1 - 0.35 / (0.60 + 0.05 / 37)), abs=1e-6)
    assert [(w.text, w.in_lexicon) for w in hyp.words] == [("pneumopathie", True), ("h", True)]
    assert hyp.chars[5] == CharSpan("o", 5, 6, pytest.approx(0.35))
    assert hyp.chars[12] == CharSpan(" ", 12, 13, pytest.approx(0.95))
    # Next best: the classifier's own reading, kept as out-of-vocabulary at .34 per letter.
    assert hyp.alternatives[0] == ("pneumapathie 48h", pytest.approx(-0.34 * 12))


def test_lexicon_search_insertion_and_oov():
    lexicon = ["pneumonie", "pneumopathie"]
    rows = np.delete(char_rows("pneumonie"), 4, axis=0)  # "pneuonie": the m was missed
    hyp = lexicon_search(rows, LETTERS, lexicon)
    assert hyp.text == "pneumonie" and hyp.log_score == pytest.approx(-1.0)
    assert hyp.chars[4] == CharSpan("m", 4, 4, 0.0)  # inserted: no position of its own
    hyp = lexicon_search(char_rows("xylophage"), LETTERS, lexicon)
    assert hyp.words == (WordHypothesis("xylophage", False, None),)
    assert lexicon_search(np.zeros((0, len(LETTERS.chars))), LETTERS, lexicon).text == ""


def test_lexicon_search_checks_its_matrix():
    rows = char_rows("ab")
    with pytest.raises(
        ValueError,
        match=r"^char_probs has 39 classes per row but the alphabet needs 38 \(no blank\)",
    ):
        lexicon_search(np.hstack([rows, np.zeros((2, 1))]), LETTERS, ["ab"])
    rows[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"^char_probs has a non-finite value \(nan\) at frame 1"):
        lexicon_search(rows, LETTERS, ["ab"])


# -- input validation ----------------------------------------------------------------------


def test_bad_inputs_get_precise_errors():
    al = Alphabet(tuple("ab"))
    good = np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]], dtype=np.float32)
    with pytest.raises(ValueError, match=r"^FrameProbs has 4 classes but the alphabet has 3"):
        FrameProbs(np.full((2, 4), 0.25, dtype=np.float32), al)
    with pytest.raises(TypeError, match=r"^decoders take a medocr.types.FrameProbs, got ndarray"):
        greedy(good)
    bad = good.copy()
    bad[1, 2] = np.inf
    with pytest.raises(
        ValueError, match=r"^FrameProbs.probs has a non-finite value \(inf\) at frame 1, class 2$"
    ):
        beam_search(FrameProbs(bad, al))
    bad = good.copy()
    bad[0, 1] = -0.1
    with pytest.raises(
        ValueError,
        match=r"^FrameProbs.probs has a negative value \(-0.1\) at frame 0, class 1: "
        "pass probabilities, not logits or log-probabilities$",
    ):
        word_beam_search(FrameProbs(bad, al), ["ab"])
    bad = good * 2
    with pytest.raises(
        ValueError,
        match=r"^FrameProbs.probs row 0 sums to 2, not 1 \(tolerance 0.001\): pass softmax",
    ):
        closed_list(FrameProbs(bad, al), ["a"])
    assert check_frame_probs(FrameProbs(good, al)) is good  # the matrix itself, not a copy
    near = good.copy()
    near[:, 2] += 0.0009  # rows sum to 1.0009: within the tolerance
    assert check_frame_probs(FrameProbs(near, al)) is near
    near[1, 2] += 0.0003  # 1.0012: outside
    with pytest.raises(ValueError, match=r"^FrameProbs.probs row 1 sums to 1.0012"):
        check_frame_probs(FrameProbs(near, al))
    assert check_frame_probs(FrameProbs(np.zeros((0, 3), np.float32), al)).shape == (0, 3)


# -- trie, surface forms, tokenizer ------------------------------------------------------


def test_surface_forms_of_plain_words():
    forms = surface_forms(["arrêt", "AVC"], FRENCH)
    assert forms["arrêt"] == forms["Arrêt"] == forms["ARRÊT"] == forms["arret"] == "arrêt"
    assert forms["ARRET"] == "arrêt"
    assert forms["avc"] == forms["Avc"] == "AVC"
    assert surface_forms({"Oedeme": "œdème"}, FRENCH) == {"Oedeme": "œdème"}
    with pytest.raises(TypeError, match="not a single string"):
        surface_forms("arrêt", FRENCH)


def test_trie_keeps_only_forms_in_the_alphabet_and_caches():
    clear_trie_cache()
    words = ["abc", "abd", "ab", "Ωmega"]
    trie = get_trie(words, FRENCH)
    assert trie is get_trie(words, FRENCH)  # same object: cached
    assert trie is not get_trie(list(words), FRENCH)  # another list: built again
    assert trie.lookup("ab") == "ab" and trie.lookup("Abd") == "abd"
    assert trie.lookup("a") is None and trie.lookup("Ωmega") is None
    assert trie.n_forms < len(surface_forms(words, FRENCH))
    assert trie.nbytes() > 0 and "LexiconTrie(" in repr(trie)


def test_tokenize_matches_the_lexicon_rule():
    assert tokenize("Pneumopathie d'inhalation / arrêt cardio-respiratoire 48h") == [
        "Pneumopathie",
        "d",
        "inhalation",
        "arrêt",
        "cardio",
        "respiratoire",
        "h",
    ]
