"""Make the decoder regression fixtures in tests/data/decoder/ (see its README.md).

Runs the shipped recognizer (``fr-crnn-small``) on a few lines of the real validation sets
``poilus-lines`` and ``lectaurep-lines`` and stores its frame probabilities
(``frames.npz``), then decodes them with every decoder of tests/test_decode_fixtures.py and
stores the readings with the ground truth (``expected.json``).

    python scripts/make-decoder-fixtures.py --data ../shared/data   # or MEDOCR_DATA=...
    python scripts/make-decoder-fixtures.py --expectations-only     # decoders changed on purpose

``--expectations-only`` keeps the stored probabilities and lines, and only decodes them
again: it needs neither the data nor the recognizer.

Lines: in each source's ``val.jsonl`` (writers never seen in training), the texts of 10 to
40 characters, ordered by the sha1 of the image file name, one line per document (writer or
register) until ``--per-source`` are taken. Each line is run alone (``batch_size=1``): the
network reads padding, so a line's probabilities depend on the lines batched with it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_decode_fixtures import FIXTURES, fixture_probs, load_fixtures, make_decoders  # noqa: E402

from medocr.dataset.readers import LineRecord, load_line, read_line_set  # noqa: E402
from medocr.lexicon import load_lexicon  # noqa: E402
from medocr.recognize.alphabet import Alphabet  # noqa: E402
from medocr.types import FrameProbs  # noqa: E402

SOURCES = ("poilus-lines", "lectaurep-lines")
MODEL = "fr-crnn-small"
SETTINGS = {
    "greedy": {},
    "beam": {"beam_width": 16, "n_best": 5},
    "wordbeam": {"beam_width": 16, "n_best": 5, "lexicon": "shipped", "lm": None},
    "wordbeam_bigram": {"beam_width": 16, "n_best": 5, "lexicon": "shipped", "lm": "bigrams"},
}


def pick_lines(data: Path, source: str, count: int) -> list[LineRecord]:
    """`count` lines of `source`'s validation set, one per document (see the module doc)."""
    records = [
        r for r in read_line_set(data / source / "val.jsonl").records if 10 <= len(r.text) <= 40
    ]
    records.sort(key=lambda r: hashlib.sha1(Path(r.image).name.encode()).hexdigest())
    picked, documents = [], set()
    for record in records:
        if record.document not in documents:
            picked.append(record)
            documents.add(record.document)
        if len(picked) == count:
            return picked
    raise SystemExit(f"{source}: only {len(picked)} usable lines, {count} asked")


def run_recognizer(
    data: Path, per_source: int
) -> tuple[list[dict], dict[str, np.ndarray], Alphabet, str]:
    """Line descriptions, stored float16 probabilities by key, the alphabet, the model ref."""
    from medocr.recognize.runtime import Recognizer

    recognizer = Recognizer.load(MODEL)
    lines, stored = [], {}
    for source in SOURCES:
        records = pick_lines(data, source, per_source)
        for index, (record, probs) in enumerate(
            zip(
                records,
                recognizer.predict([load_line(r) for r in records], batch_size=1),
                strict=True,
            )
        ):
            key = f"{source.removesuffix('-lines')}-{index:02d}"
            stored[key] = probs.probs.astype(np.float16)
            lines.append(
                {
                    "key": key,
                    "source": source,
                    "image": Path(record.image).name,
                    "document": record.document,
                    "truth": record.text,
                    "frames": int(probs.probs.shape[0]),
                }
            )
    return lines, stored, recognizer.alphabet, recognizer.ref


def decode(lines: list[dict], probs: dict[str, FrameProbs]) -> None:
    """Add each decoder's reading of each line (``line["decodes"][name]``)."""
    decoders = make_decoders()
    for line in lines:
        line["decodes"] = {
            name: _rounded(fn(probs[line["key"]]).to_dict()) for name, fn in decoders.items()
        }


def _rounded(value: Any) -> Any:
    """`value` with its floats to 8 significant digits (the test compares to 1e-4)."""
    if isinstance(value, float):
        return float(f"{value:.8g}")
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def _one_line(match: re.Match[str]) -> str:
    return "[" + re.sub(r",\s+", ", ", match.group(1)) + "]"


def main() -> None:
    """Parse the command line; write frames.npz (unless --expectations-only) and expected.json."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=os.environ.get("MEDOCR_DATA"),
        help="the shared data folder (default: $MEDOCR_DATA)",
    )
    parser.add_argument("--out", type=Path, default=FIXTURES)
    parser.add_argument("--per-source", type=int, default=5)
    parser.add_argument(
        "--expectations-only", action="store_true", help="decode the stored probabilities again"
    )
    args = parser.parse_args()
    if args.expectations_only:
        expected, probs = load_fixtures(args.out)
        lines = expected["lines"]
    else:
        if args.data is None or not Path(args.data).is_dir():
            parser.error("give the shared data folder with --data or MEDOCR_DATA")
        lines, stored, alphabet, model = run_recognizer(Path(args.data), args.per_source)
        args.out.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(args.out / "frames.npz", **stored)
        probs = {key: fixture_probs(matrix, alphabet) for key, matrix in stored.items()}
        expected = {"model": model, "alphabet": alphabet.to_dict()}
    decode(lines, probs)
    expected.update(
        lexicon=load_lexicon().ref,
        settings=SETTINGS,
        lines=lines,
    )
    text = json.dumps(expected, ensure_ascii=False, indent=1) + "\n"
    text = re.sub(r"\[\s+([^][{}]*?)\s+\]", _one_line, text)  # [..] of numbers and texts
    (args.out / "expected.json").write_text(text, encoding="utf-8")
    for line in lines:
        readings = " | ".join(line["decodes"][name]["text"] for name in SETTINGS)
        print(f"{line['key']}: {line['truth']!r} -> {readings}")


if __name__ == "__main__":
    main()
