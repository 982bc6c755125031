import json
import logging
import socket

import cv2
import numpy as np
import pytest

import medocr
from medocr.bundles import resolve
from medocr.config import DEFAULT_THRESHOLDS, PipelineConfig
from medocr.errors import InputError, ModelError, TemplateError
from medocr.evaluate.metrics import cer
from medocr.pipeline import Pipeline, checkbox_ink, frame_line, hypothesis_confidence
from medocr.types import CertificateResult, Hypothesis, Page

# --- configuration (no TensorFlow) ----------------------------------------------------------


def test_config_defaults_and_round_trip():
    config = PipelineConfig()
    assert config.model == "fr-crnn-small" and config.cause_decoder == "wordbeam"
    assert config.thresholds == {} and config.calibrate and config.max_error == 0.01
    assert PipelineConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_config_from_json_and_yaml(tmp_path):
    (tmp_path / "c.json").write_text('{"cause_decoder": "greedy", "thresholds": {"cause": 0.5}}')
    (tmp_path / "c.yaml").write_text("cause_decoder: beam\nline_padding: [0.2, 0.1]\n")
    from_json = PipelineConfig.from_file(tmp_path / "c.json")
    assert from_json.cause_decoder == "greedy"
    assert from_json.thresholds == {"cause": 0.5}
    assert PipelineConfig.from_file(tmp_path / "c.yaml").line_padding == (0.2, 0.1)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"cause_decoderr": "greedy"}', r"c\.json: unknown config keys \['cause_decoderr'\]"),
        ('{"cause_decoder": "magic"}', r"c\.json: cause_decoder must be one of wordbeam"),
        ('{"thresholds": {"cause": 2}}', r"c\.json: threshold for cause must be within 0\.\.1"),
        ('{"thresholds": {"signature": 0.5}}', r"thresholds for unknown field kinds"),
        ('{"beam_width": 0}', r"beam_width must be >= 1"),
        ("[1, 2]", r"c\.json: a pipeline config must be a mapping"),
        ("{", r"c\.json: not valid JSON"),
    ],
)
def test_bad_configs_name_the_file_and_the_reason(tmp_path, content, message):
    (tmp_path / "c.json").write_text(content)
    with pytest.raises(ValueError, match=message):
        PipelineConfig.from_file(tmp_path / "c.json")


def test_thresholds_come_from_config_then_calibration_then_defaults(tmp_path):
    from medocr.bundles import copy_bundle, write_bundle_file, write_meta
    from medocr.evaluate.calibration import Calibration, KindCalibration

    bundle = copy_bundle(resolve("fr-crnn-small"), tmp_path / "bundle")
    raw = Pipeline(model=str(bundle), calibrate=False)
    assert raw.threshold("cause") == DEFAULT_THRESHOLDS["cause"]
    calibration = Calibration(
        {"cause": KindCalibration([0.0, 0.5, 1.0], [0.0, 0.2, 0.9], {"0.01": 0.85}, 100)}
    )
    (bundle / "calibration.json").write_text(json.dumps(calibration.to_dict()))
    meta = json.loads((bundle / "meta.json").read_text())
    write_meta(bundle, meta["kind"], {k: v for k, v in meta.items() if k != "files"})
    pipeline = Pipeline(model=str(bundle))
    assert pipeline.threshold("cause") == 0.85 and pipeline.threshold("date") == 0.9
    assert pipeline.routing.confidence("cause", 0.75, "cancer") == pytest.approx(0.55)
    assert Pipeline(model=str(bundle), thresholds={"cause": 0.5}).threshold("cause") == 0.5
    assert Pipeline(model=str(bundle), calibrate=False).calibration is None
    write_bundle_file(bundle, "calibration.json", b'{"format": "other"}')
    with pytest.raises(ModelError, match="unreadable calibration"):
        Pipeline(model=str(bundle)).threshold("cause")
    (bundle / "calibration.json").write_text(json.dumps(calibration.to_dict()))
    with pytest.raises(ModelError, match="calibration.json does not match"):  # not sealed
        Pipeline(model=str(bundle)).threshold("cause")


def test_unknown_option_is_refused():
    with pytest.raises(ValueError, match=r"unknown pipeline options \['decoder'\]"):
        Pipeline(decoder="greedy")


# --- helpers (no TensorFlow) ---------------------------------------------------------------


