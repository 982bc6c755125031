"""Benchmark: end-to-end reading of synthetic certificates with `medocr batch`.

Targets (issue #16, "Reading at national scale"): >= 11 certificates/s with 1 worker and
>= 20/s with 2 on 2 cores (steady rate, start-up reported apart), 2 workers at >= 85 %
of twice the 1-worker rate, peak RSS of a 2,000-certificate batch <= 1.1x that of a
200-certificate batch; with the time split by stage. Each batch runs in a fresh
subprocess that reports its own peak RSS (and its workers'). Readings must not depend
on how the batch runs: every field text of the small batch, for each worker count, is
compared with `Pipeline().read()` one file at a time in a fresh process (the plain
library path), and each difference is listed. Also reported, from the same runs: CER
and exact-match rate per field kind against the ground truth, and the share of fields
routed to `accept` with their error rate.

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

from results import load_average, record, use_data  # noqa: E402

SPEED_TARGETS = {1: 11.0, 2: 20.0}  # certificates/s, by worker count
SCALING_TARGET = 0.85
RSS_TARGET = 1.1
SEED = 5
#: Files each worker reads before the steady rate is timed (model loading, first-use caches).
WARM_FILES = 2

CHILD = """
import json, resource, sys, time
from medocr.batch import run_batch
from medocr.config import PipelineConfig
config = PipelineConfig(model=sys.argv[4]) if sys.argv[4] else PipelineConfig()
ticks = []
def progress(count, total, failed, elapsed):
    ticks.append(elapsed)
workers, scheduler, cluster = int(sys.argv[3]), None, None
if sys.argv[5].startswith("dask"):  # a LocalCluster of `workers` processes, one thread each
    import dask
    from dask.distributed import LocalCluster
    # Dask's nanny sets MALLOC_TRIM_THRESHOLD_, which fixes glibc's mmap threshold: every
    # large numpy temporary is then mapped and unmapped, and reading ran 1.8x slower
    # ("dask-defaults" keeps it, to measure that).
    if sys.argv[5] == "dask":
        dask.config.set({"distributed.nanny.pre-spawn-environ": {
            "OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1}})
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           env={"MEDOCR_THREADS": "1"}, dashboard_address=None)
    scheduler, workers = cluster.scheduler_address, 1
summary = run_batch(sys.argv[1], sys.argv[2], workers=workers, config=config,
                    progress=progress, scheduler=scheduler)
if cluster is not None:
    cluster.close()
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"done": summary.done, "failed": summary.failed, "seconds": summary.seconds,
                  "ticks": ticks, "peak_kib": own, "worker_peak_kib": children}))
"""

PLAIN = """
import json, sys
from pathlib import Path
from medocr.config import PipelineConfig
from medocr.pipeline import Pipeline
config = PipelineConfig(model=sys.argv[2]) if sys.argv[2] else PipelineConfig()
pipeline = Pipeline(config)
texts = {}
for path in sorted(Path(sys.argv[1]).iterdir()):
    for result in pipeline.read(path):
        for field in result.fields:
            texts[f"{path.name}:{result.page_index}:{field.name}"] = field.text
