"""``medocr batch``: read a folder of scans into a resumable SQLite results database."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from medocr.cli._common import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    Progress,
    add_pipeline_options,
    pipeline_config,
    positive_int,
)
from medocr.errors import MedocrError


def add_parser(subparsers: Any) -> None:
    """Register ``batch`` on the ``medocr`` sub-parsers."""
    batch = subparsers.add_parser(
        "batch",
        help="read a folder of scans into a resumable SQLite results database",
        description="Read every file under INPUT_DIR (recursively, sorted) into the SQLite "
        "database --out: one row per file, page and field, with model, lexicon and template "
        "versions. A rerun skips the files already done and retries failed ones; each file "
        "is recorded in one transaction, so an interrupted run loses nothing finished. Inputs "
        "are never modified. Entries that are not readable files (broken links, FIFOs, "
        "folders that cannot be listed...) are recorded as failures with their reason. The "
        "database refuses a run with another input folder or configuration (see "
        "--force-config) and a second run while one is going on. Exit status 1 when any "
        "file failed (its error is recorded), 2 on a fatal error, 143 on SIGTERM.",
    )
    batch.add_argument("input_dir", help="folder of scans")
    batch.add_argument(
        "--out",
        required=True,
        help="results database (e.g. RESULTS.db; created readable by you only, with any "
        "missing folders; RESULTS.db.lock beside it marks the run in progress)",
    )

    batch.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="local worker processes (default 1: in process, decoding the next file in a "
        "thread); they end with the command and share the cores out (MEDOCR_THREADS threads "
        "each for OpenCV and ONNX Runtime): one per core reads fastest",
    )
    batch.add_argument(
        "--force-config",
        action="store_true",
        help="go on with a database made from another input folder or configuration (the "
        "files done keep their results; its runs table keeps each run's configuration)",
    )
    batch.add_argument(
        "--scheduler",
        help="Dask scheduler address (tcp://host:8786): read on its workers (start them with "
        "MEDOCR_THREADS=1 and --nthreads 1; docs/pipeline.md says why and how)",
    )
    batch.add_argument("--quiet", action="store_true", help="no progress line")
    add_pipeline_options(batch)
    batch.set_defaults(func=_cmd_batch)


def _cmd_batch(args: argparse.Namespace) -> int:
    from medocr.batch import BatchTerminated, run_batch
    from medocr.fileio import check_outputs

    check_outputs([args.input_dir], [args.out])
    with Progress("batch", "files") as progress:
        try:
            summary = run_batch(
                args.input_dir,
                args.out,
                config=pipeline_config(args),
                workers=args.workers,
                scheduler=args.scheduler,
                progress=None if args.quiet else progress.batch,
                force_config=args.force_config,
                mode=0o666 & ~args.umask,  # the database honours --umask
            )
        except ValueError as exc:
            raise MedocrError(str(exc)) from exc
        except BatchTerminated as exc:
            print(
                f"medocr: {exc} after recording {exc.finished} files (they are kept; rerun to "
                "resume)",
                file=sys.stderr,
            )
            return 128 + exc.signum
    unreadable = (
        f" ({summary.unreadable} of them not readable files, see the failures)"
        if summary.unreadable
        else ""
    )
    print(
        f"batch: {summary.total} files, {summary.skipped} already done, {summary.done} read "
        f"({summary.pages} pages), {summary.failed} failed{unreadable}, in "
        f"{summary.seconds:.1f} s -> {args.out}"
    )
    return EXIT_SOME_FAILED if summary.failed else EXIT_OK
