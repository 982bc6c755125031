"""Benchmark: dataset builder speed and memory, and tf.data reader throughput.

Targets (issue "Dataset builder"): peak RSS of a 20k-unit build <= 1.2x that of a 2k-unit
build (memory does not grow with the dataset), and >= 2,000 decoded line images/s through
the tf.data reader on 2 cores. Inputs are synthetic JSONL line sets from
`medocr.synth.lines.write_line_set` (the 2k set is the first 2,000 rows of the 20k one),
made once in --inputs (kept for reruns). Each build runs in a fresh subprocess that
reports its own peak RSS (getrusage, workers=1 so the whole build is that process).

    nice -n 19 python benchmarks/bench_dataset.py [--inputs DIR] [--sizes 2000 20000] [--no-record]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from results import record, use_data  # noqa: E402

RSS_TARGET = 1.2
READER_TARGET = 2000.0
HEIGHT = 48

CHILD = """
import json, resource, sys, time
from medocr.dataset.build import build_dataset
from medocr.dataset.sources import Source
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
began = time.perf_counter()
summary = build_dataset(sys.argv[1], [Source.parse("lines", sys.argv[2])], levels=["line"],
                        workers=int(sys.argv[3]), overwrite=True)
seconds = time.perf_counter() - began
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"units": summary.units, "seconds": seconds, "base_kib": base,
                  "peak_kib": peak, "failed": len(summary.failed)}))
"""


def make_inputs(folder: Path, sizes: list[int]) -> dict[int, Path]:
    """Write (or reuse) the largest line set and prefixes of it for the smaller sizes."""
    from medocr.synth.lines import write_line_set

    largest = max(sizes)
    full = folder / "lines.jsonl"
    rows = full.read_text(encoding="utf-8").splitlines() if full.exists() else []
    if len(rows) != largest:
        began = time.perf_counter()
        write_line_set(folder, largest, seed=44)
        print(f"wrote {largest} synthetic lines in {time.perf_counter() - began:.0f}s")
        rows = full.read_text(encoding="utf-8").splitlines()
    paths = {}
    for size in sizes:
        path = folder / f"lines-{size}.jsonl"
        path.write_text("\n".join(rows[:size]) + "\n", encoding="utf-8")
        paths[size] = path
    return paths


def build(jsonl: Path, out: Path, workers: int) -> dict[str, float]:
    """Build a line dataset in a fresh subprocess; return its figures."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(out), str(jsonl), str(workers)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def reader_rate(dataset: Path) -> dict[str, float]:
    """One ordered pass of line_dataset over the train split: lines/s, CPU ms per line."""
    from medocr.dataset.readers import iter_units, line_dataset, shard_lines

    data = line_dataset(shard_lines(dataset, "train"), HEIGHT, 64, training=False)
    next(iter(data))  # build the pipeline outside the measurement
    began, cpu, count = time.perf_counter(), _cpu(), 0
    for images, _, _ in data:
        count += int(images.shape[0])
    seconds, cpu = time.perf_counter() - began, _cpu() - cpu
    began = time.perf_counter()
    numpy_count = sum(1 for _ in iter_units(dataset, "train", "line"))
    return {
        "lines": count,
        "rate": count / seconds,
        "cpu_ms": 1000 * cpu / count,
        "numpy_rate": numpy_count / (time.perf_counter() - began),
    }