def test_hypothesis_confidence_is_the_nbest_posterior():
    hyp = Hypothesis("a", np.log(0.6), alternatives=(("b", np.log(0.2)), ("c", np.log(0.2))))
    assert hypothesis_confidence(hyp) == pytest.approx(0.6)
    assert hypothesis_confidence(Hypothesis("a", np.log(0.3))) == pytest.approx(0.3)
    assert hypothesis_confidence(Hypothesis("", float("-inf"))) == 0.0


def test_checkbox_ink_sees_a_cross_and_not_the_frame():
    box = np.full((60, 60), 235, np.uint8)
    box[18:42, [18, 41]] = 30  # printed frame (inside the 18 px margin)
    box[[18, 41], 18:42] = 30
    assert checkbox_ink(box, (18, 18)) == 0.0
    ticked = box.copy()
    for i in range(22, 38):
        ticked[i, i - 1 : i + 2] = 20
        ticked[i, 59 - i - 1 : 59 - i + 2] = 20
    assert checkbox_ink(ticked, (18, 18)) > 0.3


def test_frame_line_adds_paper():
    line = np.full((20, 50), 200, np.uint8)
    line[5:15, 10:40] = 0
    framed = frame_line(line, 0.5, 0.3)
    assert framed.shape == (20 + 2 * 6, 50 + 2 * 10)
    assert framed[0, 0] == 200 and framed[:6].min() == 200


# --- reading certificates -------------------------------------------------------------------


@pytest.fixture(scope="module")
def results(pipeline, certificate_dir):
    return [pipeline.read(certificate_dir / f"cert-{i:06d}.png")[0] for i in range(3)]


@pytest.mark.tf
def test_one_result_per_template_field_with_versions(pipeline, results):
    names = [f.name for f in pipeline.template.fields]
    for result in results:
        assert [f.name for f in result.fields] == names
        assert [f.kind for f in result.fields] == [f.kind for f in pipeline.template.fields]
        assert result.template_id == "fr-deces-volet-medical@1.0.0"
        assert result.steps["model"].startswith("fr-crnn-small@")
        assert result.steps["lexicon"].startswith("fr-medical@")
        assert result.steps["medocr"] == medocr.__version__
        assert set(result.timings) >= {"io", "deskew", "registration", "recognition"}
        assert result.registration_score > 0.6 and result.page_size == (1654, 2339)
        assert all(f.error is None for f in result.fields)
        assert all(0.0 <= f.confidence <= 1.0 for f in result.fields)
        assert all(f.route in ("accept", "review") for f in result.fields)


@pytest.mark.tf
def test_checkboxes_and_empty_fields_match_the_truth(results, certificate_truths):
    empty_total = empty_read_empty = 0
    for result, truth in zip(results, certificate_truths, strict=True):
        for field in result.fields:
            if field.kind == "checkbox":
                assert field.text == truth[field.name], field.name
            elif not truth[field.name]:
                empty_total += 1
                empty_read_empty += field.text == ""
    assert empty_total > 5 and empty_read_empty / empty_total >= 0.9


@pytest.mark.tf
def test_written_fields_are_read(results, certificate_truths):
    refs, hyps = [], []
    for result, truth in zip(results, certificate_truths, strict=True):
        for field in result.fields:
            if field.kind in ("cause", "interval") and truth[field.name]:
                refs.append(truth[field.name])
                hyps.append(field.text)
                assert field.lines and all(line.bbox[2] > line.bbox[0] for line in field.lines)
    assert len(refs) >= 4
    assert cer(refs, hyps) < 0.6  # the shipped model is weak, but far from random


@pytest.mark.tf
def test_result_survives_json(results):
    for result in results:
        again = CertificateResult.from_dict(json.loads(result.to_json()))
        assert again == result


@pytest.mark.tf
def test_a_failing_field_is_recorded_and_the_page_goes_on(pipeline, certificate_dir, monkeypatch):
    def broken(probs):
        raise RuntimeError("decoder exploded")

    monkeypatch.setattr(pipeline.reader("cause"), "decode", broken)
    result = pipeline.read(certificate_dir / "cert-000000.png")[0]
    cause = result.field("cause_1a")
    assert cause.error == "RuntimeError: decoder exploded" and cause.route == "review"
    assert result.field("autopsy_yes").error is None

    strict = Pipeline(strict=True)
    strict.__dict__["recognizer"] = pipeline.recognizer  # reuse the loaded model
    monkeypatch.setattr(strict.reader("cause"), "decode", broken)
    with pytest.raises(RuntimeError, match="decoder exploded"):
        strict.read(certificate_dir / "cert-000000.png")


