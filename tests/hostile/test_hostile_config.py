"""Hostile pipeline configs (issue #19): every bad value is refused, naming the key."""

import json
import math
import re
from dataclasses import FrozenInstanceError, fields
from pathlib import Path

import numpy as np
import pytest

from medocr.config import PipelineConfig

# (options, key named in the error, fragment of the bad value shown)
BAD = [
    # the hostile probe's findings
    ({"beam_width": 2.7}, "beam_width", "2.7"),
    ({"lm_weight": "heavy"}, "lm_weight", "'heavy'"),
    ({"checkbox_ink": -1}, "checkbox_ink", "-1"),
    ({"deskew": "false"}, "deskew", "'false'"),
    ({"use_bigram": "no"}, "use_bigram", "'no'"),
    ({"strict": "no"}, "strict", "'no'"),
    ({"calibrate": "false"}, "calibrate", "'false'"),
    ({"thresholds": 0.5}, "thresholds", "0.5"),
    ({"thresholds": {"cause": -0.1}}, "threshold for cause", "-0.1"),
    # booleans: only true/false
    ({"deskew": 0}, "deskew", "0"),
    ({"strict": 1}, "strict", "1"),
    ({"use_bigram": None}, "use_bigram", "None"),
    # integers: no bools, no floats (not even 16.0), no strings, in range
    ({"beam_width": 16.0}, "beam_width", "16.0"),
    ({"beam_width": True}, "beam_width", "True"),
    ({"beam_width": "16"}, "beam_width", "'16'"),
    ({"beam_width": 0}, "beam_width", "0"),
    ({"beam_width": 1025}, "beam_width", "1025"),
    ({"beam_width": 10**30}, "beam_width", "1000000000000000000000000000000"),
    ({"n_best": 0}, "n_best", "0"),
    ({"n_best": 2.5}, "n_best", "2.5"),
    ({"batch_size": 0}, "batch_size", "0"),
    ({"batch_size": 4097}, "batch_size", "4097"),
    ({"batch_size": None}, "batch_size", "None"),
    ({"empty_ink": -1}, "empty_ink", "-1"),
    ({"empty_ink": 0}, "empty_ink", "0"),
    ({"empty_ink": 400.5}, "empty_ink", "400.5"),
    # floats: numbers, finite, in range
    ({"lm_weight": -0.1}, "lm_weight", "-0.1"),
    ({"lm_weight": math.inf}, "lm_weight", "inf"),
    ({"lm_weight": math.nan}, "lm_weight", "nan"),
    ({"lm_weight": True}, "lm_weight", "True"),
    ({"lm_weight": None}, "lm_weight", "None"),
    ({"oov_penalty": 0.5}, "oov_penalty", "0.5"),
    ({"oov_penalty": -math.inf}, "oov_penalty", "-inf"),
    ({"oov_penalty": "-1.5"}, "oov_penalty", "'-1.5'"),
    ({"checkbox_ink": 0}, "checkbox_ink", "0"),
    ({"checkbox_ink": 1}, "checkbox_ink", "1"),
    ({"checkbox_ink": "0.06"}, "checkbox_ink", "'0.06'"),
    ({"min_registration_score": -0.01}, "min_registration_score", "-0.01"),
    ({"min_registration_score": 1.5}, "min_registration_score", "1.5"),
    ({"min_registration_score": math.nan}, "min_registration_score", "nan"),
    ({"max_error": 0.03}, "max_error", "0.03"),
    ({"max_error": "0.01"}, "max_error", "'0.01'"),
    # thresholds: a mapping of known kinds to numbers within 0..1
    ({"thresholds": [0.5]}, "thresholds", "[0.5]"),
    ({"thresholds": "cause"}, "thresholds", "'cause'"),
    ({"thresholds": {"cause": 1.01}}, "threshold for cause", "1.01"),
    ({"thresholds": {"cause": "high"}}, "threshold for cause", "'high'"),
    ({"thresholds": {"cause": True}}, "threshold for cause", "True"),
    ({"thresholds": {"cause": math.nan}}, "threshold for cause", "nan"),
    ({"thresholds": {"signature": 0.5}}, "thresholds", "'signature'"),
    ({"thresholds": {1: 0.5, "x": 0.5}}, "thresholds", "'x'"),
    # line_padding: two finite numbers within 0..10
    ({"line_padding": 0.5}, "line_padding", "0.5"),
    ({"line_padding": [0.5]}, "line_padding", "[0.5]"),
    ({"line_padding": [0.1, 0.2, 0.3]}, "line_padding", "[0.1, 0.2, 0.3]"),
    ({"line_padding": [-0.1, 0.3]}, "line_padding", "-0.1"),
    ({"line_padding": [0.5, math.inf]}, "line_padding", "inf"),
    ({"line_padding": [0.5, "0.3"]}, "line_padding", "'0.3'"),
    ({"line_padding": [0.5, 1e6]}, "line_padding", "1000000.0"),
    ({"line_padding": "0.5,0.3"}, "line_padding", "'0.5,0.3'"),
    ({"line_padding": {"x": 0.5, "y": 0.3}}, "line_padding", "{'x': 0.5, 'y': 0.3}"),
    # strings and enums
    ({"model": ""}, "model", "''"),
    ({"model": None}, "model", "None"),
    ({"model": 42}, "model", "42"),
    ({"template": 3}, "template", "3"),
    ({"template": "  "}, "template", "'  '"),
    ({"lexicon": ["fr-medical"]}, "lexicon", "['fr-medical']"),
    ({"cause_decoder": "magic"}, "cause_decoder", "'magic'"),
    ({"cause_decoder": None}, "cause_decoder", "None"),
    ({"backend": "cuda"}, "backend", "'cuda'"),
    ({"backend": 1}, "backend", "1"),
]


