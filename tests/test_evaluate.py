import json
from html.parser import HTMLParser

import numpy as np
import pytest

from medocr.cli import main
from medocr.evaluate.calibration import (
    Calibration,
    accuracy_coverage,
    automation_rate,
    calibration_key,
    expected_calibration_error,
    fit_calibration,
    reliability,
)
from medocr.evaluate.fields import FieldOutcome, field_report
from medocr.evaluate.metrics import cer, comparable, confusions, exact_match, wer

# --- text metrics ---------------------------------------------------------------------------


def test_cer_and_wer_by_hand():
    assert cer(["abcd"], ["abxd"]) == 0.25
    assert cer(["ab", "cd"], ["ab", ""]) == 0.5
    assert wer(["arrêt cardiaque brutal"], ["arrêt cardiaque"]) == pytest.approx(1 / 3)
    assert cer([""], [""]) == 0.0 and cer([""], ["x"]) == 1.0
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        cer(["a", "b"], ["a"])


def test_comparison_options():
    assert comparable("  Choc   septique ") == "Choc septique"
    assert comparable("l’œdème", ignore_accents=True) == "l'oedeme"
    assert cer(["Décès"], ["deces"]) == 0.6
    assert cer(["Décès"], ["deces"], ignore_case=True, ignore_accents=True) == 0.0
    assert exact_match(["Décès", "a"], ["DÉCÈS", "b"], ignore_case=True) == 0.5


def test_confusions_count_substitutions_drops_and_insertions():
    counts = confusions(["cardiaque", "sepsis"], ["cordiaque", "sepsiss"])
    assert counts[("a", "o")] == 1 and counts[("", "s")] == 1
    assert sum(counts.values()) == 2
    assert confusions(["abc"], ["ab"])[("c", "")] == 1


# --- calibration ----------------------------------------------------------------------------


def test_reliability_and_ece_by_hand():
    conf = [0.95, 0.95, 0.15, 0.15]
    right = [True, False, False, False]
    bins = reliability(conf, right)
    assert [(b["count"], b["accuracy"]) for b in bins] == [(2, 0.0), (2, 0.5)]
    assert expected_calibration_error(conf, right) == pytest.approx(0.5 * 0.15 + 0.5 * 0.45)
    with pytest.raises(ValueError, match="within 0..1"):
        reliability([1.5], [True])


def test_accuracy_coverage_and_automation_rate():
    conf = [0.99, 0.9, 0.9, 0.6, 0.3]
    right = [True, True, False, True, False]
    coverage, error, threshold = accuracy_coverage(conf, right)
    assert coverage.tolist() == [0.2, 0.6, 0.8, 1.0]  # ties accepted together
    assert error.tolist() == pytest.approx([0.0, 1 / 3, 0.25, 0.4])
    assert threshold.tolist() == [0.99, 0.9, 0.6, 0.3]
    assert automation_rate(conf, right, 0.01) == (0.2, 0.99)
    assert automation_rate(conf, right, 0.3) == (0.8, 0.6)
    assert automation_rate([0.9], [False], 0.01) == (0.0, float("inf"))


def test_fitted_calibration_is_calibrated_and_round_trips():
    rng = np.random.default_rng(0)
    raw = rng.random(4000)
    right = rng.random(4000) < raw**3  # raw confidences far too high
    kinds = ["cause"] * 4000
    assert expected_calibration_error(raw, right) > 0.15
    calibration = fit_calibration(kinds, raw, right, source="test")
    fixed = [calibration.apply("cause", c) for c in raw]
    assert expected_calibration_error(fixed, right) < 0.03
    again = Calibration.from_dict(json.loads(json.dumps(calibration.to_dict())))
    assert again.apply("cause", 0.7) == calibration.apply("cause", 0.7)
    assert again.apply("date", 0.7) == 0.7  # kinds not fitted stay raw
    threshold = calibration.threshold("cause", 0.01)
    accepted = np.array(fixed) >= threshold
    assert accepted.any() and (~right[accepted]).mean() <= 0.01
    hopeless = fit_calibration(kinds, raw, np.zeros(4000, bool))
    assert hopeless.kinds["cause"].thresholds["0.01"] is None
    assert hopeless.threshold("cause", 0.01) == float("inf") and hopeless.threshold("x") is None


