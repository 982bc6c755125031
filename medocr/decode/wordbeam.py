"""Word beam search: CTC prefix beam search whose words must come from a lexicon.

The algorithm is the one of Scheidl, Fiel and Sablatnig (ICFHR 2018), with a controlled
out-of-vocabulary path. Every prefix is in one of three states, a function of its text:

- *between words* (empty, or last character a non-word character): any non-word character
  may follow freely, and any character that starts a lexicon word;
- *in a lexicon word*: the current word is a prefix of a stored surface form (a node of the
  prefix trie); the next character must continue some form, or, when the node is a whole
  form, a non-word character may end the word;
- *in an out-of-vocabulary word*: only when ``oov_penalty`` is not None. A word leaves the
  trie when its next letter continues no form; from then on each of its letters costs
  ``oov_penalty`` (the letters read so far are charged at that moment), and a word that
  ends on a trie node that is not a whole form is charged the same way. A word absent from
  the lexicon can thus pass when the optical evidence for it beats ``oov_penalty`` per
  letter, instead of being forced into the nearest lexicon word.

Without the out-of-vocabulary path every output word is a lexicon word, whatever the
pruning: a reading can only end between words or on a whole form, except that a last word
with exactly one completion in the lexicon is completed (scored exactly, see
:func:`word_beam_search`); and when no beam holds a complete reading, the best complete
one found so far keeps one slot more, so that prefixes of long words cannot push every
complete reading out of the beam.

Scores (natural logs): optical log-probability of the labelling (blank / non-blank split,
summed over the paths kept) + ``lm_weight * log P(word | previous word)`` for each word,
applied when the word is completed (by a non-word character or the end of the line), +
the OOV penalties. Lexicon words are passed to the LM in canonical form, out-of-vocabulary
words as written (the model gives them its unknown-word probability), and the context is
the previous word, None at the start of the line. When the model has an ``END`` token
(``BigramModel.END``), ``lm_weight * log P(END | last word)`` closes the line.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable
from typing import cast

import numpy as np

from medocr.decode._common import (
    KERNELS,
    NEG_INF,
    BigramLike,
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
from medocr.decode.beam import MAX_CHARS_PER_FRAME, SCORE_MARGIN
from medocr.decode.closed import _forward as ctc_forward
from medocr.decode.trie import LexiconTrie, get_trie
from medocr.types import FrameProbs, Hypothesis

DEFAULT_OOV_PENALTY = -1.5
"""Log-penalty per letter of an out-of-vocabulary word (chosen on benchmarks/bench_decode.py)."""

DEFAULT_LM_WEIGHT = 0.3
"""Scale of the bigram log-probabilities (chosen on benchmarks/bench_decode.py)."""

MIN_CHAR_PROB = 1e-3
"""Default per-frame pruning of the word beam: characters below this do not extend prefixes.

