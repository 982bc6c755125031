"""Benchmark: CTC decoders (medocr.decode) — speed per line and accuracy on simulated output.

Speed. Median and p95 CPU milliseconds per line (each line decoded 3 times, the fastest
kept, as timeit does; CPU time because the development machine is shared), one line at a
time on one thread, for ``T = 64`` and ``T = 128`` frames, an alphabet of French letters,
digits and punctuation (``medocr.synth.text.FRENCH_CHARSET``, 105 characters + blank = 106
classes), beam width 16, for greedy, beam search, word beam search and word beam search +
bigram, with a lexicon of at least 40,000 words: the packaged lexicon from
``medocr.lexicon.load_lexicon()`` when it exists, else the words of the CIM-10 labels in
``../shared/data/cim10``, padded with pseudo-words drawn from a character trigram model of
those words, so that the trie has the size and bushiness of a large lexicon; the bigram
model is the lexicon's own (``Lexicon.bigrams``). When TensorFlow is importable, Keras
``keras.ops.ctc_decode(strategy="beam_search")`` and ``tf.nn.ctc_beam_search_decoder`` run
on the same lines in the same process (one thread, batch of 1, and batched 64 lines).

Accuracy. No trained recognizer is needed: lines of the synthetic cause-of-death sampler
(``sample_cause_text`` with ``Vocabulary.builtin()``: causes, Partie II, intervals; 10% of
lines in capitals) are turned into frame posteriors that look like CRNN output:

- each writer (line) has a quality ``q ~ U(0, 1)``; a character is read as a visually
  similar one (``a/o``, ``e/c``, ``n/u``, ``u/v``, ``i/l/1``, ``t/f``, ``h/b``, ``g/q``,
  ``s/5``, ``O/0``, ``,/.``, accents dropped ``é -> e``, case swapped...) with probability
  ``0.02 + 0.10 (1 - q)``, in which case the true character keeps the second rank; ``rn``
  is read ``m`` and ``m`` as ``rn`` now and then; a character is faint (blank wins its
  frame, the character 20–45%) with probability ``0.005 + 0.02 (1 - q)`` (spaces and rare
  signs are faint rather than misread); a spurious look-alike is inserted with probability
  ``0.003 + 0.01 (1 - q)``;
- a correctly read character gets 60–99% at its peak frame, the rest going to a
  look-alike and the blank; it lasts 1–3 frames and is followed by 0–3 blank frames (one
  at least before the same character again, and that blank is sometimes weak, so that
  best-path decoding merges ``ll``);
- blank frames give the blank 75–99.5%, the rest leaking to the neighbouring characters;
  every frame is mixed with 0.5–5% of Dirichlet noise over all classes.

CER and WER (words split on spaces) on test lines (seed 2026) for greedy, beam, word beam
and word beam + bigram, with the full lexicon and with 5% of the test tokens made
out-of-vocabulary by removing their words from the lexicon. ``--sweep`` first tunes the
OOV penalty and the LM weight on separate dev lines (seed 7) and prints the table.

    python benchmarks/bench_decode.py [--lines 400] [--speed-lines 100] [--sweep] [--no-record]

Pruning loss (``--pruning-loss``, its own RESULTS.md section "Word beam pruning loss"):
the shipped recognizer (``fr-crnn-small``, the pipeline's backend) reads real validation
lines — ``poilus``, ``lectaurep`` and ``copiste`` (``$MEDOCR_DATA/<name>-lines/val.jsonl``,
``--per-set`` lines drawn with ``--seed``) — and cause lines cut by the pipeline from
fresh synthetic certificates (``--certificates`` of them, seed ``--seed``; ``--per-set``
cause lines drawn). Each line is decoded as the pipeline decodes causes (its
``CauseReader``: lexicon, bigram, LM weight, OOV penalty, n-best) at each pruning setting
of a small grid and at an effectively unpruned one (beam 256, every character at every
frame, no score margin); the table gives the share of lines whose text differs from the
unpruned reading, per set and overall, and the mean CPU milliseconds per line. The same
with out-of-vocabulary words forbidden (``oov_penalty=None``) follows. The recognizer's
matrices are cached in ``--cache`` (a .npz under /tmp), so that reruns skip recognition.

    python benchmarks/bench_decode.py --pruning-loss [--per-set 400] [--certificates 170]

Cause grid (``--cause-grid``, its own RESULTS.md section "Cause lines: OOV penalty x LM
weight"): cause lines cut by the pipeline from ``--certificates`` fresh synthetic
certificates (seed ``--seed``), read once by the shipped recognizer (cached in ``--cache``),
split by certificate into two halves, dev and test. The pipeline's cause reader decodes
every line at each cell of a grid of OOV penalties (None = out-of-vocabulary words
forbidden) x LM weights; the table gives the CER / WER of the dev lines per cell, and per
OOV penalty at the default LM weight the share of the words read that the lexicon lacks
and the share of the truth words it lacks. The cells of lowest dev CER and lowest dev WER
are then judged on the test lines beside the defaults. Unless ``--no-demo``, the cause
lines of the ``medocr demo`` certificate are read at every cell too.

    python benchmarks/bench_decode.py --cause-grid [--certificates 180] [--seed 2027] [--no-demo]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import csv  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
import unicodedata  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))

from results import record, use_data  # noqa: E402

from medocr.decode import (  # noqa: E402
    DEFAULT_LM_WEIGHT,
    DEFAULT_OOV_PENALTY,
    beam_search,
    clear_trie_cache,
    get_trie,
    greedy,
    surface_forms,
    tokenize,
    word_beam_search,
)
from medocr.decode.beam import MAX_CHARS_PER_FRAME, SCORE_MARGIN  # noqa: E402
from medocr.decode.wordbeam import MIN_CHAR_PROB as WORD_MIN_CHAR_PROB  # noqa: E402
from medocr.recognize.alphabet import Alphabet  # noqa: E402
from medocr.synth.text import FRENCH_CHARSET, Vocabulary, sample_cause_text  # noqa: E402
from medocr.types import FrameProbs  # noqa: E402

# ms, median per line (the worse of T = 64 and 128); issue 16: prefix beam <= 1, word beam +
# bigram <= 2 with the 6.7k-word lexicon itself (the other word beam rows pad it to 40,000)
OWN_LEXICON_ROW = "word beam + bigram, the lexicon unpadded"
SPEED_TARGETS = {"greedy": 0.2, "beam": 1.0, "word beam": 5.0, OWN_LEXICON_ROW: 2.0}
WER_REDUCTION_TARGET = 0.65
LEXICON_SIZE = 40_000
TEST_SEED, DEV_SEED = 2026, 7

_LOOKALIKES = {
    "a": "oeu", "o": "a0e", "e": "cl", "c": "e(", "n": "ur", "u": "nv", "v": "ur", "m": "n",
    "i": "lj1", "l": "i1e", "t": "fl", "f": "t", "h": "bk", "b": "h6", "r": "vn", "s": "5",
    "g": "qy9", "q": "g", "y": "g", "d": "a", "p": "q", "z": "2", "k": "h", "x": "r",
    "j": "i", "w": "u", "0": "o6", "1": "l7", "2": "z", "3": "8", "4": "9", "5": "s6",
    "6": "b0", "7": "1", "8": "3", "9": "g4", "O": "0Q", "I": "l1", "S": "5", "B": "8",
    "Z": "2", "C": "G(", "E": "F", "F": "E", "U": "V", "V": "U", "M": "N", "N": "M",
    "H": "N", "D": "O", "G": "C", "T": "J", "L": "I", "A": "H", "R": "K", "P": "R",
    ",": ".", ".": ",", "'": ",", "-": ".", "/": "l", "(": "c", ")": "l", ":": ";",
    "é": "eè", "è": "eé", "ê": "eè", "à": "a", "â": "a", "î": "i", "ô": "o", "û": "u",
}  # fmt: skip


def _base(char: str) -> str:
    return unicodedata.normalize("NFD", char)[0]


class Simulator:
    """Turn text into (T, C) posteriors that look like a CTC recognizer's (module docstring)."""

    def __init__(self, alphabet: Alphabet) -> None:
        self.alphabet = alphabet
        self.index = {c: i for i, c in enumerate(alphabet.chars)}
        self.n_classes = alphabet.num_classes
        self.blank = alphabet.blank
        letters = [c for c in alphabet.chars if c.isalpha()]
        self.letters = letters

    def lookalike(self, char: str, rng: np.random.Generator) -> str | None:
        options = [c for c in _LOOKALIKES.get(char, "") if c in self.index and c != char]
        base = _base(char)
        if base != char and base in self.index:
            options += [base, base]  # accents dropped often
        swapped = char.swapcase()
        if swapped != char and swapped in self.index and len(swapped) == 1:
            options.append(swapped)
        if not options:
            if char.isalpha():
                same_case = char.isupper()
                options = [c for c in self.letters if c != char and c.isupper() == same_case]
            elif char.isdigit():
                options = [c for c in "0123456789" if c != char]
            else:
                return None  # a space or rare sign is rather missed than misread
        return options[int(rng.integers(len(options)))]

    def units(self, text: str, rng: np.random.Generator, quality: float) -> list[tuple]:
        """Return (top, second, p_top, p_second) per emitted character."""
        p_sub = 0.02 + 0.10 * (1 - quality)
        p_faint = 0.005 + 0.02 * (1 - quality)
        p_insert = 0.003 + 0.01 * (1 - quality)
        out = []
        i = 0
        while i < len(text):
            char = text[i]
            if text[i : i + 2] == "rn" and rng.random() < p_sub and "m" in self.index:
                out.append(("m", "r", rng.uniform(0.45, 0.8), rng.uniform(0.1, 0.2)))
                i += 2
                continue
            if char == "m" and rng.random() < p_sub / 2:
                out.append(("r", "m", rng.uniform(0.45, 0.8), rng.uniform(0.1, 0.2)))
                out.append(("n", "m", rng.uniform(0.45, 0.8), rng.uniform(0.1, 0.2)))
                i += 1
                continue
            roll = rng.random()
            misread = self.lookalike(char, rng) if roll < p_faint + p_sub else None
            if roll < p_faint or (roll < p_faint + p_sub and misread is None):
                out.append((None, char, 0.0, rng.uniform(0.2, 0.45)))
            elif roll < p_faint + p_sub:
                p_top = rng.uniform(0.45, 0.85)
                out.append((misread, char, p_top, rng.uniform(0.1, 1 - p_top)))
            else:
                p_top = rng.uniform(0.6, 0.99)
                second = self.lookalike(char, rng)
                out.append((char, second, p_top, (1 - p_top) * rng.uniform(0.3, 0.9)))
            spurious = self.lookalike(char, rng) if rng.random() < p_insert else None
            if spurious is not None:
                out.append((spurious, None, rng.uniform(0.4, 0.7), 0.0))
            i += 1
        return out

    def render(
        self, text: str, rng: np.random.Generator, quality: float | None = None
    ) -> np.ndarray:
        """Return float32 (T, C) posteriors for `text`."""
        q = rng.random() if quality is None else quality
        units = self.units(text, rng, q)
        frames: list[np.ndarray] = []
        noise_level = rng.uniform(0.005, 0.05)
        blank = self.blank

        def frame(weights: dict[int, float]) -> np.ndarray:
            row = np.zeros(self.n_classes)
            for k, w in weights.items():
                row[k] += w
            row[blank] += max(0.0, 1.0 - row.sum())
            noise = rng.dirichlet(np.full(self.n_classes, 0.05))
            return (1 - noise_level) * row / row.sum() + noise_level * noise

        def blank_frame(neighbours: Sequence[int], p_blank: float) -> np.ndarray:
            weights = {k: (1 - p_blank) * 0.6 / len(neighbours) for k in neighbours}
            return frame(weights)

        for _ in range(int(rng.integers(0, 3))):
            frames.append(blank_frame([blank], rng.uniform(0.9, 0.999)))
        previous_top = None
        for n, (top, second, p_top, p_second) in enumerate(units):
            top_k = self.index.get(top) if top is not None else None
            second_k = self.index.get(second) if second is not None else None
            if top_k is not None and top_k == previous_top:
                # The same character again: a blank must separate them, sometimes weakly.
                p_blank = rng.uniform(0.35, 0.95)
                frames.append(frame({top_k: 1 - p_blank}))
            if top_k is None:  # faint character: blank wins
                frames.append(frame({second_k: p_second}))
            else:
                weights = {top_k: p_top}
                if second_k is not None:
                    weights[second_k] = weights.get(second_k, 0.0) + p_second
                frames.append(frame(weights))
                for _ in range(int(rng.choice([0, 1, 2], p=[0.55, 0.35, 0.1]))):
                    fade = rng.uniform(0.5, 1.0)
                    frames.append(frame({k: w * fade for k, w in weights.items()}))
            neighbours = [k for k in (top_k, second_k) if k is not None] or [blank]
            if n + 1 < len(units) and units[n + 1][0] is not None:
                nxt = self.index.get(units[n + 1][0])
                if nxt is not None:
                    neighbours.append(nxt)
            gap = int(rng.choice([0, 1, 2, 3], p=[0.3, 0.45, 0.2, 0.05]))
            for _ in range(gap):
                frames.append(blank_frame(neighbours, rng.uniform(0.75, 0.995)))
            previous_top = top_k if gap == 0 else None
        for _ in range(int(rng.integers(0, 3))):
            frames.append(blank_frame([blank], rng.uniform(0.9, 0.999)))
        return np.asarray(frames, dtype=np.float32).reshape(-1, self.n_classes)

    def render_to(self, text: str, rng: np.random.Generator, n_frames: int) -> np.ndarray | None:
        """Render `text` and pad it with blank frames to exactly `n_frames` (None if too long)."""
        for _ in range(10):
            probs = self.render(text, rng)
            if len(probs) <= n_frames:
                pad = np.zeros((n_frames - len(probs), self.n_classes), dtype=np.float32)
                pad[:, self.blank] = 0.995
                pad[:, : self.blank] = 0.005 / self.blank
                split = int(rng.integers(0, len(pad) + 1))
                return np.concatenate([pad[:split], probs, pad[split:]])
        return None


