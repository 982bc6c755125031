"""Benchmark: the CTC CRNN and the attention encoder-decoder, same training data and budget.

Both recognizers are meant to come from training runs on the same line sets with the
same CPU budget (``--ctc-run`` / ``--attention-run``: their ``results.json`` gives the
configuration, epochs, budget and training lines/s, said in the recorded preamble).
What is measured, one row per family:

- parameters (the bundle's ``meta.json``);
- training lines/s: mean of the run's per-epoch ``lines_per_s``;
- inference lines/s on the first 256 lines of poilus-val + lectaurep-val, batch 64,
  after a warm-up call: TensorFlow — CTC ``predict`` + ``greedy``, attention
  ``read_greedy`` (batched greedy, incremental numpy decoder); ONNX Runtime (exported to
  a temporary copy of the bundle when it has no ONNX files; attention: the encoder on
  ONNX Runtime, the decoder in numpy);
- with ``--routing N``: each bundle (a temporary copy) gets a calibration fitted by
  ``medocr evaluate --fit-calibration`` on N synthetic certificates (seed 41), then reads N
  fresh ones (seed 4242) with the default pipeline: ECE, automation at 1 % error, share
  of written fields accepted and wrong among them, seconds per certificate;
- CER / WER (:mod:`medocr.evaluate.metrics`) on poilus-val, lectaurep-val and synth-cut
  (the lines the reading pipeline cuts from ``--certificates`` fresh synthetic
  certificates, seed 3, as in ``bench_recognizer.py``): greedy (the same functions as the
  speed figure) and lexicon (word beam + bigram, beam 16, the shipped fr-medical lexicon
  and its bigrams: :func:`medocr.evaluate.compare.family_decoders`), with the lexicon
  decoding's own lines/s (decoder only, all sets pooled).

A second table gives the greedy CER by truth length in characters (1–10, 11–25, 26–50,
51+; the three sets pooled), a third the failure modes known for attention models, all on
greedy readings of the three sets pooled: empty output for a non-empty truth; a word
repeated at once (``"de de"``, case-folded words) where the truth repeats none; 60 blank
crops (paper-grey lines with mild noise, heights 40–60, widths 100–900, seed 7) read as
non-empty (hallucination); mean output length / truth length on truths over 50
characters (early stopping shows below 1).

Progress goes to stderr, the Markdown body to stdout and to ``benchmarks/RESULTS.md``
(section "families").

    python benchmarks/bench_families.py --attention BUNDLE [--ctc fr-crnn-small]
        [--ctc-run DIR] [--attention-run DIR] [--data ../shared/data]
        [--certificates 100] [--max-lines 0] [--routing 0] [--no-record]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from bench_recognizer import certificate_lines, real_lines  # noqa: E402
from results import record, use_data  # noqa: E402

from medocr.evaluate.metrics import cer, comparable, wer  # noqa: E402

SETS = ("poilus-val", "lectaurep-val", "synth-cut")
SPEED_LINES, BATCH = 256, 64
LENGTHS = ((1, 10), (11, 25), (26, 50), (51, None))
BLANKS, BLANK_SEED = 60, 7
LONG = 50  # truths longer than this show early stopping

#: A line set: uint8 ``(h, w)`` images and their truths.
Lines = tuple[list[np.ndarray], list[str]]


@dataclass
class Family:
    """One recognizer under test, its training run and what was measured on it."""

    label: str
    bundle: str
    recognizer: Any
    run: dict[str, Any] | None
    speed: dict[str, str]
    greedy: dict[str, list[str]]
    lexicon: dict[str, list[str]]
    lexicon_rate: float
    blanks: list[str]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- data ------------------------------------------------------------------------------------


def load_sets(data: Path, certificates: int) -> dict[str, Lines]:
    """The three evaluation sets, whole."""
    sets = {}
    for name in SETS[:2]:
        path = data / f"{name.removesuffix('-val')}-lines" / "val.jsonl"
        if not path.exists():
            raise SystemExit(f"{path} not found: set --data or MEDOCR_DATA")
        sets[name] = real_lines(path, 0)
    log(f"cutting the lines of {certificates} synthetic certificates (seed 3)")
    sets["synth-cut"] = certificate_lines(certificates)
    return sets


def speed_lines(sets: dict[str, Lines]) -> list[np.ndarray]:
    """The first :data:`SPEED_LINES` lines of poilus-val then lectaurep-val."""
    return [image for name in SETS[:2] for image in sets[name][0]][:SPEED_LINES]


def first(sets: dict[str, Lines], count: int) -> dict[str, Lines]:
    """The first `count` lines of each set (0 = all)."""
    return {name: (images[: count or None], truths[: count or None])
            for name, (images, truths) in sets.items()}  # fmt: skip


def blank_crops(count: int = BLANKS, seed: int = BLANK_SEED) -> list[np.ndarray]:
    """Paper-grey line crops with mild noise: uint8 ``(h, w)``, h in 40–60, w in 100–900."""
    rng = np.random.default_rng(seed)
    crops = []
    for _ in range(count):
        height, width = int(rng.integers(40, 61)), int(rng.integers(100, 901))
        paper = rng.uniform(205, 245) + rng.normal(0, 4, (height, width))
        crops.append(np.clip(paper, 0, 255).astype(np.uint8))
    return crops


# --- reading ---------------------------------------------------------------------------------


def greedy_texts(recognizer: Any, images: Sequence[np.ndarray]) -> list[str]:
    """Greedy readings: CTC ``predict`` + ``greedy``; attention ``read_greedy`` (batched)."""
    from medocr.decode import greedy

    if recognizer.family == "attention":
        return recognizer.read_greedy(images, batch_size=BATCH)
    return [greedy(p).text for p in recognizer.predict(images, batch_size=BATCH)]


def lines_per_s(recognizer: Any, images: Sequence[np.ndarray]) -> float:
    """Greedy reading rate on `images` after a warm-up call on the first batch."""
    greedy_texts(recognizer, images[:BATCH])
    start = time.perf_counter()
    greedy_texts(recognizer, images)
    return len(images) / (time.perf_counter() - start)


def onnx_rate(recognizer: Any, images: Sequence[np.ndarray]) -> str:
    """ONNX Runtime lines/s of a bundle, exported to a temporary copy when it has no ONNX.

    The attention family runs its encoder on ONNX Runtime and its decoder in numpy
    (``decoder.npz``, incremental), as the runtime does with ``backend="onnx"``.
    """
    from medocr.recognize.export import export_onnx
    from medocr.recognize.runtime import load_recognizer

    exported = "model.onnx" if recognizer.family == "ctc" else "encoder.onnx"
    with tempfile.TemporaryDirectory() as work:
        folder = Path(recognizer.folder)
        if not (folder / exported).exists():
            folder = Path(work) / "bundle"
            shutil.copytree(recognizer.folder, folder)
            export_onnx(folder)
        return f"{lines_per_s(load_recognizer(folder, backend='onnx'), images):.0f}"


def lexicon_texts(decode: Callable[[Any], Any], outputs: Sequence[Any]) -> list[str]:
    """Word beam + bigram readings of recognizer outputs, one line at a time."""
    texts = []
    for output in outputs:
        texts.append(decode(output).text)
        if len(texts) % 50 == 0:
            log(f"  lexicon: {len(texts)}/{len(outputs)} lines")
    return texts


def load(bundle: str, family: str) -> Any:
    """Load a recognizer bundle, checking it is of `family` (``ctc`` or ``attention``)."""
    from medocr.recognize.runtime import load_recognizer

    recognizer = load_recognizer(bundle, backend="tensorflow")
    if recognizer.family != family:
        raise SystemExit(f"--{family} {bundle}: a {recognizer.family} recognizer, not {family}")
    log(f"{family}: {recognizer.ref}")
    return recognizer


def lexicon_readings(recognizer: Any, sets: dict[str, Lines]) -> tuple[dict, float]:
    """Word beam + bigram readings of every set, and the decoder's lines/s (decoding only)."""
    from medocr.evaluate.compare import family_decoders
    from medocr.lexicon import load_lexicon

    decode = family_decoders(recognizer.family, load_lexicon())["word beam + bigram"]
    readings, seconds = {}, 0.0
    for name, (images, _) in sets.items():
        log(f"{recognizer.family}: {name}, {len(images)} lines, word beam + bigram")
        outputs = recognizer.predict(images)
        start = time.perf_counter()
        readings[name] = lexicon_texts(decode, outputs)
        seconds += time.perf_counter() - start
    count = sum(len(images) for images, _ in sets.values())
    return readings, count / seconds if seconds else float("nan")