def test_calibration_separates_empty_and_written_fields():
    rng = np.random.default_rng(1)
    raw = rng.random(6000)
    written = rng.random(6000) < 0.25
    # blank fields read as blank are nearly always right, whatever their raw confidence;
    # written ones are wrong at least 3% of the time
    right = np.where(written, rng.random(6000) < 0.97 * raw**2, rng.random(6000) < 0.999)
    texts = ["a cause" if w else "" for w in written]
    kinds = ["interval"] * 6000
    calibration = fit_calibration(kinds, raw, right, texts=texts)
    assert {"interval", "interval:empty", "interval:written"} <= set(calibration.kinds)
    assert calibration_key("interval", "  ") == "interval:empty"
    assert calibration.apply("interval", 0.6, "") > calibration.apply("interval", 0.6, "3 ans")
    assert calibration.apply("interval", 0.6) == calibration.kinds["interval"].apply(0.6)
    for state, text in ((~written, ""), (written, "x")):
        fixed = np.array([calibration.apply("interval", c, text) for c in raw[state]])
        accepted = fixed >= calibration.threshold("interval", 0.01, text)
        assert not accepted.any() or (~right[state][accepted]).mean() <= 0.01, "own promise"
    pooled = fit_calibration(kinds, raw, right)  # one curve for both: the written pay for it
    fixed = np.array([pooled.apply("interval", c) for c in raw[written]])
    accepted = fixed >= pooled.threshold("interval", 0.01)
    assert accepted.any() and (~right[written][accepted]).mean() > 0.01
    sparse = fit_calibration(kinds[:30], raw[:30], right[:30], texts=texts[:30])
    assert "interval" in sparse.kinds and "interval:written" not in sparse.kinds
    assert sparse.apply("interval", 0.6, "x") == sparse.apply("interval", 0.6)  # fallback


