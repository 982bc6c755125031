"""``medocr demo``: make one certificate, read it, show the reading beside the truth."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from medocr.cli._common import EXIT_OK, write_output


def add_parser(subparsers: Any) -> None:
    """Register ``demo`` on the ``medocr`` sub-parsers."""
    demo = subparsers.add_parser(
        "demo",
        help="generate one certificate, read it with the shipped model, compare with the truth",
        description="Generate one synthetic certificate, read it with the default pipeline "
        "(shipped recognizer, lexicon and template, offline) and print each field's reading, "
        "confidence and route beside the ground truth.",
    )
    demo.add_argument("--out", default="demo-output", help="output folder (default demo-output)")
    demo.add_argument("--seed", type=int, default=2026, help="seed (default 2026)")
    demo.add_argument("--index", type=int, default=0, help="certificate number (default 0)")
    demo.add_argument("--template", default=None, help="template id or JSON file")
    demo.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from medocr.pipeline import Pipeline
    from medocr.synth.runner import write_certificate
    from medocr.templates import load_template

    template = load_template(args.template)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_certificate(out, args.seed, args.index, template, "png")
    stem = f"cert-{args.index:06d}"
    truth = json.loads((out / f"{stem}.json").read_text(encoding="utf-8"))
    print(
        f"Generated {out / (stem + '.png')} (template {template.ref}, seed {args.seed}, "
        f"font {truth['writer']['font']}, rotation {truth['scan']['rotation_deg']:+.1f} deg)\n"
    )
    result = Pipeline(template=args.template).read(out / f"{stem}.png")[0]
    print(_demo_table(result, truth))
    write_output(out / f"{stem}.result.json", result.to_json().encode("utf-8"))
    print(f"\nFull result (confidences, alternatives, boxes): {out / (stem + '.result.json')}")
    return EXIT_OK


def _demo_table(result: Any, truth: dict) -> str:
    """Read fields beside the certificate's ground truth."""
    expected = {}
    for field in truth["fields"]:
        text = field["text"].replace("\n", " ")
        expected[field["name"]] = ("X" if field["value"] else "") if "value" in field else text
    rows = [("field", "conf", "route", "read", "ground truth")]
    for field in result.fields:
        text = field.text if field.error is None else f"(error: {field.error})"
        rows.append(
            (field.name, f"{field.confidence:.2f}", field.route, text, expected.get(field.name, ""))
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:<{widths[3]}}  "
        f"{r[4]}"
        for r in rows
    ]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)
