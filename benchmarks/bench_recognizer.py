"""Benchmark: the CRNN recognizer's accuracy and speed (the model card's figures).

Accuracy: CER and WER on three line sets, each decoded greedily, with the lexicon word
beam search (fr-medical lexicon, words only) and with word beam + bigram LM; Tesseract 5
(``fra``, ``--psm 7``, via pytesseract) on the same lines when it is installed (at most
``--tesseract-lines`` lines per set, the first ones, as it reads ~4 lines/s):

- ``synth-crops``: fresh synthetic field crops (``medocr.synth.lines``, seed 3), never seen
  in training (the training lines use seeds 1 and 2). Each is a whole field box with its
  margins, the text filling about a fifth of the height (this set was ``synth-test`` up to
  0.2.0);
- ``synth-cut``: the lines the reading pipeline cuts (``medocr dataset field-lines``) from
  ``--certificates`` fresh synthetic certificates (``medocr synth --seed 3``; training used
  seeds 21 and 22). This is what the recognizer sees when it reads a certificate;
- ``poilus-val``: ../shared/data/poilus-lines/val.jsonl (13 writers held out of training);
- ``lectaurep-val``, ``copiste-val``, ``peraire-val``, ``cremma-mss19-val``: the val splits
  of the other real line sets (writers or documents held out of training).

Speed: lines/s on this machine at batch 1 and batch 64, TensorFlow and ONNX Runtime
(exported to a temporary copy of the bundle when it has no ONNX file).

    python benchmarks/bench_recognizer.py [--bundle fr-crnn-small] [--data ../shared/data]
        [--synth-lines 500] [--certificates 100] [--max-lines 0] [--tesseract-lines 150] [--update-card]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from results import record, use_data  # noqa: E402

from medocr.dataset.readers import load_line, read_line_set  # noqa: E402
from medocr.decode import greedy, word_beam_search  # noqa: E402
from medocr.evaluate.metrics import cer, wer  # noqa: E402
from medocr.lexicon import load_lexicon  # noqa: E402
from medocr.recognize.runtime import DEFAULT_MODEL, Recognizer  # noqa: E402


def synth_lines(count: int) -> tuple[list[np.ndarray], list[str]]:
    from medocr.synth.fonts import find_handwriting_fonts
    from medocr.synth.lines import render_line
    from medocr.synth.text import Vocabulary

    fonts, vocabulary = find_handwriting_fonts(), Vocabulary.default()
    lines = [
        render_line(np.random.default_rng(np.random.SeedSequence([3, i, 7])), fonts, vocabulary)
        for i in range(count)
    ]
    return [line.image for line in lines], [line.text for line in lines]


def certificate_lines(count: int) -> tuple[list[np.ndarray], list[str]]:
    """Lines cut by the reading pipeline from `count` fresh synthetic certificates (seed 3)."""
    from medocr.dataset.fieldlines import write_field_lines
    from medocr.synth.runner import synthesize

    with tempfile.TemporaryDirectory() as work:
        synthesize(Path(work) / "certs", count, seed=3, workers=2)
        write_field_lines(Path(work) / "certs", Path(work) / "lines", workers=2)
        return real_lines(Path(work) / "lines" / "lines.jsonl", 0)


def real_lines(path: Path, limit: int) -> tuple[list[np.ndarray], list[str]]:
    records = read_line_set(path).records
    if limit:
        records = records[:limit]
    return [load_line(r) for r in records], [r.text for r in records]


def decoders(recognizer: Recognizer):
    lexicon = load_lexicon()
    chars = set(recognizer.alphabet.chars)
    return {
        "greedy": lambda p: greedy(p).text,
        "word beam": lambda p: word_beam_search(p, lexicon, beam_width=16).text,
        "word beam + bigram": lambda p: (
            word_beam_search(p, lexicon, beam_width=16, lm=lexicon.bigrams).text
        ),
    }, chars


def tesseract(images: list[np.ndarray]) -> list[str] | None:
    try:
        import pytesseract

        pytesseract.get_tesseract_version()
    except Exception:  # not installed: skipped with a message
        return None
    return [
        pytesseract.image_to_string(image, lang="fra", config="--psm 7").strip() for image in images
    ]


def speed(recognizer_path: Path, images: list[np.ndarray]) -> dict[str, float]:
    figures = {}
    with tempfile.TemporaryDirectory() as work:
        bundle = Path(work) / "bundle"
        shutil.copytree(recognizer_path, bundle)
        if not (bundle / "model.onnx").exists():
            from medocr.recognize.export import export_onnx

            export_onnx(bundle)
        for backend in ("tensorflow", "onnx"):
            recognizer = Recognizer.load(bundle, backend=backend)
            recognizer.predict(images[:64])
            for batch in (1, 64):
                subset = images[: 64 if batch == 1 else 256]
                start = time.perf_counter()
                recognizer.predict(subset, batch_size=batch)
                figures[f"{backend} batch {batch}"] = len(subset) / (time.perf_counter() - start)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bundle", default=DEFAULT_MODEL)
    parser.add_argument("--data", default=os.environ.get("MEDOCR_DATA", "../shared/data"))
    parser.add_argument("--synth-lines", type=int, default=500)
    parser.add_argument(
        "--certificates",
        type=int,
        default=100,
        help="synthetic certificates cut into the synth-cut set",
    )
    parser.add_argument("--max-lines", type=int, default=0, help="per real set (0 = all)")
    parser.add_argument("--tesseract-lines", type=int, default=150)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument(
        "--card",
        action="store_true",
        help="also rewrite the bundle's MODEL_CARD.md with these figures",
    )
    parser.add_argument(
        "--version",
        default="0.1.0",
        help="with --card: the version recorded in the bundle (default 0.1.0)",
    )
    args = parser.parse_args()
    use_data(args.data)  # the sampler's CIM-10 words come from --data
    from medocr.bundles import resolve

    folder = resolve(args.bundle)
    recognizer = Recognizer.load(folder, backend="tensorflow")
    sets = {
        "synth-crops": synth_lines(args.synth_lines),
        "synth-cut": certificate_lines(args.certificates),
    }
    data = Path(args.data)
    for prefix in ("poilus", "lectaurep", "copiste", "peraire", "cremma-mss19"):
        name, sub = f"{prefix}-val", f"{prefix}-lines"
        path = data / sub / "val.jsonl"
        if path.exists():
            sets[name] = real_lines(path, args.max_lines)
        else:
            print(f"{path} not found: {name} skipped (set --data or MEDOCR_DATA)")
    decode, _ = decoders(recognizer)
    rows = []
    for name, (images, truths) in sets.items():
        probs = recognizer.predict(images)
        for label, function in decode.items():
            guesses = [function(p) for p in probs]
            rows.append((name, label, len(truths), cer(truths, guesses), wer(truths, guesses)))
            print(rows[-1])
        count = min(args.tesseract_lines, len(images))
        read = tesseract(images[:count])
        if read is None:
            print("tesseract not installed: its rows are skipped")
        else:
            rows.append(
                (
                    name,
                    "Tesseract 5 fra psm 7",
                    count,
                    cer(truths[:count], read),
                    wer(truths[:count], read),
                )
            )
            print(rows[-1])
    rates = speed(folder, sets["synth-crops"][0])
    table = ["| line set | decoder | lines | CER | WER |", "|---|---|---:|---:|---:|"]
    table += [f"| {n} | {d} | {c} | {e:.2%} | {w:.2%} |" for n, d, c, e, w in rows]
    speeds = ["| backend | lines/s |", "|---|---:|"]
    speeds += [f"| {k} | {v:.0f} |" for k, v in rates.items()]
    meta = recognizer.meta
    body = (
        f"Bundle `{args.bundle}` ({meta['parameters']:,} parameters, height "
        f"{meta['input_height']}, {len(recognizer.alphabet.chars)} characters; "
        f"{trained_text(meta['training']).lower()}).\n\n"
        + "\n".join(table)
        + "\n\nSpeed (synth-crops lines, this machine):\n\n"
        + "\n".join(speeds)
        + "\n\nTargets: synthetic CER <= 2% greedy; poilus-val CER <= 15%; >= 300 lines/s "
        "at batch 64."
    )
    print(body)
    if not args.no_record:
        record("recognizer", "CRNN recognizer (model card figures)", body)
    if args.card:
        write_card(folder, recognizer, body, args.version)


def write_card(folder: Path, recognizer: Recognizer, figures: str, version: str) -> None:
    """Write MODEL_CARD.md into the bundle and re-seal it (and the package hashes if shipped)."""
    from medocr.bundles import is_shipped, update_shipped, write_meta
    from medocr.recognize.runtime import KIND

    meta = recognizer.meta
    training = meta["training"]
    sources = "\n".join(
        f"- **{d['name']}**: {d['train_lines']:,} lines ({d['train_documents']:,} writers or "
        f"documents), sampling weight {d['weight']}, from `{d['train']}`"
        + (f"; {d['attribution']}" if d.get("attribution") else "")
        for d in training.get("data", [])
    )
    card = CARD.format(
        name=folder.name,
        parameters=meta["parameters"],
        height=meta["input_height"],
        chars="".join(recognizer.alphabet.chars),
        n_chars=len(recognizer.alphabet.chars),
        sources=sources,
        command=training.get("command", "?"),
        trained=trained_text(training),
        attributions=attribution_text(training.get("data", [])),
        figures=figures,
        lineage=LINEAGE.get(version, ""),
        calibration=calibration_text(folder),
    )
    (folder / "MODEL_CARD.md").write_text(card, encoding="utf-8")
    keep = {
        k: v
        for k, v in meta.items()
        if k not in ("format_version", "kind", "files", "medocr_version")
    }
    keep.update(name=folder.name, version=version)
    write_meta(folder, KIND, keep)
    if is_shipped(folder):
        update_shipped()
    print(f"wrote {folder / 'MODEL_CARD.md'} and re-hashed the bundle")


# How each shipped version was obtained, when it continues an earlier run.
LINEAGE = {
    "0.2.0": "Version 0.2.0 continues 0.1.0: the 0.1.0 run (`--data poilus@0.4 lectaurep@0.3 "
    "synth@0.3`, 11 epochs of 300 x 32 lines) initialised this fine-tuning run, which added "
    "the certificate field lines (its command asked for a learning rate of 5e-4; its "
    "results.json recorded 1e-3 at every epoch).\n\n",
    "0.3.0": "Version 0.3.0 continues 0.2.0 (0.1.0: `--data poilus@0.4 lectaurep@0.3 "
    "synth@0.3` from scratch, 11 epochs of 300 x 32 lines; 0.2.0: + the certificate field "
    "lines, 8 epochs). A first run with the same four sources, learning rate 3e-4 and seed 2 "
    "(`--init fr-crnn-small` 0.2.0 `--out /work/runs/crnn-v3`, stopped once after epoch 3 "
    "and resumed) trained 16 epochs; its best epoch (15) initialised the run below, which "
    "lowered the learning rate to 1e-4.\n\n",
    "0.4.0": "Version 0.4.0 is a new model trained on a lent GPU (one H200) with the prepared "
    "recipe (`scripts/gpu-recipe.sh`, Keras 3 on JAX, the portable trainer then at `medocr.recognize.portable`, now `medocr.training.portable`) on every "
    "real line set and two synthetic sources packed by `scripts/pack-gpu-lines.sh`: first "
    "from scratch for 7.5 minutes (peak learning rate 1.5e-3, 859,904 lines seen), then "
    "continued from that run's best for 4.8 minutes (peak 5e-4, 496,000 lines seen). Same "
    "architecture as 0.3.0; it does not continue 0.3.0.\n\n",
    "0.5.0": "Version 0.5.0 continues 0.4.0 on this machine's 2 CPU cores with the TF trainer "
    "(`scripts/train-default.sh`, every real line set and the two synthetic sources): (1) "
    "28 epochs of 150 x 32 lines at learning rate 1e-4 (`--out /work/runs/crnn-cpu`), whose "
    "best epoch alone was no better than 0.4.0; (2) the mean of 0.4.0 and that epoch "
    "(`python -m medocr.training.average`), better than 0.4.0 on every validation set; (3) "
    "from that mean, 19 epochs of 300 x 32 lines at 1e-4 (halved twice by the plateau rule) "
    "with crop jitter in the augmentation and weight averaging from the first epoch "
    "(`--average-from 1`): 0.5.0 is the mean of the weights at the end of those 19 epochs "
    "(`OUT/average`). About 1.9 hours of training steps on 2 cores (validation apart).\n\n",
    "0.5.1": "Version 0.5.1 continues 0.5.0 after the reading pipeline changed how it cuts lines "
    "(2026-12-02: the gray of strokes the binarisation misses is kept, docs/pipeline.md): the "
    "certificate field lines were cut again, then `scripts/train-default.sh` (every real line "
    "set and the two synthetic sources, learning rate 1e-4, `--patience 12`, weights averaged "
    "from the first epoch) ran 11 epochs of 300 x 32 lines from 0.5.0 on this machine's 2 CPU "
    "cores; 0.5.1 is the mean of the weights at the end of those 11 epochs (`OUT/average`). "
    "About 1 hour of training steps (validation apart). Its calibration is refitted for the "
    "new line cutting, the widened reading of dense lines and the second look at faint "
    "fields.\n\n",
}


# Attribution of each training source, by the source names the recipes use.
ATTRIBUTIONS = {
    "poilus": 'poilus-lines: HTR-United "CREMMA-AN-TestamentsDePoilus" (Archives nationales, '
    "Testaments de Poilus), DOI 10.5281/zenodo.10177106, CC BY 4.0",
    "lectaurep": 'lectaurep-lines: HTR-United "lectaurep-repertoires" (Archives nationales / '
    "Inria LECTAUREP), CC BY 4.0",
    "copiste": 'copiste-lines: BAnQ "Copiste d\'un jour" (project managers Adèle Aubin and '
    "Pascale Montmartin; the volunteer copyists), CC BY 4.0",
    "peraire": "peraire-lines: Chagué, A., & Pérez, G. (2023), Peraire Ground Truth 2.0.0 "
    "(Digital Peraire, P. Dubourg Glatigny; documents held at the Bibliothèque Sébert, "
    "Espéranto-France, Paris), CC BY 4.0",
    "cremma-mss19": "cremma-mss19-lines: HTR-United CREMMA-MSS-19 (CREMMA project; T. Clérice, "
    "A. Chagué, B. Davoury, S. Doat, M. Faure, M. Humeau), CC BY 4.0",
    "cremma-mss20": "cremma-mss20-lines: HTR-United CREMMA-MSS-20 (CREMMA project; T. Clérice, "
    "A. Chagué), CC BY 4.0",
    "celestine": "celestine-lines: A. Chagué, J. Cissé, R. Kichou, dataset-celestine-doniau-"
    "danest (Journal de Célestine Doniau-Danest, Archives départementales de la Somme, "
    "134J94), CC BY 4.0",
    "synth": "synthetic lines: generated by medocr (`medocr synth-lines`) from handwriting "
    "fonts of Debian `fonts-*` and npm `@fontsource/*` packages",
    "certlines": "certificate field lines: synthetic certificates (`medocr synth`) cut into "
    "lines exactly as the reading pipeline cuts them (`medocr dataset field-lines`)",
}
ATTRIBUTIONS["synthlines"] = ATTRIBUTIONS["synth"]


def attribution_text(data: list[dict]) -> str:
    """One attribution bullet per training source (a source not known here says so)."""
    return "\n".join(
        f"- {ATTRIBUTIONS.get(d['name'], d.get('attribution') or d['name'] + ': see its source')}"
        for d in data
    )


def trained_text(training: dict) -> str:
    """How the bundle was trained: epochs on CPU (TF trainer) or lines seen (portable)."""
    if "trainer" in training:
        return (
            f"Trained with {training['trainer']}, {training.get('lines_seen', 0):,} lines seen "
            f"in this last run"
        )
    return f"Trained on 2 CPU cores (no GPU), best epoch {training.get('epoch', '?')}"


def calibration_text(folder: Path) -> str:
    """Describe the bundle's calibration.json (or its absence) for the card."""
    import json

    path = folder / "calibration.json"
    if not path.exists():
        return "None: confidences are raw decoder posteriors."
    data = json.loads(path.read_text("utf-8"))
    rows = ["| field kind | validation fields | accept at (0.5% / 1% / 2% error) |",
            "|---|---:|---:|"]  # fmt: skip
    for kind, entry in sorted(data["kinds"].items()):
        cells = [("never" if v is None else f"{v:.3f}") for v in entry["thresholds"].values()]
        rows.append(f"| {kind} | {entry['fields']} | {' / '.join(cells)} |")
    return (
        f"`calibration.json`: isotonic maps per field kind fitted with `medocr evaluate "
        f"--fit-calibration` on {data['source']}. The pipeline reports calibrated "
        'confidences and accepts at these thresholds ("never": no threshold keeps the '
        "validation fields under that error):\n\n" + "\n".join(rows)
    )