# -- texts and lexicons --------------------------------------------------------------------


def sample_lines(seed: int, count: int) -> list[str]:
    """Lines of the synthetic sampler: causes, Partie II, intervals; 10% in capitals."""
    rng = np.random.default_rng(seed)
    vocab = Vocabulary.builtin()
    lines: list[str] = []
    while len(lines) < count:
        text = sample_cause_text(rng, vocab)
        for line in (*text.part1, *text.part2, *text.intervals):
            if line.strip():
                lines.append(line.upper() if rng.random() < 0.1 else line)
    order = rng.permutation(len(lines))[:count]
    return [lines[i] for i in order]


def long_lines(seed: int, count: int, min_chars: int, max_chars: int) -> list[str]:
    """Lines of `min_chars`..`max_chars` characters (sampler lines joined with ", ")."""
    pool = sample_lines(seed, count * 6)
    out, current = [], ""
    for line in pool:
        current = f"{current}, {line}" if current else line
        if len(current) >= min_chars:
            if len(current) <= max_chars:
                out.append(current)
            else:
                cut = current[:max_chars].rsplit(" ", 1)[0]
                if len(cut) >= min_chars // 2:
                    out.append(cut)
            current = ""
        if len(out) == count:
            break
    return out


def load_word_source() -> tuple[object, object | None, str]:
    """Return (lexicon, bigram model or None, description)."""
    try:
        from medocr.lexicon import load_lexicon
    except ImportError:
        load_lexicon = None
    if load_lexicon is not None:
        lexicon = load_lexicon()
        return lexicon, lexicon.bigrams, f"`medocr.lexicon.load_lexicon()` = {lexicon.ref}"
    root = Path(os.environ.get("MEDOCR_DATA", Path(__file__).resolve().parents[2] / "shared/data"))
    words: set[str] = set()
    with gzip.open(root / "cim10" / "cim10.csv.gz", "rt", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            words.update(w.lower() for w in tokenize(row["long"]))
    for line in sample_lines(0, 20_000):  # the sampler's own words (abbreviations...)
        words.update(tokenize(line))
    return sorted(words), None, "CIM-10 label words + sampler words (medocr.lexicon missing)"


def canonical_words(lexicon: object) -> list[str]:
    return list(lexicon) if not isinstance(lexicon, list) else lexicon


def pseudo_words(words: Sequence[str], total: int, seed: int = 0) -> list[str]:
    """Pad `words` to `total` distinct words with character-trigram pseudo-words."""
    counts: dict[str, Counter] = defaultdict(Counter)
    lowered = [w.lower() for w in words if w.isalpha()]
    for word in lowered:
        padded = f"^^{word}$"
        for i in range(2, len(padded)):
            counts[padded[i - 2 : i]][padded[i]] += 1
    tables = {
        k: (list(c), np.array(list(c.values()), dtype=float) / sum(c.values()))
        for k, c in counts.items()
    }
    rng = np.random.default_rng(seed)
    seen = set(words) | set(lowered)
    out = list(words)
    while len(out) < total:
        context, word = "^^", ""
        while len(word) < 20:
            chars, weights = tables[context]
            nxt = chars[int(rng.choice(len(chars), p=weights))]
            if nxt == "$":
                break
            word += nxt
            context = context[1] + nxt
        if len(word) >= 3 and word not in seen:
            seen.add(word)
            out.append(word)
    return out


# -- metrics -------------------------------------------------------------------------------


def error_rates(pairs: Sequence[tuple[str, str]]) -> tuple[float, float]:
    """Return (CER, WER) of (reference, hypothesis) pairs."""
    from rapidfuzz.distance import Levenshtein

    char_edits = sum(Levenshtein.distance(r, h) for r, h in pairs)
    chars = sum(len(r) for r, _ in pairs)
    word_edits = sum(Levenshtein.distance(r.split(), h.split()) for r, h in pairs)
    words = sum(len(r.split()) for r, _ in pairs)
    return char_edits / max(chars, 1), word_edits / max(words, 1)


def best_of(fn: Callable[[object], object], arg: object, repeat: int = 3) -> float:
    """CPU milliseconds of the fastest of `repeat` calls ``fn(arg)`` (as timeit advises).

    CPU time of the whole process (every thread, so TensorFlow's too): on a shared machine
    wall time would also count the turns of other processes.
    """
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn(arg)
        best = min(best, time.process_time() - start)
    return best * 1e3


def python_speed() -> float:
    """Nanoseconds per iteration of a plain Python loop: how fast (or busy) this machine is."""
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        total = 0
        for i in range(200_000):
            total += i
        best = min(best, time.process_time() - start)
    return best / 200_000 * 1e9


def percentiles(values: Sequence[float]) -> tuple[float, float]:
    return float(np.median(values)), float(np.percentile(values, 95))


# -- TensorFlow / Keras ---------------------------------------------------------------------


def tf_decoders(beam: int) -> dict[str, Callable[[np.ndarray], object]] | str:
    """Return TF/Keras beam decoders on log-probabilities, or why they are unavailable."""
    try:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        import keras
    except Exception as exc:  # noqa: BLE001 - any import failure means "skip"
        return f"TensorFlow not importable ({type(exc).__name__}: {exc})"

    def keras_beam(logp: np.ndarray) -> object:
        batch = logp if logp.ndim == 3 else logp[None]
        lengths = np.full(len(batch), batch.shape[1], dtype=np.int32)
        blank = batch.shape[2] - 1
        return keras.ops.ctc_decode(
            batch, lengths, strategy="beam_search", beam_width=beam, mask_index=blank
        )

    def tf_beam(logp: np.ndarray) -> object:
        batch = logp if logp.ndim == 3 else logp[None]
        lengths = np.full(len(batch), batch.shape[1], dtype=np.int32)
        return tf.nn.ctc_beam_search_decoder(
            np.transpose(batch, (1, 0, 2)), lengths, beam_width=beam, top_paths=1
        )

    return {
        f"Keras `ops.ctc_decode` beam_search {tf.__version__}/{keras.__version__}": keras_beam,
        f"`tf.nn.ctc_beam_search_decoder` {tf.__version__}": tf_beam,
    }


# -- main -------------------------------------------------------------------------------------


def speed(
    alphabet: Alphabet,
    lexicon: object,
    lm: object | None,
    lines: int,
    beam: int,
    simulator: Simulator,
    own_lexicon: object | None = None,
) -> tuple[list[str], dict[tuple[str, int], tuple[float, float]]]:
    decoders: dict[str, Callable[[FrameProbs], object]] = {
        "greedy": greedy,
        "beam": lambda p: beam_search(p, beam_width=beam),
        "word beam": lambda p: word_beam_search(p, lexicon, beam_width=beam),
    }
    if lm is not None:
        decoders["word beam + bigram"] = lambda p: word_beam_search(
            p, lexicon, beam_width=beam, lm=lm
        )
        if own_lexicon is not None:  # issue 16's setting: the lexicon itself, not padded
            decoders[OWN_LEXICON_ROW] = lambda p: word_beam_search(
                p, own_lexicon, beam_width=beam, lm=lm
            )
    tf_side = tf_decoders(beam)
    notes = []
    if isinstance(tf_side, str):
        notes.append(f"TF/Keras rows skipped: {tf_side}.")
        tf_side = {}
    results: dict[tuple[str, int], tuple[float, float]] = {}
    rng = np.random.default_rng(11)
    for n_frames, (lo, hi) in ((64, (18, 26)), (128, (36, 50))):
        texts = long_lines(TEST_SEED + n_frames, lines * 2, lo, hi)
        mats = [simulator.render_to(t, rng, n_frames) for t in texts]
        mats = [m for m in mats if m is not None][:lines]
        inputs = [FrameProbs(m, alphabet) for m in mats]
        for name, fn in decoders.items():
            for p in inputs[:5]:
                fn(p)  # warm caches (trie, memo) outside the measurement
            results[(name, n_frames)] = percentiles([best_of(fn, p) for p in inputs])
        logps = [np.log(np.maximum(m, 1e-30)) for m in mats]
        for name, fn in tf_side.items():
            for lp in logps[:3]:
                fn(lp)
            results[(name, n_frames)] = percentiles([best_of(fn, lp) for lp in logps])
            batch = np.stack(logps[:64])
            fn(batch)
            per_line = best_of(fn, batch) / len(batch)
            results[(name + ", batched 64 (per line)", n_frames)] = (per_line, float("nan"))
        print(f"speed T={n_frames}: {len(inputs)} lines of {lo}-{hi} characters")
    return notes, results


def accuracy(
    alphabet: Alphabet,
    lexicon: object,
    lm: object | None,
    texts: Sequence[str],
    seed: int,
    beam: int,
    simulator: Simulator,
    oov_penalty: float | None = DEFAULT_OOV_PENALTY,
    lm_weight: float = DEFAULT_LM_WEIGHT,
    only: Sequence[str] | None = None,
) -> dict[str, tuple[float, float]]:
    rng = np.random.default_rng(seed)
    inputs = [FrameProbs(simulator.render(t, rng), alphabet) for t in texts]
    decoders: dict[str, Callable[[FrameProbs], object]] = {
        "greedy": greedy,
        "beam": lambda p: beam_search(p, beam_width=beam),
        "word beam": lambda p: word_beam_search(
            p, lexicon, beam_width=beam, oov_penalty=oov_penalty
        ),
    }
    if lm is not None:
        decoders["word beam + bigram"] = lambda p: word_beam_search(
            p, lexicon, beam_width=beam, lm=lm, lm_weight=lm_weight, oov_penalty=oov_penalty
        )
    out = {}
    for name, fn in decoders.items():
        if only is not None and name not in only:
            continue
        out[name] = error_rates([(t, fn(p).text) for t, p in zip(texts, inputs, strict=True)])
    return out


def hold_out(
    forms: dict[str, str], texts: Sequence[str], rate: float, seed: int
) -> tuple[dict[str, str], float]:
    """Drop canonical words until about `rate` of the tokens of `texts` are unknown."""
    rng = np.random.default_rng(seed)
    tokens = [w for t in texts for w in tokenize(t)]
    canon = [forms.get(w) for w in tokens]
    counts = Counter(c for c in canon if c is not None)
    target = rate * len(tokens)
    removed: set[str] = set()
    covered = 0
    for word in rng.permutation(sorted(counts)).tolist():
        if covered >= target:
            break
        if counts[word] <= max(1, target - covered) and len(word) > 2:
            removed.add(word)
            covered += counts[word]
    kept = {s: c for s, c in forms.items() if c not in removed}
    unknown = sum(1 for c in canon if c is None or c in removed)
    return kept, unknown / max(len(tokens), 1)


def trie_memory(words: Sequence[str], alphabet: Alphabet) -> dict[str, float]:
    """Build the trie of `words` twice: timed, then under tracemalloc (memory held, peak)."""
    forms = surface_forms(words, alphabet)
    clear_trie_cache()
    start = time.perf_counter()
    get_trie(forms, alphabet)
    seconds = time.perf_counter() - start
    clear_trie_cache()
    tracemalloc.start()
    trie = get_trie(forms, alphabet)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    clear_trie_cache()
    return {
        "words": len(words),
        "forms": trie.n_forms,
        "nodes": trie.n_nodes,
        "current_mib": current / 2**20,
        "peak_mib": peak / 2**20,
        "nbytes_mib": trie.nbytes() / 2**20,
        "seconds": seconds,
    }


def sweep(
    alphabet: Alphabet, lexicon: object, lm: object | None, lines: int, beam: int, sim: Simulator
) -> str:
    """Tune the OOV penalty (words only) and the LM weight on dev lines; return the tables."""
    dev = sample_lines(DEV_SEED, lines)
    dev_forms, dev_oov = hold_out(surface_forms(lexicon, alphabet), dev, 0.05, DEV_SEED)

    def wer(words: object, name: str, **kwargs: object) -> str:
        rates = accuracy(alphabet, words, lm, dev, DEV_SEED, beam, sim, only=[name], **kwargs)
        return f"{rates[name][1]:.2%}"

    header = "| dev WER, full lexicon | dev WER, 5% OOV |\n|---:|---:|---:|"
    rows = [f"| OOV penalty / letter {header}"]
    for penalty in (None, -3.0, -2.0, -1.5, -1.0, -0.5):
        cells = [wer(w, "word beam", oov_penalty=penalty) for w in (lexicon, dev_forms)]
        rows.append(f"| {penalty} | {cells[0]} | {cells[1]} |")
        print(rows[-1])
    if lm is not None:
        rows.append(f"\n| LM weight {header}")
        for weight in (0.0, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0):
            name = "word beam + bigram"
            cells = [wer(w, name, lm_weight=weight) for w in (lexicon, dev_forms)]
            rows.append(f"| {weight} | {cells[0]} | {cells[1]} |")
            print(rows[-1])
    return (
        f"Tuning on {len(dev)} dev lines (seed {DEV_SEED}; {dev_oov:.1%} OOV tokens in the "
        "held-out setting), word beam search:\n\n" + "\n".join(rows)
    )


# -- pruning loss on real recognizer outputs ------------------------------------------------

PRUNING_SETS = ("poilus", "lectaurep", "copiste")
REFERENCE = {"beam_width": 1024, "min_char_prob": 1e-4, "score_margin": math.inf}
"""The reference search (``max_chars_per_frame``: every character); ``--check-reference``
compares it with ``min_char_prob=0`` (every character at every frame)."""
PRUNING_GRID = (
    # (beam_width, min_char_prob, max_chars_per_frame, score_margin)
    (4, 1e-2, 8, 10.0),
    (8, 1e-2, 8, 10.0),
    (16, 1e-2, 8, 10.0),
    (16, 1e-2, 8, math.inf),
    (16, 1e-3, 8, 10.0),
    (16, 1e-3, 16, 10.0),
    (32, 1e-2, 8, 10.0),
    (32, 1e-3, 8, 10.0),
    (64, 1e-2, 8, 10.0),
    (64, 1e-3, 8, 10.0),
    (128, 1e-3, 8, 10.0),
    (128, 1e-4, 16, math.inf),
    (256, 1e-3, 8, 10.0),
    (256, 1e-4, 16, math.inf),
    (512, 1e-4, 16, math.inf),
)
OOV_NONE_GRID = (
    (16, 1e-2, 8, 10.0),
    (16, 1e-3, 8, 10.0),
    (64, 1e-3, 8, 10.0),
    (256, 1e-4, 16, math.inf),
)
PRUNING_TARGET = 0.01


def cause_lines(certificates: int, seed: int) -> tuple[list[np.ndarray], list[str]]:
    """Cause lines cut by the reading pipeline from fresh synthetic certificates."""
    images, texts, _ = cut_cause_lines(certificates, seed)
    return images, texts


def cut_cause_lines(certificates: int, seed: int) -> tuple[list[np.ndarray], list[str], list[str]]:
    """Cause lines cut by the pipeline from fresh synthetic certificates, with their origin.

    Returns
    -------
    images : list of numpy.ndarray
        uint8 ``(h, w)`` line images, framed with paper as the pipeline frames them.
    texts : list of str
        Their truth.
    documents : list of str
        The certificate each line was cut from.
    """
    import tempfile

    from medocr.dataset.fieldlines import write_field_lines
    from medocr.dataset.readers import load_line, read_line_set
    from medocr.synth.runner import synthesize

    with tempfile.TemporaryDirectory() as work:
        synthesize(Path(work) / "certs", certificates, seed=seed, workers=2)
        lines = Path(work) / "lines" / "lines.jsonl"
        write_field_lines(Path(work) / "certs", lines.parent, workers=2)
        fields = [json.loads(row)["field"] for row in lines.read_text("utf-8").splitlines()]
        records = [
            r
            for r, f in zip(read_line_set(lines).records, fields, strict=True)
            if f.startswith("cause")
        ]
        return (
            [load_line(r) for r in records],
            [r.text for r in records],
            [r.document for r in records],
        )


def real_val_lines(path: Path, count: int, seed: int) -> tuple[list[np.ndarray], list[str]]:
    """`count` lines of a JSONL line set drawn with `seed` (all of them if it has fewer)."""
    from medocr.dataset.readers import load_line, read_line_set

    records = read_line_set(path).records
    if len(records) > count:
        keep = np.sort(np.random.default_rng(seed).choice(len(records), count, replace=False))
        records = [records[i] for i in keep.tolist()]
    return [load_line(r) for r in records], [r.text for r in records]


def pruning_matrices(
    recognizer: Any, data: Path, per_set: int, certificates: int, seed: int, cache: Path
) -> dict[str, tuple[list[FrameProbs], list[str]]]:
    """The recognizer's matrices and the truth of every line of every set, cached in `cache`."""
    key = f"{recognizer.ref}|{per_set}|{certificates}|{seed}|{','.join(PRUNING_SETS)}"
    cached = read_matrices(cache, key, recognizer.alphabet)
    if cached is not None:
        print(f"pruning loss: matrices read from {cache}")
        return cached
    sets: dict[str, tuple[list[np.ndarray], list[str]]] = {}
    for name in PRUNING_SETS:
        path = data / f"{name}-lines" / "val.jsonl"
        if path.exists():
            sets[f"{name}-val"] = real_val_lines(path, per_set, seed)
        else:
            print(f"pruning loss: {path} missing, skipped", file=sys.stderr)
    images, texts = cause_lines(certificates, seed)
    if len(images) > per_set:
        keep = np.sort(np.random.default_rng(seed).choice(len(images), per_set, replace=False))
        images, texts = [images[i] for i in keep.tolist()], [texts[i] for i in keep.tolist()]
    sets["cause-cut"] = (images, texts)
    out = {}
    for name, (images, texts) in sets.items():
        start = time.perf_counter()
        out[name] = (recognizer.predict(images), texts)
        print(
            f"pruning loss: {name}, {len(images)} lines read in {time.perf_counter() - start:.0f} s"
        )
    write_matrices(cache, key, out)
    return out


def read_matrices(
    cache: Path, key: str, alphabet: Alphabet
) -> dict[str, tuple[list[FrameProbs], list[str]]] | None:
    """The named sets of matrices and truths stored by :func:`write_matrices` under `key`.

    Returns None when `cache` is missing or was written for another key (recognizer,
    line draw...).
    """
    if not cache.exists():
        return None
    with np.load(cache) as stored:
        if str(stored["key"]) != key or "truths" not in stored:
            return None
        names = [str(n) for n in stored["names"]]
        counts = stored["counts"].tolist()
        truths = json.loads(str(stored["truths"]))
        mats = [stored[f"m{i}"] for i in range(sum(counts))]
    out, start = {}, 0
    for name, n in zip(names, counts, strict=True):
        probs = [FrameProbs(m, alphabet) for m in mats[start : start + n]]
        out[name] = (probs, truths[name])
        start += n
    return out


def write_matrices(
    cache: Path, key: str, sets: dict[str, tuple[list[FrameProbs], list[str]]]
) -> None:
    """Store named sets of ``(T, C)`` matrices and their truths in the .npz `cache`."""
    lines = [p.probs for probs, _ in sets.values() for p in probs]
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        cache,
        key=np.array(key),
        names=np.array(list(sets)),
        counts=np.array([len(probs) for probs, _ in sets.values()]),
        truths=np.array(json.dumps({name: texts for name, (_, texts) in sets.items()})),
        **{f"m{i}": m for i, m in enumerate(lines)},
    )


