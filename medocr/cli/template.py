"""``medocr template``: list, show, validate or draw form templates."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from medocr.cli._common import EXIT_OK, each_file, write_output


def add_parser(subparsers: Any) -> None:
    """Register ``template`` and its actions on the ``medocr`` sub-parsers."""
    template = subparsers.add_parser(
        "template",
        help="list, show, validate or draw form templates",
        description="Form templates are JSON files; see "
        "docs/templates.md to write one for another form.",
    )
    tsub = template.add_subparsers(dest="template_command", metavar="ACTION", required=True)
    tsub.add_parser("list", help="shipped templates").set_defaults(func=_cmd_template_list)
    show = tsub.add_parser("show", help="fields of a template")
    show.add_argument("template", nargs="?", default=None, help="id or JSON file (default form)")
    show.set_defaults(func=_cmd_template_show)
    validate = tsub.add_parser("validate", help="check template JSON files")
    validate.add_argument("files", nargs="+", help="template JSON files")
    validate.set_defaults(func=_cmd_template_validate)
    draw = tsub.add_parser("render", help="draw the blank printed form as a PNG")
    draw.add_argument("template", nargs="?", default=None, help="id or JSON file (default form)")
    draw.add_argument("--out", required=True, help="PNG file to write")
    draw.set_defaults(func=_cmd_template_render)


def _cmd_template_list(args: argparse.Namespace) -> int:
    from medocr.templates import list_templates, load_template

    for name in list_templates():
        template = load_template(name)
        print(f"{template.id}\t{template.version}\t{len(template.fields)} fields\t{template.title}")
    return EXIT_OK


def _cmd_template_show(args: argparse.Namespace) -> int:
    from medocr.templates import load_template

    template = load_template(args.template)
    print(f"{template.ref}: {template.title}")
    print(
        f"page {template.width_mm:g}x{template.height_mm:g} mm = {template.width_px}x"
        f"{template.height_px} px at {template.dpi} dpi; {len(template.elements)} printed "
        f"elements; source {template.source}"
    )
    for field in template.fields:
        extra = f" group={field.group} value={field.value}" if field.group else ""
        print(
            f"  {field.name:<16} {field.kind:<9} box={list(field.box)} lines={field.lines}{extra}"
        )
    return EXIT_OK


def _cmd_template_validate(args: argparse.Namespace) -> int:
    from medocr.templates import load_template

    def validate(path: str) -> None:
        template = load_template(Path(path))
        print(f"ok: {path} ({template.ref}, {len(template.fields)} fields)")

    return each_file(args.files, validate, label="invalid")


def _cmd_template_render(args: argparse.Namespace) -> int:
    from medocr.synth.runner import encode_image
    from medocr.templates import load_template
    from medocr.templates.draw import render_form

    template = load_template(args.template)
    write_output(Path(args.out), encode_image(render_form(template), "png", template.dpi))
    print(f"wrote the blank form of {template.ref} to {args.out}")
    return EXIT_OK
