import json
import subprocess
import sys

import pytest

from medocr import __version__
from medocr.cli import main


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "medocr.cli", *args], capture_output=True, text=True
    )


def test_version():
    out = run_cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"medocr {__version__}"


def test_help_lists_the_commands():
    out = run_cli("--help")
    for command in ("synth", "demo", "template", "inspect", "read", "batch", "export"):
        assert command in out.stdout
    synth_help = run_cli("synth", "--help").stdout
    assert "--count" in synth_help and "same bytes" in synth_help


def test_synth_writes_images_and_truth(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["synth", "--count", "2", "--out", str(out), "--seed", "3", "--quiet"]) == 0
    assert "2 written, 0 already there, 0 failed" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [
        "cert-000000.json",
        "cert-000000.png",
        "cert-000001.json",
        "cert-000001.png",
        "synth.json",
    ]
    truth = json.loads((out / "cert-000001.json").read_text(encoding="utf-8"))
    assert truth["image"] == "cert-000001.png" and truth["seed"] == 3


def test_synth_refuses_a_folder_made_with_other_settings(tmp_path, capsys):
    assert main(["synth", "--count", "1", "--out", str(tmp_path), "--seed", "1", "--quiet"]) == 0
    assert main(["synth", "--count", "1", "--out", str(tmp_path), "--seed", "2", "--quiet"]) == 2
    assert "holds certificates made with other settings (seed differ)" in capsys.readouterr().err


