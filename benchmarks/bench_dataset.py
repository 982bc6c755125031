"""Benchmark: dataset builder speed and memory, and tf.data reader throughput.

Targets (issues 4 and 16): peak RSS of a 20k-unit build <= 1.2x that of a 2k-unit build
(memory does not grow with the dataset), and >= 2,000 line images/s through the tf.data
reader (`line_dataset`, batches of 64 at height 48) on 2 cores. Inputs are synthetic
JSONL line sets from `medocr.synth.lines.write_line_set` (the 2k set is the first 2,000
rows of the 20k one), made once in --inputs (kept for reruns), and the real poilus
training lines of $MEDOCR_DATA. Each build runs in a fresh subprocess that reports its
own peak RSS (getrusage, workers=1 so the whole build is that process). Builds write the
fixed-height line cache (the default, `cache_height=48`); the largest is built once more
without it, to price the cache. The reader is timed both ways on the same dataset: from
the cache, and decoding the PNGs (`cache=False`, the reader before the cache), and the
two are checked to give the same images and labels.

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
cache = None if sys.argv[4] == "none" else int(sys.argv[4])
summary = build_dataset(sys.argv[1], [Source.parse("lines", sys.argv[2])], levels=["line"],
                        workers=int(sys.argv[3]), cache_height=cache, overwrite=True)
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


def build(jsonl: Path, out: Path, workers: int, cache: int | None = HEIGHT) -> dict[str, float]:
    """Build a line dataset in a fresh subprocess; return its figures and file sizes."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(out), str(jsonl), str(workers), str(cache).lower()],
        check=True,
        capture_output=True,
        text=True,
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["shard_bytes"] = sum(f.stat().st_size for f in out.rglob("*.tfrecord"))
    figures["cache_bytes"] = sum(f.stat().st_size for f in out.rglob("*.npz"))
    with open(out / "manifest.jsonl", encoding="utf-8") as rows:
        shapes = [(row["height"], row["width"]) for row in map(json.loads, rows)]
    figures["mean_shape"] = [sum(s[i] for s in shapes) / max(len(shapes), 1) for i in (0, 1)]
    return figures


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def one_pass(dataset: Path, cache: bool) -> dict[str, float]:
    """One ordered pass of line_dataset over the train split: lines/s, CPU ms per line."""
    import tensorflow  # noqa: F401 - imported before the clock starts (seconds)

    from medocr.dataset.readers import line_dataset, shard_lines

    began = time.perf_counter()
    batches = iter(
        line_dataset(shard_lines(dataset, "train"), HEIGHT, 64, training=False, cache=cache)
    )
    count = int(next(batches)[0].shape[0])  # the pipeline is built (cache opened) here
    first = time.perf_counter() - began
    began, cpu = time.perf_counter(), _cpu()
    for images, _, _ in batches:
        count += int(images.shape[0])
    seconds, cpu = time.perf_counter() - began, _cpu() - cpu
    return {"lines": count, "rate": count / seconds, "cpu_ms": 1000 * cpu / count, "first": first}


def same_content(dataset: Path) -> bool:
    """Whether the cached and the PNG readers give the same (image, label) multiset."""
    from collections import Counter

    from medocr.dataset.readers import line_dataset, shard_lines

    found = []
    for cache in (True, False):
        lines: Counter[tuple[bytes, bytes]] = Counter()
        data = line_dataset(shard_lines(dataset, "train"), HEIGHT, 64, training=False, cache=cache)
        for images, widths, labels in data.as_numpy_iterator():
            for row, width in enumerate(widths):
                label = labels[row][labels[row] >= 0]
                lines[(images[row, :, :width].tobytes(), label.tobytes())] += 1
        found.append(lines)
    return found[0] == found[1]


def reader_rates(dataset: Path) -> dict[str, dict[str, float]]:
    """Reader figures of a built dataset: cached, PNG (before), numpy iter_units."""
    from medocr.dataset.readers import iter_units

    figures = {"cache": one_pass(dataset, True), "png": one_pass(dataset, False)}
    began = time.perf_counter()
    count = sum(1 for _ in iter_units(dataset, "train", "line"))
    figures["numpy"] = {"rate": count / (time.perf_counter() - began)}
    figures["same"] = {"content": float(same_content(dataset))}
    return figures


def real_reader(tmp: Path) -> dict[str, dict[str, float]] | None:
    """Reader figures on the real poilus lines (built here), when the shared data is present."""
    data = Path(os.environ.get("MEDOCR_DATA", Path(__file__).resolve().parents[2] / "shared/data"))
    jsonl = data / "poilus-lines" / "train.jsonl"
    if not jsonl.exists():
        print(f"{jsonl} not found: no real-line reader figure")
        return None
    build(jsonl, tmp / "poilus", 1)
    return reader_rates(tmp / "poilus")


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
            rows.append((f"{size}", figures))
            _say(size, figures)
        largest = max(args.sizes)
        bare = build(paths[largest], tmp / "ds-no-cache", args.workers, None)
        rows.append((f"{largest}, no cache", bare))
        _say(largest, bare)
        readers = {"synthetic": reader_rates(tmp / f"ds-{largest}")}
        real = real_reader(tmp)
        if real:
            readers["poilus (real)"] = real
    load_after = os.getloadavg()
    for name, r in readers.items():
        for path in ("cache", "png"):
            f = r[path]
            print(f"reader, {name}, {path}: {f['rate']:.0f} lines/s, {f['cpu_ms']:.3f} CPU ms/line")
        print(f"reader, {name}: same images and labels both ways: {bool(r['same']['content'])}")
    ratio = rows[1][1]["peak_kib"] / rows[0][1]["peak_kib"]
    print(f"RSS ratio {ratio:.3f}; load average before {load_before}, after {load_after}")
    if not args.no_record:
        body = _body(rows, ratio, readers, args.workers, (load_before[0], load_after[0]))
        record("dataset", "Dataset builder and reader (issues 4, 16)", body)