CARD = """# Model card: {name}

CRNN line recognizer (convolutions + 2 bidirectional LSTMs, CTC, blank last) of medocr,
shipped in the package and loaded by name (`Recognizer.load("{name}")`), offline.

- Parameters: {parameters:,}; input height {height} px, variable width; 1 frame per 4 px.
- Alphabet ({n_chars} characters + blank): `{chars}`
- Output: per-frame probabilities only; decoding (greedy, lexicon word beam search) is
  `medocr.decode`'s job.

## Training data

{sources}

Attributions:

{attributions}

The weights are a derived work of these CC BY 4.0 line sets: keep this attribution with them.

{lineage}{trained}, with:

```
{command}
```

## Confidence calibration

{calibration}

## Metrics

Reproduce with `python benchmarks/bench_recognizer.py --card` (needs ../shared/data):

{figures}

## Limits

- Trained for minutes on a GPU and hours on CPU: not converged. Real cursive it never saw
  (other writers, other periods) reads with many errors; use the confidence and route to
  review.
- Synthetic lines come from fonts, not from doctors: the certificate domain is only
  approximated. Fine-tune on real annotated certificate lines (`medocr train recognizer
  --init {name} ...`, see examples/) before relying on it.
- The medical lexicon helps on cause-of-death text, not on other text.
"""


if __name__ == "__main__":
    main()
