"""Run a reading method over annotated data and collect :class:`FieldOutcome` records.

Three kinds of data:

- **certificates**: a folder of images, each with its ground-truth ``.json`` beside it
  (``medocr synth`` output, or annotated scans in the same schema: ``fields[]`` with
  ``name``, ``kind``, ``text`` and, for checkboxes, ``value``);
- **line sets**: a JSONL file of ``{"image", "text", "document"}`` rows (the training
  format), read line by line with the recognizer and a decoder;
- **results databases** with operator corrections (``medocr review``): each page with a
  correction is read again and the corrected fields scored, the operators' texts being
  the truth (:func:`evaluate_corrections`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medocr.evaluate.fields import FieldOutcome

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass
class EvaluationRun:
    """Outcomes of one method on one dataset, and where to find the evidence.

    Parameters
    ----------
    outcomes : list of FieldOutcome
        One per field (or line).
    boxes : dict
        ``(document, field) -> (image path, (x0, y0, x1, y1))`` to show a field's crop.
    seconds : float
        Reading time (excluding the truth comparison).
    units : int
        Certificates (or lines) read.
    errors : list of str
        Documents that could not be read.
    """

    outcomes: list[FieldOutcome] = field(default_factory=list)
    boxes: dict[tuple[str, str], tuple[str, tuple[int, int, int, int]]] = field(
        default_factory=dict
    )
    seconds: float = 0.0
    units: int = 0
    errors: list[str] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)


def truth_texts(truth: dict[str, Any]) -> dict[str, str]:
    """Field name -> expected text (``"X"``/``""`` for checkboxes, lines joined by a space)."""
    out = {}
    for item in truth["fields"]:
        if item["kind"] == "checkbox":
            out[item["name"]] = "X" if item.get("value") else ""
        else:
            out[item["name"]] = " ".join(item.get("text", "").split())
    return out


def certificate_images(folder: str | Path, limit: int | None = None) -> list[Path]:
    """Images of a folder that have a ``.json`` truth beside them, sorted."""
    images = sorted(
        p
        for p in Path(folder).iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and p.with_suffix(".json").exists()
    )
    return images[:limit] if limit else images


def evaluate_certificates(
    folder: str | Path,
    pipeline: Any,
    *,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvaluationRun:
    """Read annotated certificates with a :class:`~medocr.pipeline.Pipeline`.

    Raises
    ------
    ValueError
        The folder holds no image with a truth file.
    """
    images = certificate_images(folder, limit)
    if not images:
        raise ValueError(f"{folder}: no certificate image with a .json truth beside it")
    run = EvaluationRun()
    for done, path in enumerate(images, 1):
        truth = truth_texts(json.loads(path.with_suffix(".json").read_text("utf-8")))
        result = _timed_read(run, str(path), lambda p=path: pipeline.read(p)[0])
        if result is None:
            continue
        for item in result.fields:
            expected = truth.get(item.name, "")
            run.outcomes.append(FieldOutcome(
                path.stem, item.name, item.kind, expected, item.text, item.confidence,
                item.route,
            ))  # fmt: skip
            if item.bbox is not None:
                run.boxes[(path.stem, item.name)] = (str(path), item.bbox)
        if progress is not None:
            progress(done, len(images))
    return run


def _timed_read(run: EvaluationRun, name: str, read: Callable[[], Any]) -> Any:
    """Read one page into `run`'s time, units and stage totals; None (error kept) if it fails."""
    start = time.perf_counter()
    try:
        result = read()
    except Exception as exc:  # noqa: BLE001 - a failed page counts, the run goes on
        run.errors.append(f"{name}: {type(exc).__name__}: {exc}")
        return None
    finally:
        run.seconds += time.perf_counter() - start
    run.units += 1
    for stage, seconds in result.timings.items():
        run.stages[stage] = run.stages.get(stage, 0.0) + seconds
    return result


def _line_batches(path: Path, limit: int | None, size: int = 64) -> Iterator[list[Any]]:
    from medocr.dataset.readers import read_line_set

    records = read_line_set(path).records
    records = records[:limit] if limit else records
    for start in range(0, len(records), size):
        yield records[start : start + size]


def evaluate_lines(
    path: str | Path,
    recognizer: Any,
    decode: Callable[[Any], Any],
    *,
    threshold: float = 0.9,
    limit: int | None = None,
) -> EvaluationRun:
    """Read a JSONL line set with a recognizer and a decoder (``FrameProbs -> Hypothesis``)."""
    from medocr.dataset.readers import load_line
    from medocr.pipeline import hypothesis_confidence

    run = EvaluationRun()
    for batch in _line_batches(Path(path), limit):
        images = [load_line(r) for r in batch]
        start = time.perf_counter()
        hypotheses = [decode(p) for p in recognizer.predict(images)]
        run.seconds += time.perf_counter() - start
        for index, (record, hyp) in enumerate(zip(batch, hypotheses, strict=True)):
            confidence = hypothesis_confidence(hyp)
            route = "accept" if confidence >= threshold else "review"
            name = f"line{run.units + index}"
            run.outcomes.append(FieldOutcome(
                record.document or name, name, "line", record.text, hyp.text, confidence, route
            ))  # fmt: skip
            run.boxes[(record.document or name, name)] = (str(record.image), (0, 0, 0, 0))
        run.units += len(batch)
    return run


def is_results_db(path: str | Path) -> bool:
    """Whether `path` is a SQLite file (a results database), by its first 16 bytes."""
    try:
        with open(path, "rb") as stream:
            return stream.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def evaluate_corrections(
    db: str | Path,
    pipeline: Any,
    *,
    images: str | Path | None = None,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvaluationRun:
    """Read again the corrected pages of a results database; operators' texts are the truth.

    Every page with at least one operator decision giving a text is read with `pipeline`;
    only the fields with such a decision are scored (the latest decision per field;
    ``illegible`` left out). ``FieldOutcome.document`` is ``path#page``. The database is
    only read.

    Parameters
    ----------
    db : str or Path
        A results database with corrections (``medocr review``).
    pipeline : Pipeline
        The reading method to score.
    images : str or Path, optional
        Where the scans are now (default: the folder the batch recorded).
    limit : int, optional
        Read at most this many pages.
    progress : callable, optional
        Called with ``(done, total)`` pages after each page.

    Returns
    -------
    EvaluationRun
        ``units`` counts the pages read; a page that cannot be read is in ``errors``.

    Raises
    ------
    medocr.review.ReviewError
        Not a results database, or no correction giving a text in it.
    """
    from medocr.review.store import load_page
    from medocr.review.training import read_operator_truth

    truth = read_operator_truth(db)
    pages = list(truth.pages().items())
    pages = pages[:limit] if limit else pages
    run = EvaluationRun()
    for done, ((path, page_index), corrections) in enumerate(pages, 1):
        document, source = f"{path}#{page_index}", truth.source(path, images)
        read = lambda s=source, i=page_index: pipeline.read_page(load_page(s, i))  # noqa: E731
        result = _timed_read(run, document, read)
        if result is None:
            continue
        decided = {c.name: c.text for c in corrections}
        for item in result.fields:
            if item.name not in decided:
                continue
            run.outcomes.append(FieldOutcome(
                document, item.name, item.kind, decided[item.name], item.text,
                item.confidence, item.route,
            ))  # fmt: skip
            if item.bbox is not None:
                run.boxes[(document, item.name)] = (str(source), item.bbox)
        if progress is not None:
            progress(done, len(pages))
    return run