def _say(size: int, f: dict[str, float]) -> None:
    print(
        f"{size} lines: {f['units']} units in {f['seconds']:.1f}s "
        f"({f['units'] / f['seconds']:.0f} units/s), peak RSS {f['peak_kib'] / 1024:.0f} MiB, "
        f"shards {f['shard_bytes'] / 2**20:.0f} MiB, cache {f['cache_bytes'] / 2**20:.0f} MiB"
    )


def _body(rows, ratio, readers, workers, loads) -> str:
    table = [
        "| input lines | units | seconds | units/s | peak RSS | RSS after imports "
        "| shards | line cache (h 48) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size, f in rows:
        table.append(
            f"| {size} | {f['units']} | {f['seconds']:.1f} | {f['units'] / f['seconds']:.0f} "
            f"| {f['peak_kib'] / 1024:.0f} MiB | {f['base_kib'] / 1024:.0f} MiB "
            f"| {f['shard_bytes'] / 2**20:.0f} MiB | {f['cache_bytes'] / 2**20:.0f} MiB |"
        )
    cached, bare = rows[1][1], rows[-1][1]
    cost = (
        f"The cache cost {cached['seconds'] - bare['seconds']:+.1f} s on the {rows[1][0]}-line "
        f"build ({cached['seconds']:.1f} s with it, {bare['seconds']:.1f} s without; one run "
        f"each on a shared machine) and {cached['cache_bytes'] / 2**20:.0f} MiB on disk, "
        f"{cached['cache_bytes'] / max(cached['shard_bytes'], 1):.0%} of the shards' "
        f"{cached['shard_bytes'] / 2**20:.0f} MiB ({cached['cache_bytes'] / cached['units'] / 1024:.1f} "
        "KiB a line: raw pixels, 48 x W)."
    )
    reader_table = [
        "| lines (train split) | path | lines/s | CPU ms/line | CPU-bound ceiling | target "
        "| first batch | same images and labels |",
        "|---|---|---:|---:|---:|---|---:|---|",
    ]
    for name, r in readers.items():
        for path, label in (("png", "PNG decode (before)"), ("cache", "line cache")):
            f = r[path]
            verdict = "met" if f["rate"] >= READER_TARGET else "MISSED"
            same = ("yes" if r["same"]["content"] else "**NO**") if path == "cache" else ""
            reader_table.append(
                f"| {name}, {f['lines']} | {label} | {f['rate']:.0f} | {f['cpu_ms']:.3f} "
                f"| {(2000 if path == 'png' else 1000) / f['cpu_ms']:.0f} "
                f"| >= {READER_TARGET:g}: **{verdict}** "
                f"| {f['first']:.2f} s | {same} |"
            )
    numpy_rates = ", ".join(f"{name} {r['numpy']['rate']:.0f}" for name, r in readers.items())
    shared = max(loads) > 1.5
    note = (
        f"Load average {loads[0]:.1f} before and {loads[1]:.1f} after on {os.cpu_count()} CPUs"
        + (
            ": the machine was shared with other jobs, so these rates are lower bounds."
            if shared
            else "."
        )
    )
    rss = "met" if ratio <= RSS_TARGET else "MISSED"
    size_note = "{:.0f}x{:.0f} px".format(*rows[1][1]["mean_shape"])
    return (
        f"Line-level builds (`levels=['line']`, workers={workers}, each in a fresh process) "
        f"from synthetic JSONL line sets (`write_line_set`, mean {size_note}, noisy scans): "
        "read with medocr.io, hashed, stored (plain gray PNGs byte for byte), sharded, "
        "resized to 48 px for the line cache (streamed to a temporary file, one packed file "
        "per work item and split), merged (dedup, card).\n\n"
        + "\n".join(table)
        + f"\n\nPeak RSS ratio ({rows[1][0]} / {rows[0][0]} lines, both with the cache): "
        f"**{ratio:.3f}**, target <= {RSS_TARGET}: **{rss}**. {cost}\n\n"
        f"tf.data reader: `line_dataset(shard_lines(ds, 'train'), {HEIGHT}, 64, "
        "training=False)`, one ordered pass after the first batch (whose wait, building the "
        "pipeline or opening the cache, is shown apart), the same tensors both "
        "ways ((64, 48, W, 1) float32 ink, (64,) int32 widths, (64, L) int32 labels). "
        "PNG decode: parallel decode of the stored PNG, prepare_line, width buckets, padding "
        "(the reader before the cache; `cache=False`). Line cache: the raw 48-px lines "
        "mapped from the cache files, bucketed and padded in numpy, handed to TensorFlow "
        "without a copy. Same images and labels: the multisets of (image, label) of the "
        "two passes are equal.\n\n"
        + "\n".join(reader_table)
        + "\n\nCPU-bound ceiling: the rate if the reader had its cores to itself, the CPU "
        "seconds available per second (2 for the parallel PNG decode, 1 for the single "
        "thread that batches the cache) divided by the CPU time per line (which contention "
        "also inflates). numpy `iter_units` (full-resolution PNGs, no TensorFlow), lines/s: "
        f"{numpy_rates}.\n\n{note}"
    )


if __name__ == "__main__":
    main()