print(json.dumps(texts))
"""


def steady_rate(run: dict, workers: int) -> tuple[float, float]:
    """Files/s once every worker has read :data:`WARM_FILES` files, and the start-up s.

    The start-up is the wall time beyond what the steady rate explains: model loading,
    first-use caches (the lexicon's trie) and the workers' own start.
    """
    ticks, warm = run["ticks"], WARM_FILES * workers
    if len(ticks) <= warm + 1:
        rate = run["done"] / run["seconds"]
        return rate, 0.0
    rate = (len(ticks) - warm) / (ticks[-1] - ticks[warm - 1])
    return rate, max(0.0, run["seconds"] - len(ticks) / rate)


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


def run(folder: Path, db: Path, workers: int, model: str, how: str = "local") -> dict:
    """Run one batch in a fresh process (`how`: ``local`` workers or a ``dask`` LocalCluster)."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder), str(db), str(workers), model, how],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def field_texts(db: Path) -> dict[str, str]:
    """``file:page:field -> text`` of a batch database."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT path, page_index, name, text FROM fields").fetchall()
    return {f"{Path(path).name}:{page}:{name}": text for path, page, name, text in rows}


def plain_texts(folder: Path, model: str) -> dict[str, str]:
    """The same keys read by ``Pipeline().read()`` one file at a time, in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", PLAIN, str(folder), model], capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def differences(reference: dict[str, str], texts: dict[str, str]) -> list[str]:
    """Fields whose text differs from the reference (or is missing), as report lines."""
    return [
        f"`{key}`: {reference[key]!r} vs {texts.get(key)!r}"
        for key in sorted(reference)
        if texts.get(key) != reference[key]
    ]


def profile(folder: Path, out: Path, model: str, count: int = 50) -> None:
    """cProfile of ``Pipeline.read`` on `count` certificates (after one to warm up)."""
    import cProfile
    import io
    import pstats

    from medocr.config import PipelineConfig
    from medocr.pipeline import Pipeline

    pipeline = Pipeline(PipelineConfig(model=model) if model else PipelineConfig())
    paths = sorted(folder.iterdir())[: count + 1]
    pipeline.read(paths[0])
    profiler = cProfile.Profile()
    profiler.enable()
    for path in paths[1:]:
        pipeline.read(path)
    profiler.disable()
    out.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(out / "pipeline.prof")
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(40)
    (out / "pipeline-top.txt").write_text(text.getvalue(), encoding="utf-8")
    print(f"profile: {out / 'pipeline.prof'}, {out / 'pipeline-top.txt'}", file=sys.stderr)


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
    parser.add_argument(
        "--dask", type=int, default=0, metavar="N",
        help="also read the small batch on a Dask LocalCluster of N one-thread workers",
    )  # fmt: skip
    parser.add_argument(
        "--dask-defaults", action="store_true",
        help="with --dask, also read it with the environment Dask's nanny sets by default",
    )  # fmt: skip
    parser.add_argument(
        "--profile", metavar="DIR", default="",
        help="also profile Pipeline.read on 50 certificates (cProfile): DIR/pipeline.prof "
        "and DIR/pipeline-top.txt; a flame graph: flameprof or snakeviz on the .prof",
    )  # fmt: skip
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    args.load_before = load_average()
    use_data()  # the sampler's CIM-10 words: $MEDOCR_DATA, else ../shared/data
    inputs = Path(args.inputs)
    make_inputs(inputs, max(args.sizes))
    small = min(args.sizes)
    runs: dict[tuple[int, str], dict] = {}  # (certificates, how: "1", "2", "dask 2")
    texts: dict[str, dict[str, str]] = {}
    quality = None
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            folder = Path(tmp) / f"in-{size}"
            link_images(inputs.resolve(), folder, size)
            workers_list = args.workers if size == small else [1]
            for workers in workers_list:
                db = Path(tmp) / f"r-{size}-{workers}.db"
                began = time.perf_counter()
                runs[(size, str(workers))] = run(folder, db, workers, args.model)
                runs[(size, str(workers))].update(wall=time.perf_counter() - began, workers=workers)
                print(size, workers, runs[(size, str(workers))]["seconds"], file=sys.stderr)
                if size == small:
                    texts[str(workers)] = field_texts(db)
                if size == small and workers == 1:
                    quality = accuracy(db, inputs)
        dask_modes = ["dask", "dask-defaults"] if args.dask_defaults else ["dask"]
        for mode in dask_modes if args.dask else []:
            db = Path(tmp) / f"r-{mode}.db"
            began = time.perf_counter()
            how = f"{mode} {args.dask}"
            runs[(small, how)] = run(Path(tmp) / f"in-{small}", db, args.dask, args.model, mode)
            runs[(small, how)].update(wall=time.perf_counter() - began, workers=args.dask)
            texts[how] = field_texts(db)
        reference = plain_texts(Path(tmp) / f"in-{small}", args.model)
        if args.profile:
            profile(Path(tmp) / f"in-{small}", Path(args.profile), args.model)
    changed = {workers: differences(reference, found) for workers, found in texts.items()}
    body = report(runs, quality, small, max(args.sizes), args, changed)
    print(body)
    if not args.no_record:
        record("pipeline", "End-to-end reading (medocr batch)", body)


def report(
    runs: dict, quality: dict | None, small: int, large: int, args, changed: dict[str, list[str]]
) -> str:
    lines = [
        f"- inputs: synthetic certificates, `medocr synth --seed {SEED}` (PNG, 1654 x 2339)",
        f"- load average at the start: {args.load_before}; at the end: {load_average()}",
        "",
        f"Steady rate: files/s once each worker has read {WARM_FILES} files; start-up: the "
        "wall time beyond it (model loading, first-use caches, worker start).",
        "",
        "| certificates | workers | files/s (steady) | start-up s | wall s | peak RSS MiB |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    rates = {}
    for (size, how), r in sorted(runs.items()):
        rate, start = steady_rate(r, r["workers"])
        rates[(size, how)] = rate
        peak = max(r["peak_kib"], r["worker_peak_kib"]) / 1024
        lines.append(
            f"| {size} | {how} | {rate:.2f} | {start:.1f} | {r['wall']:.0f} | {peak:.0f} |"
        )
    lines.append("")
    for workers, target in SPEED_TARGETS.items():
        if (small, str(workers)) in rates:
            rate = rates[(small, str(workers))]
            verdict = "met" if rate >= target else "MISSED"
            lines.append(
                f"- {workers} worker(s) >= {target:g} certificates/s: **{verdict}** ({rate:.2f}/s)"
            )
    if (small, "1") in rates and (small, "2") in rates:
        scaling = rates[(small, "2")] / (2 * rates[(small, "1")])
        verdict = "met" if scaling >= SCALING_TARGET else "MISSED"
        lines.append(
            f"- 2 workers at >= {SCALING_TARGET:.0%} of twice 1 worker: **{verdict}** "
            f"({scaling:.0%}; 1 worker already decodes the next file on the second core)"
        )
    if large != small and (large, "1") in runs and (small, "1") in runs:
        ratio = runs[(large, "1")]["peak_kib"] / runs[(small, "1")]["peak_kib"]
        verdict = "met" if ratio <= RSS_TARGET else "MISSED"
        lines.append(
            f"- peak RSS {large} / {small} certificates (1 worker) <= {RSS_TARGET}: "
            f"**{verdict}** ({ratio:.3f})"
        )
    lines += ["", f"Readings against `Pipeline().read()` file by file ({small} certificates):", ""]
    for how, diffs in sorted(changed.items()):
        summary = "identical" if not diffs else f"{len(diffs)} field(s) differ"
        lines.append(f"- batch, {how} worker(s): {summary}")
        lines += [f"  - {d}" for d in diffs[:20]]
    if quality is not None:
        total = sum(quality["stages"].values())
        lines += ["", "Time per certificate by stage (1 worker, mean; decoding of the next "
                  "file overlaps the reading of this one, so io is not on the critical path):",
                  "", "| stage | ms | share |", "|---|---:|---:|"]  # fmt: skip
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
