"""Draw the ground-truth boxes of synthetic certificates over their images.

A quick visual check of what `medocr synth` produced: field boxes in blue, line boxes in
green, word boxes in orange, character boxes in red, checkbox marks in magenta.

    medocr synth --count 3 --out synth-out --seed 1
    python examples/draw_truth.py synth-out/cert-000000.json --out truth.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

import medocr

COLOURS = {
    "field": (200, 80, 0),
    "line": (0, 160, 0),
    "word": (0, 140, 255),
    "char": (0, 0, 220),
    "mark": (200, 0, 200),
}


def draw(truth_path: Path) -> np.ndarray:
    """Return a BGR ``(H, W, 3)`` picture of the certificate with its truth boxes."""
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    page = medocr.read_image(truth_path.with_name(truth["image"]))
    canvas = cv2.cvtColor(page.image, cv2.COLOR_GRAY2BGR)

    def box(b: list[int], kind: str, width: int = 1) -> None:
        cv2.rectangle(canvas, (b[0], b[1]), (b[2] - 1, b[3] - 1), COLOURS[kind], width)

    for field in truth["fields"]:
        cv2.polylines(canvas, [np.int32(field["quad"])], True, COLOURS["field"], 2)
        if "mark_box" in field:
            box(field["mark_box"], "mark", 2)
        for line in field["lines"]:
            box(line["box"], "line", 2)
            for word in line["words"]:
                box(word["box"], "word")
                for char in word["chars"]:
                    box(char["box"], "char")
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("truth", type=Path, help="a cert-NNNNNN.json written by medocr synth")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    args = parser.parse_args()
    cv2.imwrite(str(args.out), draw(args.truth))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
