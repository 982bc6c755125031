"""``medocr lexicon ...``: inspect, change, compare and build lexicons.

Register the sub-commands on the ``medocr`` parser with :func:`add_parser` (also named
:func:`add_lexicon_parser`, its name in ``medocr.lexicon_cli``); each handler returns the
exit status (0 success, 1 some inputs failed and the rest were processed, or there was
nothing to add or import so no version was made, 2 usage or fatal error;
:class:`~medocr.errors.MedocrError` raised by a handler is reported by
:func:`medocr.cli.main` as exit 2). :func:`run` (``python -m medocr.lexicon_cli
lexicon ...``) runs them on their own.

Changes (``add``, ``remove``, ``import``) apply to a lexicon *folder*: each writes a new
version (patch bumped) and appends a CHANGELOG line, the whole version switched in at once
(:meth:`medocr.lexicon.Lexicon.save`), under a lock on the folder so that two changes at
once never lose one. Words added are held to the lexicon's limits (at most
:data:`~medocr.lexicon.MAX_WORD_LENGTH` letters, all in :data:`~medocr.lexicon.WORD_LETTERS`,
counts up to :data:`~medocr.lexicon.MAX_COUNT`). The lexicon shipped inside medocr is never
modified: ``medocr lexicon copy fr-medical DIR`` first. ``suggest`` lists the words of a
results database's operator corrections that a lexicon lacks, as a word list ``import``
reads (:mod:`medocr.review.suggest`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medocr.cli._common import EXIT_OK, EXIT_SOME_FAILED, run_command
from medocr.errors import LexiconError

__all__ = ["add_lexicon_parser", "add_parser", "run"]


def _describe(lexicon: Any) -> list[str]:
    lines = [
        f"{lexicon.name} {lexicon.version} ({lexicon.ref})",
        f"  from: {lexicon.origin or '(in memory)'}",
        f"  words: {len(lexicon)} ({len(lexicon.acronyms)} acronyms), tokens: {lexicon.total}",
        f"  case policy: {lexicon.case_policy}",
    ]
    model = lexicon.bigrams
    if model is None:
        lines.append("  bigrams: none")
    else:
        lines.append(
            f"  bigrams: {len(model)} over {model.contexts} contexts "
            f"({model.SMOOTHING}, D={model.discount:g})"
        )
    lines.append("  sources:")
    for source in lexicon.sources:
        lines.append(f"    - {source['name']}: {source['attribution']} ({source['licence']})")
    return lines


def _writable_folder(arg: str) -> Path:
    """Return the lexicon folder `arg` may change, refusing the packaged copy."""
    from medocr.lexicon import MANIFEST_FILE, _inside_package, packaged_lexicon_path

    path = Path(arg)
    shipped = not path.exists() and packaged_lexicon_path(arg) is not None
    if shipped or (path.exists() and _inside_package(path)):
        raise LexiconError(
            f"{arg}: this is the lexicon shipped inside medocr, which is never modified; "
            f"copy it first with `medocr lexicon copy {path.name} DIR` and change DIR"
        )
    if not (path / MANIFEST_FILE).is_file():
        raise LexiconError(
            f"{arg}: not a lexicon folder (no {MANIFEST_FILE}); make one with "
            "`medocr lexicon copy fr-medical DIR`"
        )
    return path


def _report_change(path: Path, old: Any, new: Any) -> None:
    last = new.changelog.rstrip("\n").rsplit("\n", 1)[-1]
    print(f"{path}: {old.version} -> {new.version} ({new.ref})")
    print(f"  {last}")


def _cmd_info(args: argparse.Namespace) -> int:
    from medocr.lexicon import load_lexicon

    print("\n".join(_describe(load_lexicon(args.lexicon))))
    return EXIT_OK


def _unchanged(action: str, path: Path, lexicon: Any, reason: str) -> int:
    print(
        f"lexicon {action}: {reason}; {path} is unchanged (still {lexicon.version})",
        file=sys.stderr,
    )
    return EXIT_SOME_FAILED


def _cmd_add(args: argparse.Namespace) -> int:
    from medocr.lexicon import MAX_COUNT, _locked, _NoChangeError, load_lexicon

    if args.count < 0:
        raise LexiconError(f"--count must be >= 0, got {args.count}")
    if args.count > MAX_COUNT:
        raise LexiconError(f"--count must be at most {MAX_COUNT}, got {args.count}")
    path = _writable_folder(args.lexicon_dir)
    with _locked(path):
        lexicon = load_lexicon(path)
        try:
            changed = lexicon.add({w: args.count for w in args.words}, note=args.note or "")
        except _NoChangeError as exc:
            return _unchanged("add", path, lexicon, str(exc))
        changed.save(path)
    _report_change(path, lexicon, changed)
    return EXIT_OK


def _cmd_remove(args: argparse.Namespace) -> int:
    from medocr.lexicon import _locked, _show, load_lexicon

    path = _writable_folder(args.lexicon_dir)
    with _locked(path):
        lexicon = load_lexicon(path)
        present = [w for w in args.words if lexicon.find(w) is not None]
        missing = [w for w in args.words if lexicon.find(w) is None]
        if not present:
            listed = ", ".join(_show(w) for w in missing[:20])
            listed += ", …" if len(missing) > 20 else ""
            raise LexiconError(f"{path}: none of the words is in the lexicon: {listed}")
        changed = lexicon.remove(present, note=args.note or "")
        changed.save(path)
    _report_change(path, lexicon, changed)
    for word in missing:
        print(f"lexicon remove: {_show(word)} is not in the lexicon (skipped)", file=sys.stderr)
    return EXIT_SOME_FAILED if missing else EXIT_OK


def _cmd_import(args: argparse.Namespace) -> int:
    from medocr.lexicon import Lexicon, _locked, _NoChangeError, load_lexicon

    path = _writable_folder(args.lexicon_dir)
    words = Lexicon.from_word_list(args.file)
    with _locked(path):
        lexicon = load_lexicon(path)
        if not len(words):
            return _unchanged("import", path, lexicon, f"{args.file}: no words to import")
        try:
            changed = lexicon.merge(words, note=args.note or f"imported {Path(args.file).name}")
        except _NoChangeError:
            reason = f"{args.file}: nothing to import (its words are there, counts of 0)"
            return _unchanged("import", path, lexicon, reason)
        changed.save(path)
    _report_change(path, lexicon, changed)
    return EXIT_OK


def _cmd_diff(args: argparse.Namespace) -> int:
    from medocr.lexicon import load_lexicon

    old, new = load_lexicon(args.a), load_lexicon(args.b)
    diff = old.diff(new)
    print(diff.summary())
    if not args.summary:
        for word in diff.added:
            print(f"+ {word}\t{new.counts[word]}")
        for word in diff.removed:
            print(f"- {word}\t{old.counts[word]}")
        for word, before, after in diff.changed:
            print(f"~ {word}\t{before} -> {after}")
    return EXIT_OK


def _cmd_copy(args: argparse.Namespace) -> int:
    from medocr.lexicon import STAGING_DIR, load_lexicon

    dest = Path(args.dir)
    # what a killed copy left (only its staging folder) does not make the folder in use
    if dest.exists() and (not dest.is_dir() or any(p.name != STAGING_DIR for p in dest.iterdir())):
        raise LexiconError(f"{dest}: exists and is not an empty folder")
    lexicon = load_lexicon(args.lexicon)
    lexicon.save(dest)
    print(f"copied {lexicon.ref} to {dest}")
    return EXIT_OK


def _cmd_suggest(args: argparse.Namespace) -> int:
    from medocr.cli._common import write_output
    from medocr.fileio import check_outputs
    from medocr.review.suggest import suggest_words, suggestions_tsv

    if args.min_count < 1:
        raise LexiconError(f"--min-count must be at least 1, got {args.min_count}")
    check_outputs([args.db], [args.out])
    suggestions = suggest_words(args.db, args.lexicon, min_count=args.min_count)
    text = suggestions_tsv(suggestions, args.db)
    if args.out:
        write_output(Path(args.out), text.encode("utf-8"))
    else:
        sys.stdout.write(text)
    print(
        f"lexicon suggest: {len(suggestions.words)} words missing from {suggestions.lexicon} "
        f"(seen at least {args.min_count} times in {suggestions.fields} corrected cause/text "
        f"fields)" + (f" -> {args.out}" if args.out else ""),
        file=sys.stderr,
    )
    return EXIT_OK


def _cmd_build(args: argparse.Namespace) -> int:
    from medocr.lexicon import build_fr_medical

    command = "medocr lexicon build"
    options: dict[str, Any] = {}
    if args.samples is not None:
        options["samples"] = args.samples
        command += f" --samples {args.samples}"
    if args.seed is not None:
        options["seed"] = args.seed
        command += f" --seed {args.seed}"
    lexicon = build_fr_medical(
        args.cim10, args.out, curated=args.curated, command=command, **options
    )
    model = lexicon.bigrams
    print(
        f"built {lexicon.ref}: {len(lexicon)} words ({len(lexicon.acronyms)} acronyms), "
        f"{lexicon.total} tokens, {len(model) if model else 0} bigrams -> {args.out}"
    )
    return EXIT_OK


def _count(text: str) -> int:
    """Parse ``--count``: an integer, its range checked by the command."""
    digits = text.strip().lstrip("+-")
    if not digits.isdigit() or len(digits) > 30:
        shown = text if len(text) <= 32 else text[:32] + "…"
        raise argparse.ArgumentTypeError(f"not an integer count: {shown!r}")
    return int(text)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``lexicon`` and its actions on the ``medocr`` sub-parsers.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``parser.add_subparsers()`` returned.

    Returns
    -------
    argparse.ArgumentParser
        The ``lexicon`` parser; each action sets ``func`` to a handler taking the parsed
        namespace and returning an exit status.

    """
    lexicon = subparsers.add_parser(
        "lexicon",
        help="inspect, change, compare or build lexicons",
        description="Lexicons are the words medocr may read (canonical forms with counts, "
        "a version, a CHANGELOG and a bigram model). LEXICON is 'fr-medical' (the copy "
        "shipped with medocr), a lexicon folder or a .txt/.csv/.tsv word list. Changes "
        "write a new version of a lexicon folder; the shipped copy is never modified.",
    )
    actions = lexicon.add_subparsers(dest="lexicon_command", metavar="ACTION", required=True)

    info = actions.add_parser("info", help="name, version, counts and sources of a lexicon")
    info.add_argument("lexicon", nargs="?", default=None, help="default: fr-medical")
    info.set_defaults(func=_cmd_info)

    add = actions.add_parser("add", help="add words (or raise their counts) in a folder")
    add.add_argument("lexicon_dir", metavar="LEXICON_DIR")
    add.add_argument("words", nargs="+", metavar="WORD", help="one word each (see tokenize)")
    add.add_argument(
        "--count", type=_count, default=1, help="count added per word (default 1, at most 10^12)"
    )
    add.add_argument("--note", default=None, help="why, for the CHANGELOG")
    add.set_defaults(func=_cmd_add)

    remove = actions.add_parser("remove", help="remove words from a folder")
    remove.add_argument("lexicon_dir", metavar="LEXICON_DIR")
    remove.add_argument(
        "words", nargs="+", metavar="WORD", help="matched ignoring case, not accents"
    )
    remove.add_argument("--note", default=None, help="why, for the CHANGELOG")
    remove.set_defaults(func=_cmd_remove)

    imp = actions.add_parser(
        "import",
        help="merge a word list into a folder",
        description="Merge a word list (one word per line, or word<TAB>count / word,count; "
        "# comments) into a lexicon folder, counts added. A malformed line is refused "
        "with FILE:LINE and nothing is changed.",
    )
    imp.add_argument("lexicon_dir", metavar="LEXICON_DIR")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--note", default=None, help="why, for the CHANGELOG")
    imp.set_defaults(func=_cmd_import)

    diff = actions.add_parser("diff", help="words added, removed and recounted from A to B")
    diff.add_argument("a", metavar="A")
    diff.add_argument("b", metavar="B")
    diff.add_argument("--summary", action="store_true", help="only the summary line")
    diff.set_defaults(func=_cmd_diff)

    suggest = actions.add_parser(
        "suggest",
        help="words operators wrote in corrections that the lexicon lacks",
        description="Words of the operators' corrections (medocr review) of cause and text "
        "fields in a results database that LEXICON lacks, with their counts, most frequent "
        "first: word<TAB>count lines under # comments, the format `medocr lexicon import "
        "LEXICON_DIR FILE` reads. Words are cut and matched as the lexicon does (runs of "
        "letters; case and accents ignored); one-letter words are left out.",
    )
    suggest.add_argument("db", metavar="RESULTS.db", help="results database with corrections")
    suggest.add_argument(
        "--lexicon", default=None, help="lexicon to compare with (default: fr-medical)"
    )
    suggest.add_argument(
        "--min-count", type=_count, default=1, help="only words seen this many times (default 1)"
    )
    suggest.add_argument("--out", default=None, help="write the list here (default: stdout)")
    suggest.set_defaults(func=_cmd_suggest)

    copy = actions.add_parser("copy", help="write a lexicon to a new folder (to change it)")
    copy.add_argument("lexicon", metavar="LEXICON", help="e.g. fr-medical")
    copy.add_argument("dir", metavar="DIR", help="new or empty folder")
    copy.set_defaults(func=_cmd_copy)

    build = actions.add_parser(
        "build",
        help="build fr-medical from the CIM-10 labels and the curated list",
        description="Build the fr-medical lexicon (words of the CIM-10 FR labels + curated "
        "list, bigrams of the labels + synthetic certificates) into --out. The same inputs "
        "give the same bytes. lexicon/fr-medical/build.py writes the repository copies.",
    )
    build.add_argument(
        "--cim10",
        default=None,
        help="cim10 folder or cim10.csv.gz (default $MEDOCR_DATA/cim10; required without it)",
    )
    build.add_argument(
        "--out", default="lexicon-build", help="output folder (default ./lexicon-build)"
    )
    build.add_argument(
        "--curated",
        default=None,
        help="curated list (default lexicon/fr-medical/curated.txt when run in the "
        "repository, else the copy shipped with medocr); CHANGELOG.md beside it gives "
        "the version",
    )
    build.add_argument("--samples", type=int, default=None, help="synthetic texts (20000)")
    build.add_argument("--seed", type=int, default=None, help="sampler seed (0)")
    build.set_defaults(func=_cmd_build)
    return lexicon


#: The name of :func:`add_parser` in ``medocr.lexicon_cli``.
add_lexicon_parser = add_parser


def run(argv: Sequence[str] | None = None) -> int:
    """Run ``lexicon ACTION ...`` on its own (as ``medocr.cli.main`` would); return the status."""
    parser = argparse.ArgumentParser(prog="medocr")
    add_parser(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    return run_command(parser.parse_args(argv))
