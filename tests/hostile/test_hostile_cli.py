"""Hostile use of the command line and the pipeline: inputs never written, cropped pages
never accepted, one bad file never stops the others, no traceback for user errors."""

import hashlib
import json
import os
import stat
import subprocess
import sys

import cv2
import numpy as np
import pytest

from medocr.cli import main
from medocr.types import Page

PYTHON = [sys.executable, "-m", "medocr.cli"]


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def scans(tmp_path, certificate_dir):
    """Two certificate scans copied into a folder of their own."""
    folder = tmp_path / "scans"
    folder.mkdir()
    for index in range(2):
        name = f"cert-{index:06d}.png"
        (folder / name).write_bytes((certificate_dir / name).read_bytes())
    return sorted(folder.glob("*.png"))


def test_json_target_from_a_glob_is_refused_and_the_scan_kept(scans, capsys):
    # `medocr read --json scans/*.png`: the shell hands the first scan to --json.
    before = _digest(scans[0])
    assert main(["read", "--json", str(scans[0]), str(scans[1])]) == 2
    assert "does not hold JSON" in capsys.readouterr().err
    assert _digest(scans[0]) == before


def test_an_output_equal_to_an_input_is_refused(scans, capsys):
    before = _digest(scans[0])
    assert main(["read", str(scans[0]), "--json", str(scans[0])]) == 2
    assert "is also an input" in capsys.readouterr().err
    assert _digest(scans[0]) == before


def test_an_output_through_a_link_to_an_input_is_refused(scans, tmp_path, capsys):
    link = tmp_path / "results.json"
    link.symlink_to(scans[1])
    assert main(["read", str(scans[1]), "--json", str(link)]) == 2
    assert "is also an input" in capsys.readouterr().err


def test_an_output_folder_inside_an_input_folder_is_refused(scans, tmp_path, capsys):
    folder = scans[0].parent
    assert main(["fields", str(folder), "--out", str(folder / "crops")]) == 2
    assert "inside the input folder" in capsys.readouterr().err
    assert not (folder / "crops").exists()


def test_a_bad_file_between_good_ones_does_not_stop_the_others(scans, tmp_path, capsys):
    odd = tmp_path / "odd.png"
    cv2.imwrite(str(odd), np.full((3, 5000), 255, np.uint8))
    out = tmp_path / "out.json"
    assert main(["read", str(scans[0]), str(odd), str(scans[1]), "--json", str(out)]) == 1
    err = capsys.readouterr().err
    assert "odd.png" in err and "Traceback" not in err
    pages = json.loads(out.read_text("utf-8"))
    sources = [page["source"] for page in pages]
    assert sources == [str(scans[0]), str(scans[1])]


def _cropped(page_image, keep):
    height = page_image.shape[0]
    return np.ascontiguousarray(page_image[: int(height * keep)])


@pytest.fixture(scope="module")
def lenient_pipeline():
    """Registration accepted down to 0.4: a cut page scores lower than a whole one."""
    from medocr.pipeline import Pipeline

    return Pipeline(min_registration_score=0.4)


@pytest.mark.slow
@pytest.mark.parametrize("keep", [0.55, 0.7])
def test_fields_outside_a_cropped_page_are_never_accepted(lenient_pipeline, certificate_dir, keep):
    from medocr.io import read_image

    full = read_image(certificate_dir / "cert-000000.png")
    page = Page(image=_cropped(full.image, keep), source="cropped.png")
    result = lenient_pipeline.read_page(page)
    height, width = page.shape
    outside = [f for f in result.fields if f.bbox[3] >= height - 2]
    assert outside, "the cut should leave some fields outside the page"
    for field in result.fields:
        x0, y0, x1, y1 = field.bbox
        assert 0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height, field
    for field in outside:
        assert field.route == "review", field
        assert "leaves the scanned page" in field.error
    inside = [f for f in result.fields if f.error is None]
    assert inside, "fields above the cut are still read"


def test_no_field_of_a_whole_page_counts_as_outside(pipeline, certificate_dir):
    from medocr.io import read_image
    from medocr.preprocess.forms import extract_fields, register

    page = read_image(certificate_dir / "cert-000001.png")
    registration = register(page, pipeline.template)
    crops = extract_fields(page, pipeline.template, registration=registration)
    assert all(crop.inside_page for crop in crops)


def _closed_pipe_run(args):
    """Run medocr with a stdout whose reader has gone away (``| head`` that exited)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            PYTHON + args, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=300
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize("args", [["template", "list"], ["lexicon", "info"]])
def test_a_closed_stdout_ends_quietly(args):
    run = _closed_pipe_run(args)
    assert "Traceback" not in run.stderr and "BrokenPipe" not in run.stderr, run.stderr
    assert run.returncode == 141


def _render(tmp_path, *options):
    out = tmp_path / "form.png"
    run = subprocess.run(
        PYTHON + [*options, "template", "render", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    return stat.S_IMODE(out.stat().st_mode)


def test_outputs_are_private_by_default(tmp_path):
    assert _render(tmp_path) == 0o600


def test_the_umask_option_shares_outputs(tmp_path):
    assert _render(tmp_path, "--umask", "022") == 0o644


def test_a_bad_umask_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--umask", "999", "template", "list"])
    assert stop.value.code == 2
    assert "octal umask" in capsys.readouterr().err


def test_main_restores_the_callers_umask():
    before = os.umask(0o022)
    try:
        main(["template", "list"])
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(before)


def test_an_unwritable_output_is_one_line_not_a_traceback(tmp_path, capsys):
    out = tmp_path / "missing" / "deeper" / "form.png"
    assert main(["template", "render", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("medocr: error: ") and "missing" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("score", ["nan", "1.5", "-0.1", "high"])
def test_a_registration_score_outside_0_1_is_a_usage_error(tmp_path, score, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["fields", "x.png", "--out", str(tmp_path), "--min-score", score])
    assert stop.value.code == 2
    assert "within 0..1" in capsys.readouterr().err


def test_a_results_database_inside_the_input_folder_is_refused(scans, capsys):
    folder = scans[0].parent
    assert main(["batch", str(folder), "--out", str(folder / "results.db"), "--quiet"]) == 2
    assert "inside the input folder" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == [p.name for p in scans]


def test_an_export_of_failures_keeps_odd_names_on_one_line(tmp_path):
    from medocr.batch import FileOutcome, open_store, record

    db = tmp_path / "results.db"
    connection = open_store(db)
    record(connection, FileOutcome("odd\tname\nwith breaks.png", [], "not an image\nmore", 0.1))
    connection.close()
    out = tmp_path / "export"
    assert main(["export", str(db), "--format", "csv", "--out", str(out)]) == 0
    lines = (out / "failed.tsv").read_text("utf-8").splitlines()
    assert len(lines) == 2 and lines[1].count("\t") == 1
