"""Benchmark: deskew and form registration on synthetic certificates.

Targets (issue "Preprocessing"), on N synthetic certificates (default 500) rotated
uniformly in +-8 degrees, with scale +-10 %, translation, mild perspective and noise:

- deskew: median absolute angle error <= 0.2 deg, worst <= 1 deg, <= 30 ms per page;
- registration + field extraction: mean field IoU >= 0.95, no field below 0.8, <= 60 ms
  per page;
- pages that are not the form (blank, photo-like, another form) refused.

The true skew of a page is the direction that the template's horizontal axis takes at
the page centre under the ground-truth homography (with perspective, the page rotation
alone is not the angle of the lines). Times are CPU time of the measuring thread
(``time.thread_time``) with OpenCV on one thread (cv2.setNumThreads(1)): the cost on one
core, which other work sharing the machine does not inflate as it does wall time.

    python benchmarks/bench_forms.py [--count 500] [--no-record]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from results import record, use_data  # noqa: E402

from medocr.errors import TemplateError  # noqa: E402
from medocr.preprocess.deskew import estimate_skew  # noqa: E402
from medocr.preprocess.forms import extract_fields, register  # noqa: E402
from medocr.synth.certificate import generate_certificate  # noqa: E402
from medocr.templates import load_template  # noqa: E402
from medocr.types import Page  # noqa: E402

SEED = 500


def make(index: int) -> tuple[np.ndarray, dict]:
    cert = generate_certificate(SEED, index)
    return cert.image, cert.truth


def truth_skew(matrix: list, width: int, height: int) -> float:
    points = np.float64([[width / 2, height / 2], [width / 2 + 100, height / 2]])
    moved = cv2.perspectiveTransform(points.reshape(-1, 1, 2), np.asarray(matrix)).reshape(-1, 2)
    dx, dy = moved[1] - moved[0]
    return float(-np.degrees(np.arctan2(dy, dx)))


def iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def wrong_pages(rng: np.random.Generator, count: int) -> list[tuple[str, np.ndarray]]:
    """Blank pages, photo-like pages, and other certificate forms (moved template boxes)."""
    pages = []
    for i in range(count):
        blank = np.clip(rng.normal(235, 8, (2339, 1654)), 0, 255).astype(np.uint8)
        base = cv2.resize(
            rng.uniform(0, 255, (10, 7)).astype(np.float32),
            (1654, 2339),
            interpolation=cv2.INTER_CUBIC,
        )
        photo = np.clip(base + rng.normal(0, 15, base.shape), 0, 255).astype(np.uint8)
        for _ in range(30):
            centre = tuple(int(v) for v in rng.integers(0, [1654, 2339]))
            cv2.circle(photo, centre, int(rng.integers(20, 200)), int(rng.integers(0, 255)), -1)
        pages += [(f"blank-{i}", blank), (f"photo-{i}", photo)]
    return pages


def stats(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.3f}, p95 {np.percentile(values, 95):.3f}, "
        f"max {max(values):.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    use_data()  # the sampler's CIM-10 words: $MEDOCR_DATA, else ../shared/data
    template = load_template()
    with ProcessPoolExecutor(2) as pool:
        certificates = list(pool.map(make, range(args.count), chunksize=8))
    cv2.setNumThreads(1)
    register(Page(certificates[0][0], "warm-up"), template)
    angle_errors, deskew_ms, register_ms, ious, refused = [], [], [], [], []
    for index, (image, truth) in enumerate(certificates):
        expected = truth_skew(truth["transform"], template.width_px, template.height_px)
        start = time.thread_time()
        angle = estimate_skew(image)
        deskew_ms.append((time.thread_time() - start) * 1000)
        angle_errors.append(abs(angle - expected))
        start = time.thread_time()
        try:
            crops = extract_fields(Page(image, f"cert-{index}"), template)
        except TemplateError as exc:
            refused.append(str(exc))
            continue
        register_ms.append((time.thread_time() - start) * 1000)
        ious += [iou(c.bbox, t["box"]) for c, t in zip(crops, truth["fields"], strict=True)]
    wrong = wrong_pages(np.random.default_rng(7), 10)
    wrongly_accepted = 0
    for name, image in wrong:
        try:
            register(Page(image, name), template)
            wrongly_accepted += 1
        except TemplateError:
            pass
    low = sum(v < 0.8 for v in ious)
    deskew_ok = statistics.median(angle_errors) <= 0.2 and max(angle_errors) <= 1
    deskew_fast = statistics.median(deskew_ms) <= 30
    register_ok = np.mean(ious) >= 0.95 and low == 0 and not refused
    register_fast = statistics.median(register_ms) <= 60
    load = os.getloadavg()[0]
    body = f"""{args.count} synthetic certificates (seed {SEED}), 200 dpi A4, CPU time on one core
(load average {load:.1f} on {os.cpu_count()} cores when timing ended).

| step | figure | target | verdict |
|---|---|---|---|
| deskew angle error (deg) | {stats(angle_errors)} | median <= 0.2, max <= 1 | {"met" if deskew_ok else "MISSED"} |
| deskew time (ms/page) | {stats(deskew_ms)} | median <= 30 | {"met" if deskew_fast else "MISSED"} |
| field IoU ({len(ious)} fields) | mean {np.mean(ious):.4f}, min {min(ious):.3f}, {low} below 0.8 | mean >= 0.95, none < 0.8 | {"met" if register_ok else "MISSED"} |
| registration + 14 crops (ms/page) | {stats(register_ms)} | median <= 60 | {"met" if register_fast else "MISSED"} |
| certificates refused as "not the form" | {len(refused)} of {args.count} | 0 | |
| wrong pages accepted (blank, photo-like) | {wrongly_accepted} of {len(wrong)} | 0 | {"met" if wrongly_accepted == 0 else "MISSED"} |
"""
    print(body)
    for message in refused[:5]:
        print("refused:", message)
    if not args.no_record:
        record("forms", "Deskew and form registration (`medocr.preprocess`)", body)


if __name__ == "__main__":
    main()
