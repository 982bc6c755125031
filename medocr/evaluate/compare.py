"""All reading methods side by side on the same data (the project's headline table).

Data are cut once into *items* (a certificate field with its framed line images, or one
line of a line set, with its truth); each method then reads every item:

- ``CRNN greedy`` / ``CRNN beam`` / ``CRNN word beam`` / ``CRNN word beam + bigram``:
  the recognizer's probabilities (computed once) with each decoder;
- ``medocr pipeline``: the field readers of :class:`~medocr.pipeline.Pipeline`, each
  kind's :meth:`~medocr.fields.TextReader.decode` (word beam + bigram for causes, grammars
  for intervals and dates) — certificates only;
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


def crnn_runs(items: Sequence[Item], pipeline: Any, *, with_pipeline: bool) -> list[MethodRun]:
    """Every CRNN decoder (and the pipeline's per-kind decoding) on the same probabilities."""
    from medocr.decode import beam_search, greedy, word_beam_search
    from medocr.fields import hypothesis_confidence

    lexicon, recognizer = pipeline.lexicon, pipeline.recognizer  # loaded before timing
    images = [line for item in items for line in item.lines]
    if images:
        recognizer.predict(images[:1])  # first call traces the graph: not timed
    start = time.perf_counter()
    probs = recognizer.predict(images) if images else []
    recognition = time.perf_counter() - start
    decoders: dict[str, Callable[[Any, str], Any]] = {
        "CRNN greedy": lambda p, kind: greedy(p),
        "CRNN beam": lambda p, kind: beam_search(p, 16, 5),
        "CRNN word beam": lambda p, kind: word_beam_search(p, lexicon, 16, n_best=5),
        "CRNN word beam + bigram": lambda p, kind: word_beam_search(
            p, lexicon, 16, lm=lexicon.bigrams, n_best=5
        ),
    }
    if with_pipeline:
        readers = pipeline.readers  # made before timing
        decoders["medocr pipeline (per-kind decoders)"] = lambda p, kind: readers[kind].decode(p)
    runs = []
    for name, decode in decoders.items():
        outcomes, cursor = [], 0
        start = time.perf_counter()
        for item in items:
            hyps = [decode(p, item.kind) for p in probs[cursor : cursor + len(item.lines)]]
            cursor += len(item.lines)
            text = " ".join(h.text for h in hyps if h.text)
            confidence = float(np.prod([hypothesis_confidence(h) for h in hyps])) if hyps else 1.0
            outcomes.append(_outcome(item, text, confidence))
        seconds = recognition + time.perf_counter() - start
        runs.append(MethodRun(name, outcomes, seconds, len(images)))
    return runs


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