Ten times lower than :func:`medocr.decode.beam_search`'s: a lexicon word may need a letter
the recognizer is unsure of. Chosen on the pruning loss of real lines (RESULTS.md, "Word
beam pruning loss": fewer lines read unlike an unpruned search and a lower CER of
pipeline-cut cause lines than 1e-2, for about a quarter more time on real lines)."""

_BETWEEN = -1  # state: not inside a word
_OOV = -2  # state: inside an out-of-vocabulary word


def word_beam_search(
    probs: FrameProbs,
    lexicon: WordSource | LexiconTrie,
    beam_width: int = 16,
    non_word_chars: str | Iterable[str] | None = None,
    lm: BigramLike | None = None,
    lm_weight: float = DEFAULT_LM_WEIGHT,
    oov_penalty: float | None = DEFAULT_OOV_PENALTY,
    n_best: int = 5,
    *,
    min_char_prob: float = MIN_CHAR_PROB,
    max_chars_per_frame: int = MAX_CHARS_PER_FRAME,
    score_margin: float = SCORE_MARGIN,
) -> Hypothesis:
    """Decode a line whose words come from `lexicon`, with free non-word characters between.

    Parameters
    ----------
    probs : FrameProbs
        ``(T, C)`` softmax outputs, blank last. ``T = 0`` gives the empty hypothesis.
    lexicon : Lexicon-like, mapping, iterable of str, or LexiconTrie
        The accepted words (see :func:`medocr.decode.trie.surface_forms`). Its prefix trie
        is built on first use and cached per (lexicon, alphabet, non-word characters).
    beam_width : int, optional
        Prefixes kept after each frame.
    non_word_chars : str or iterable of str, optional
        Characters allowed freely between words (digits, punctuation, spaces). Default:
        every alphabet character that is not a letter.
    lm : BigramLike, optional
        Word bigram model on canonical forms (``medocr.lexicon.BigramModel``). Without it
        the search is "words only": every lexicon word is equally welcome.
    lm_weight : float, optional
        Scale of the bigram log-probabilities.
    oov_penalty : float or None, optional
        Log-penalty (<= 0) per letter of a word the lexicon does not have; None forbids
        such words (a line is then always read as lexicon words).
    n_best : int, optional
        Readings returned (the best plus ``n_best - 1`` alternatives).
    min_char_prob, max_chars_per_frame, score_margin : float, int, float, optional
        Pruning, as in :func:`medocr.decode.beam_search` (`min_char_prob` defaults to
        :data:`MIN_CHAR_PROB`, lower than there). `beam_width` and these decide how
        often the result differs from an unpruned search (RESULTS.md, "Word beam pruning
        loss"); no pruning: ``min_char_prob=0``, `max_chars_per_frame` the alphabet size,
        ``score_margin=math.inf``.

    Returns
    -------
    Hypothesis
        ``log_score`` = optical log-probability + weighted LM + OOV penalties of the best
        reading; ``words`` carry ``in_lexicon`` and the canonical form; character spans
        from the Viterbi alignment of the best reading. With ``oov_penalty=None`` every
        word of the text and of the alternatives is a lexicon word, whatever the pruning:
        a reading whose last word is still open at the end of the line is completed when
        exactly one stored form starts with it (:meth:`LexiconTrie.completion`), and is
        dropped otherwise. The added letters have no optical evidence (the search never
        read them: the pruning had dropped them): the completed reading is scored by the
        exact CTC likelihood of its whole text, so they pay for the frames they would
        take (a letter with no chance at any frame cannot be added), and their spans,
        from the same alignment, lie on frames where they are improbable (low
        confidence). When no reading can be made of lexicon words (a lexicon that cannot
        spell any path of the line), the result is the empty text with
        ``log_score = -inf``, which :func:`medocr.fields.hypothesis_confidence` turns
        into confidence 0.

    Raises
    ------
    TypeError, ValueError
        Invalid `probs`, counts below 1, invalid pruning settings, a positive
        `oov_penalty`, a negative `lm_weight`, or a prebuilt trie made for another alphabet.
    """
    matrix = check_frame_probs(probs)
    beam_width = check_count(beam_width, "beam_width")
    n_best = check_count(n_best, "n_best")
    max_chars_per_frame = check_pruning(min_char_prob, max_chars_per_frame, score_margin)
    if oov_penalty is not None and not oov_penalty <= 0:
        raise ValueError(f"oov_penalty must be <= 0 (a log-penalty) or None, got {oov_penalty}")
    if not 0 <= lm_weight < math.inf:
        raise ValueError(f"lm_weight must be a finite number >= 0, got {lm_weight}")
    alphabet = probs.alphabet
    trie = get_trie(lexicon, alphabet, non_word_chars)
    if matrix.shape[0] == 0:
        return empty_hypothesis()
    blank = alphabet.blank
    logp = log_probs(matrix)
    columns, candidates, offsets = candidate_arrays(
        matrix, blank, min_char_prob, max_chars_per_frame
    )
    search = _Search(trie, columns.tolist(), lm, float(lm_weight), oov_penalty, score_margin, logp)
    rows = np.ascontiguousarray(logp[:, columns])
    ranked = search.run(rows, candidates, offsets, beam_width)[:n_best]
    if not ranked:
        return Hypothesis(text="", log_score=NEG_INF)
    best_labels, best_score = ranked[0]
    text = alphabet.decode(best_labels)
    spans = align(logp, best_labels, blank)
    return Hypothesis(
        text=text,
        log_score=best_score,
        chars=char_spans(matrix, alphabet, best_labels, spans),
        words=word_hypotheses(text, trie.lookup, trie.word_chars),
        alternatives=tuple((alphabet.decode(lab), score) for lab, score in ranked[1:]),
    )


class _Search:
    """One word beam search: the prefix tree of the labellings met, with their word states."""

    def __init__(
        self,
        trie: LexiconTrie,
        label_of: list[int],
        lm: BigramLike | None,
        lm_weight: float,
        oov_penalty: float | None,
        margin: float,
        logp: np.ndarray,
    ) -> None:
        self.trie = trie
        self.children = trie.children
        self.margin = margin
        self.label_of = label_of  # column -> alphabet class
        chars = trie.alphabet.chars
        blank = len(label_of) - 1
        self.is_word = [
            c != blank and chars[label_of[c]] in trie.word_chars for c in range(blank + 1)
        ]
        self.lm = lm
        self.lm_weight = lm_weight
        self.oov = oov_penalty
        self.lm_cache: dict[tuple[str | None, str], float] = {}
        self.logp = logp  # (T, C) log-probabilities, to score completed readings exactly
        self.completions: dict[int, tuple[tuple[int, ...], str] | None] = {}
        # Per prefix id: last column, children by column (-1 = not allowed), text score
        # (LM + OOV penalties so far), and (parent, word state, letters in the current
        # word, bigram context); the word state is a trie node (>= 0), _BETWEEN or _OOV.
        self.last = [blank]
        self.kids: list[dict[int, int]] = [{}]
        self.text = [0.0]
        self.info: list[tuple[int, int, int, str | None]] = [(-1, _BETWEEN, 0, None)]
        self.ends = [True]  # per prefix id: is it a complete reading (see _complete)?

    def _lm(self, prev: str | None, word: str) -> float:
        if self.lm is None or self.lm_weight == 0:  # weight 0 turns it off (0 * -inf is NaN)
            return 0.0
        key = (prev, word)
        score = self.lm_cache.get(key)
        if score is None:
            score = self.lm_cache[key] = self.lm_weight * float(self.lm.log_prob(prev, word))
        return score

    def _written_word(self, pid: int) -> str:
        """Return the current (unfinished) word of prefix `pid` as written."""
        chars, labels = self.trie.alphabet.chars, []
        for _ in range(self.info[pid][2]):
            labels.append(self.label_of[self.last[pid]])
            pid = self.info[pid][0]
        return "".join(chars[c] for c in reversed(labels))

    def _finish_word(self, pid: int) -> tuple[float, str | None] | None:
        """Return (text score, context) once the current word of `pid` ends, None if it can't."""
        _, state, wlen, context = self.info[pid]
        text = self.text[pid]
        if state >= 0:
            word = self.trie.word_at(state)
            if word is not None:
                return text + self._lm(context, word), word
            if self.oov is None:
                return None
            text += self.oov * wlen
        elif state == _BETWEEN:
            return text, context
        # An out-of-vocabulary word: the LM scores it as the unknown word it is.
        if self.lm is None:
            return text, None
        word = self._written_word(pid)
        return text + self._lm(context, word), word

    def _completion(self, node: int) -> tuple[tuple[int, ...], str] | None:
        """Return (labels to add, canonical word) of the only way to end `node`, else None."""
        if node not in self.completions:
            self.completions[node] = self.trie.completion(node)
        return self.completions[node]

    def _complete(self, state: int) -> bool:
        """Return whether a prefix in word `state` is a complete reading (its words all end).

        Always true with the out-of-vocabulary path; without it, between words or at the
        end of a lexicon word (a completion does not count: it adds letters never read).
        """
        return self.oov is not None or state < 0 or self.trie.word_at(state) is not None

    def _end_of_line(self, pid: int) -> tuple[float, tuple[int, ...]] | None:
        """Return the text score of `pid` as a whole line and the labels its last word needs.

        The labels are empty unless the last word is unfinished and has one completion
        (only without the out-of-vocabulary path); None when the last word can't end. The
        text score of a completed word includes its LM score, not the optical score of the
        added letters (see :meth:`_final`).
        """
        added: tuple[int, ...] = ()
        finished = self._finish_word(pid)
        if finished is None:
            _, state, _, context = self.info[pid]
            done = self._completion(state)
            if done is None:
                return None
            added, word = done
            finished = self.text[pid] + self._lm(context, word), word
        text, context = finished
        end = getattr(self.lm, "END", None)
        if isinstance(end, str):
            text += self._lm(context, end)
        return text, added

    def extend(self, pid: int, c: int) -> tuple[float, int, int, str | None] | None:
        """Return (text score, word state, word length, context) of `pid` + column `c`.

        None when the extension is not allowed (a word leaving the lexicon without the
        out-of-vocabulary path, or ending on a prefix that is not a word).
        """
        _, state, wlen, context = self.info[pid]
        text = self.text[pid]
        if self.is_word[c]:
            if state == _OOV:  # only reachable with an OOV penalty
                return text + (self.oov or 0.0), _OOV, wlen + 1, context
            node = self.children(state if state >= 0 else 0).get(self.label_of[c])
            if node is not None:
                return text, node, wlen + 1, context
            if self.oov is None:
                return None
            return text + self.oov * (wlen + 1), _OOV, wlen + 1, context
        finished = self._finish_word(pid)
        if finished is None:
            return None
        return finished[0], _BETWEEN, 0, finished[1]

    def _admit(
        self,
        pending: list[tuple[float, float, int, int]],
        scored: list[tuple[float, int, float]],
        new_nb: dict[int, float],
        beam_width: int,
    ) -> None:
        """Create the new prefixes that enter the beam, best bound first.

        A new prefix's text score is at most its parent's (LM log-probabilities and OOV
        penalties are <= 0), so once a bound falls below the beam's current
        ``beam_width``-th total (or below the margin), no later extension can enter.
        Prefixes that would not enter are not created.
        """
        kids, text, last, info, ends = self.kids, self.text, self.last, self.info, self.ends
        margin, extend, complete = self.margin, self.extend, self._complete
        best = [total for total, _, _ in scored[:beam_width]]  # scored is sorted, best first
        best.reverse()  # ascending: a valid min-heap
        full = len(best) >= beam_width
        cut = scored[0][0] - margin  # the margin drops what falls below it at the end
        pending.sort(reverse=True)
        for bound, score, pid, c in pending:
            if bound < cut or (full and bound <= best[0]):
                break
            ext = extend(pid, c)
            if ext is None:
                kids[pid][c] = -1
                continue
            total = score + ext[0]
            if total < cut or (full and total <= best[0]):
                continue
            child = kids[pid][c] = len(last)
            last.append(c)
            kids.append({})
            text.append(ext[0])
            info.append((pid, ext[1], ext[2], ext[3]))
            ends.append(complete(ext[1]))
            new_nb[child] = score
            scored.append((total, child, score))
            if total - margin > cut:
                cut = total - margin
            if full:
                heapq.heapreplace(best, total)
            else:
                heapq.heappush(best, total)
                full = len(best) >= beam_width

    def run(
        self, rows: np.ndarray, candidates: np.ndarray, offsets: np.ndarray, beam_width: int
    ) -> list[tuple[tuple[int, ...], float]]:
        """Search; return the final readings (alphabet labels, total score), best first.

        Without duplicates; readings with score ``-inf`` are left out, so the list may be
        empty (only without the out-of-vocabulary path). The frame loop runs compiled
        when the kernels are built (:data:`medocr.decode._common.KERNELS`), else
        :meth:`_run_python`; both give the same readings and scores.

        Parameters
        ----------
        rows : numpy.ndarray
            float64 ``(T, K)`` log-probabilities of the kept columns, blank last.
        candidates, offsets : numpy.ndarray
            int32: per frame, the columns that may extend a prefix (see
            :func:`medocr.decode._common.candidate_arrays`).
        beam_width : int
            Prefixes kept per frame.
        """
        if KERNELS is not None:
            return self._run_compiled(rows, candidates, offsets, beam_width)
        return self._run_python(rows.tolist(), per_frame(candidates, offsets), beam_width)

    def _run_compiled(
        self, rows: np.ndarray, candidates: np.ndarray, offsets: np.ndarray, beam_width: int
    ) -> list[tuple[tuple[int, ...], float]]:
        """Run the frame loop in C (``_kernels.word_beam``), the final ranking here.

        Word tokens cross over as ints: -1 no context, ``w >= 0`` the trie's canonical
        word ``w``, ``<= -3`` the out-of-vocabulary words interned by ``intern_oov``.
        """
        canonicals, chars = self.trie.canonicals, self.trie.alphabet.chars
        written: list[str] = []
        numbers: dict[str, int] = {}

        def token_text(token: int) -> str | None:
            if token >= 0:
                return canonicals[token]
            return None if token == -1 else written[-3 - token]

        def lm_score(context: int, word: int) -> float:
            return self._lm(token_text(context), token_text(word))  # type: ignore[arg-type]

        def intern_oov(labels: list[int]) -> int:
            word = "".join(chars[label] for label in labels)
            if word not in numbers:
                numbers[word] = -3 - len(written)
                written.append(word)
            return numbers[word]

        first, edge_label, edge_child, word_of = self.trie.csr()
        final, parent, last, text, state, wlen, context = KERNELS.word_beam(  # type: ignore[union-attr]
            rows,
            rows.shape[1],
            candidates,
            offsets,
            beam_width,
            float(self.margin),
            np.asarray(self.label_of, dtype=np.int32),
            np.asarray(self.is_word, dtype=np.uint8),
            first,
            edge_label,
            edge_child,
            word_of,
            self.oov,
            None if self.lm is None else lm_score,
            intern_oov,
        )
        self.last = np.frombuffer(last, np.intc).tolist()
        self.text = np.frombuffer(text, np.float64).tolist()
        # A read-only view: only _final reads it (the Python loop, which appends, is not run).
        self.info = cast(
            list,
            _PrefixInfo(
                np.frombuffer(parent, np.intp).tolist(),
                np.frombuffer(state, np.intc).tolist(),
                np.frombuffer(wlen, np.intc).tolist(),
                np.frombuffer(context, np.intc).tolist(),
                token_text,
            ),
        )
        return self._final([(pid, pb, pnb, None) for pid, pb, pnb in final])

    def _run_python(
        self, rows: list[list[float]], candidates: list[list[int]], beam_width: int
    ) -> list[tuple[tuple[int, ...], float]]:
        """Run the frame loop in Python (the compiled one's reference); see :meth:`run`."""
        blank = len(rows[0]) - 1
        last, kids, text, margin = self.last, self.kids, self.text, self.margin
        all_end = self.oov is not None  # with the OOV path, every prefix can end the line
        log1p, exp = math.log1p, math.exp
        # Beams, the best first: (id, log P(paths ending in blank), (.. in a character),
        # log P(all its paths) or None when not computed yet).
        beams: list[tuple[int, float, float, float | None]] = [(0, 0.0, NEG_INF, 0.0)]
        for row, chars in zip(rows, candidates, strict=True):
            p_blank = row[blank]
            new_b: dict[int, float] = {}
            new_nb: dict[int, float] = {}
            if not chars:
                for pid, pb, pnb, ptot in beams:
                    if ptot is None:
                        ptot = lse(pb, pnb)
                    new_b[pid] = ptot + p_blank
                    c_last = last[pid]
                    new_nb[pid] = pnb + row[c_last] if c_last != blank else NEG_INF
                beams = [(pid, new_b[pid], pnb, None) for pid, pnb in new_nb.items()]
                continue
            # The first beam alone will score at least `reach` at this frame; whatever falls
            # below reach - margin is dropped at the end, so it is not even proposed.
            top, pb, pnb, ptot = beams[0]
            reach = (ptot if ptot is not None else lse(pb, pnb)) + p_blank
            if last[top] != blank:
                reach = max(reach, pnb + row[last[top]])
            floor = reach + text[top] - margin
            top_char = max(row[c] for c in chars)
            # Extensions to prefixes not met yet: (upper bound of total, optical, parent, c).
            pending: list[tuple[float, float, int, int]] = []
            for pid, pb, pnb, ptot in beams:
                if ptot is None:
                    if pb >= pnb:
                        ptot = pb if pnb == NEG_INF else pb + log1p(exp(pnb - pb))
                    else:
                        ptot = pnb if pb == NEG_INF else pnb + log1p(exp(pb - pnb))
                new_b[pid] = ptot + p_blank
                c_last = last[pid]
                stay = pnb + row[c_last] if c_last != blank else NEG_INF
                old = new_nb.get(pid)
                new_nb[pid] = stay if old is None else lse(old, stay)
                bound = text[pid]
                if ptot + top_char + bound < floor:
                    continue
                children = kids[pid]
                for c in chars:
                    score = (pb if c == c_last else ptot) + row[c]
                    if score + bound < floor:
                        continue
                    child = children.get(c)
                    if child is None:
                        pending.append((score + bound, score, pid, c))
                    elif child >= 0:
                        old = new_nb.get(child)
                        new_nb[child] = score if old is None else lse(old, score)
            scored = [
                ((lse(new_b[pid], pnb) if pid in new_b else pnb) + text[pid], pid, pnb)
                for pid, pnb in new_nb.items()
            ]
            scored.sort(reverse=True)
            if pending:
                self._admit(pending, scored, new_nb, beam_width)
                scored.sort(reverse=True)
            cut = scored[0][0] - margin
            beams = [
                (pid, new_b.get(pid, NEG_INF), pnb, total - text[pid])
                for total, pid, pnb in scored[:beam_width]
                if total >= cut
            ]
            if not all_end:
                self._keep_one_that_ends(beams, scored, new_b)
        return self._final(beams)

    def _keep_one_that_ends(
        self,
        beams: list[tuple[int, float, float, float | None]],
        scored: list[tuple[float, int, float]],
        new_b: dict[int, float],
    ) -> None:
        """Append to `beams` the best complete reading of `scored` if `beams` has none.

        Without the out-of-vocabulary path, a beam full of unfinished words (prefixes of
        long words) could leave no reading at the end of the line, or only completed ones;
        one slot more keeps the best complete reading, however far below the others it is.
        """
        ends = self.ends
        if any(ends[pid] for pid, _, _, _ in beams):
            return
        for total, pid, pnb in scored[len(beams) :]:
            if total == NEG_INF:
                return
            if ends[pid]:
                beams.append((pid, new_b.get(pid, NEG_INF), pnb, total - self.text[pid]))
                return

    def _final(
        self, beams: list[tuple[int, float, float, float | None]]
    ) -> list[tuple[tuple[int, ...], float]]:
        """Return the readings of the last `beams` that can end the line (see :meth:`run`).

        A completed reading is scored by the exact CTC likelihood of its whole labelling
        (the forward algorithm): the added letters pay for the frames they would need, as
        in a search that had kept every character; ``-inf`` when no path can hold them.
        """
        final: list[tuple[float, int, tuple[int, ...]]] = []
        completed = []
        for pid, pb, pnb, _ in beams:
            ended = self._end_of_line(pid)
            if ended is None:
                continue
            if ended[1]:
                completed.append((pid, *ended))
            else:
                final.append((lse(pb, pnb) + ended[0], pid, ()))
        if completed:
            whole = [[*self._labels(pid), *added] for pid, _, added in completed]
            optical = ctc_forward(self.logp, whole, self.trie.alphabet.blank).tolist()
            for (pid, text, added), score in zip(completed, optical, strict=True):
                final.append((score + text, pid, added))
        final.sort(reverse=True)
        out, seen = [], set()
        for score, pid, added in final:
            labels = (*self._labels(pid), *added)
            if score > NEG_INF and labels not in seen:  # a completion may also be read
                seen.add(labels)
                out.append((labels, score))
        return out

    def _labels(self, pid: int) -> list[int]:
        """Return the alphabet labels of prefix `pid`."""
        label_of, last, info = self.label_of, self.last, self.info
        path = []
        if isinstance(info, _PrefixInfo):  # the compiled search's: parents in one list
            parent = info.parent
            while pid > 0:
                path.append(label_of[last[pid]])
                pid = parent[pid]
            return path[::-1]
        while pid > 0:
            path.append(label_of[last[pid]])
            pid = info[pid][0]
        return path[::-1]


class _PrefixInfo:
    """``info[pid]`` of :class:`_Search` over the compiled search's prefix arrays."""

    def __init__(
        self,
        parent: list[int],
        state: list[int],
        wlen: list[int],
        context: list[int],
        token_text: Callable[[int], str | None],
    ) -> None:
        self.parent = parent
        self._columns = (state, wlen, context)
        self._token_text = token_text

    def __getitem__(self, pid: int) -> tuple[int, int, int, str | None]:
        state, wlen, context = self._columns
        return self.parent[pid], state[pid], wlen[pid], self._token_text(context[pid])
