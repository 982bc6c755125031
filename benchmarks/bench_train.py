"""Benchmark: recognizer training speed (real lines/s, batch 32, this machine's CPUs).

Measures whole training steps, input pipeline included (reading, augmentation, padding,
forward, backward, Adam), after a warm-up that traces every shape, on real lines from
``../shared/data`` (poilus, lectaurep and copiste train splits, equal weights):

- ``tf-trainer``: ``medocr train recognizer``'s path (``tf.data`` with parallel
  ``numpy_function`` augmentation, width bucketing, ``tf.function`` step);
- ``portable``: ``medocr.training.portable`` on the TensorFlow backend (batches made by
  worker processes from a packed file, fixed width buckets, ``train_on_batch``).

Each for the ``small`` preset at height 48 (the default) and 32. The GPU recipe's rate is
in its own log (``scripts/gpu-recipe.sh``, ``$OUT/A.log``), not measured here.
Figures go to RESULTS.md, section "Training speed".

    python benchmarks/bench_train.py [--data ../shared/data] [--steps 20] [--lines 1500]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from results import record  # noqa: E402

from medocr.dataset.packed import PackedLines, PackSource, pack_line_sets  # noqa: E402

SETS = ("poilus", "lectaurep", "copiste")
BATCH = 32


def subsets(data: Path, lines: int, work: Path) -> list[Path]:
    """JSONL files with the first `lines` training lines of each set (absolute image paths)."""
    import json

    paths = []
    for name in SETS:
        source = data / f"{name}-lines" / "train.jsonl"
        rows = source.read_text(encoding="utf-8").splitlines()[:lines]
        target = work / f"{name}.jsonl"
        fixed = []
        for row in rows:
            item = json.loads(row)
            item["image"] = str((source.parent / item["image"]).resolve())
            fixed.append(json.dumps(item, ensure_ascii=False))
        target.write_text("\n".join(fixed) + "\n", encoding="utf-8")
        paths.append(target)
    return paths


def tf_trainer_rate(files: list[Path], height: int, steps: int, work: Path) -> float:
    """Lines/s of the TF trainer's second epoch (the first one traces)."""
    from medocr.training.recognizer import DataSource, TrainConfig, Trainer

    config = TrainConfig(
        sources=[DataSource(f.stem, str(f)) for f in files],
        out_dir=str(work / f"tf-{height}"),
        height=height,
        batch_size=BATCH,
        steps_per_epoch=steps,
        epochs=2,
        patience=99,
    )
    results = Trainer(config).run()
    return float(results["history"][-1]["lines_per_s"])


def portable_rate(packed: Path, height: int, steps: int, workers: int) -> float:
    """Lines/s of the portable trainer's steps after every bucket was traced once."""
    import keras

    from medocr.recognize.alphabet import build_alphabet
    from medocr.recognize.crnn import start_model
    from medocr.training.portable import (
        WIDTH_BUCKETS,
        BatchPlan,
        as_ink,
        batch_pool,
        batch_stream,
        ctc_loss_fn,
        init_worker,
        label_arrays,
        make_batch,
    )

    lines = PackedLines.load(packed)
    alphabet = build_alphabet([str(t) for t in lines.texts], 2, "")
    labels = label_arrays(lines.texts, alphabet)
    model, _ = start_model("small", height, alphabet.num_classes)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=ctc_loss_fn(alphabet.blank))
    plan = BatchPlan(lines, labels, {}, BATCH, 0, WIDTH_BUCKETS)
    pool = batch_pool(workers, lines, labels, height)
    init_worker(lines, labels, height)  # the warm-up batches are made here
    try:
        for width, members in zip(plan.buckets, plan.members, strict=True):  # trace each shape
            if len(members):
                images, targets = make_batch((width, members[:BATCH], 0, True))
                model.train_on_batch(as_ink(images), targets)
        batches = batch_stream(pool, plan, 2 * max(1, workers))
        start, count = time.perf_counter(), 0
        for _ in range(steps):
            images, targets = next(batches)
            model.train_on_batch(as_ink(images), targets)
            count += len(images)
        return count / (time.perf_counter() - start)
    finally:
        if pool is not None:
            pool.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default=os.environ.get("MEDOCR_DATA", "../shared/data"))
    parser.add_argument("--steps", type=int, default=20, help="timed steps per variant")
    parser.add_argument("--lines", type=int, default=1500, help="lines per real set")
    parser.add_argument("--workers", type=int, default=2, help="portable batch workers")
    parser.add_argument("--heights", default="48,32", help="input heights to time (48,32)")
    parser.add_argument("--no-record", action="store_true", help="print, do not write RESULTS")
    args = parser.parse_args()
    data = Path(args.data)
    if not (data / "poilus-lines").is_dir():
        sys.exit(f"bench_train: {data} has no poilus-lines (set --data or MEDOCR_DATA)")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        files = subsets(data, args.lines, work)
        for height in (int(h) for h in args.heights.split(",")):
            packed = work / f"lines-{height}.npz"
            pack_line_sets([PackSource(f.stem, str(f)) for f in files], packed, height=height)
            rows.append(("tf-trainer", height, tf_trainer_rate(files, height, args.steps, work)))
            print(rows[-1], flush=True)
            rows.append(
                ("portable", height, portable_rate(packed, height, args.steps, args.workers))
            )
            print(rows[-1], flush=True)
    base = rows[0][2]
    lines = ["| trainer | height | lines/s | vs tf-trainer@48 |", "|---|---:|---:|---:|"]
    lines += [f"| {n} | {h} | {r:.1f} | {r / base:.2f}x |" for n, h, r in rows]
    load = os.getloadavg()[0]
    body = (
        f"`small` preset, batch {BATCH}, {args.steps} timed steps after warm-up, "
        f"{args.lines} lines from each of {', '.join(SETS)} (train splits); portable with "
        f"{args.workers} batch workers. Load average at the end: {load:.1f} "
        f"(other work on the machine slows every row alike).\n\n"
        + "\n".join(lines)
        + "\n\nTarget for a new CPU default: >= 3x tf-trainer@48 (>= 45 lines/s): "
        + ("**met**." if max(r for _, _, r in rows) >= 3 * base else "**MISSED**.")
        + " For comparison, the GPU recipe trains the same `small` model at about 1,950 "
        "lines/s per run on one H200, two runs at once (`scripts/gpu-recipe.sh`, its logs)."
    )
    print(body)
    if not args.no_record:
        record("train-speed", "Training speed", body)


if __name__ == "__main__":
    main()