def decode_all(
    decode: Callable[[FrameProbs], Any], sets: dict[str, list[FrameProbs]]
) -> tuple[dict[str, list[Any]], float]:
    """Readings of every line of every set, and the mean CPU milliseconds per line."""
    out, spent, lines = {}, 0.0, 0
    for name, probs in sets.items():
        hyps = []
        for p in probs:
            start = time.process_time()
            hyps.append(decode(p))
            spent += time.process_time() - start
        out[name] = hyps
        lines += len(probs)
    return out, spent / max(lines, 1) * 1e3


def error_columns(hyps: dict[str, list[Any]], truths: dict[str, list[str]]) -> str:
    """Markdown cells: CER of the cause-cut lines and of all lines against their truth."""
    from medocr.evaluate.metrics import cer

    every = [h.text for v in hyps.values() for h in v]
    causes = [h.text for h in hyps.get("cause-cut", [])]
    cause_cer = cer(truths["cause-cut"], causes) if causes else float("nan")
    return f"{cause_cer:.2%} | {cer([t for v in truths.values() for t in v], every):.2%}"


def loss_table(
    decoder: Callable[[dict[str, Any]], Callable[[FrameProbs], Any]],
    sets: dict[str, list[FrameProbs]],
    truths: dict[str, list[str]],
    grid: Sequence[tuple[int, float, int, float]],
    reference: dict[str, list[Any]],
) -> tuple[list[str], list[str]]:
    """Markdown rows: per pruning setting, the share of lines read unlike `reference`.

    Also returns the verdicts: the cheapest setting within :data:`PRUNING_TARGET`, overall
    and on the cause-cut lines (the pipeline's use), or the lowest loss when none is.
    """
    header = "| beam | min_char_prob | max_chars/frame | score_margin | " + " | ".join(
        f"{name} ({len(v)})" for name, v in sets.items()
    )
    rows = [
        header + " | overall | above ref. | CER cause-cut | CER all | ms/line |",
        "|---:" * (len(sets) + 9) + "|",
    ]
    total = sum(len(v) for v in sets.values())
    measured: list[tuple[str, float, float, float]] = []  # setting, overall, causes, ms
    for beam, low, most, margin in grid:
        settings = {
            "beam_width": beam,
            "min_char_prob": low,
            "max_chars_per_frame": most,
            "score_margin": margin,
        }
        hyps, ms = decode_all(decoder(settings), sets)
        cells, differ, above = [], 0, 0
        for name, got in hyps.items():
            pairs = list(zip(got, reference[name], strict=True))
            n = sum(a.text != b.text for a, b in pairs)
            above += sum(a.text != b.text and a.log_score > b.log_score for a, b in pairs)
            differ += n
            cells.append(f"{n / len(got):.2%}")
        overall = f"{differ / max(total, 1):.2%}"
        if differ <= PRUNING_TARGET * total:
            overall = f"**{overall}**"
        rows.append(
            f"| {beam} | {low:g} | {most} | {margin:g} | "
            + " | ".join(cells)
            + f" | {overall} | {above} | {error_columns(hyps, truths)} | {ms:.1f} |"
        )
        print(rows[-1], flush=True)
        pairs = zip(hyps["cause-cut"], reference["cause-cut"], strict=True)
        causes = [a.text != b.text for a, b in pairs]
        setting = f"beam {beam}, min_char_prob {low:g}, max_chars {most}, margin {margin:g}"
        measured.append((setting, differ / max(total, 1), np.mean(causes), ms))
    verdicts = []
    for label, column in (("overall", 1), ("on cause-cut", 2)):
        within = [m for m in measured if m[column] <= PRUNING_TARGET]
        if within:
            best = min(within, key=lambda m: m[3])
            verdicts.append(
                f"Cheapest within {PRUNING_TARGET:.0%} {label}: {best[0]} "
                f"({best[column]:.2%}, {best[3]:.1f} ms/line)."
            )
        else:
            best = min(measured, key=lambda m: m[column])
            verdicts.append(
                f"No setting of the grid is within {PRUNING_TARGET:.0%} {label}; the lowest "
                f"loss: {best[column]:.2%} ({best[0]}, {best[3]:.1f} ms/line)."
            )
    return rows, verdicts