def overconfident_fields(seed, n=20_000, slope=0.5, shift=0.5):
    """Raw confidences sigmoid(z), right with probability sigmoid(slope z + shift)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(3.5, 2.5, n)
    p_right = 1 / (1 + np.exp(-(slope * z + shift)))
    return 1 / (1 + np.exp(-z)), rng.random(n) < p_right, p_right


def held_out_check(calibration, raw, right, p_right, target):
    """Accepted share and error on held-out fields at the fitted threshold, the error allowed
    (target + 3 binomial standard deviations) and the share an oracle knowing p accepts."""
    fixed = np.array([calibration.apply("cause", c) for c in raw])
    accepted = fixed >= calibration.threshold("cause", target)
    count = max(1, int(accepted.sum()))
    allowed = target + 3 * np.sqrt(target * (1 - target) / count)
    best_first = np.sort(1 - p_right)  # expected error of the oracle's accepted fields
    oracle = np.mean(np.cumsum(best_first) / np.arange(1, raw.size + 1) <= target)
    return accepted.mean(), (~right[accepted]).mean(), allowed, oracle


def test_calibration_holds_on_fields_it_was_not_fitted_on():
    raw, right, _ = overconfident_fields(seed=0)
    calibration = fit_calibration(["cause"] * raw.size, raw, right)
    held_raw, held_right, held_p = overconfident_fields(seed=1)  # same process, new fields
    fixed = [calibration.apply("cause", c) for c in held_raw]
    assert expected_calibration_error(held_raw, held_right) > 0.04  # raw: overconfident
    assert expected_calibration_error(fixed, held_right) < 0.015
    for target in (0.01, 0.02):
        share, error, allowed, oracle = held_out_check(
            calibration, held_raw, held_right, held_p, target
        )
        assert error <= allowed, f"{target}: {error:.4f} of accepted fields wrong"
        assert share >= 0.5 * oracle, f"{target}: accepts {share:.3f}, could {oracle:.3f}"
    # the same checks fail for a calibration fitted on another process (raw taken at its word)
    other_raw, other_right, _ = overconfident_fields(seed=0, slope=1.0, shift=0.0)
    other = fit_calibration(["cause"] * raw.size, other_raw, other_right)
    assert (
        expected_calibration_error([other.apply("cause", c) for c in held_raw], held_right) > 0.015
    )
    _, error, allowed, _ = held_out_check(other, held_raw, held_right, held_p, 0.01)
    assert error > allowed


# --- field report ---------------------------------------------------------------------------


def outcome(document, field, kind, truth, text, confidence, route="accept"):
    return FieldOutcome(document, field, kind, truth, text, confidence, route)


def test_field_report_by_hand():
    outcomes = [
        outcome("c1", "cause_1a", "cause", "choc septique", "choc septique", 0.9),
        outcome("c1", "interval_1a", "interval", "3 j", "3 j", 0.8),
        outcome("c2", "cause_1a", "cause", "sepsis", "sepsls", 0.95),
        outcome("c2", "interval_1a", "interval", "", "", 0.99, "review"),
    ]
    report = field_report(outcomes)
    assert report["documents"] == 2 and report["certificate_exact"] == 0.5
    assert report["kinds"]["cause"]["exact"] == 0.5
    assert report["kinds"]["cause"]["cer"] == pytest.approx(1 / 19)
    assert report["overall"]["accepted"] == 0.75
    assert report["overall"]["accepted_error"] == pytest.approx(1 / 3)
    assert report["per_field"]["interval_1a"]["exact"] == 1.0
    assert report["confusions"] == [["i", "l", 1]]


# --- the command and its report -------------------------------------------------------------


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"])


@pytest.mark.tf
def test_evaluate_certificates_writes_report_and_calibration(certificate_dir, tmp_path, capsys):
    from medocr.bundles import copy_bundle, read_meta, resolve

    bundle = copy_bundle(resolve("fr-crnn-small"), tmp_path / "bundle")
    out = tmp_path / "report"
    code = main(["evaluate", str(certificate_dir), "--out", str(out), "--model", str(bundle),
                 "--fit-calibration", str(bundle)])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "evaluate: 3 certificates, 42 fields" in printed
    metrics = json.loads((out / "metrics.json").read_text("utf-8"))
    assert metrics["run"]["certificates"] == 3 and metrics["documents"] == 3
    assert set(metrics["kinds"]) == {"cause", "interval", "checkbox", "date"}
    assert metrics["kinds"]["checkbox"]["exact"] == 1.0
    page = (out / "report.html").read_text("utf-8")
    assert page.startswith("<!DOCTYPE html>") and "Worst readings" in page
    parser = _Collector()
    parser.feed(page)
    assert len(parser.images) >= 4 and parser.tags.count("table") == 2
    for src in parser.images:
        assert (out / src).stat().st_size > 1000, src  # every picture is there
    assert "calibration.json" in read_meta(bundle)["files"]  # re-hashed into the bundle
    assert "calibration written" in printed


def test_calibration_source_names_the_data(tmp_path):
    from medocr.cli.evaluate import _calibration_source

    plain = _calibration_source(tmp_path, 3, "certificates", 42)
    assert plain == f"{tmp_path} (3 certificates, 42 fields)"
    (tmp_path / "synth.json").write_text(json.dumps({"seed": 41, "template": "fr@1.0.0"}))
    described = _calibration_source(tmp_path, 200, "certificates", 2800)
    assert described == (
        f"200 synthetic certificates of {tmp_path.name} (`medocr synth --seed 41`, "
        "template fr@1.0.0; 2,800 fields)"
    )


@pytest.mark.tf
def test_evaluate_a_line_set(tmp_path, capsys):
    import cv2

    from medocr.synth.fonts import find_handwriting_fonts
    from medocr.synth.lines import render_line
    from medocr.synth.text import Vocabulary

    fonts, vocabulary = find_handwriting_fonts(), Vocabulary.default()
    rows = []
    for index in range(6):
        line = render_line(np.random.default_rng(index), fonts, vocabulary)
        cv2.imwrite(str(tmp_path / f"{index}.png"), line.image)
        rows.append(json.dumps({"image": f"{index}.png", "text": line.text, "document": "d"}))
    (tmp_path / "lines.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "report"
    assert main(["evaluate", str(tmp_path / "lines.jsonl"), "--out", str(out),
                 "--decoder", "greedy"]) == 0  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text("utf-8"))
    assert metrics["run"]["lines"] == 6 and metrics["overall"]["fields"] == 6
    assert 0.0 <= metrics["overall"]["cer"] < 1.5


def test_evaluate_refuses_a_folder_without_truth(tmp_path):
    assert main(["evaluate", str(tmp_path), "--out", str(tmp_path / "r")]) == 2


# --- methods side by side -------------------------------------------------------------------


@pytest.mark.tf
def test_compare_crnn_decoders_on_certificate_fields(certificate_dir, pipeline):
    from medocr.evaluate.compare import (
        certificate_items,
        comparison_rows,
        crnn_runs,
        markdown_table,
    )

    items = certificate_items(certificate_dir, pipeline, limit=2)
    assert {i.kind for i in items} <= {"cause", "interval", "date"} and len(items) == 2 * 10
    runs = crnn_runs(items, pipeline, with_pipeline=True)
    names = [r.name for r in runs]
    assert names[0] == "CRNN greedy" and names[-1] == "medocr pipeline (per-kind decoders)"
    rows = comparison_rows(runs)
    assert all(r["items"] == len(items) and r["lines_per_s"] > 0 for r in rows)
    assert all(0.0 <= r["automation_1pct"] <= 1.0 for r in rows)
    lineless = [o for o, item in zip(runs[0].outcomes, items, strict=True) if not item.lines]
    assert lineless and all(o.text == "" and not o.truth for o in lineless)
    table = markdown_table("fields", rows)
    assert table.count("\n| CRNN") == 4 and "| medocr pipeline" in table
