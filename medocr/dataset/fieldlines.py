"""Training lines cut from annotated certificates exactly as the reading pipeline cuts them.

For each certificate image with a ground-truth JSON beside it (``medocr synth`` output, or
annotated scans in the same ``fields[].lines[].text`` schema), the page is registered and
each text field cut into lines by :meth:`medocr.pipeline.Pipeline.field_lines`. A field
whose number of cut lines equals its number of truth lines gives one training line per
line; other fields are counted and left out (their alignment is unknown).

Output: ``OUT/images/<cert>-<field>-<line>.png`` and ``OUT/lines.jsonl`` rows
``{"image", "text", "document", "field"}``, the format ``medocr train recognizer --data``
reads. The certificate id is the ``document`` (all lines of a certificate share a writer).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medocr.config import PipelineConfig
from medocr.fileio import write_atomic

TEXT_KINDS = ("cause", "interval", "date", "text")


@dataclass
class FieldLinesSummary:
    """Counts of a :func:`write_field_lines` run."""

    certificates: int = 0
    lines: int = 0
    fields_skipped: int = 0
    failed: list[str] = field(default_factory=list)


def _truth_lines(truth: dict[str, Any]) -> dict[str, list[str]]:
    return {
        f["name"]: [line["text"] for line in f.get("lines", []) if line.get("text")]
        for f in truth["fields"]
        if f["kind"] in TEXT_KINDS
    }


_PIPELINES: dict[str, Any] = {}


def cached_pipeline(config_json: str) -> Any:
    """Return the :class:`~medocr.pipeline.Pipeline` of a configuration (JSON), one per process.

    Raises
    ------
    ValueError
        The JSON is not a valid :class:`PipelineConfig`.
    """
    from medocr.pipeline import Pipeline

    pipeline = _PIPELINES.get(config_json)
    if pipeline is None:
        pipeline = Pipeline(PipelineConfig.from_dict(json.loads(config_json)))
        _PIPELINES[config_json] = pipeline
    return pipeline


def line_png(image: Any) -> bytes:
    """Return the PNG bytes of a uint8 ``(h, w)`` line image, as training lines are stored."""
    import cv2

    return cv2.imencode(".png", image)[1].tobytes()


def jsonl_bytes(rows: list[dict[str, Any]]) -> bytes:
    """Return a JSONL line set (one row per line, UTF-8, non-ASCII kept) as bytes."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def cut_certificate(image_path: str, config_json: str) -> tuple[list[tuple], int, str | None]:
    """Cut one certificate: ``([(stem, field, line, text, png)], fields_skipped, error)``."""
    from medocr.io import read_image

    pipeline = cached_pipeline(config_json)
    path = Path(image_path)
    try:
        truth = _truth_lines(json.loads(path.with_suffix(".json").read_text("utf-8")))
        cut = pipeline.field_lines(read_image(path))
    except Exception as exc:  # noqa: BLE001 - one certificate never stops the run
        return [], 0, f"{path}: {type(exc).__name__}: {exc}"
    out, skipped = [], 0
    for crop, lines in cut:
        texts = truth.get(crop.name, [])
        if not texts and not lines:
            continue
        if len(texts) != len(lines):
            skipped += 1
            continue
        for index, (text, image) in enumerate(zip(texts, lines, strict=True)):
            out.append((path.stem, crop.name, index, text, line_png(image)))
    return out, skipped, None


def _outcomes(paths: list[Path], config_json: str, workers: int) -> Iterator[tuple]:
    if workers <= 1:
        for path in paths:
            yield cut_certificate(str(path), config_json)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        yield from pool.map(cut_certificate, map(str, paths), [config_json] * len(paths))


def write_field_lines(
    certificates: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    config: PipelineConfig | None = None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> FieldLinesSummary:
    """Write the pipeline-cut lines of annotated certificates as a JSONL line set.

    Parameters
    ----------
    certificates : str or PathLike
        Folder of ``*.png`` / ``*.jpg`` / ``*.tif`` images, each with a ``.json`` truth.
    out : str or PathLike
        Output folder (created); ``lines.jsonl`` is written last, atomically.
    config : PipelineConfig, optional
        The reading configuration whose cutting to reproduce (template, padding...).
    workers : int
        Local processes.
    progress : callable, optional
        Called with ``(done, total)`` after each certificate.

    Returns
    -------
    FieldLinesSummary
    """
    source, target = Path(certificates), Path(out)
    images = sorted(
        p
        for p in source.iterdir()
        if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff")
        and p.with_suffix(".json").exists()
    )
    (target / "images").mkdir(parents=True, exist_ok=True)
    config_json = json.dumps((config or PipelineConfig()).to_dict(), sort_keys=True)
    summary, rows = FieldLinesSummary(), []
    for done, (lines, skipped, error) in enumerate(_outcomes(images, config_json, workers), 1):
        if error is not None:
            summary.failed.append(error)
        else:
            summary.certificates += 1
        summary.fields_skipped += skipped
        for stem, field_name, index, text, png in lines:
            image = f"images/{stem}-{field_name}-{index}.png"
            write_atomic(target / image, png)
            rows.append({"image": image, "text": text, "document": stem, "field": field_name})
        if progress is not None:
            progress(done, len(images))
    summary.lines = len(rows)
    write_atomic(target / "lines.jsonl", jsonl_bytes(rows))
    return summary