def pruning_loss(args: argparse.Namespace) -> str:
    """Measure the pruning loss of the cause decoder on real lines; return the section body."""
    from medocr.config import PipelineConfig
    from medocr.pipeline import Pipeline

    data = use_data(args.data)
    pipeline = Pipeline(PipelineConfig())
    recognizer, reader = pipeline.recognizer, pipeline.reader("cause")
    lines = pruning_matrices(
        recognizer, data, args.per_set, args.certificates, args.seed, Path(args.cache)
    )
    sets = {name: probs for name, (probs, _) in lines.items()}
    truths = {name: texts for name, (_, texts) in lines.items()}
    every = recognizer.alphabet.num_classes - 1
    frames = [p.probs.shape[0] for v in sets.values() for p in v]
    reference_settings = {**REFERENCE, "max_chars_per_frame": every}
    blocks = [(reader.oov_penalty, PRUNING_GRID)]
    if args.oov_none:
        blocks.append((None, OOV_NONE_GRID))
    sections = []
    for oov, grid in blocks:

        def decoder(settings: dict[str, Any], oov: float | None = oov) -> Callable:
            return lambda p: word_beam_search(
                p,
                reader.lexicon,
                lm=reader.lm,
                lm_weight=reader.lm_weight,
                oov_penalty=oov,
                n_best=reader.n_best,
                **settings,
            )

        for line in next(iter(sets.values()))[:5]:
            decoder({})(line)  # build the trie and warm its memo outside the measurement
        reference, ref_ms = decode_all(decoder(reference_settings), sets)
        print(f"pruning loss, oov {oov}: reference {ref_ms:.1f} ms/line", flush=True)
        rows, verdicts = loss_table(decoder, sets, truths, grid, reference)
        check = ""
        if args.check_reference and oov is not None:
            head = {name: v[: args.check_reference] for name, v in sets.items()}
            exact, exact_ms = decode_all(
                decoder({**reference_settings, "min_char_prob": 0.0}), head
            )
            same = sum(
                a.text == b.text
                for name in head
                for a, b in zip(exact[name], reference[name], strict=False)
            )
            n = sum(len(v) for v in head.values())
            check = (
                f" Check: on the first {args.check_reference} lines of each set ({n} lines), "
                f"every character at every frame (`min_char_prob=0`, {exact_ms:.0f} ms/line) "
                f"reads {same} of them as the reference does."
            )
        title = f"OOV penalty {oov}" + (
            " (the pipeline's)" if oov is not None else " (out-of-vocabulary words forbidden)"
        )
        sections.append(
            f"{title}; reference: {ref_ms:.0f} ms/line, CER cause-cut | all "
            f"{error_columns(reference, truths)}.{check}\n\n"
            + "\n".join(rows)
            + "\n\n"
            + "\n".join(f"- {v}" for v in verdicts)
        )
    load = os.getloadavg()
    return (
        f"Lines: {', '.join(f'{k} {len(v)}' for k, v in sets.items())} ({len(frames)} in all; "
        f"T = {int(np.median(frames))} frames median, {max(frames)} max), read by "
        f"`{recognizer.ref}`; the real sets' lines drawn with seed {args.seed}, cause-cut = "
        f"cause lines cut by the pipeline from {args.certificates} synthetic certificates "
        f"(seed {args.seed}). Decoder: the pipeline's cause reader (lexicon "
        f"`{getattr(reader.lexicon, 'ref', None)}`, bigram, LM weight {reader.lm_weight}, "
        f"n-best {reader.n_best}); its pruning by default: beam {reader.beam_width} "
        f"(`PipelineConfig.beam_width`), min_char_prob {WORD_MIN_CHAR_PROB:g}, "
        f"max_chars/frame {MAX_CHARS_PER_FRAME}, score_margin {SCORE_MARGIN:g} "
        "(`medocr.decode.wordbeam`). A cell is the share of lines whose text differs from the "
        f"reference search: beam {REFERENCE['beam_width']}, characters down to probability "
        f"{REFERENCE['min_char_prob']:g} at each frame (all of them if need be), no score "
        "margin. 'above ref.': lines where the pruned search "
        "found a reading the reference scores lower (the reference is not exhaustive "
        "either). ms/line: mean CPU time of one decode, one thread. Target: at most "
        f"{PRUNING_TARGET:.0%} overall (bold: met). Load average at the end: "
        f"{load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} on {os.cpu_count()} cores (a shared "
        "machine: CPU times are steadier than wall times).\n\n" + "\n\n".join(sections)
    )