@pytest.mark.parametrize(("options", "key", "shown"), BAD, ids=[repr(b[0]) for b in BAD])
def test_bad_values_are_refused_naming_source_key_and_value(options, key, shown):
    with pytest.raises(ValueError) as info:
        PipelineConfig.from_dict(options, "hostile.json")
    message = str(info.value)
    assert message.startswith("hostile.json: "), message
    assert key in message and shown in message, message
    assert "must be" in message or "unknown field kinds" in message, message
    # The same rule applies from Python, directly or through with_options.
    with pytest.raises(ValueError, match=re.escape(key)):
        PipelineConfig(**options)
    with pytest.raises(ValueError, match=re.escape(key)):
        PipelineConfig().with_options(**options)


def test_booleans_as_strings_say_to_use_true_or_false():
    with pytest.raises(ValueError, match=r"deskew must be a boolean \(true or false"):
        PipelineConfig.from_dict({"deskew": "false"})


@pytest.mark.parametrize("name", [f.name for f in fields(PipelineConfig)])
def test_every_field_is_checked(name):
    with pytest.raises(ValueError, match=rf"^<dict>: {name}\b"):
        PipelineConfig.from_dict({name: object()})


def test_all_bad_values_are_reported_at_once():
    with pytest.raises(ValueError) as info:
        PipelineConfig.from_dict({"beam_width": 2.7, "strict": "no", "lm_weight": "heavy"})
    for key in ("beam_width", "strict", "lm_weight"):
        assert key in str(info.value)


GOOD = [
    {},
    {"beam_width": 1, "n_best": 1},
    {"beam_width": 1024, "n_best": 1024, "batch_size": 4096},
    {"beam_width": 4, "n_best": 8},  # more readings asked than kept: harmless
    {"lm_weight": 0, "oov_penalty": 0},
    {"oov_penalty": None},
    {"lm_weight": 12.5, "oov_penalty": -30},
    {"deskew": False, "use_bigram": False, "calibrate": False, "strict": True},
    {"checkbox_ink": 0.5, "min_registration_score": 0},
    {"min_registration_score": 1},
    {"thresholds": {"cause": 0, "date": 1, "interval": 0.75}},
    {"line_padding": [0, 0]},
    {"line_padding": (10, 2.5)},
    {"max_error": 0.005, "empty_ink": 1},
    {"max_error": 0.02, "empty_ink": 10**6},
    {"template": "my-template.json", "model": "/models/x", "lexicon": "fr-medical"},
    {"cause_decoder": "greedy", "backend": "onnx"},
]


