"""What every ``medocr`` verb shares: exit statuses, progress, argument types, writing.

One copy of each, used by every module of :mod:`medocr.cli`:

- the exit statuses (:data:`EXIT_OK`, :data:`EXIT_SOME_FAILED`, :data:`EXIT_ERROR`, and
  the shell's :data:`EXIT_INTERRUPTED` and :data:`EXIT_CLOSED_STDOUT`);
- :func:`run_command`, which runs the chosen handler and turns the errors a user can act
  on into one line (``medocr: error: ...``) and an exit status;
- :class:`Progress`, the one progress line on stderr, and :func:`say` for progress
  messages;
- :func:`each_file`, which goes through the files a command is given: a file that fails
  is one line on stderr, and the others go on;
- the argument types :func:`octal_umask`, :func:`fraction`, :func:`open_fraction` and
  :func:`positive_int`;
- the pipeline options (:func:`add_pipeline_options`, :func:`pipeline_config`);
- :func:`write_output`, through which every file a command makes is written.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO, TypeVar

from medocr.errors import MedocrError

_N = TypeVar("_N", int, float)

#: Success.
EXIT_OK = 0
#: Some inputs failed (each reported); the others were processed.
EXIT_SOME_FAILED = 1
#: A usage error or a fatal one (argparse uses 2 for usage errors too).
EXIT_ERROR = 2
#: Interrupted by Ctrl-C (a shell's 128 + SIGINT).
EXIT_INTERRUPTED = 130
#: The reader of stdout went away (a shell's 128 + SIGPIPE).
EXIT_CLOSED_STDOUT = 141

#: Seconds between two progress lines when stderr is not a terminal (a log file).
PROGRESS_EVERY_S = 5.0

Handler = Callable[[argparse.Namespace], int]


def run_command(args: argparse.Namespace) -> int:
    """Run the handler the parser chose (``args.func``); return its exit status.

    The errors users can act on become one line on stderr: a
    :class:`~medocr.errors.MedocrError` or an ``OSError`` (unwritable output, full disk...)
    gives :data:`EXIT_ERROR`, Ctrl-C :data:`EXIT_INTERRUPTED`, a closed stdout
    :data:`EXIT_CLOSED_STDOUT` (see :func:`closed_stdout`).
    """
    func: Handler = args.func
    try:
        status = func(args)
        sys.stdout.flush()  # a closed pipe fails here, not in the interpreter's last flush
        return status
    except MedocrError as exc:
        print(f"medocr: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        return closed_stdout()
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"medocr: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("medocr: interrupted (finished outputs are kept; rerun to resume)", file=sys.stderr)
        return EXIT_INTERRUPTED


def closed_stdout() -> int:
    """Stop quietly when the reader of stdout went away (``medocr ... | head``).

    Later writes (and the interpreter's final flush) go to /dev/null instead of raising
    again; the exit status is :data:`EXIT_CLOSED_STDOUT` (141), a shell's status for a
    death by SIGPIPE.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_CLOSED_STDOUT


class Progress:
    """The progress line of a long command on stderr: count, failures, rate, time left.

    On a terminal the line is rewritten in place and ended when the count reaches the
    total (or by :meth:`end`); elsewhere (a log file) a full line is written at most
    every :data:`PROGRESS_EVERY_S` seconds, and at the end.

    Parameters
    ----------
    label : str
        What is running, e.g. ``"synth"``; starts the line.
    unit : str
        What is counted, e.g. ``"certificates"``.
    stream : text stream, optional
        Where to write (default: ``sys.stderr`` at the time of each call).

    Examples
    --------
    ``Progress("batch", "files")(3, 10, 1.5, failed=1)`` writes
    ``batch: 3/10 files, 1 failed, 2.00/s, ETA 4 s``. As a context manager it ends a line
    left open when the block is left, however it is left::

        with Progress("synth", "certificates") as progress:
            synthesize(..., progress=progress)
    """

    def __init__(self, label: str, unit: str, stream: TextIO | None = None) -> None:
        self.label, self.unit, self._stream = label, unit, stream
        self._began = time.perf_counter()
        self._last = -math.inf
        self._open = False  # an in-place line waits for its newline

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stderr

    def __call__(
        self, done: int, total: int, seconds: float | None = None, failed: int | None = None
    ) -> None:
        """Show `done` of `total` after `seconds` (default: since this object was made)."""
        if seconds is None:
            seconds = time.perf_counter() - self._began
        stream = self.stream
        tty = hasattr(stream, "isatty") and stream.isatty()
        finished = done >= total
        if not tty and not finished and seconds - self._last < PROGRESS_EVERY_S:
            return
        self._last = seconds
        rate = done / seconds if seconds > 0 else 0.0
        eta = f"{(total - done) / rate:.0f} s" if rate > 0 else "?"
        failures = "" if failed is None else f", {failed} failed"
        line = f"{self.label}: {done}/{total} {self.unit}{failures}, {rate:.2f}/s, ETA {eta}"
        if tty:
            stream.write(f"\r{line}  " + ("\n" if finished else ""))
            self._open = not finished
        else:
            stream.write(line + "\n")
        stream.flush()

    def batch(self, finished: int, total: int, failed: int, seconds: float) -> None:
        """Show the same, called in the order of :func:`medocr.batch.run_batch`'s callback."""
        self(finished, total, seconds, failed=failed)

    def end(self) -> None:
        """End a line left open in place (the command stopped before the total)."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.end()


def say(message: str) -> None:
    """Write one progress message on stderr at once (e.g. a training epoch)."""
    print(message, file=sys.stderr, flush=True)


def each_file(paths: Iterable[str], work: Callable[[str], None], *, label: str = "error") -> int:
    """Run `work` on every file; one that fails does not stop the others.

    Parameters
    ----------
    paths : iterable of str
        The files named on the command line, in order.
    work : callable
        ``path -> None``: what the command does with one file.
    label : str
        Written before the message of a :class:`~medocr.errors.MedocrError` that `work`
        raises: one line ``label: message`` on stderr, then the next file.

    Returns
    -------
    int
        :data:`EXIT_SOME_FAILED` when any file failed, else :data:`EXIT_OK`.
    """
    failed = 0
    for path in paths:
        try:
            work(path)
        except MedocrError as exc:
            print(f"{label}: {exc}", file=sys.stderr)
            failed += 1
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _number(text: str, parse: Callable[[str], _N], within: Callable[[_N], bool], error: str) -> _N:
    """Return ``parse(text)`` when it parses and is `within` range, else refuse with `error`."""
    try:
        value = parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(error) from None
    if not within(value):
        raise argparse.ArgumentTypeError(error)
    return value


def octal_umask(text: str) -> int:
    """Parse ``--umask`` (octal, e.g. 077 or 022)."""
    error = f"not an octal umask between 000 and 777: {text!r}"
    return _number(text, lambda t: int(t, 8), lambda v: 0 <= v <= 0o777, error)


def fraction(text: str) -> float:
    """Parse a number within 0..1, ends included (``--min-score``)."""
    return _number(text, float, lambda v: 0.0 <= v <= 1.0, f"not a number within 0..1: {text!r}")


def positive_int(text: str) -> int:
    """Parse a whole number of at least 1 (``--workers``)."""
    error = f"must be a whole number of at least 1, not {text!r}"
    return _number(text, int, lambda v: v >= 1, error)


def open_fraction(text: str) -> float:
    """Parse a number strictly between 0 and 1 (a split share, ``--test-fraction``)."""
    error = f"expected a fraction strictly between 0 and 1, got {text}"
    return _number(text, float, lambda v: 0 < v < 1, error)


def add_pipeline_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--config``, ``--decoder`` and ``--model`` (see :func:`pipeline_config`)."""
    parser.add_argument(
        "--config", help="pipeline configuration file (JSON or YAML; see medocr.PipelineConfig)"
    )
    parser.add_argument(
        "--decoder",
        choices=("wordbeam", "beam", "greedy"),
        help="cause decoder (default wordbeam: lexicon word beam search with bigrams)",
    )
    parser.add_argument("--model", help="recognizer bundle name or folder (default fr-crnn-small)")


def pipeline_config(args: argparse.Namespace) -> Any:
    """Return the :class:`~medocr.config.PipelineConfig` the pipeline options describe."""
    from medocr.config import PipelineConfig

    try:
        config = PipelineConfig.from_file(args.config) if args.config else PipelineConfig()
        options = {"cause_decoder": args.decoder, "model": args.model}
        return config.with_options(**{k: v for k, v in options.items() if v is not None})
    except ValueError as exc:
        raise MedocrError(str(exc)) from exc


def write_output(path: Path, data: bytes) -> None:
    """Write a file a command makes, through :func:`medocr.fileio.write_atomic`.

    A reader never sees half a file, and the file gets the permissions of ``--umask``. An
    ``OSError`` names `path` itself, not the temporary file beside it, so the one-line
    message of :func:`run_command` names the file the user asked for.
    """
    from medocr.fileio import write_atomic

    try:
        write_atomic(path, data)
    except OSError as exc:
        if exc.errno is None or exc.filename == os.fspath(path):
            raise
        raise OSError(exc.errno, exc.strerror, os.fspath(path)) from exc