@pytest.mark.tf
def test_other_pages_are_refused(pipeline):
    blank = Page(np.full((2339, 1654), 240, np.uint8), "blank.png")
    with pytest.raises(TemplateError):
        pipeline.read_page(blank)


def test_unreadable_file_is_an_input_error(tmp_path):
    bad = tmp_path / "scan.png"
    bad.write_bytes(b"")
    with pytest.raises(InputError, match=r"scan\.png.*file is empty"):
        medocr.read(bad)


@pytest.mark.tf
def test_reading_opens_no_socket_and_logs_no_text(pipeline, certificate_dir, monkeypatch, caplog):
    def refuse(*args, **kwargs):
        raise AssertionError("medocr tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    with caplog.at_level(logging.INFO):
        result = pipeline.read(certificate_dir / "cert-000001.png")[0]
    words = {w for f in result.fields for w in f.text.split() if len(w) > 3}
    logged = " ".join(r.getMessage() for r in caplog.records if r.levelno <= logging.INFO)
    assert words and not any(w in logged for w in words)


@pytest.mark.tf
def test_module_level_read_uses_the_default_pipeline(certificate_dir):
    result = medocr.read(certificate_dir / "cert-000002.png", cause_decoder="greedy")[0]
    assert result.steps["cause_decoder"] == "greedy" and len(result.fields) == 14


# --- training lines cut like reading ---------------------------------------------------------


def test_field_lines_match_the_truth_and_read_back(certificate_dir, certificate_truths, tmp_path):
    from medocr.cli import main
    from medocr.dataset.readers import read_line_set

    out = tmp_path / "lines"
    assert main(["dataset", "field-lines", str(certificate_dir), "--out", str(out), "--quiet"]) == 0
    rows = [json.loads(line) for line in (out / "lines.jsonl").read_text("utf-8").splitlines()]
    assert len(rows) >= 6
    for row in rows:
        truth = certificate_truths[int(row["document"].split("-")[1])][row["field"]]
        assert row["text"] in truth and (out / row["image"]).exists()
    records = read_line_set(out / "lines.jsonl")
    assert len(records.records) == len(rows)


def test_faint_writing_gets_a_second_look_before_the_field_is_called_empty():
    from medocr.types import FieldCrop

    rng = np.random.default_rng(0)
    pipeline = Pipeline()
    crops = {}
    for name, gray in (("faint", 185), ("blank", None)):
        image = np.full((151, 334), 222, np.uint8)
        cv2.rectangle(image, (12, 18), (321, 132), 60, 2)  # the printed box
        if gray is not None:  # too light for Sauvola's default k, not for FAINT_INK_K
            cv2.putText(image, "quelques semaines", (40, 95), cv2.FONT_HERSHEY_SIMPLEX, 0.9,
                        gray, 2, cv2.LINE_AA)  # fmt: skip
        image = np.clip(image + rng.normal(0, 2, image.shape), 0, 255).astype(np.uint8)
        crops[name] = FieldCrop("interval_1a", "interval", (0, 0, 334, 151), image)
    faint = pipeline._segment(crops["faint"])
    assert len(faint.lines) == 1 and faint.ink_pixels > 1000
    blank = pipeline._segment(crops["blank"])
    assert blank.lines == [] and blank.ink_pixels == 0


def test_field_lines_are_what_reading_sees(certificate_dir):
    from medocr.io import read_image

    pipeline = Pipeline()
    cut = pipeline.field_lines(read_image(certificate_dir / "cert-000000.png"))
    assert [crop.name for crop, _ in cut] == [f.name for f in pipeline.template.fields]
    for crop, lines in cut:
        if crop.kind == "checkbox":
            assert lines == []
        for line in lines:
            assert line.dtype == np.uint8 and line.ndim == 2
            top = round(0.3 * (line.shape[0] / 1.6))  # framed: paper above the ink
            frame = line[: max(1, top - 1)]
            assert frame.min() == frame.max() >= np.median(line) - 1
