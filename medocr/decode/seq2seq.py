"""Decoders of the attention (encoder-decoder) recognizers: search an :class:`EncodedLine`.

A CTC recognizer gives per-frame probabilities once; an attention recognizer gives the
next-token distribution of a *prefix* (:class:`~medocr.types.DecoderStep`), so every
search step is one call of the network. Each search here makes **one** step call per
position for all its prefixes together (``K`` = live beams, or candidate values).

Conventions (shared with the CTC decoders where they apply):

- token ids: characters ``0 .. len(chars) - 1``, end-of-sequence ``line.end`` (the CTC
  blank's index), start ``line.start`` (input only, first of every prefix);
- scores are natural logs accumulated in float64. The optical score of a reading is
  ``sum log P(token | prefix)`` over its characters **and** the end token: a total
  log-probability, so that alternatives turn into a posterior (``fields``) as with CTC;
- ranking is by total score, without length normalisation: readings are short (a field
  line), the end token is trained like any other, and a normalised ranking would give
  scores that are no longer log-probabilities;
- ``max_length`` bounds the characters: a prefix of ``max_length`` characters may only be
  followed by the end token (its probability is still charged), so every returned score
  is that of a complete sequence;
- a character's span is half-open, like CTC's: the frames around the peak of its
  attention row whose weight is at least half the peak's (``end_frame`` exclusive), and
  its confidence is the decoder's probability of it, ``exp(log P(char | prefix))``;
- a line of ``T = 0`` frames is the empty reading (the step is never called).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np

from medocr.decode._common import (
    NEG_INF,
    BigramLike,
    WordSource,
    check_count,
    empty_hypothesis,
    word_hypotheses,
)
from medocr.decode.trie import LexiconTrie, get_trie, lexicon_lookup
from medocr.decode.wordbeam import DEFAULT_LM_WEIGHT, DEFAULT_OOV_PENALTY
from medocr.text import Alphabet, normalize_text
from medocr.types import CharSpan, EncodedLine, Hypothesis

_CHUNK = 256  # candidate values scored in one step call (bounds the (K, T, D) memory batch)
_BETWEEN = -1  # word state: not inside a word
_OOV = -2  # word state: inside an out-of-vocabulary word


class _Reading(NamedTuple):
    """A complete reading: total score, character ids, per-character (start, end, conf)."""

    score: float
    labels: tuple[int, ...]
    spans: tuple[tuple[int, int, float], ...]


# -- the decoder step -----------------------------------------------------------------------


def _check_line(line: Any) -> EncodedLine:
    if not isinstance(line, EncodedLine):
        raise TypeError(
            f"attention decoders take a medocr.types.EncodedLine, got {type(line).__name__}"
        )
    return line


class _Stepper:
    """Calls a line's decoder step on a batch of prefixes and checks what comes back."""

    def __init__(self, line: EncodedLine) -> None:
        self.line = line
        self.n_frames = int(line.memory.shape[0])
        self.vocab = line.alphabet.num_classes
        self._batch: tuple[int, np.ndarray, np.ndarray] | None = None

    def __call__(self, prefixes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score the next token of each prefix.

        Parameters
        ----------
        prefixes : numpy.ndarray
            int ``(K, L)`` character ids (the start token is added here).

        Returns
        -------
        log_probs, attention : numpy.ndarray
            float64 ``(K, V)`` and ``(K, T)``.

        Raises
        ------
        ValueError
            The step returned arrays of other shapes, or NaN log-probabilities.
        """
        k = len(prefixes)
        if self._batch is None or self._batch[0] != k:
            memory = np.repeat(self.line.memory[None], k, axis=0)
            self._batch = (k, memory, np.ones((k, self.n_frames), np.float32))
        _, memory, mask = self._batch
        tokens = np.empty((k, prefixes.shape[1] + 1), np.int32)
        tokens[:, 0] = self.line.start
        tokens[:, 1:] = prefixes
        log_probs, attention = self.line.step(memory, mask, tokens)
        log_probs = np.asarray(log_probs, dtype=np.float64)
        attention = np.asarray(attention, dtype=np.float64)
        if log_probs.shape != (k, self.vocab) or attention.shape != (k, self.n_frames):
            raise ValueError(
                f"the decoder step returned log_probs {log_probs.shape} and attention "
                f"{attention.shape} for {k} prefixes; expected ({k}, {self.vocab}) and "
                f"({k}, {self.n_frames})"
            )
        if np.isnan(log_probs).any():
            raise ValueError("the decoder step returned NaN log-probabilities")
        return log_probs, attention


def _attention_spans(attention: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the half-open frame span of each attention row.

    Parameters
    ----------
    attention : numpy.ndarray
        ``(K, T)`` weights, ``T >= 1``.

    Returns
    -------
    start, end : numpy.ndarray
        int ``(K,)``: the contiguous frames around each row's peak whose weight is at least
        half the peak's are ``start .. end - 1``.
    """
    n_frames = attention.shape[1]
    peak = attention.argmax(axis=1)[:, None]
    low = attention < 0.5 * attention.max(axis=1, keepdims=True)
    frames = np.arange(n_frames)
    start = np.where(low & (frames < peak), frames, -1).max(axis=1) + 1
    end = np.where(low & (frames > peak), frames, n_frames).min(axis=1)
    return start, end


def _hypothesis(
    alphabet: Alphabet,
    readings: Sequence[_Reading],
    lookup: Callable[[str], str | None] | None,
    word_chars: frozenset[str] | None = None,
) -> Hypothesis:
    """Build the result from readings ranked best first (none: the empty -inf reading)."""
    if not readings:
        return Hypothesis(text="", log_score=NEG_INF)
    best = readings[0]
    chars = alphabet.chars
    text = alphabet.decode(best.labels)
    return Hypothesis(
        text=text,
        log_score=float(best.score),
        chars=tuple(
            CharSpan(chars[c], int(s), int(e), float(p))
            for c, (s, e, p) in zip(best.labels, best.spans, strict=True)
        ),
        words=word_hypotheses(text, lookup, word_chars),
        alternatives=tuple((alphabet.decode(r.labels), float(r.score)) for r in readings[1:]),
    )


# -- greedy -------------------------------------------------------------------------------------


def attention_greedy(line: EncodedLine, *, lexicon: WordSource | None = None) -> Hypothesis:
    """Decode by taking the most probable token at each step, until the end token.

    Parameters
    ----------
    line : EncodedLine
        The line's encoding and decoder step. ``T = 0`` gives the empty hypothesis.
    lexicon : Lexicon-like, mapping or iterable of str, optional
        Only to mark which output words the lexicon knows.

    Returns
    -------
    Hypothesis
        ``log_score`` = sum of the chosen tokens' log-probabilities, end token included
        (forced after ``max_length`` characters). No alternatives.

    Raises
    ------
    TypeError
        `line` is not an :class:`~medocr.types.EncodedLine`.
    ValueError
        The decoder step returned arrays of the wrong shape.
    """
    step = _Stepper(_check_line(line))
    if step.n_frames == 0:
        return empty_hypothesis()
    labels: list[int] = []
    spans: list[tuple[int, int, float]] = []
    score = 0.0
    while True:
        log_probs, attention = step(np.asarray([labels], dtype=np.int32).reshape(1, -1))
        row = log_probs[0]
        token = line.end if len(labels) == line.max_length else int(row.argmax())
        score += row[token]
        if token == line.end:
            break
        start, end = _attention_spans(attention)
        labels.append(token)
        spans.append((int(start[0]), int(end[0]), math.exp(row[token])))
    reading = _Reading(score, tuple(labels), tuple(spans))
    return _hypothesis(line.alphabet, [reading], lexicon_lookup(lexicon, line.alphabet))


# -- beam search ----------------------------------------------------------------------------


class _Rules(Protocol):
    """What the beam search asks of its constraints (none, or a lexicon)."""

    initial: Any

    def deltas(self, states: list[Any], prefixes: np.ndarray) -> np.ndarray:
        """Return float64 ``(K, V)`` score changes per next token; ``-inf`` = forbidden."""
        ...

    def advance(self, state: Any, prefix: np.ndarray, token: int) -> Any:
        """Return the state of `prefix` + `token` (a character, never the end token)."""
        ...


class _Free:
    """No constraint: every token allowed, at no cost (plain beam search)."""

    initial = None

    def __init__(self, vocab: int) -> None:
        self.vocab = vocab

    def deltas(self, states: list[Any], prefixes: np.ndarray) -> np.ndarray:
        return np.zeros((len(states), self.vocab))

    def advance(self, state: Any, prefix: np.ndarray, token: int) -> Any:
        return None


def _select(
    total: np.ndarray, end: int, width: int
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Pick the best moves of one step: those ending a reading, and up to `width` others.

    Parameters
    ----------
    total : numpy.ndarray
        float64 ``(K, V)`` score of each beam extended by each token.
    end : int
        The end token.
    width : int
        Beams kept alive.

    Returns
    -------
    ends, live : list of (int, int)
        ``(beam, token)`` pairs, best first (ties: earlier beam, lower token), every
        finite move above the `width`-th live one; ``-inf`` moves are never taken.
    """
    flat = total.ravel()
    count = min(flat.size, width + total.shape[0])
    ends: list[tuple[int, int]] = []
    live: list[tuple[int, int]] = []
    for index in np.argsort(-flat, kind="stable")[:count].tolist():
        if flat[index] == NEG_INF:
            break
        move = divmod(index, total.shape[1])
        if move[1] == end:
            ends.append(move)
            continue
        live.append(move)
        if len(live) == width:
            break
    return ends, live


def _beam(line: EncodedLine, beam_width: int, n_best: int, rules: _Rules) -> list[_Reading]:
    """Run the beam search; return at most `n_best` finite readings, best first.

    Stops when no beam is alive, or once ``min(n_best, beam_width)`` readings ended and
    the best live beam is no better than the last of them (scores only decrease).
    """
    step = _Stepper(line)
    prefixes = np.zeros((1, 0), np.int32)
    scores = np.zeros(1)  # optical + rule scores of each live beam
    states = [rules.initial]
    spans: list[tuple[tuple[int, int, float], ...]] = [()]
    finished: list[_Reading] = []
    enough = min(n_best, beam_width)
    for length in range(line.max_length + 1):
        log_probs, attention = step(prefixes)
        delta = rules.deltas(states, prefixes)
        if length == line.max_length:
            delta[:, : line.end] = NEG_INF
        total = scores[:, None] + log_probs + delta
        ends, live = _select(total, line.end, beam_width)
        finished += [_Reading(total[k, c], tuple(prefixes[k].tolist()), spans[k]) for k, c in ends]
        finished.sort(key=lambda r: -r.score)  # stable: earlier readings first on ties
        if not live:
            break
        start, stop = _attention_spans(attention)
        beams, tokens = (np.array(x, dtype=np.intp) for x in zip(*live, strict=True))
        states = [rules.advance(states[k], prefixes[k], c) for k, c in live]
        spans = [
            (*spans[k], (int(start[k]), int(stop[k]), math.exp(log_probs[k, c]))) for k, c in live
        ]
        scores = total[beams, tokens]
        prefixes = np.concatenate([prefixes[beams], tokens[:, None]], axis=1).astype(np.int32)
        if len(finished) >= enough and scores[0] <= finished[enough - 1].score:
            break
    return finished[:n_best]


def attention_beam_search(
    line: EncodedLine,
    beam_width: int = 16,
    n_best: int = 5,
    *,
    lexicon: WordSource | None = None,
) -> Hypothesis:
    """Decode with a beam search over prefixes, all beams in one step call per position.

    Parameters
    ----------
    line : EncodedLine
        The line's encoding and decoder step. ``T = 0`` gives the empty hypothesis.
    beam_width : int, optional
        Prefixes kept alive after each step (readings that end do not take a slot).
    n_best : int, optional
        Readings returned (the best plus ``n_best - 1`` alternatives); fewer when the
        search stopped earlier (at most ``min(n_best, beam_width)`` are waited for).
    lexicon : Lexicon-like, mapping or iterable of str, optional
        Only to mark which output words the lexicon knows.

    Returns
    -------
    Hypothesis
        ``log_score`` = total log-probability of the best reading (end token included);
        alternatives = the next distinct readings with theirs, best first (ranked by
        total log-probability, no length normalisation). The empty text with ``-inf``
        when every reading has probability 0.

    Raises
    ------
    TypeError, ValueError
        `line` is not an :class:`~medocr.types.EncodedLine`, `beam_width` or `n_best`
        below 1, or a decoder step returning arrays of the wrong shape.
    """
    _check_line(line)
    beam_width = check_count(beam_width, "beam_width")
    n_best = check_count(n_best, "n_best")
    if line.memory.shape[0] == 0:
        return empty_hypothesis()
    readings = _beam(line, beam_width, n_best, _Free(line.alphabet.num_classes))
    return _hypothesis(line.alphabet, readings, lexicon_lookup(lexicon, line.alphabet))


# -- lexicon beam search ----------------------------------------------------------------


class _Lexicon:
    """Word rules of :func:`attention_word_beam_search` (those of ``word_beam_search``).

    A state is ``(word state, letters in the current word, bigram context)``; the word
    state is a trie node (> 0), ``_BETWEEN`` or ``_OOV``.
    """

    initial = (_BETWEEN, 0, None)

    def __init__(
        self, trie: LexiconTrie, lm: BigramLike | None, lm_weight: float, oov: float | None
    ) -> None:
        self.trie = trie
        self.lm, self.lm_weight, self.oov = lm, lm_weight, oov
        chars = trie.alphabet.chars
        self.is_word = [c in trie.word_chars for c in chars] + [False]
        self.letters = np.flatnonzero(self.is_word)
        self.others = np.array(
            [i for i, c in enumerate(chars) if c not in trie.word_chars], dtype=np.intp
        )
        self.end = len(chars)
        end_token = getattr(lm, "END", None)
        self.end_token = end_token if isinstance(end_token, str) else None
        self.lm_cache: dict[tuple[str | None, str], float] = {}

    def _lm(self, prev: str | None, word: str) -> float:
        if self.lm is None or self.lm_weight == 0:
            return 0.0
        key = (prev, word)
        if key not in self.lm_cache:
            self.lm_cache[key] = self.lm_weight * float(self.lm.log_prob(prev, word))
        return self.lm_cache[key]

    def _finish(self, state: tuple, prefix: np.ndarray) -> tuple[float, str | None] | None:
        """Return (score change, new context) when the current word ends; None if it can't."""
        node, length, context = state
        if node == _BETWEEN:
            return 0.0, context
        penalty = 0.0
        if node >= 0:
            word = self.trie.node(node)[1]
            if word is not None:
                return self._lm(context, word), word
            if self.oov is None:
                return None
            penalty = self.oov * length
        if self.lm is None:
            return penalty, None
        written = self.trie.alphabet.decode(prefix[len(prefix) - length :].tolist())
        return penalty + self._lm(context, written), written

    def _row(self, state: tuple, prefix: np.ndarray) -> np.ndarray:
        node, length, _ = state
        row = np.full(self.end + 1, NEG_INF)
        if node == _OOV:
            row[self.letters] = self.oov
        else:
            if self.oov is not None:
                row[self.letters] = self.oov * (length + 1)
            kids = self.trie.children(max(node, 0))
            row[list(kids)] = 0.0
        finished = self._finish(state, prefix)
        if finished is not None:
            row[self.others] = finished[0]
            end = self._lm(finished[1], self.end_token) if self.end_token else 0.0
            row[self.end] = finished[0] + end
        return row

    def deltas(self, states: list[Any], prefixes: np.ndarray) -> np.ndarray:
        return np.array([self._row(s, p) for s, p in zip(states, prefixes, strict=True)])

    def advance(self, state: Any, prefix: np.ndarray, token: int) -> Any:
        node, length, context = state
        if not self.is_word[token]:
            finished = self._finish(state, prefix)
            return (_BETWEEN, 0, finished[1] if finished else context)
        if node != _OOV:
            child = self.trie.children(max(node, 0)).get(token)
            if child is not None:
                return (child, length + 1, context)
        return (_OOV, length + 1, context)


def attention_word_beam_search(
    line: EncodedLine,
    lexicon: WordSource | LexiconTrie,
    beam_width: int = 16,
    *,
    lm: BigramLike | None = None,
    lm_weight: float = DEFAULT_LM_WEIGHT,
    oov_penalty: float | None = DEFAULT_OOV_PENALTY,
    n_best: int = 5,
    non_word_chars: str | Iterable[str] | None = None,
) -> Hypothesis:
    """Decode a line whose words come from `lexicon`, with free non-word characters between.

    The rules of :func:`medocr.decode.word_beam_search`, applied as a mask on each step's
    next-token log-probabilities: inside a word only continuations of a stored surface
    form are allowed (and, on a whole form, a non-word character or the end token);
    between words any non-word character, the first letter of a form, or the end token.
    With an ``oov_penalty`` a word may leave the lexicon, at that log-penalty per letter
    (the letters read so far charged when it leaves, a word ending on a form's prefix
    charged the same way).

    Parameters
    ----------
    line : EncodedLine
        The line's encoding and decoder step. ``T = 0`` gives the empty hypothesis.
    lexicon : Lexicon-like, mapping, iterable of str, or LexiconTrie
        The accepted words (:func:`medocr.decode.trie.surface_forms`); its trie is cached.
    beam_width : int, optional
        Prefixes kept alive after each step.
    lm : BigramLike, optional
        Word bigram model on canonical forms: ``lm_weight * log P(word | previous)`` is
        added when a word ends (out-of-vocabulary words as written; context None at the
        start of the line; ``log P(END | last word)`` closes the line when `lm` has an
        ``END``).
    lm_weight : float, optional
        Scale of the bigram log-probabilities.
    oov_penalty : float or None, optional
        Log-penalty (<= 0) per letter of a word the lexicon lacks; None forbids them.
    n_best : int, optional
        Readings returned (the best plus ``n_best - 1`` alternatives).
    non_word_chars : str or iterable of str, optional
        Characters allowed freely between words; default: the alphabet's non-letters.

    Returns
    -------
    Hypothesis
        ``log_score`` = optical log-probability (end token included) + weighted LM + OOV
        penalties of the best reading; ``words`` carry ``in_lexicon`` and the canonical
        form. With ``oov_penalty=None`` every word of the text and alternatives is a
        lexicon word; when no reading of lexicon words can end (within ``max_length``,
        with non-zero probability) the result is the empty text with ``log_score=-inf``.

    Raises
    ------
    TypeError, ValueError
        Invalid `line`, counts below 1, a positive `oov_penalty`, a negative `lm_weight`,
        or a prebuilt trie made for another alphabet.
    """
    _check_line(line)
    beam_width = check_count(beam_width, "beam_width")
    n_best = check_count(n_best, "n_best")
    if oov_penalty is not None and not oov_penalty <= 0:
        raise ValueError(f"oov_penalty must be <= 0 (a log-penalty) or None, got {oov_penalty}")
    if not 0 <= lm_weight < math.inf:
        raise ValueError(f"lm_weight must be a finite number >= 0, got {lm_weight}")
    trie = get_trie(lexicon, line.alphabet, non_word_chars)
    if line.memory.shape[0] == 0:
        return empty_hypothesis()
    oov = None if oov_penalty is None else float(oov_penalty)
    readings = _beam(line, beam_width, n_best, _Lexicon(trie, lm, float(lm_weight), oov))
    return _hypothesis(line.alphabet, readings, trie.lookup, trie.word_chars)


# -- closed list ---------------------------------------------------------------------------


def _teacher_forced(
    step: _Stepper, labellings: list[list[int]], max_length: int
) -> tuple[np.ndarray, list[tuple[tuple[int, int, float], ...]]]:
    """Score each labelling (its characters, then the end token) and keep its spans.

    One step call per position for the labellings still running (by chunks of
    :data:`_CHUNK`); a labelling longer than `max_length` is ``-inf`` and never stepped.

    Returns
    -------
    scores : numpy.ndarray
        float64 ``(N,)`` log-likelihoods.
    spans : list of tuple
        Per labelling, ``(start, end, confidence)`` of each character.
    """
    lengths = np.array([len(lab) for lab in labellings], dtype=np.intp)
    fits = lengths <= max_length
    scores = np.where(fits, 0.0, NEG_INF)
    longest = int(lengths[fits].max(initial=-1))
    end = step.vocab - 1
    padded = np.full((len(labellings), longest + 1), end, np.int32)
    for row, lab in enumerate(labellings):
        if fits[row]:
            padded[row, : len(lab)] = lab
    found = np.zeros((len(labellings), max(longest, 0), 3))
    for pos in range(longest + 1):
        active = np.flatnonzero(fits & (lengths >= pos))
        for chunk in np.array_split(active, -(-active.size // _CHUNK)):
            log_probs, attention = step(padded[chunk, :pos])
            picked = log_probs[np.arange(chunk.size), padded[chunk, pos]]
            scores[chunk] += picked
            if pos < longest:
                found[chunk, pos] = np.column_stack((*_attention_spans(attention), np.exp(picked)))
    spans = [
        tuple((int(s), int(e), float(p)) for s, e, p in found[i, : lengths[i]].tolist())
        for i in range(len(labellings))
    ]
    return scores, spans


def _check_texts(texts: Sequence[str], name: str) -> None:
    if isinstance(texts, str | bytes):
        raise TypeError(f"{name} must be a sequence of strings, not a single string")


def attention_log_likelihood(line: EncodedLine, texts: Sequence[str]) -> np.ndarray:
    """Return the decoder's log-likelihood ``log P(text | line)`` of each text.

    Teacher-forced: the sum of ``log P(char | prefix)`` over the text's characters, plus
    ``log P(end | text)``; the texts are batched, one step call per position.

    Parameters
    ----------
    line : EncodedLine
        The line's encoding and decoder step.
    texts : sequence of str
        Texts to score (normalised like the alphabet does).

    Returns
    -------
    numpy.ndarray
        float64 ``(len(texts),)``; ``-inf`` for a text longer than ``line.max_length``
        (the search could never read it). With ``T = 0``, 0 for ``""`` and ``-inf``
        otherwise.

    Raises
    ------
    TypeError, ValueError
        Invalid `line`, `texts` a single string, a text with characters outside the
        alphabet, or a decoder step returning arrays of the wrong shape.
    """
    _check_line(line)
    _check_texts(texts, "texts")
    labellings = [line.alphabet.encode(t) for t in texts]
    if line.memory.shape[0] == 0:
        return np.array([0.0 if not lab else NEG_INF for lab in labellings])
    return _teacher_forced(_Stepper(line), labellings, line.max_length)[0]


def _closed_values(values: Sequence[str], alphabet: Alphabet, skip_unknown: bool) -> list[str]:
    """Return the distinct normalised values to rank (see :func:`attention_closed_list`)."""
    _check_texts(values, "values")
    candidates = list(dict.fromkeys(normalize_text(str(v)) for v in values))
    if not candidates:
        raise ValueError("values is empty: attention_closed_list needs at least one value")
    unknown = {v: alphabet.unknown(v) for v in candidates if alphabet.unknown(v)}
    if not unknown:
        return candidates
    if not skip_unknown:
        listed = "; ".join(f"{v!r} ({''.join(sorted(c))!r})" for v, c in unknown.items())
        raise ValueError(
            f"attention_closed_list values with characters outside the alphabet: {listed}; "
            "pass skip_unknown=True to leave them out"
        )
    candidates = [v for v in candidates if v not in unknown]
    if not candidates:
        raise ValueError("no value of values can be written with this alphabet")
    return candidates


def attention_closed_list(
    line: EncodedLine,
    values: Sequence[str],
    n_best: int = 5,
    *,
    skip_unknown: bool = False,
    lexicon: WordSource | None = None,
) -> Hypothesis:
    """Read a field that holds one of `values`: rank them by the decoder's likelihood.

    Parameters
    ----------
    line : EncodedLine
        The line's encoding and decoder step. ``T = 0`` gives the empty hypothesis.
    values : sequence of str
        The possible contents, normalised like the alphabet does; duplicates count once.
    n_best : int, optional
        Values returned (the best plus ``n_best - 1`` alternatives).
    skip_unknown : bool, optional
        By default a value with characters outside the alphabet is an error; with True
        such values are left out.
    lexicon : Lexicon-like, mapping or iterable of str, optional
        Only to mark which words of the result the lexicon knows.

    Returns
    -------
    Hypothesis
        ``text`` = the most likely value, ``log_score`` = its
        :func:`attention_log_likelihood`; alternatives = the next values with theirs
        (ties keep the order of `values`; ``-inf`` for values longer than
        ``max_length``); spans from the decoder's attention on the best value.

    Raises
    ------
    TypeError
        `line` is not an EncodedLine, or `values` is a single string.
    ValueError
        `n_best` below 1; `values` empty; a value with characters outside the alphabet
        (unless `skip_unknown`, then only when no value is left).
    """
    _check_line(line)
    n_best = check_count(n_best, "n_best")
    alphabet = line.alphabet
    candidates = _closed_values(values, alphabet, skip_unknown)
    if line.memory.shape[0] == 0:
        return empty_hypothesis()
    labellings = [alphabet.encode(v) for v in candidates]
    scores, spans = _teacher_forced(_Stepper(line), labellings, line.max_length)
    order = np.argsort(-scores, kind="stable")[:n_best].tolist()
    readings = [_Reading(scores[i], tuple(labellings[i]), spans[i]) for i in order]
    return _hypothesis(alphabet, readings, lexicon_lookup(lexicon, alphabet))