@pytest.mark.tf
def test_demo_reads_the_certificate_beside_its_truth(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--seed", "4"]) == 0
    out = capsys.readouterr().out
    assert "cause_1a" in out and "interval_1a" in out and "autopsy_yes" in out
    assert "route" in out and "ground truth" in out
    truth = json.loads((tmp_path / "cert-000000.json").read_text(encoding="utf-8"))
    cause = truth["fields"][1]
    assert cause["name"] == "cause_1a" and cause["text"].replace("\n", " ") in out
    result = json.loads((tmp_path / "cert-000000.result.json").read_text(encoding="utf-8"))
    assert [f["name"] for f in result["fields"]] == [f["name"] for f in truth["fields"]]


def test_template_commands(tmp_path, capsys):
    assert main(["template", "list"]) == 0
    assert "fr-deces-volet-medical" in capsys.readouterr().out
    assert main(["template", "show"]) == 0
    assert "cause_2" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text("{}", encoding="utf-8")
    assert main(["template", "validate", str(bad)]) == 1
    assert f"invalid: {bad}: missing key format_version" in capsys.readouterr().err
    png = tmp_path / "form.png"
    assert main(["template", "render", "--out", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_inspect_reports_good_and_bad_files(tmp_path, capsys):
    png = tmp_path / "form.png"
    main(["template", "render", "--out", str(png)])
    missing = tmp_path / "missing.png"
    assert main(["inspect", str(png), str(missing)]) == 1
    captured = capsys.readouterr()
    assert "page 0\t1654x2339\t200 dpi" in captured.out
    assert f"error: {missing}: file not found" in captured.err


@pytest.mark.parametrize("argv", [["synth", "--out", "x"], ["nope"], []])
def test_usage_errors_exit_2(argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


# ---------------------------------------------------------------- the package: one module per verb


def test_every_verb_has_its_module_and_the_help_lists_them_in_order():
    import argparse

    from medocr.cli import VERBS, build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == [
        "synth", "synth-lines", "train", "export", "read", "batch", "evaluate", "demo",
        "template", "fields", "inspect", "dataset", "lexicon", "review",
    ]  # fmt: skip
    for verb in VERBS:
        assert verb.__name__.startswith("medocr.cli.") and callable(verb.add_parser)


def test_the_old_import_paths_are_the_new_functions():
    from medocr.cli import classify, lexicon
    from medocr.lexicon_cli import add_lexicon_parser, run

    assert classify.add_classifier_parser is classify.add_parser
    assert add_lexicon_parser is lexicon.add_parser and run is lexicon.run


def _cli_sources():
    from pathlib import Path

    import medocr

    root = Path(medocr.__file__).parent
    return [*sorted((root / "cli").glob("*.py")), root / "lexicon_cli.py"]


def test_exit_statuses_are_defined_once():
    """Only medocr/cli/_common.py assigns EXIT_* names; every other module imports them."""
    import ast

    defining = []
    for path in _cli_sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = node.targets if isinstance(node, ast.Assign) else []
            names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
            if any(name.startswith("EXIT_") for name in names):
                defining.append(path.name)
    assert set(defining) == {"_common.py"}


def test_the_commands_write_files_only_through_write_output():
    """No ``.write_text``/``.write_bytes``/``open(..., "w")`` in the CLI: write_output only."""
    import ast

    found = []
    for path in _cli_sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            method = isinstance(func, ast.Attribute) and func.attr in ("write_text", "write_bytes")
            if method or (isinstance(func, ast.Name) and func.id == "open"):
                found.append(f"{path.name}:{node.lineno}: {ast.unparse(func)}")
    assert found == []


def test_write_output_is_atomic_and_honours_the_umask(tmp_path):
    import os
    import stat

    from medocr.cli._common import write_output

    previous = os.umask(0o027)
    try:
        write_output(tmp_path / "a.json", b"{}")
    finally:
        os.umask(previous)
    assert (tmp_path / "a.json").read_bytes() == b"{}"
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]  # no temporary file left
    missing = tmp_path / "missing" / "b.json"
    with pytest.raises(FileNotFoundError) as error:
        write_output(missing, b"{}")
    assert error.value.filename == str(missing)  # not the temporary file's name


class _Terminal:
    def __init__(self, tty):
        self.text, self.tty = "", tty

    def write(self, text):
        self.text += text

    def flush(self):
        pass

    def isatty(self):
        return self.tty


def test_progress_rewrites_one_line_on_a_terminal():
    from medocr.cli._common import Progress

    screen = _Terminal(tty=True)
    progress = Progress("batch", "files", stream=screen)
    progress.batch(1, 4, 1, 2.0)
    progress.batch(2, 4, 1, 2.5)
    assert screen.text.count("\r") == 2 and "\n" not in screen.text
    assert screen.text.endswith("\rbatch: 2/4 files, 1 failed, 0.80/s, ETA 2 s  ")
    progress.end()  # stopped early: the line is ended once
    progress.end()
    assert screen.text.endswith("  \n") and screen.text.count("\n") == 1
    progress(4, 4, 3.0)
    assert screen.text.endswith("\rbatch: 4/4 files, 1.33/s, ETA 0 s  \n")


def test_progress_as_a_context_ends_its_line_however_the_block_is_left():
    from medocr.cli._common import Progress

    screen = _Terminal(tty=True)
    with pytest.raises(RuntimeError), Progress("synth", "lines", stream=screen) as progress:
        progress(1, 4, 1.0)
        assert not screen.text.endswith("\n")
        raise RuntimeError("stopped early")
    assert screen.text.endswith("ETA 3 s  \n") and screen.text.count("\n") == 1


def test_progress_in_a_log_writes_whole_lines_every_few_seconds():
    from medocr.cli._common import PROGRESS_EVERY_S, Progress

    log = _Terminal(tty=False)
    progress = Progress("synth", "certificates", stream=log)
    progress(1, 100, 0.0)  # no rate yet
    progress(2, 100, 1.0)  # too soon after the first
    progress(50, 100, PROGRESS_EVERY_S + 1.0)
    progress(100, 100, PROGRESS_EVERY_S + 2.0)  # the last one always shows
    progress.end()  # nothing left open
    assert log.text.splitlines() == [
        "synth: 1/100 certificates, 0.00/s, ETA ?",
        "synth: 50/100 certificates, 8.33/s, ETA 6 s",
        "synth: 100/100 certificates, 14.29/s, ETA 0 s",
    ]
    assert "\r" not in log.text


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [
        (KeyboardInterrupt(), 130, "medocr: interrupted"),
        (PermissionError(13, "Permission denied", "/some/lexicon"), 2,
         "medocr: error: /some/lexicon: Permission denied"),
    ],
)  # fmt: skip
def test_the_lexicon_commands_on_their_own_end_as_medocr_does(monkeypatch, capsys, error,
                                                               status, message):  # fmt: skip
    from medocr.cli import lexicon
    from medocr.lexicon_cli import run

    def fail(_lexicon):
        raise error

    monkeypatch.setattr(lexicon, "_describe", fail)
    assert run(["lexicon", "info"]) == status
    err = capsys.readouterr().err
    assert err.startswith(message) and len(err.strip().splitlines()) == 1
