"""All reading methods side by side on the same data (the project's headline table).

Data are cut once into *items* (a certificate field with its framed line images, or one
line of a line set, with its truth); each method then reads every item:

- ``CRNN greedy`` / ``CRNN beam`` / ``CRNN word beam`` / ``CRNN word beam + bigram``:
  the CTC recognizer's probabilities (computed once) with each decoder; for an attention
  recognizer ``Attention greedy`` ... ``Attention word beam + bigram``: its encoded lines
  (computed once) with the sequence decoders of the same names
  (:mod:`medocr.decode.seq2seq`, one decoder-step call per character);
- ``medocr pipeline (per-kind decoders)`` (``medocr pipeline, attention (per-kind
  decoders)``): the field readers of :class:`~medocr.pipeline.Pipeline`, each kind's
  :meth:`~medocr.fields.TextReader.decode` (word beam + bigram for causes, grammars for
  intervals and dates) — certificates only;
- the segmentation path with each character classifier given (HOG + LightGBM, CNN):
  characters cut from the line, classified, matched to the lexicon;
- ``Tesseract 5 fra``: on at most ``limit`` items spread evenly (it reads ~4 lines/s).

Each method yields :class:`~medocr.evaluate.fields.FieldOutcome` records (with the
method's own confidence) and its reading time; :func:`comparison_rows` turns them into
CER, WER, exact match, automation rate at 1% error and lines/s.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medocr.evaluate.fields import FieldOutcome, summarize
from medocr.evaluate.run import certificate_images, truth_texts

TEXT_KINDS = ("cause", "interval", "date", "text")


@dataclass
class Item:
    """One thing to read: a field's line images (or one line) and its truth."""

    document: str
    field: str
    kind: str
    truth: str
    lines: list[np.ndarray]


@dataclass
class MethodRun:
    """A method's outcomes on a data set and the seconds it spent reading."""

    name: str
    outcomes: list[FieldOutcome]
    seconds: float
    lines: int
    note: str = ""


def certificate_items(folder: str | Path, pipeline: Any, limit: int | None = None) -> list[Item]:
    """Cut the text fields of annotated certificates into framed lines, as reading does."""
    from medocr.io import read_image

    items = []
    for path in certificate_images(folder, limit):
        truth = truth_texts(json.loads(path.with_suffix(".json").read_text("utf-8")))
        for crop, lines in pipeline.field_lines(read_image(path)):
            if crop.kind in TEXT_KINDS:
                items.append(Item(path.stem, crop.name, crop.kind, truth[crop.name], lines))
    return items


def line_items(jsonl: str | Path, limit: int | None = None) -> list[Item]:
    """One item per row of a JSONL line set."""
    from medocr.dataset.readers import load_line, read_line_set

    records = read_line_set(jsonl).records
    records = records[:limit] if limit else records
    return [
        Item(r.document, f"line{i}", "line", r.text, [load_line(r)]) for i, r in enumerate(records)
    ]


def _outcome(item: Item, text: str, confidence: float) -> FieldOutcome:
    route = "accept" if confidence >= 0.9 else "review"
    return FieldOutcome(item.document, item.field, item.kind, item.truth, text, confidence, route)


#: Row-name prefix and pipeline row of each recognizer family (``recognizer.family``).
FAMILY_ROWS = {
    "ctc": ("CRNN", "medocr pipeline (per-kind decoders)"),
    "attention": ("Attention", "medocr pipeline, attention (per-kind decoders)"),
}


def family_decoders(
    family: str, lexicon: Any, beam_width: int = 16, n_best: int = 5
) -> dict[str, Callable[[Any], Any]]:
    """Return the four decoders of a recognizer family, each a function of one line's output.

    Parameters
    ----------
    family : {"ctc", "attention"}
        ``recognizer.family``: CTC decoders take :class:`~medocr.types.FrameProbs`, the
        attention ones an :class:`~medocr.types.EncodedLine`.
    lexicon : Lexicon
        Words of the word beam searches (and its ``bigrams`` for the last one).
    beam_width, n_best : int, optional
        Of the three beam searches.

    Returns
    -------
    dict
        ``greedy``, ``beam``, ``word beam``, ``word beam + bigram``: functions returning a
        :class:`~medocr.types.Hypothesis`, in that order.

    Raises
    ------
    ValueError
        Unknown `family`.
    """
    from medocr import decode

    searches = {
        "ctc": (decode.greedy, decode.beam_search, decode.word_beam_search),
        "attention": (
            decode.attention_greedy,
            decode.attention_beam_search,
            decode.attention_word_beam_search,
        ),
    }
    if family not in searches:
        raise ValueError(f"unknown recognizer family {family!r}; expected one of ctc, attention")
    first, beam, word = searches[family]
    return {
        "greedy": lambda p: first(p),
        "beam": lambda p: beam(p, beam_width, n_best),
        "word beam": lambda p: word(p, lexicon, beam_width, n_best=n_best),
        "word beam + bigram": lambda p: word(
            p, lexicon, beam_width, lm=lexicon.bigrams, n_best=n_best
        ),
    }