def real_reader(tmp: Path) -> dict[str, float] | None:
    """Reader figures on the real poilus lines (built here), when the shared data is present."""
    data = Path(os.environ.get("MEDOCR_DATA", Path(__file__).resolve().parents[2] / "shared/data"))
    jsonl = data / "poilus-lines" / "train.jsonl"
    if not jsonl.exists():
        print(f"{jsonl} not found: no real-line reader figure")
        return None
    build(jsonl, tmp / "poilus", 1)
    return reader_rate(tmp / "poilus")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--inputs", default=None, help="folder for the line sets (kept)")
    parser.add_argument("--sizes", type=int, nargs=2, default=[2000, 20000])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    use_data()  # the sampler's CIM-10 words: $MEDOCR_DATA, else ../shared/data
    load_before = os.getloadavg()
    inputs = Path(args.inputs or tempfile.mkdtemp(prefix="bench-dataset-inputs-"))
    inputs.mkdir(parents=True, exist_ok=True)
    paths = make_inputs(inputs, args.sizes)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-dataset-") as folder:
        tmp = Path(folder)
        for size in args.sizes:
            figures = build(paths[size], tmp / f"ds-{size}", args.workers)
            rows.append((size, figures))
            print(
                f"{size} lines: {figures['units']} units in {figures['seconds']:.1f}s "
                f"({figures['units'] / figures['seconds']:.0f} units/s), peak RSS "
                f"{figures['peak_kib'] / 1024:.0f} MiB"
            )
        readers = {"synthetic": reader_rate(tmp / f"ds-{max(args.sizes)}")}
        real = real_reader(tmp)
        if real:
            readers["poilus (real)"] = real
    load_after = os.getloadavg()
    for name, r in readers.items():
        print(f"tf.data reader, {name}: {r['rate']:.0f} lines/s, {r['cpu_ms']:.2f} CPU ms/line")
    ratio = rows[1][1]["peak_kib"] / rows[0][1]["peak_kib"]
    print(f"RSS ratio {ratio:.3f}; load average before {load_before}, after {load_after}")
    if not args.no_record:
        body = _body(rows, ratio, readers, args.workers, (load_before[0], load_after[0]))
        record("dataset", "Dataset builder (issue 4)", body)


def _body(rows, ratio, readers, workers, loads) -> str:
    table = ["| input lines | units | seconds | units/s | peak RSS | RSS after imports |"]
    table.append("|---:|---:|---:|---:|---:|---:|")
    for size, f in rows:
        table.append(
            f"| {size} | {f['units']} | {f['seconds']:.1f} | {f['units'] / f['seconds']:.0f} "
            f"| {f['peak_kib'] / 1024:.0f} MiB | {f['base_kib'] / 1024:.0f} MiB |"
        )
    reader_table = [
        "| lines (train split) | decoded lines/s | CPU ms/line | 2-core projection | target | numpy iter_units lines/s |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for name, r in readers.items():
        projection = 2000 / r["cpu_ms"]
        verdict = "met" if r["rate"] >= READER_TARGET else "MISSED"
        reader_table.append(
            f"| {name}, {r['lines']} | {r['rate']:.0f} | {r['cpu_ms']:.2f} | {projection:.0f} "
            f"| >= {READER_TARGET:g}: **{verdict}** | {r['numpy_rate']:.0f} |"
        )
    shared = max(loads) > 1.5
    note = (
        f"Load average {loads[0]:.1f} before and {loads[1]:.1f} after on {os.cpu_count()} CPUs"
        + (
            ": the machine was shared with a CRNN training run using both cores, so these "
            "rates are lower bounds; the 2-core projection is 2 CPU-seconds per second divided "
            "by the CPU time per line (which contention also inflates)."
            if shared
            else "."
        )
    )
    rss = "met" if ratio <= RSS_TARGET else "MISSED"
    return (
        f"Line-level builds (`levels=['line']`, workers={workers}, each in a fresh process) "
        "from synthetic JSONL line sets (`write_line_set`, mean 151x783 px, noisy scans): "
        "read with medocr.io, hashed, stored (plain gray PNGs byte for byte), sharded, "
        "merged (dedup, card).\n\n"
        + "\n".join(table)
        + f"\n\nPeak RSS ratio (largest / smallest build): **{ratio:.3f}**, target <= "
        f"{RSS_TARGET}: **{rss}**.\n\ntf.data reader: `line_dataset(shard_lines(ds, 'train'), "
        f"{HEIGHT}, 64, training=False)`, one ordered pass after the first batch (PNG decode, "
        "prepare_line, width buckets, padding):\n\n" + "\n".join(reader_table) + f"\n\n{note}"
    )


if __name__ == "__main__":
    main()
