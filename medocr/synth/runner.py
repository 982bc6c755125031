"""Write many synthetic certificates to a folder, in parallel, resumably.

Each certificate ``cert-NNNNNN`` gets an image and a ground-truth JSON (written last,
atomically: its presence means the certificate is complete). A ``synth.json`` manifest
records the settings; rerunning with the same settings skips finished certificates.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from medocr._version import __version__
from medocr.errors import MedocrError
from medocr.fileio import write_atomic
from medocr.synth.certificate import certificate_id, default_vocabulary, generate_certificate
from medocr.synth.fonts import find_handwriting_fonts
from medocr.templates import Template, load_template

IMAGE_FORMATS = ("png", "jpg")
MANIFEST = "synth.json"


@dataclass
class SynthSummary:
    """What a :func:`synthesize` run did."""

    out_dir: Path
    written: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0


def synthesize(
    out_dir: str | Path,
    count: int,
    *,
    seed: int = 0,
    start: int = 0,
    template: str | Path | Template | None = None,
    workers: int = 1,
    image_format: str = "png",
    overwrite: bool = False,
    progress: Callable[[int, int, float], None] | None = None,
    data_dir: str | Path | None = None,
) -> SynthSummary:
    """Generate certificates ``start .. start + count - 1`` into `out_dir`.

    Parameters
    ----------
    out_dir : str or Path
        Output folder (created if needed).
    count : int
        Number of certificates.
    seed : int
        Run seed; certificate ``i`` depends only on ``(seed, i)``, not on `workers`.
    start : int
        Index of the first certificate (to extend a run).
    template : str, Path, Template or None
        Template id, file, or object; default French death certificate.
    workers : int
        Worker processes (1 = in this process).
    image_format : {"png", "jpg"}
        PNG is lossless (scan artefacts are already in the pixels).
    overwrite : bool
        Regenerate existing certificates, and accept a folder made with other settings.
    progress : callable, optional
        ``progress(done, total, seconds)`` after each certificate.
    data_dir : str or Path, optional
        Data folder whose ``cim10/`` labels add words to the built-in vocabulary; default
        ``$MEDOCR_DATA``. Without either, only the vocabulary shipped in the package is
        used, so a seed gives the same certificates on every machine.

    Returns
    -------
    SynthSummary

    Raises
    ------
    MedocrError
        Bad arguments, or `out_dir` holds a run made with other settings.
    """
    if count < 0 or start < 0 or workers < 1:
        raise MedocrError(
            f"count ({count}) and start ({start}) must be >= 0, workers ({workers}) >= 1"
        )
    if image_format not in IMAGE_FORMATS:
        raise MedocrError(f"image format {image_format!r} is not one of {IMAGE_FORMATS}")
    tpl = template if isinstance(template, Template) else load_template(template)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = os.fspath(data_dir) if data_dir is not None else os.environ.get("MEDOCR_DATA", "")
    settings = _settings(tpl, seed, image_format, data)
    _check_manifest(out, settings, overwrite)
    summary = SynthSummary(out)
    todo = []
    for index in range(start, start + count):
        if not overwrite and (out / f"{certificate_id(index)}.json").exists():
            summary.skipped.append(index)
        else:
            todo.append(index)
    began = time.perf_counter()
    jobs = (
        _run_local(todo, out, seed, tpl, image_format, data)
        if workers == 1
        else _run_pool(todo, out, seed, tpl, image_format, data, workers)
    )
    for done, (index, error) in enumerate(jobs, start=1):
        if error is None:
            summary.written.append(index)
        else:
            summary.failed[index] = error
        if progress is not None:
            progress(done, len(todo), time.perf_counter() - began)
    summary.seconds = time.perf_counter() - began
    return summary


def _settings(template: Template, seed: int, image_format: str, data: str) -> dict[str, Any]:
    return {
        "schema": "medocr-synth-run/1",
        "medocr_version": __version__,
        "seed": seed,
        "template": template.ref,
        "vocabulary": default_vocabulary(data).source,
        "fonts": [f.name for f in find_handwriting_fonts()],
        "image_format": image_format,
    }


def _check_manifest(out: Path, settings: dict[str, Any], overwrite: bool) -> None:
    path = out / MANIFEST
    if path.exists() and not overwrite:
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise MedocrError(
                f"{path}: unreadable synth manifest ({exc}); use --overwrite"
            ) from exc
        changed = sorted(k for k in settings if old.get(k) != settings[k])
        if changed:
            raise MedocrError(
                f"{out} holds certificates made with other settings "
                f"({', '.join(changed)} differ): choose another --out, or "
                f"--overwrite to replace them"
            )
    write_atomic(path, json.dumps(settings, indent=1, ensure_ascii=False).encode())


def encode_image(image: Any, image_format: str, dpi: int) -> bytes:
    """Encode a uint8 ``(H, W)`` page as PNG (fast compression) or JPEG, recording `dpi`."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    pil = Image.fromarray(image, mode="L")
    if image_format == "png":
        pil.save(buffer, format="PNG", compress_level=1, dpi=(dpi, dpi))
    else:
        pil.save(buffer, format="JPEG", quality=92, dpi=(dpi, dpi))
    return buffer.getvalue()


def write_certificate(
    out: Path,
    seed: int,
    index: int,
    template: Template,
    image_format: str,
    data_dir: str | Path | None = None,
) -> None:
    """Generate certificate `index` and write its image, then its ground truth.

    `data_dir` names the data folder of the vocabulary (:func:`default_vocabulary`; default
    ``$MEDOCR_DATA``, else the built-in vocabulary).
    """
    cert = generate_certificate(
        seed,
        index,
        template=template,
        vocabulary=default_vocabulary(data_dir),
        image_suffix=f".{image_format}",
    )
    stem = certificate_id(index)
    write_atomic(
        out / f"{stem}.{image_format}", encode_image(cert.image, image_format, template.dpi)
    )
    truth = json.dumps(cert.truth, ensure_ascii=False, separators=(",", ":"))
    write_atomic(out / f"{stem}.json", truth.encode("utf-8"))


def _one(
    out: Path, seed: int, index: int, template: Template, image_format: str, data: str
) -> tuple[int, str | None]:
    try:
        write_certificate(out, seed, index, template, image_format, data)
    except Exception as exc:  # one certificate's failure must not stop the run
        return index, f"{type(exc).__name__}: {exc}"
    return index, None


def _run_local(
    todo: list[int], out: Path, seed: int, template: Template, image_format: str, data: str
) -> Iterator[tuple[int, str | None]]:
    for index in todo:
        yield _one(out, seed, index, template, image_format, data)


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)


def _run_pool(
    todo: list[int],
    out: Path,
    seed: int,
    template: Template,
    image_format: str,
    data: str,
    workers: int,
) -> Iterator[tuple[int, str | None]]:
    context = get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker) as pool:
        pending: set[Future[tuple[int, str | None]]] = set()
        queue = iter(todo)
        for index in queue:
            pending.add(pool.submit(_one, out, seed, index, template, image_format, data))
            if len(pending) >= 4 * workers:
                break
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future.result()
                nxt = next(queue, None)
                if nxt is not None:
                    pending.add(pool.submit(_one, out, seed, nxt, template, image_format, data))
