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