def measure(recognizer: Any, bundle: str, run: dict | None, sets: dict, speed: list) -> Family:
    """Take every measurement of one recognizer."""
    family = recognizer.family
    rates = {"tf": f"{lines_per_s(recognizer, speed):.0f}", "onnx": onnx_rate(recognizer, speed)}
    log(f"{family}: {rates} lines/s on {len(speed)} lines")
    greedy = {name: greedy_texts(recognizer, images) for name, (images, _) in sets.items()}
    lexicon, rate = lexicon_readings(recognizer, sets)
    blanks = greedy_texts(recognizer, blank_crops())
    label = "CTC" if family == "ctc" else family
    return Family(label, bundle, recognizer, run, rates, greedy, lexicon, rate, blanks)


# --- routing: calibration fitted, then fresh certificates --------------------------------


def routing(bundle: str, count: int, work: Path) -> dict[str, float]:
    """Fit a calibration on `count` certificates (seed 41), read `count` fresh ones (4242).

    The calibration is fitted by ``medocr evaluate --fit-calibration`` on a temporary copy
    of the bundle (as a user would); the fresh certificates are read with the default
    pipeline on that copy. Returns ECE, automation at 1 % error (own confidences, all
    text fields) and, on written fields, the share the calibrated routes accept and the
    share wrong among those.
    """
    import subprocess

    from bench_routing import routing_row

    from medocr.evaluate.fields import summarize
    from medocr.evaluate.run import evaluate_certificates
    from medocr.pipeline import Pipeline
    from medocr.synth.runner import synthesize

    copy = work / f"bundle-{Path(bundle).name}-{len(list(work.iterdir()))}"
    shutil.copytree(recognizer_folder(bundle), copy)
    for seed in (41, 4242):
        if not (work / f"certs-{seed}").exists():
            synthesize(work / f"certs-{seed}", count, seed=seed, workers=2)
    log(f"{bundle}: fitting the calibration on {count} certificates (seed 41)")
    subprocess.run(
        [sys.executable, "-m", "medocr.cli", "evaluate", str(work / "certs-41"), "--model",
         str(copy), "--out", str(work / f"report-{copy.name}"), "--fit-calibration", str(copy)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    log(f"{bundle}: reading {count} fresh certificates (seed 4242)")
    run = evaluate_certificates(work / "certs-4242", Pipeline(model=str(copy)))
    text = [o for o in run.outcomes if o.kind != "checkbox"]
    scores, routed = summarize(text), routing_row(text)
    return {
        "fields": len(text),
        "ece": scores["ece"],
        "automation": scores["automation"]["0.01"]["share"],
        "written_accepted": routed["written_accepted"],
        "written_wrong": routed["written_wrong"],
        "seconds_per_certificate": run.seconds / max(1, run.units),
    }


def recognizer_folder(bundle: str) -> Path:
    """The folder of a bundle given by path or shipped name."""
    from medocr.bundles import resolve

    return resolve(bundle)


def routing_table(families: Sequence[Family], figures: dict[str, dict[str, float]]) -> str:
    """ECE, automation and calibrated routing of each family on fresh certificates."""
    lines = [
        "| family | text fields | ECE after calibration | automation at 1 % error | "
        "written fields accepted | wrong among accepted (written) | s / certificate |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for family in families:
        f = figures[family.label]
        lines.append(
            f"| {family.label} | {f['fields']} | {f['ece']:.3f} | {pct(f['automation'])} | "
            f"{pct(f['written_accepted'])} | {pct(f['written_wrong'])} | "
            f"{f['seconds_per_certificate']:.2f} |"
        )
    return "\n".join(lines)


# --- training runs ---------------------------------------------------------------------------


def training_run(folder: Path) -> dict[str, Any]:
    """Summary of a training run's ``results.json``: config, epochs, lines/s, minutes."""
    if not (folder / "results.json").is_file():
        raise SystemExit(f"{folder}: no results.json (not a training run folder)")
    results = json.loads((folder / "results.json").read_text("utf-8"))
    config, history = results["config"], results["history"]
    if "steps_per_epoch" not in config or not history:
        raise SystemExit(f"{folder}: not a `medocr train recognizer` run with an epoch done")
    per_epoch = config["steps_per_epoch"] * config["batch_size"]
    seconds = sum(per_epoch / e["lines_per_s"] for e in history)  # a cut last epoch: less
    return {
        "folder": str(folder),
        "config": config,
        "epochs": len(history),
        "best_epoch": results.get("best_epoch"),
        "lines_per_s": float(np.mean([e["lines_per_s"] for e in history])),
        "lines_seen": per_epoch * len(history),
        "minutes": seconds / 60,
    }


def budget_text(family: Family) -> str:
    """One bullet saying how a family's recognizer was trained (or that it is unknown)."""
    run = family.run
    if run is None:
        return f"- {family.label} (`{family.bundle}`): no training run given"
    c = run["config"]
    sources = ", ".join(f"{s['name']}@{s['weight']:g}" for s in c["sources"])
    budget = f"budget {c['minutes']:g} min" if c.get("minutes") else "no time budget"
    return (
        f"- {family.label} (`{family.bundle}`, run `{run['folder']}`): {run['epochs']} epochs "
        f"of {c['steps_per_epoch']} steps x {c['batch_size']} lines (at most "
        f"{run['lines_seen']:,} lines seen; best epoch {run['best_epoch']}), at most {run['minutes']:.0f} min in training steps "
        f"(validation excluded), {budget}; learning rate {c['learning_rate']:g}, init "
        f"`{c.get('init')}`, seed {c['seed']}, height {c['height']}, preset {c['preset']}; "
        f"data {sources}"
    )


def same_data_text(families: Sequence[Family]) -> str:
    """Whether the runs given trained on the same sources with the same weights."""
    runs = [f.run for f in families if f.run]
    if len(runs) < 2:
        return "Training runs not given for both families: same data and budget unchecked."
    keys = [[(s["name"], s["train"], s["weight"]) for s in r["config"]["sources"]] for r in runs]
    budgets = {r["config"].get("minutes") for r in runs}
    data = "the same sources and weights" if keys[0] == keys[1] else "DIFFERENT sources"
    budget = "the same budget" if len(budgets) == 1 else "DIFFERENT budgets"
    return f"The two runs used {data} and {budget}."


# --- tables ----------------------------------------------------------------------------------


def pct(value: float) -> str:
    return f"{value:.1%}"


def share(hits: int, total: int) -> str:
    return f"{hits / total:.1%} ({hits}/{total})" if total else "n/a (0 lines)"


def main_table(families: Sequence[Family], sets: dict[str, Lines]) -> str:
    """One row per family: size, speeds, greedy and lexicon CER / WER per set."""
    head = ["family", "parameters", "training lines/s", "TF lines/s", "ONNX lines/s",
            "lexicon decode lines/s"]  # fmt: skip
    head += [f"{n} {d} CER / WER" for n in sets for d in ("greedy", "lexicon")]
    rows = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for f in families:
        params = f.recognizer.meta.get("parameters") or f.recognizer.model.count_params()
        train = f"{f.run['lines_per_s']:.1f}" if f.run else "n/a"
        cells = [f.label, f"{params:,}", train, f.speed["tf"], f.speed["onnx"],
                 f"{f.lexicon_rate:.1f}"]  # fmt: skip
        for name, (_, truths) in sets.items():
            for texts in (f.greedy[name], f.lexicon[name]):
                cells.append(f"{pct(cer(truths, texts))} / {pct(wer(truths, texts))}")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def pooled(families: Sequence[Family], sets: dict[str, Lines]) -> tuple[list[str], dict]:
    """Truths of the three sets pooled, and each family's greedy readings in that order."""
    truths = [t for _, ts in sets.values() for t in ts]
    return truths, {f.label: [g for name in sets for g in f.greedy[name]] for f in families}


def length_table(families: Sequence[Family], sets: dict[str, Lines]) -> str:
    """Greedy CER by truth length (characters after normalisation), sets pooled."""
    truths, guesses = pooled(families, sets)
    sizes = [len(comparable(t)) for t in truths]
    rows = ["| truth length | lines | " + " | ".join(f"{f.label} CER" for f in families) + " |",
            "|---|---:|" + "---:|" * len(families)]  # fmt: skip
    for low, high in LENGTHS:
        chosen = [i for i, n in enumerate(sizes) if low <= n and (high is None or n <= high)]
        span = f"{low}–{high}" if high else f"{low}+"
        cells = [pct(cer([truths[i] for i in chosen], [guesses[f.label][i] for i in chosen]))
                 if chosen else "n/a" for f in families]  # fmt: skip
        rows.append(f"| {span} | {len(chosen)} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def repeats_a_word(text: str) -> bool:
    """True when a word follows itself at once (``"de de"``; case-folded, edge punctuation off)."""
    words = [re.sub(r"^\W+|\W+$", "", w) for w in comparable(text).casefold().split()]
    words = [w for w in words if w]
    return any(a == b for a, b in zip(words, words[1:], strict=False))


def failure_row(family: Family, truths: list[str], guesses: list[str]) -> str:
    """The failure modes of one family's greedy readings (see the module docstring)."""
    filled = [i for i, t in enumerate(truths) if comparable(t)]
    empty = sum(not comparable(guesses[i]) for i in filled)
    plain = [i for i, t in enumerate(truths) if not repeats_a_word(t)]
    repeated = sum(repeats_a_word(guesses[i]) for i in plain)
    read = sum(bool(comparable(t)) for t in family.blanks)
    long = [i for i, t in enumerate(truths) if len(comparable(t)) > LONG]
    ratios = [len(comparable(guesses[i])) / len(comparable(truths[i])) for i in long]
    ratio = f"{np.mean(ratios):.2f} ({len(long)} lines)" if long else "n/a (0 lines)"
    return (
        f"| {family.label} | {share(empty, len(filled))} | {share(repeated, len(plain))} | "
        f"{share(read, len(family.blanks))} | {ratio} |"
    )


def failure_table(families: Sequence[Family], sets: dict[str, Lines]) -> str:
    truths, guesses = pooled(families, sets)
    rows = [
        "| family | empty output, non-empty truth | word repeated at once, truth has none | "
        f"blank crops read as text | output / truth length, truth > {LONG} chars |",
        "|---|---:|---:|---:|---:|",
    ]
    rows += [failure_row(f, truths, guesses[f.label]) for f in families]
    return "\n".join(rows)


def report(
    families: Sequence[Family],
    sets: dict[str, Lines],
    speed: int,
    routed: dict[str, dict[str, float]] | None = None,
    count: int = 0,
    load_before: tuple[float, ...] = (),
) -> str:
    """The Markdown body: budgets, load, the tables (``record`` adds machine and command)."""
    counts = ", ".join(f"{name} {len(truths)}" for name, (_, truths) in sets.items())
    load = ", ".join(f"{value:.2f}" for value in load_before)
    after = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return "\n".join([
        *(budget_text(f) for f in families),
        "",
        same_data_text(families),
        "",
        f"Load average (1, 5, 15 min) at the start: {load}; at the end: {after}, on 2 cores "
        "(it counts every process on the machine).",
        "",
        f"Lines: {counts}. Speeds: {speed} real lines (poilus-val, lectaurep-val), batch "
        f"{BATCH}, greedy, after a warm-up call; the lexicon decoder (word beam + bigram, "
        "beam 16, fr-medical) one line at a time, decoding only. CER / WER on greedy and "
        "lexicon readings.",
        "",
        main_table(families, sets),
        "",
        "Greedy CER by truth length (characters; the three sets pooled):",
        "",
        length_table(families, sets),
        "",
        f"Failure modes of the greedy readings (the three sets pooled; {BLANKS} blank crops, "
        f"seed {BLANK_SEED}):",
        "",
        failure_table(families, sets),
        *([
            "",
            f"Reading certificates (the pipeline's per-kind decoders, calibration fitted by "
            f"`medocr evaluate --fit-calibration` on {count} synthetic certificates of seed 41, "
            f"then {count} fresh ones of seed 4242 read; text fields):",
            "",
            routing_table(families, routed),
        ] if routed else []),
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ctc", default="fr-crnn-small", help="CTC recognizer bundle")
    parser.add_argument("--attention", required=True, help="attention recognizer bundle")
    parser.add_argument("--ctc-run", help="the CTC bundle's training run folder")
    parser.add_argument("--attention-run", help="the attention bundle's training run folder")
    parser.add_argument("--data", default=os.environ.get("MEDOCR_DATA", "../shared/data"))
    parser.add_argument("--certificates", type=int, default=100, help="for synth-cut")
    parser.add_argument("--max-lines", type=int, default=0, help="per set (0 = all)")
    parser.add_argument(
        "--routing",
        type=int,
        default=0,
        help="certificates to fit a calibration on and as many fresh ones to read (0: skip)",
    )
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()
    data = use_data(args.data)  # the sampler's CIM-10 words come from --data
    bundles = {"ctc": args.ctc, "attention": args.attention}
    runs = {"ctc": args.ctc_run, "attention": args.attention_run}
    runs = {family: training_run(Path(d)) if d else None for family, d in runs.items()}
    recognizers = {family: load(bundle, family) for family, bundle in bundles.items()}
    whole = load_sets(data, args.certificates)
    sets, speed = first(whole, args.max_lines), speed_lines(whole)
    families = [measure(r, bundles[f], runs[f], sets, speed) for f, r in recognizers.items()]
    routed = None
    if args.routing:
        with tempfile.TemporaryDirectory(prefix="bench-families-") as work:
            routed = {f.label: routing(f.bundle, args.routing, Path(work)) for f in families}
    body = report(families, sets, len(speed), routed, args.routing, load_before)
    print(body)
    if not args.no_record:
        record("families", "CTC vs attention (same data, same CPU budget)", body)


if __name__ == "__main__":
    main()
