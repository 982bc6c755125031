"""Fine-tune the shipped recognizer on your own annotated lines (the CépiDc recipe).

1. Put your line images in a folder and describe them in a CSV ``image,text,writer``
   (image paths relative to the CSV; one writer = one doctor or one certificate).
2. This script converts the CSV to the JSONL line-set format, splits it by writer (no
   writer in both train and validation), and fine-tunes from the shipped model: the
   alphabet is extended with any new character without losing the learned ones.
3. The result is a bundle in OUT/best; export it for fast CPU inference with
   ``medocr export OUT/best --onnx`` and load it with ``Recognizer.load("OUT/best")``.

    python examples/finetune_recognizer.py lines.csv --out runs/cepidc-ft --epochs 20

At CépiDc's scale (millions of lines), build a sharded dataset first
(``medocr dataset build``, see docs/dataset.md), train on a GPU with
``--preset large``, and keep a share of synthetic lines in the mix (``--data synth=...``).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
from pathlib import Path

from medocr.recognize.runtime import DEFAULT_MODEL
from medocr.training.recognizer import DataSource, TrainConfig, Trainer


def csv_to_line_sets(table: Path, out: Path, val_share: float) -> tuple[Path, Path]:
    """Write train.jsonl and val.jsonl (split by writer, deterministic) next to `out`."""
    out.mkdir(parents=True, exist_ok=True)
    rows = {"train": [], "val": []}
    with open(table, encoding="utf-8", newline="") as stream:
        for number, row in enumerate(csv.DictReader(stream), start=2):
            if not row.get("image") or row.get("text") is None:
                raise SystemExit(f"{table}:{number}: needs 'image' and 'text' columns")
            writer = row.get("writer") or f"row-{number}"
            share = int(hashlib.sha256(writer.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
            image = str((table.parent / row["image"]).resolve())
            rows["val" if share < val_share else "train"].append(
                {"image": image, "text": row["text"], "document": writer}
            )
    paths = []
    for split, items in rows.items():
        path = out / f"{split}.jsonl"
        path.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in items), encoding="utf-8"
        )
        paths.append(path)
    return paths[0], paths[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("table", type=Path, help="CSV with image,text,writer columns")
    parser.add_argument("--out", type=Path, required=True, help="run folder")
    parser.add_argument("--init", default=DEFAULT_MODEL, help="bundle to start from")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--val-share", type=float, default=0.1)
    args = parser.parse_args()
    train, val = csv_to_line_sets(args.table, args.out / "data", args.val_share)
    config = TrainConfig(
        sources=[DataSource("own", str(train), str(val))],
        out_dir=str(args.out),
        init=args.init,
        epochs=args.epochs,
        learning_rate=3e-4,
        steps_per_epoch=200,
        min_char_count=1,
    )
    results = Trainer(config).run()
    print(
        f"best validation CER {results['best']:.4f} at epoch {results['best_epoch']}: "
        f"{args.out / 'best'}"
    )


if __name__ == "__main__":
    main()
