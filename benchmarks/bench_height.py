"""Benchmark: which input height for the CRNN, 48 or 64 (issue: "choose by measurement").

Two measurements, both cheap enough for a 2-core CPU:

1. **Cost.** The same ``small`` architecture built at heights 32, 48 and 64 (untrained:
   speed does not depend on the weights) is timed on the same real lines: training
   lines/s (forward + backward + Adam step, batch 32) and inference lines/s (TensorFlow
   and ONNX Runtime, batch 64).
2. **Does the shipped model lack resolution?** Each line is first shrunk to an effective
   height ``r`` (24, 32, 40, then the model's own height) and then given to the shipped
   recognizer, which resizes it to its input height as usual. Greedy CER as a function
   of ``r`` shows how much accuracy depends on resolution near the model's height: a
   curve still falling steeply at 48 means a taller input would likely pay; a flat one
   means the errors come from elsewhere (too little training, unseen hands).

What this does not measure: a model *trained* at 64 from scratch against one trained at
48 for the same budget. On 2 CPU cores one such run needs hours; that is the job of a GPU
session (``medocr train recognizer --height 64``).

    python benchmarks/bench_height.py [--bundle fr-crnn-small] [--data ../shared/data]
        [--lines 300] [--certificates 60] [--no-record]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from bench_recognizer import certificate_lines, real_lines  # noqa: E402
from results import record  # noqa: E402

from medocr.decode import greedy  # noqa: E402
from medocr.evaluate.metrics import cer  # noqa: E402
from medocr.recognize.runtime import DEFAULT_MODEL, Recognizer  # noqa: E402

HEIGHTS = (32, 48, 64)
EFFECTIVE = (24, 32, 40)


def shrink(image: np.ndarray, height: int) -> np.ndarray:
    """Resize a uint8 ``(h, w)`` line to `height` rows, keeping its aspect ratio."""
    h, w = image.shape
    if h <= height:
        return image
    width = max(4, round(w * height / h))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def greedy_cer(
    recognizer: Recognizer,
    images: list[np.ndarray],
    truths: list[str],
    shifts: tuple[int, ...] = (0,),
    min_frames_per_char: float | None = None,
) -> float:
    """Greedy CER of `recognizer` on the lines (read with test-time `shifts` and dense
    lines widened to `min_frames_per_char`, see predict; default: one plain pass)."""
    probs = recognizer.predict(images, shifts=shifts, min_frames_per_char=min_frames_per_char)
    return cer(truths, [greedy(p).text for p in probs])


def resolution_rows(
    recognizer: Recognizer, sets: dict[str, tuple[list[np.ndarray], list[str]]]
) -> list[tuple[str, int, float]]:
    """``(set, effective height, greedy CER)`` for each set and effective height."""
    rows = []
    for name, (images, truths) in sets.items():
        for height in (*EFFECTIVE, recognizer.config.height):
            shrunk = [shrink(image, height) for image in images]
            rows.append((name, height, greedy_cer(recognizer, shrunk, truths)))
            print(rows[-1], flush=True)
    return rows


def _training_rate(model, images: list[np.ndarray], truths: list[str], alphabet, height) -> float:
    import keras
    import tensorflow as tf

    from medocr.recognize.crnn import pad_batch, prepare_line
    from medocr.training.recognizer import _train_step

    batch, widths = pad_batch([prepare_line(image, height) for image in images])
    codes = [alphabet.encode(text) for text in truths]
    labels = np.full((len(codes), max(map(len, codes))), -1, np.int32)
    for row, code in enumerate(codes):
        labels[row, : len(code)] = code
    optimizer = keras.optimizers.Adam(1e-4)
    step = _train_step(model, optimizer, tf.distribute.get_strategy())
    step(batch, widths, labels)  # trace
    start, repeats = time.perf_counter(), 3
    for _ in range(repeats):
        step(batch, widths, labels)
    return repeats * len(images) / (time.perf_counter() - start)


def _inference_rate(recognizer: Recognizer, images: list[np.ndarray]) -> float:
    recognizer.predict(images[:64])
    start = time.perf_counter()
    recognizer.predict(images, batch_size=64)
    return len(images) / (time.perf_counter() - start)


def cost_rows(
    alphabet, images: list[np.ndarray], truths: list[str]
) -> list[tuple[int, int, float, float, float]]:
    """``(height, parameters, train lines/s, TF lines/s, ONNX lines/s)`` per height."""
    from medocr.recognize.crnn import CRNNConfig, build_model
    from medocr.recognize.export import export_onnx
    from medocr.recognize.runtime import save_recognizer

    rows = []
    for height in HEIGHTS:
        config = CRNNConfig.preset("small", height, alphabet.num_classes)
        model = build_model(config)
        train = _training_rate(model, images[:32], truths[:32], alphabet, height)
        with tempfile.TemporaryDirectory() as work:
            save_recognizer(Path(work) / "b", model, alphabet, config)
            tf_rate = _inference_rate(
                Recognizer.load(Path(work) / "b", backend="tensorflow"), images
            )
            export_onnx(Path(work) / "b")
            onnx_rate = _inference_rate(Recognizer.load(Path(work) / "b", backend="onnx"), images)
        rows.append((height, model.count_params(), train, tf_rate, onnx_rate))
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bundle", default=DEFAULT_MODEL)
    parser.add_argument("--data", default=os.environ.get("MEDOCR_DATA", "../shared/data"))
    parser.add_argument("--lines", type=int, default=300, help="lines per real set")
    parser.add_argument(
        "--certificates",
        type=int,
        default=60,
        help="synthetic certificates cut into the synth-cut set",
    )
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    load = os.getloadavg()[0]
    recognizer = Recognizer.load(args.bundle, backend="onnx")
    data = Path(args.data)
    sets = {"synth-cut": certificate_lines(args.certificates)}
    for name, sub in (("poilus-val", "poilus-lines"), ("lectaurep-val", "lectaurep-lines")):
        path = data / sub / "val.jsonl"
        if path.exists():
            sets[name] = real_lines(path, args.lines)
        else:
            print(f"{path} not found: {name} skipped (set --data or MEDOCR_DATA)")
    costs = cost_rows(recognizer.alphabet, *sets["synth-cut"])
    resolution = resolution_rows(recognizer, sets)
    body = table(costs, resolution, recognizer, args)
    body += (
        f"\n\nLoad average when the run started: {load:.1f} on {os.cpu_count()} cores "
        "(other work slows every height alike: compare the ratios)."
    )
    print(body)
    if not args.no_record:
        record("height", "Input height: 48 or 64", body)


def table(costs, resolution, recognizer: Recognizer, args: argparse.Namespace) -> str:
    """The RESULTS.md section: cost per height, then CER per effective height."""
    base = {h: (train, tf_rate, onnx_rate) for h, _, train, tf_rate, onnx_rate in costs}[48]
    lines = [
        "Cost of the `small` CRNN by input height (same lines, batch 32 for training, "
        "64 for inference; untrained weights, speed does not depend on them):",
        "",
        "| height | parameters | train lines/s | TF lines/s | ONNX lines/s | ONNX vs 48 |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {h} | {p:,} | {tr:.1f} | {tf:.0f} | {ox:.0f} | {ox / base[2]:.2f}x |"
        for h, p, tr, tf, ox in costs
    ]
    model_height = recognizer.config.height
    lines += [
        "",
        f"Greedy CER of the shipped `{args.bundle}` ({recognizer.ref}, height "
        f"{model_height}) when each line is first shrunk to an effective height, "
        f"then read as usual ({args.lines} lines per real set, synth-cut from "
        f"{args.certificates} certificates):",
        "",
    ]
    names = list(dict.fromkeys(name for name, _, _ in resolution))
    heights = list(dict.fromkeys(h for _, h, _ in resolution))
    lines += [
        "| line set | " + " | ".join(f"{h} px" for h in heights) + " |",
        "|---|" + "---:|" * len(heights),
    ]
    by_key = {(n, h): c for n, h, c in resolution}
    lines += [
        f"| {n} | " + " | ".join(f"{by_key[n, h]:.2%}" for h in heights) + " |" for n in names
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
