"""Benchmark: end-to-end reading of synthetic certificates with `medocr batch`.

Targets (issue "End-to-end reading"): >= 10 certificates/s on 2 cores for a batch of 200
synthetic certificates, with the time split by stage; peak RSS of a 2,000-certificate
batch <= 1.2x that of a 200-certificate batch. Each batch runs in a fresh subprocess that
reports its own peak RSS (and its workers'). Also reported, from the same runs: CER and
exact-match rate per field kind against the ground truth, and the share of fields routed
to `accept` with their error rate.

    nice -n 19 python benchmarks/bench_pipeline.py [--inputs DIR] [--sizes 200 2000]
        [--workers 1 2] [--model BUNDLE] [--no-record]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from results import record, use_data  # noqa: E402

SPEED_TARGET = 10.0
RSS_TARGET = 1.2
SEED = 5

CHILD = """
import json, resource, sys
from medocr.batch import run_batch
from medocr.config import PipelineConfig
config = PipelineConfig(model=sys.argv[4]) if sys.argv[4] else PipelineConfig()
summary = run_batch(sys.argv[1], sys.argv[2], workers=int(sys.argv[3]), config=config)
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"done": summary.done, "failed": summary.failed, "seconds": summary.seconds,
                  "peak_kib": own, "worker_peak_kib": children}))
"""


def make_inputs(folder: Path, count: int) -> None:
    """Generate (or extend) `count` synthetic certificates with ground truth."""
    subprocess.run(
        [sys.executable, "-m", "medocr.cli", "synth", "--count", str(count), "--seed", str(SEED),
         "--out", str(folder), "--workers", "2", "--quiet"],
        check=True,
    )  # fmt: skip


def link_images(source: Path, target: Path, count: int) -> None:
    """A folder holding links to the first `count` certificate images only."""
    target.mkdir(parents=True)
    for index in range(count):
        name = f"cert-{index:06d}.png"
        (target / name).symlink_to(source / name)


def run(folder: Path, db: Path, workers: int, model: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder), str(db), str(workers), model],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def accuracy(db: Path, truths: Path) -> dict:
    """Per field kind: CER, exact match, accepted share and accepted error rate."""
    from medocr.evaluate.metrics import cer

    per_kind: dict[str, dict[str, list]] = {}
    stages: dict[str, float] = {}
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT path, result FROM pages").fetchall()
    for path, text in rows:
        result = json.loads(text)
        for stage, seconds in result["timings"].items():
            stages[stage] = stages.get(stage, 0.0) + seconds / len(rows)
        truth = json.loads((truths / Path(path).with_suffix(".json").name).read_text("utf-8"))
        expected = {
            f["name"]: ("X" if f["value"] else "") if f["kind"] == "checkbox"
            else f["text"].replace("\n", " ")
            for f in truth["fields"]
        }  # fmt: skip
        for field in result["fields"]:
            kind = per_kind.setdefault(field["kind"], {"ref": [], "hyp": [], "route": []})
            kind["ref"].append(expected[field["name"]])
            kind["hyp"].append(field["text"])
            kind["route"].append(field["route"])
    table = {}
    for name, kind in per_kind.items():
        right = [r == h for r, h in zip(kind["ref"], kind["hyp"], strict=True)]
        accepted = [i for i, route in enumerate(kind["route"]) if route == "accept"]
        table[name] = {
            "fields": len(right),
            "cer": cer(kind["ref"], kind["hyp"]),
            "exact": sum(right) / len(right),
            "accepted": len(accepted) / len(right),
            "accepted_error": (
                sum(not right[i] for i in accepted) / len(accepted) if accepted else float("nan")
            ),
        }
    return {"kinds": table, "stages": stages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", default="benchmarks/_work/certs", help="certificate cache")
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--model", default="", help="recognizer bundle (default: shipped)")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    use_data()  # the sampler's CIM-10 words: $MEDOCR_DATA, else ../shared/data
    inputs = Path(args.inputs)
    make_inputs(inputs, max(args.sizes))
    small = min(args.sizes)
    runs: dict[tuple[int, int], dict] = {}
    quality = None
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            folder = Path(tmp) / f"in-{size}"
            link_images(inputs.resolve(), folder, size)
            workers_list = args.workers if size == small else [1]
            for workers in workers_list:
                db = Path(tmp) / f"r-{size}-{workers}.db"
                began = time.perf_counter()
                runs[(size, workers)] = run(folder, db, workers, args.model)
                runs[(size, workers)]["wall"] = time.perf_counter() - began
                print(size, workers, runs[(size, workers)], file=sys.stderr)
                if size == small and workers == 1:
                    quality = accuracy(db, inputs)
    body = report(runs, quality, small, max(args.sizes), args)
    print(body)
    if not args.no_record:
        record("pipeline", "End-to-end reading (medocr batch)", body)


def report(runs: dict, quality: dict | None, small: int, large: int, args) -> str:
    lines = [
        f"- command: `nice -n 19 python benchmarks/bench_pipeline.py --sizes {small} {large} "
        f"--workers {' '.join(map(str, args.workers))}`"
        + (f" --model {args.model}" if args.model else ""),
        f"- inputs: synthetic certificates, `medocr synth --seed {SEED}` (PNG, 1654 x 2339)",
        "",
        "| certificates | workers | files/s (in-batch) | wall s incl. start | peak RSS MiB |",
        "|---:|---:|---:|---:|---:|",
    ]
    for (size, workers), r in sorted(runs.items()):
        peak = max(r["peak_kib"], r["worker_peak_kib"]) / 1024
        lines.append(
            f"| {size} | {workers} | {r['done'] / r['seconds']:.2f} | {r['wall']:.0f} | {peak:.0f} |"
        )
    best = max(r["done"] / r["seconds"] for (s, _), r in runs.items() if s == small)
    verdict = "met" if best >= SPEED_TARGET else "MISSED"
    lines += ["", f"Throughput target >= {SPEED_TARGET:.0f} certificates/s: **{verdict}** "
              f"(best {best:.2f}/s)."]  # fmt: skip
    if (large, 1) in runs and (small, 1) in runs:
        ratio = runs[(large, 1)]["peak_kib"] / runs[(small, 1)]["peak_kib"]
        verdict = "met" if ratio <= RSS_TARGET else "MISSED"
        lines.append(
            f"Peak RSS {large} / {small} certificates (1 worker): {ratio:.2f} "
            f"(target <= {RSS_TARGET}): **{verdict}**."
        )
    if quality is not None:
        total = sum(quality["stages"].values())
        lines += ["", "Time per certificate by stage (1 worker, mean):", "",
                  "| stage | ms | share |", "|---|---:|---:|"]  # fmt: skip
        for stage, seconds in quality["stages"].items():
            lines.append(f"| {stage} | {seconds * 1000:.1f} | {seconds / total:.0%} |")
        lines += ["", f"Reading quality on the {small} certificates (default pipeline):", "",
                  "| field kind | fields | CER | exact | accepted | error of accepted |",
                  "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
        for kind, q in sorted(quality["kinds"].items()):
            lines.append(
                f"| {kind} | {q['fields']} | {q['cer']:.1%} | {q['exact']:.1%} | "
                f"{q['accepted']:.1%} | {q['accepted_error']:.1%} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