def crnn_runs(items: Sequence[Item], pipeline: Any, *, with_pipeline: bool) -> list[MethodRun]:
    """Every decoder of the pipeline's recognizer (and its per-kind decoding) on one output.

    The recognizer (either family, ``pipeline.recognizer.family``) reads every line
    once; each decoder of :func:`family_decoders` then decodes that output, named
    ``"CRNN greedy"`` ... for a CTC recognizer and ``"Attention greedy"`` ... for an
    attention one (then the pipeline row of :data:`FAMILY_ROWS` when `with_pipeline`).
    A run's seconds are the recognizer's plus its decoder's.
    """
    lexicon, recognizer = pipeline.lexicon, pipeline.recognizer  # loaded before timing
    decoders = family_decoders(recognizer.family, lexicon)
    prefix, pipeline_row = FAMILY_ROWS[recognizer.family]
    named = {f"{prefix} {name}": _any_kind(decode) for name, decode in decoders.items()}
    if with_pipeline:
        readers = pipeline.readers  # made before timing
        named[pipeline_row] = lambda output, kind: readers[kind].decode(output)
    images = [line for item in items for line in item.lines]
    outputs, seconds = _recognized(recognizer, images, list(decoders.values()))
    return [_decoded_run(name, items, outputs, decode, seconds) for name, decode in named.items()]


def _any_kind(decode: Callable[[Any], Any]) -> Callable[[Any, str], Any]:
    return lambda output, kind: decode(output)


def _recognized(
    recognizer: Any, images: Sequence[np.ndarray], warm_ups: Sequence[Callable[[Any], Any]]
) -> tuple[list[Any], float]:
    """Return the recognizer's output for every line and its seconds.

    The first line is read and decoded by each of `warm_ups` before timing: graphs are
    traced and lexicon tries built then, not in any method's time.
    """
    if not images:
        return [], 0.0
    first = recognizer.predict(images[:1])[0]
    for decode in warm_ups:
        decode(first)
    start = time.perf_counter()
    outputs = recognizer.predict(images)
    return outputs, time.perf_counter() - start


def _decoded_run(
    name: str,
    items: Sequence[Item],
    outputs: Sequence[Any],
    decode: Callable[[Any, str], Any],
    recognition: float,
) -> MethodRun:
    """Decode every item's lines (in order in `outputs`) into one run of `name`."""
    from medocr.fields import hypothesis_confidence

    outcomes, cursor = [], 0
    start = time.perf_counter()
    for item in items:
        hyps = [decode(p, item.kind) for p in outputs[cursor : cursor + len(item.lines)]]
        cursor += len(item.lines)
        text = " ".join(h.text for h in hyps if h.text)
        confidence = float(np.prod([hypothesis_confidence(h) for h in hyps])) if hyps else 1.0
        outcomes.append(_outcome(item, text, confidence))
    seconds = recognition + time.perf_counter() - start
    return MethodRun(name, outcomes, seconds, len(outputs))


def segmentation_run(items: Sequence[Item], classifier: Any, lexicon: Any, name: str) -> MethodRun:
    """Read every line by the segmentation path (characters, `classifier`, lexicon search)."""
    from medocr.classify.segpath import read_line_by_chars
    from medocr.fields import hypothesis_confidence

    outcomes, lines = [], 0
    start = time.perf_counter()
    for item in items:
        hyps = [read_line_by_chars(image, classifier, lexicon) for image in item.lines]
        lines += len(item.lines)
        text = " ".join(h.text for h in hyps if h.text)
        confidence = float(np.prod([hypothesis_confidence(h) for h in hyps])) if hyps else 1.0
        outcomes.append(_outcome(item, text, confidence))
    return MethodRun(name, outcomes, time.perf_counter() - start, lines)


def tesseract_run(items: Sequence[Item], limit: int) -> MethodRun | None:
    """Tesseract 5 (``fra``, ``--psm 7``) on `limit` items spread evenly, or None if absent."""
    try:
        import pytesseract

        pytesseract.get_tesseract_version()
    except Exception:  # noqa: BLE001 - not installed: the row is skipped with a message
        return None
    step = max(1, -(-len(items) // max(1, limit)))
    chosen = list(items[::step])[:limit]
    outcomes, lines = [], 0
    start = time.perf_counter()
    for item in chosen:
        texts, confidences = [], []
        for image in item.lines:
            data = pytesseract.image_to_data(
                image, lang="fra", config="--psm 7", output_type=pytesseract.Output.DICT
            )
            words = [(w, float(c)) for w, c in zip(data["text"], data["conf"], strict=True)
                     if w.strip()]  # fmt: skip
            texts.append(" ".join(w for w, _ in words))
            confidences.append(min((c for _, c in words), default=100.0) / 100.0)
            lines += 1
        text = " ".join(t for t in texts if t)
        outcomes.append(_outcome(item, text, max(0.0, float(np.prod(confidences)))))
    note = f"every {step}th item ({len(chosen)})" if len(chosen) < len(items) else ""
    return MethodRun("Tesseract 5 fra psm 7", outcomes, time.perf_counter() - start, lines, note)


def comparison_rows(runs: Sequence[MethodRun]) -> list[dict[str, Any]]:
    """CER, WER, exact, automation at 1% error and lines/s of each run."""
    rows = []
    for run in runs:
        scores = summarize(run.outcomes)
        rows.append({
            "method": run.name,
            "items": len(run.outcomes),
            "cer": scores["cer"],
            "wer": scores["wer"],
            "exact": scores["exact"],
            "automation_1pct": scores["automation"]["0.01"]["share"],
            "lines_per_s": run.lines / run.seconds if run.seconds > 0 else float("nan"),
            "note": run.note,
        })  # fmt: skip
    return rows


def markdown_table(title: str, rows: Sequence[dict[str, Any]]) -> str:
    """Format the rows as a Markdown table under a bold title."""
    out = [
        f"**{title}**",
        "",
        "| method | items | CER | WER | exact | automation at 1% error | lines/s | note |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['method']} | {r['items']} | {r['cer']:.1%} | {r['wer']:.1%} | "
            f"{r['exact']:.1%} | {r['automation_1pct']:.1%} | {r['lines_per_s']:.0f} | "
            f"{r['note']} |"
        )
    return "\n".join(out)
