"""``medocr dataset``: build training datasets, cut field lines, pack line sets, cards."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from medocr.cli._common import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    Progress,
    add_pipeline_options,
    pipeline_config,
)
from medocr.errors import MedocrError


def add_parser(subparsers: Any) -> None:
    """Register ``dataset`` and its actions on the ``medocr`` sub-parsers."""
    dataset = subparsers.add_parser(
        "dataset",
        help="build a training dataset (all granularities, split by writer) or print its card",
        description="Build sharded, resumable datasets of certificate, field, line, word and "
        "character units from synth output, annotated scans, JSONL line sets and "
        "ALTO/PAGE XML; see docs/dataset.md.",
    )
    dsub = dataset.add_subparsers(dest="dataset_command", metavar="ACTION", required=True)
    dbuild = dsub.add_parser(
        "build",
        help="build (or resume) a dataset",
        description="Cut every input into units, split by writer/document (seeded), write "
        "TFRecord shards + manifest.jsonl + card. Bad inputs are logged in build.log "
        "and skipped. Rerunning the same command resumes from the finished shards.",
    )
    dbuild.add_argument("out", help="dataset folder (created)")
    for flag, kind, what in (
        ("--certificates", "certificates", "folder of certificate JSON (synth output or scans)"),
        ("--lines", "lines", "JSONL line set"),
        ("--xml", "xml", "ALTO or PAGE XML file, or folder of them"),
    ):
        dbuild.add_argument(
            flag,
            dest="inputs",
            action="append",
            type=lambda spec, kind=kind: (kind, spec),
            metavar="[NAME=]PATH",
            help=f"{what}; repeatable",
        )
    dbuild.add_argument(
        "--levels",
        default="certificate,field,line,word,char",
        help="unit levels to emit (default: all five)",
    )
    dbuild.add_argument(
        "--splits",
        default="train=0.8,val=0.1,test=0.1",
        help="split ratios by document (default train=0.8,val=0.1,test=0.1)",
    )
    dbuild.add_argument(
        "--stratify", action="store_true", help="split each source in the ratios exactly"
    )
    dbuild.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    dbuild.add_argument(
        "--alphabet", default=None, help="report characters outside this alphabet (file)"
    )
    dbuild.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    dbuild.add_argument(
        "--scheduler", default=None, help="Dask scheduler address: run on that cluster"
    )
    dbuild.add_argument(
        "--item-size", type=int, default=None, help="inputs per work item (default per kind)"
    )
    dbuild.add_argument(
        "--shard-mb", type=float, default=64, help="shard size bound in MiB (default 64)"
    )
    dbuild.add_argument(
        "--overwrite", action="store_true", help="rebuild a folder built with other settings"
    )
    dbuild.add_argument("--quiet", action="store_true", help="no progress line")
    dbuild.set_defaults(func=_cmd_dataset_build)
    dlines = dsub.add_parser(
        "field-lines",
        help="cut annotated certificates into training lines the way reading cuts them",
        description="Register each certificate image of a folder (with its .json truth beside "
        "it, as `medocr synth` writes), cut its text fields into lines exactly as `medocr read` "
        "does (same cleaning and paper framing), and write the lines whose count matches the "
        "truth as a JSONL line set for `medocr train recognizer --data`.",
    )
    dlines.add_argument("certificates", help="folder of certificate images with .json truth")
    dlines.add_argument("--out", required=True, help="output folder (images/ and lines.jsonl)")
    dlines.add_argument("--workers", type=int, default=1, help="local processes (default 1)")
    dlines.add_argument("--quiet", action="store_true", help="no progress lines")
    add_pipeline_options(dlines)
    dlines.set_defaults(func=_cmd_dataset_field_lines)

    dpack = dsub.add_parser(
        "pack",
        help="pack line sets, resized to the model height, into one compact .npz",
        description="Resize every line of some JSONL line sets to the model height, "
        "re-encode it (WebP by default) and store all of them with their texts in one .npz "
        "(no pickle): the training data that `python -m medocr.training.portable` reads, "
        "small enough to carry to a machine without ../shared/data.",
    )
    dpack.add_argument(
        "--source",
        action="append",
        required=True,
        metavar="SPEC",
        help="NAME=FILE.jsonl[:train|val][#LIMIT]: a line set, its role (default train) and "
        "an optional number of lines drawn from it; repeat for each set",
    )
    dpack.add_argument("--out", required=True, help="output .npz")
    dpack.add_argument("--height", type=int, default=48, help="line height (default 48)")
    dpack.add_argument("--quality", type=int, default=60, help="lossy quality (default 60)")
    dpack.add_argument(
        "--image-format", default="webp", choices=("webp", "jpg"), help="default webp"
    )
    dpack.add_argument("--seed", type=int, default=0, help="draw of limited sets (default 0)")
    dpack.set_defaults(func=_cmd_dataset_pack)

    dstats = dsub.add_parser("stats", help="print a dataset's card")
    dstats.add_argument("dataset", help="dataset folder")
    dstats.add_argument("--json", action="store_true", help="print card.json instead")
    dstats.add_argument(
        "--alphabet", default=None, help="also list characters outside this alphabet (file)"
    )
    dstats.set_defaults(func=_cmd_dataset_stats)


def _cmd_dataset_build(args: argparse.Namespace) -> int:
    from medocr.dataset.build import build_dataset
    from medocr.dataset.sources import Source
    from medocr.dataset.splits import parse_splits

    sources = [Source.parse(kind, spec) for kind, spec in args.inputs or []]
    with Progress("dataset", "work items") as progress:
        summary = build_dataset(
            args.out,
            sources,
            seed=args.seed,
            splits=parse_splits(args.splits),
            stratify=args.stratify,
            levels=args.levels.split(","),
            alphabet=_dataset_alphabet(args.alphabet),
            workers=args.workers,
            scheduler=args.scheduler,
            item_size=args.item_size,
            max_shard_bytes=int(args.shard_mb * 2**20),
            overwrite=args.overwrite,
            progress=None if args.quiet else progress,
        )
    errors = summary.card["errors"]
    print(
        f"dataset: {summary.units} units, {len(summary.built)} work items built, "
        f"{len(summary.skipped)} already there, {len(summary.failed)} failed, "
        f"{errors['skipped_inputs']} inputs skipped (see build.log), in "
        f"{summary.seconds:.1f}s -> {args.out}"
    )
    return EXIT_SOME_FAILED if summary.failed or errors["skipped_inputs"] else EXIT_OK


def _cmd_dataset_stats(args: argparse.Namespace) -> int:
    from medocr.dataset.card import load_card, render_card

    card = load_card(args.dataset)
    if args.json:
        print(json.dumps(card, indent=1, ensure_ascii=False))
    else:
        print(render_card(card, _dataset_alphabet(args.alphabet)), end="")
    return EXIT_OK


def _cmd_dataset_field_lines(args: argparse.Namespace) -> int:
    from medocr.dataset.fieldlines import write_field_lines

    with Progress("field-lines", "certificates") as progress:
        summary = write_field_lines(
            args.certificates, args.out, config=pipeline_config(args), workers=args.workers,
            progress=None if args.quiet else progress,
        )  # fmt: skip
    for error in summary.failed:
        print(f"error: {error}", file=sys.stderr)
    print(
        f"field-lines: {summary.lines} lines from {summary.certificates} certificates "
        f"({summary.fields_skipped} fields whose line count differs from the truth left out, "
        f"{len(summary.failed)} failed) -> {Path(args.out) / 'lines.jsonl'}"
    )
    return EXIT_SOME_FAILED if summary.failed else EXIT_OK


def _cmd_dataset_pack(args: argparse.Namespace) -> int:
    from medocr.dataset.packed import PackSource, pack_line_sets

    try:
        sources = [PackSource.parse(spec) for spec in args.source]
    except ValueError as exc:
        raise MedocrError(str(exc)) from exc
    counts = pack_line_sets(
        sources, args.out, height=args.height, quality=args.quality,
        image_format=args.image_format, seed=args.seed,
    )  # fmt: skip
    size = Path(args.out).stat().st_size / 2**20
    lines = sum(n for key, n in counts.items() if key != "unreadable")
    print(
        f"pack: {lines} lines ({counts['unreadable']} unreadable skipped), "
        f"{size:.1f} MiB -> {args.out}"
    )
    return EXIT_OK


def _dataset_alphabet(path: str | None) -> Any:
    """Alphabet from a text file (its characters) or a JSON file with ``chars``."""
    if path is None:
        return None
    from medocr.text import Alphabet

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MedocrError(f"{path}: unreadable alphabet file ({exc})") from exc
    if Path(path).suffix == ".json":
        try:
            data = json.loads(text)
            chars = data.get("alphabet", data)["chars"]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise MedocrError(f"{path}: no alphabet 'chars' in this JSON ({exc})") from exc
        return Alphabet(tuple(chars))
    return Alphabet.from_texts(text.splitlines())
