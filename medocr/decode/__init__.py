"""Decoders: from recognizer outputs to text (pure numpy, no TensorFlow).

Every decoder returns a :class:`~medocr.types.Hypothesis` (text, log-score, n-best
alternatives, per-character frame spans and confidences, words with their lexicon status).

- :func:`greedy`: best path (argmax per frame, repeats merged, blanks dropped);
- :func:`beam_search`: CTC prefix beam search;
- :func:`word_beam_search`: beam search whose words come from a lexicon, optionally
  scored by a word bigram model, with a controlled out-of-vocabulary path;
- :func:`closed_list`: the field is one of a few values, ranked by exact CTC likelihood;
- ``attention_*`` (:mod:`~medocr.decode.seq2seq`): the same four over an ``EncodedLine``;
- :func:`lexicon_search`: segmentation path, ``(N, C)`` character probabilities to the
  nearest lexicon words by probability-weighted edit distance.

Inputs are validated once (:func:`check_frame_probs`); ``T = 0`` is an empty reading, not
an error. See ``medocr/decode/_common.py`` for the span and confidence conventions.

The frame loops of the prefix beam and word beam searches, and the Viterbi alignment
behind every decoder's character spans, run compiled (``_kernels.c``, built by ``pip
install`` when a C compiler is there; the word beam's language model stays in Python,
called once per word pair) and fall back to their Python references otherwise; both give
the same results, scores bit for bit (``tests/test_decode_kernels.py``).
``medocr.decode._common.KERNELS`` is None without the build.
"""

from medocr.decode._common import (
    BigramLike,
    LexiconLike,
    WordSource,
    check_frame_probs,
    tokenize,
)
from medocr.decode.beam import beam_search
from medocr.decode.closed import closed_list, ctc_log_likelihood
from medocr.decode.correct import lexicon_search
from medocr.decode.greedy import greedy
from medocr.decode.seq2seq import (
    attention_beam_search,
    attention_closed_list,
    attention_greedy,
    attention_log_likelihood,
    attention_word_beam_search,
)
from medocr.decode.trie import LexiconTrie, clear_trie_cache, get_trie, surface_forms
from medocr.decode.wordbeam import DEFAULT_LM_WEIGHT, DEFAULT_OOV_PENALTY, word_beam_search

__all__ = [
    "DEFAULT_LM_WEIGHT",
    "DEFAULT_OOV_PENALTY",
    "BigramLike",
    "LexiconLike",
    "LexiconTrie",
    "WordSource",
    "attention_beam_search",
    "attention_closed_list",
    "attention_greedy",
    "attention_log_likelihood",
    "attention_word_beam_search",
    "beam_search",
    "check_frame_probs",
    "clear_trie_cache",
    "closed_list",
    "ctc_log_likelihood",
    "get_trie",
    "greedy",
    "lexicon_search",
    "surface_forms",
    "tokenize",
    "word_beam_search",
]