@pytest.mark.parametrize("options", GOOD, ids=[repr(g) for g in GOOD])
def test_good_values_round_trip(options):
    config = PipelineConfig.from_dict(options, "good.json")
    again = PipelineConfig.from_dict(json.loads(json.dumps(config.to_dict())), "again.json")
    assert again == config
    assert config.with_options(**options) == config


def test_values_are_normalised_to_plain_python_types():
    config = PipelineConfig(
        beam_width=np.int64(8),
        lm_weight=np.float32(0.5),
        oov_penalty=-2,
        line_padding=[np.float64(0.25), 1],
        thresholds={"cause": 1},
        model=Path("models") / "x",
    )
    assert type(config.beam_width) is int and config.beam_width == 8
    assert type(config.lm_weight) is float and type(config.oov_penalty) is float
    assert config.line_padding == (0.25, 1.0) and type(config.line_padding) is tuple
    assert all(type(v) is float for v in config.line_padding)
    assert config.thresholds == {"cause": 1.0} and type(config.thresholds["cause"]) is float
    assert config.model == str(Path("models") / "x")
    json.dumps(config.to_dict())


def test_defaults_are_valid_and_frozen():
    config = PipelineConfig()
    assert config == PipelineConfig.from_dict(config.to_dict())
    with pytest.raises(FrozenInstanceError):
        config.beam_width = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("suffix", "text", "key", "shown"),
    [
        (".json", '{"beam_width": 2.7}', "beam_width", "2.7"),
        (".json", '{"lm_weight": NaN}', "lm_weight", "nan"),
        (".json", '{"thresholds": 0.5}', "thresholds", "0.5"),
        (".yaml", 'deskew: "no"\n', "deskew", "'no'"),
        (".yaml", "strict: 'false'\n", "strict", "'false'"),
        (".yml", "line_padding: [0.5]\n", "line_padding", "[0.5]"),
        (".json", "[]", "a pipeline config must be a mapping", "[]"),
        (".json", "0", "a pipeline config must be a mapping", "0"),
        (".yaml", "{1: 2}\n", "unknown config keys", "[1]"),
        (".yaml", "{1: 2, foo: 3}\n", "unknown config keys", "'foo', 1"),
    ],
)
def test_from_file_names_the_file(tmp_path, suffix, text, key, shown):
    path = tmp_path / f"hostile{suffix}"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as info:
        PipelineConfig.from_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert key in message and shown in message, message


def test_yaml_booleans_and_an_empty_yaml_file(tmp_path):
    (tmp_path / "c.yaml").write_text("deskew: no\nstrict: yes\n", encoding="utf-8")
    config = PipelineConfig.from_file(tmp_path / "c.yaml")  # YAML 1.1 booleans, unquoted
    assert config.deskew is False and config.strict is True
    (tmp_path / "empty.yaml").write_text("", encoding="utf-8")
    assert PipelineConfig.from_file(tmp_path / "empty.yaml") == PipelineConfig()


def test_a_refused_registration_prints_two_different_numbers():
    from medocr.errors import TemplateError
    from medocr.preprocess.forms import register
    from medocr.synth.certificate import generate_certificate
    from medocr.types import Page

    page = Page(generate_certificate(41, 0).image, "c.png")
    score = register(page, min_score=0.0).score
    for above in (1e-4, 1e-9):  # "0.98 < 0.98" before: two decimals only
        with pytest.raises(TemplateError, match="registration score") as info:
            register(page, min_score=score + above)
        shown, limit = re.search(r"registration score (\S+) < (\S+)", str(info.value)).groups()
        assert float(shown) < float(limit), str(info.value)