# -- cause lines: OOV penalty x LM weight -------------------------------------------------------

CAUSE_OOV_PENALTIES: tuple[float | None, ...] = (None, -4.0, -3.0, -2.0, -1.5, -1.0, -0.5)
CAUSE_LM_WEIGHTS: tuple[float, ...] = (0.0, 0.2, 0.3, 0.5, 0.75, 1.0)
CAUSE_GRID_CERTIFICATES = 180
CACHE_FOLDER = "/tmp/medocr-bench-decode"
"""Where the recognizer matrices of the pruning loss and the cause grid are cached."""
"""Default certificates for the cause grid: 476 cause lines at seed 2027 (4.5 min on 2 cores)."""
DEMO_SEED, DEMO_INDEX = 2026, 0
"""The certificate ``medocr demo`` (``make demo``) makes by default."""

Cell = tuple[float | None, float]
"""A grid cell: (OOV penalty, LM weight)."""


def cause_split(
    recognizer: Any, certificates: int, seed: int, cache: Path
) -> dict[str, tuple[list[FrameProbs], list[str]]]:
    """Matrices and truths of pipeline-cut cause lines, split by certificate, cached.

    Parameters
    ----------
    recognizer : Recognizer
        The pipeline's recognizer; each line becomes a ``(T, C)`` :class:`FrameProbs`.
    certificates, seed : int
        Synthetic certificates made (:func:`cut_cause_lines`) and their seed; the seed
        also draws which half of the certificates is "dev".
    cache : Path
        .npz reused when it holds the same recognizer, certificates and seed.

    Returns
    -------
    dict of str to (list of FrameProbs, list of str)
        ``"dev"``: the cause lines of half of the certificates, ``"test"``: the others'.
    """
    key = f"{recognizer.ref}|cause-grid|{certificates}|{seed}"
    cached = read_matrices(cache, key, recognizer.alphabet)
    if cached is not None:
        print(f"cause grid: matrices read from {cache}")
        return cached
    start = time.perf_counter()
    images, texts, documents = cut_cause_lines(certificates, seed)
    names = sorted(set(documents))
    order = np.random.default_rng(seed).permutation(len(names)).tolist()
    dev = {names[i] for i in order[: (len(names) + 1) // 2]}
    print(f"cause grid: {len(images)} lines cut in {time.perf_counter() - start:.0f} s")
    out: dict[str, tuple[list[FrameProbs], list[str]]] = {}
    for half in ("dev", "test"):
        keep = [i for i, d in enumerate(documents) if (d in dev) == (half == "dev")]
        probs = recognizer.predict([images[i] for i in keep]) if keep else []
        out[half] = (list(probs), [texts[i] for i in keep])
    print(f"cause grid: recognized in {time.perf_counter() - start:.0f} s (cut included)")
    write_matrices(cache, key, out)
    return out


def cause_reader(reader: Any, oov_penalty: float | None, lm_weight: float) -> Any:
    """A copy of the pipeline's cause reader with another OOV penalty and LM weight."""
    import copy

    variant = copy.copy(reader)
    variant.oov_penalty = oov_penalty
    variant.lm_weight = lm_weight
    return variant


def grid_readings(
    reader: Any, sets: dict[str, list[FrameProbs]], cells: Sequence[Cell]
) -> tuple[dict[Cell, dict[str, list[Any]]], float]:
    """Readings of every line of `sets` at every cell, and the mean CPU ms per line."""
    readings, spent = {}, []
    for oov, weight in cells:
        readings[(oov, weight)], ms = decode_all(cause_reader(reader, oov, weight).decode, sets)
        spent.append(ms)
        print(f"cause grid: OOV {oov}, LM weight {weight:g}: {ms:.1f} ms/line", flush=True)
    return readings, float(np.mean(spent)) if spent else float("nan")


def cause_rates(truths: Sequence[str], hyps: Sequence[Any]) -> tuple[float, float]:
    """(CER, WER) of readings against their truth (``medocr.evaluate.metrics``)."""
    from medocr.evaluate.metrics import cer, wer

    texts = [h.text for h in hyps]
    return cer(truths, texts), wer(truths, texts)


def oov_shares(truths: Sequence[str], hyps: Sequence[Any], trie: Any) -> tuple[float, float, str]:
    """Lexicon coverage of readings and truths.

    Returns
    -------
    output_oov : float
        Share of the words read that the lexicon lacks.
    truth_oov : float
        Share of the truth words that the lexicon lacks.
    truth_oov_read : str
        How many of those truth words the reading of their line holds (``"k of n"``).
    """
    from medocr.decode._common import word_hypotheses

    read = [w for h in hyps for w in h.words]
    truth_words, missing, found = 0, 0, 0
    for truth, hyp in zip(truths, hyps, strict=True):
        said = Counter(w.text for w in hyp.words)
        for word in word_hypotheses(truth, trie.lookup, trie.word_chars):
            truth_words += 1
            if not word.in_lexicon:
                missing += 1
                if said[word.text] > 0:
                    found += 1
                    said[word.text] -= 1
    output_oov = sum(not w.in_lexicon for w in read) / max(len(read), 1)
    return output_oov, missing / max(truth_words, 1), f"{found} of {missing}"


def changed_lines(truths: Sequence[str], hyps: Sequence[Any], base: Sequence[Any]) -> str:
    """``"better / worse"``: lines whose CER `hyps` lowers / raises against `base`."""
    from medocr.evaluate.metrics import cer

    better = worse = 0
    for truth, hyp, ref in zip(truths, hyps, base, strict=True):
        ours, theirs = cer([truth], [hyp.text]), cer([truth], [ref.text])
        better += ours < theirs
        worse += ours > theirs
    return f"{better} / {worse}"


def cell_name(cell: Cell) -> str:
    return f"OOV {cell[0]}, LM {cell[1]:g}"


def grid_table(
    rates: dict[Cell, tuple[float, float]],
    shares: dict[float | None, tuple[float, float, str]],
    default: Cell,
    oovs: Sequence[float | None],
    weights: Sequence[float],
) -> list[str]:
    """Markdown rows: dev CER / WER per cell (lowest of each in bold), then OOV columns."""
    low_cer = min(r[0] for r in rates.values())
    low_wer = min(r[1] for r in rates.values())
    heads = [f"{w:g}" + (" (default)" if w == default[1] else "") for w in weights]
    rows = [
        "| OOV penalty \\ LM weight | "
        + " | ".join(heads)
        + f" | output words OOV (LM {default[1]:g}) | truth words OOV | truth OOV words "
        "read |",
        "|---" + "|---:" * (len(weights) + 3) + "|",
    ]
    for oov in oovs:
        cells = []
        for weight in weights:
            c, w = rates[(oov, weight)]
            shown_c = f"**{c:.2%}**" if c == low_cer else f"{c:.2%}"
            shown_w = f"**{w:.2%}**" if w == low_wer else f"{w:.2%}"
            cells.append(f"{shown_c} / {shown_w}")
        output_oov, truth_oov, found = shares[oov]
        label = f"{oov}" + (" (default)" if oov == default[0] else "")
        rows.append(
            f"| {label} | "
            + " | ".join(cells)
            + f" | {output_oov:.2%} | {truth_oov:.2%} | {found} |"
        )
    return rows


def choice_table(
    readings: dict[Cell, dict[str, list[Any]]],
    truths: dict[str, list[str]],
    default: Cell,
    chosen: dict[str, Cell],
) -> list[str]:
    """Markdown rows: the default and the cells chosen on dev, on dev and on test."""
    labels: dict[Cell, list[str]] = {default: ["default"]}
    for why, cell in chosen.items():
        labels.setdefault(cell, []).append(why)
    rows = [
        "| cell | | dev CER | dev WER | test CER | test WER | test lines better / worse "
        "than default |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for cell, why in labels.items():
        dev = cause_rates(truths["dev"], readings[cell]["dev"])
        test = cause_rates(truths["test"], readings[cell]["test"])
        changed = changed_lines(truths["test"], readings[cell]["test"], readings[default]["test"])
        rows.append(
            f"| {cell_name(cell)} | {', '.join(why)} | {dev[0]:.2%} | {dev[1]:.2%} | "
            f"{test[0]:.2%} | {test[1]:.2%} | {changed} |"
        )
    return rows


def demo_lines(pipeline: Any, vocabulary: str) -> list[tuple[str, str, FrameProbs]]:
    """``(field, truth, matrix)`` of the cause lines of the ``medocr demo`` certificate.

    Parameters
    ----------
    pipeline : Pipeline
        The default pipeline: its template, cutting and recognizer (one batch of every
        line of the page, as :meth:`Pipeline.read_page` recognizes them).
    vocabulary : str
        Data folder of the certificate's vocabulary; ``""`` = the built-in one (what
        ``make demo`` gets without ``MEDOCR_DATA``).
    """
    import tempfile

    from medocr.io import read_pages
    from medocr.synth.runner import write_certificate

    stem = f"cert-{DEMO_INDEX:06d}"
    with tempfile.TemporaryDirectory() as work:
        write_certificate(Path(work), DEMO_SEED, DEMO_INDEX, pipeline.template, "png", vocabulary)
        truth = json.loads((Path(work) / f"{stem}.json").read_text(encoding="utf-8"))
        fields = pipeline.field_lines(read_pages(Path(work) / f"{stem}.png")[0])
    images = [line for _, lines in fields for line in lines]
    probs = iter(pipeline.recognizer.predict(images, batch_size=pipeline.config.batch_size))
    texts = {f["name"]: [line["text"] for line in f.get("lines", [])] for f in truth["fields"]}
    out = []
    for crop, lines in fields:
        mats = [next(probs) for _ in lines]
        if crop.kind != "cause":
            continue
        known = texts.get(crop.name, [])
        for i, mat in enumerate(mats):
            out.append((crop.name, known[i] if len(known) == len(mats) else "?", mat))
    return out


def demo_report(
    pipeline: Any, reader: Any, oovs: Sequence[float | None], weights: Sequence[float]
) -> str:
    """How the demo certificate's cause lines read across the grid (markdown)."""
    parts = []
    for label, vocabulary in (
        ("built-in vocabulary, as `make demo` without `MEDOCR_DATA`", ""),
        (f"`$MEDOCR_DATA` vocabulary ({os.environ.get('MEDOCR_DATA')})", None),
    ):
        for name, truth, mat in demo_lines(pipeline, vocabulary):
            cells = {
                (oov, w): cause_reader(reader, oov, w).decode(mat).text
                for oov in oovs
                for w in weights
            }
            texts = list(dict.fromkeys(cells.values()))
            head = f"- {label}, `{name}`, truth `{truth}`: "
            if len(texts) == 1:
                parts.append(head + f"read `{texts[0]}` in every cell.")
                continue
            codes = {t: chr(ord("A") + i) for i, t in enumerate(texts)}
            legend = ", ".join(f"{codes[t]} = `{t}`" for t in texts)
            rows = [
                "| OOV \\ LM | " + " | ".join(f"{w:g}" for w in weights) + " |",
                "|---" + "|:-:" * len(weights) + "|",
            ]
            for oov in oovs:
                rows.append(
                    f"| {oov} | " + " | ".join(codes[cells[(oov, w)]] for w in weights) + " |"
                )
            parts.append(head + legend + "\n\n" + "\n".join(f"  {r}" for r in rows))
    return "\n".join(parts)


def cause_grid(args: argparse.Namespace) -> str:
    """Tune the cause reader's OOV penalty and LM weight on dev; return the section body."""
    from medocr.config import PipelineConfig
    from medocr.pipeline import Pipeline

    use_data(args.data)
    config = PipelineConfig()
    pipeline = Pipeline(config)
    recognizer, reader = pipeline.recognizer, pipeline.reader("cause")
    if reader.decoder != "wordbeam":
        raise SystemExit(f"the cause reader decodes with {reader.decoder!r}, not wordbeam")
    default: Cell = (config.oov_penalty, config.lm_weight)
    oovs = list(CAUSE_OOV_PENALTIES)
    oovs += [] if default[0] in oovs else [default[0]]
    weights = sorted({*CAUSE_LM_WEIGHTS, default[1]})
    cache = Path(args.cache)
    lines = cause_split(recognizer, args.certificates, args.seed, cache)
    sets = {half: probs for half, (probs, _) in lines.items()}
    truths = {half: texts for half, (_, texts) in lines.items()}
    if not all(sets.values()):
        raise SystemExit("the dev or test half has no cause line: more --certificates")
    for line in sets["dev"][:5]:
        reader.decode(line)  # build the trie and warm its memo outside the measurement
    cells = [(oov, w) for oov in oovs for w in weights]
    readings, ms = grid_readings(reader, sets, cells)
    rates = {cell: cause_rates(truths["dev"], readings[cell]["dev"]) for cell in cells}
    trie = get_trie(reader.lexicon, recognizer.alphabet)
    shares = {
        oov: oov_shares(truths["dev"], readings[(oov, default[1])]["dev"], trie) for oov in oovs
    }
    table = grid_table(rates, shares, default, oovs, weights)
    candidates = [default, *cells]  # on a tie, the default stays
    chosen = {
        "lowest dev CER": min(candidates, key=lambda c: rates[c]),
        "lowest dev WER": min(candidates, key=lambda c: rates[c][::-1]),
    }
    choice = choice_table(readings, truths, default, chosen)
    print("\n".join(table + [""] + choice), flush=True)
    demo = demo_report(pipeline, reader, oovs, weights) if args.demo else ""
    frames = [p.probs.shape[0] for v in sets.values() for p in v]
    load = os.getloadavg()
    return (
        f"Cause lines cut by the pipeline from {args.certificates} synthetic certificates "
        f"(seed {args.seed}), read by `{recognizer.ref}` (the pipeline's backend): dev = the "
        f"lines of half of the certificates ({len(sets['dev'])} lines), test = the others' "
        f"({len(sets['test'])} lines); T = {int(np.median(frames))} frames median. Decoder: "
        f"the pipeline's cause reader (lexicon `{getattr(reader.lexicon, 'ref', None)}`, "
        f"bigram, beam {reader.beam_width}, n-best {reader.n_best}, default pruning) with "
        "the OOV penalty per letter (None: words outside the lexicon forbidden) and the "
        f"bigram LM weight of the cell; defaults (`PipelineConfig`): OOV penalty "
        f"{default[0]}, LM weight {default[1]:g}. A cell: CER / WER of the dev lines "
        "(`medocr.evaluate.metrics`), lowest of each in bold. Lexicon columns, on dev at "
        f"LM weight {default[1]:g}: the share of the words read that the lexicon lacks, "
        "the share of the truth words it lacks (the same for every row), and how many of "
        f"those the reading of their line holds. Mean {ms:.1f} CPU ms per line and cell; "
        f"load average at the end: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} on "
        f"{os.cpu_count()} cores.\n\n"
        + "\n".join(table)
        + "\n\nCells chosen on dev, judged on test (a line is better / worse when its "
        "CER is lower / higher than at the default):\n\n"
        + "\n".join(choice)
        + (
            f"\n\nThe `medocr demo` certificate (seed {DEMO_SEED}, index {DEMO_INDEX}), its "
            "cause lines read at every cell:\n\n" + demo
            if demo
            else ""
        )
    )


@dataclass(frozen=True)
class SectionMode:
    """A mode of this script that records its own RESULTS.md section."""

    run: Callable[[argparse.Namespace], str]
    section: str
    title: str
    certificates: int
    cache: str


#: ``--cause-grid`` and ``--pruning-loss`` (the first given wins), with their defaults.
SECTION_MODES = {
    "cause_grid": SectionMode(
        cause_grid,
        "decode-cause-grid",
        "Cause lines: OOV penalty x LM weight",
        CAUSE_GRID_CERTIFICATES,
        f"{CACHE_FOLDER}/cause-grid-matrices.npz",
    ),
    "pruning_loss": SectionMode(
        pruning_loss,
        "decode-pruning",
        "Word beam pruning loss",
        170,
        f"{CACHE_FOLDER}/pruning-matrices.npz",
    ),
}


def run_section(mode: SectionMode, args: argparse.Namespace) -> None:
    """Run `mode` with its defaults where `args` leaves them open; print and record it."""
    args.certificates = mode.certificates if args.certificates is None else args.certificates
    args.cache = args.cache or mode.cache
    body = mode.run(args)
    print(body)
    if not args.no_record:
        record(mode.section, mode.title, body)
        print("recorded in benchmarks/RESULTS.md")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=400, help="accuracy test lines")
    parser.add_argument("--speed-lines", type=int, default=100, help="lines per T for speed")
    parser.add_argument("--beam", type=int, default=16)
    parser.add_argument("--sweep", action="store_true", help="tune OOV penalty / LM weight")
    parser.add_argument("--no-record", action="store_true", help="print only")
    parser.add_argument(
        "--pruning-loss", action="store_true", help="only the pruning loss on real lines"
    )
    parser.add_argument("--per-set", type=int, default=400, help="lines per set (pruning loss)")
    parser.add_argument(
        "--certificates",
        type=int,
        default=None,
        help="synthetic certificates cut for causes (default 170 for the pruning loss, "
        f"{CAUSE_GRID_CERTIFICATES} for the cause grid)",
    )
    parser.add_argument("--seed", type=int, default=2027, help="line draw and synthesis seed")
    parser.add_argument("--data", default=None, help="data folder (default $MEDOCR_DATA)")
    parser.add_argument(
        "--cache",
        default=None,
        help=f"recognizer matrices cache (default {CACHE_FOLDER}/pruning-matrices.npz, "
        "cause-grid-matrices.npz for the cause grid)",
    )
    parser.add_argument(
        "--oov-none", action="store_true", help="pruning loss also with OOV words forbidden"
    )
    parser.add_argument(
        "--check-reference",
        type=int,
        default=0,
        metavar="N",
        help="compare the reference with min_char_prob=0 on N lines per set (slow; "
        "the pipeline's OOV penalty only)",
    )
    parser.add_argument(
        "--cause-grid",
        action="store_true",
        help="only the OOV penalty x LM weight grid on pipeline-cut cause lines",
    )
    parser.add_argument(
        "--no-demo",
        dest="demo",
        action="store_false",
        help="cause grid without the demo certificate's lines",
    )
    args = parser.parse_args()
    for flag, mode in SECTION_MODES.items():
        if getattr(args, flag):
            run_section(mode, args)
            return

    alphabet = Alphabet(tuple(sorted(FRENCH_CHARSET)))
    simulator = Simulator(alphabet)
    lexicon, lm, source = load_word_source()
    words = canonical_words(lexicon)
    padded = pseudo_words(words, LEXICON_SIZE)
    print(f"lexicon: {source}, {len(words)} words; padded to {len(padded)} for speed")
    memory = trie_memory(padded, alphabet)
    print(f"trie: {memory}")

    sections = []
    sweep_table = ""
    if args.sweep:
        sweep_table = sweep(alphabet, lexicon, lm, args.lines, args.beam, simulator)

    test = sample_lines(TEST_SEED, args.lines)
    forms = surface_forms(lexicon, alphabet)
    held_forms, oov_rate = hold_out(forms, test, 0.05, TEST_SEED)
    full = accuracy(alphabet, lexicon, lm, test, TEST_SEED, args.beam, simulator)
    held = accuracy(alphabet, held_forms, lm, test, TEST_SEED, args.beam, simulator)
    acc_rows = [
        "| decoder | CER | WER | CER, 5% OOV | WER, 5% OOV |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in full:
        (c1, w1), (c2, w2) = full[name], held[name]
        acc_rows.append(f"| {name} | {c1:.2%} | {w1:.2%} | {c2:.2%} | {w2:.2%} |")
        print(acc_rows[-1])
    big = accuracy(alphabet, padded, lm, test, TEST_SEED, args.beam, simulator)
    for name in ("word beam", "word beam + bigram"):
        if name in big:
            cer, wer = big[name]
            acc_rows.append(f"| {name}, {len(padded):,}-word lexicon | {cer:.2%} | {wer:.2%} | | |")
            print(acc_rows[-1])
    reduction = 1 - full["word beam"][1] / full["greedy"][1]
    reduction_held = 1 - held["word beam"][1] / held["greedy"][1]

    loop_ns = python_speed()
    notes, speeds = speed(alphabet, padded, lm, args.speed_lines, args.beam, simulator, lexicon)
    loop_ns = (loop_ns + python_speed()) / 2
    names = list(dict.fromkeys(name for name, _ in speeds))
    speed_rows = [
        "| decoder | T=64 median | T=64 p95 | T=128 median | T=128 p95 |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in names:
        cells = []
        for n_frames in (64, 128):
            med, p95 = speeds[(name, n_frames)]
            cells += [f"{med:.3f}", "" if np.isnan(p95) else f"{p95:.3f}"]
        speed_rows.append(f"| {name} | " + " | ".join(cells) + " |")
        print(speed_rows[-1])
    verdicts = []
    for name, target in SPEED_TARGETS.items():
        worst = max(speeds[(name, 64)][0], speeds[(name, 128)][0])
        verdicts.append(
            f"{name} <= {target:g} ms median: **{'met' if worst <= target else 'MISSED'}** "
            f"(worst {worst:.3f} ms)"
        )
    verdicts.append(
        f"word beam WER reduction over greedy >= {WER_REDUCTION_TARGET:.0%}: "
        f"**{'met' if reduction >= WER_REDUCTION_TARGET else 'MISSED'}** ({reduction:.1%}; "
        f"{reduction_held:.1%} with 5% OOV tokens)"
    )
    sections.append(
        f"Lexicon: {source}, {len(words):,} words. Speed uses it padded to {len(padded):,} "
        "words with trigram pseudo-words (a plain word list: surface variants made by "
        f"`medocr.decode.surface_forms`). Alphabet: {alphabet.num_classes} classes (blank "
        f"last), beam width {args.beam}, one thread, one line per call: CPU milliseconds "
        "per line (fastest of 3 calls), median and p95 over the lines. This machine ran a "
        f"plain Python loop at {loop_ns:.0f} ns per iteration during the run (other work "
        "on the shared machine slows it).\n\n"
        + "\n".join(speed_rows)
        + ("\n\n" + " ".join(notes) if notes else "")
        + f"\n\nAccuracy on {len(test)} simulated lines (seed {TEST_SEED}; recognizer "
        "simulation in the script docstring); OOV setting: words removed from the lexicon "
        f"until {oov_rate:.1%} of the test tokens are unknown. Defaults: OOV penalty "
        f"{DEFAULT_OOV_PENALTY} per letter, LM weight {DEFAULT_LM_WEIGHT}.\n\n"
        + "\n".join(acc_rows)
        + "\n\n"
        + "\n".join(f"- {v}" for v in verdicts)
        + f"\n\nPrefix trie of the {memory['words']:,}-word lexicon: {memory['forms']:,} "
        f"surface forms, {memory['nodes']:,} nodes, {memory['current_mib']:.1f} MiB held "
        f"(tracemalloc; `LexiconTrie.nbytes()` {memory['nbytes_mib']:.1f} MiB; peak "
        f"{memory['peak_mib']:.1f} MiB while building), built in {memory['seconds']:.2f} s "
        "(once per lexicon and alphabet, then cached)."
    )
    if sweep_table:
        sections.append(sweep_table)
    body = "\n\n".join(sections)
    if not args.no_record:
        record("decode", "CTC decoders: speed and accuracy (`medocr.decode`)", body)
        print("recorded in benchmarks/RESULTS.md")


if __name__ == "__main__":
    main()
