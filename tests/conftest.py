"""Shared fixtures: a few synthetic certificates and one default pipeline per session."""

import json

import pytest

from medocr.synth.runner import write_certificate
from medocr.templates import load_template

CERT_SEED = 11
CERT_COUNT = 3


@pytest.fixture(scope="session")
def certificate_dir(tmp_path_factory):
    """Folder with cert-00000{0,1,2}.png and their ground-truth JSON."""
    folder = tmp_path_factory.mktemp("certificates")
    template = load_template()
    for index in range(CERT_COUNT):
        write_certificate(folder, CERT_SEED, index, template, "png")
    return folder


@pytest.fixture(scope="session")
def certificate_truths(certificate_dir):
    """Ground truth per certificate: field name -> expected text ("X" for a ticked box)."""
    truths = []
    for index in range(CERT_COUNT):
        data = json.loads((certificate_dir / f"cert-{index:06d}.json").read_text("utf-8"))
        fields = {}
        for field in data["fields"]:
            if field["kind"] == "checkbox":
                fields[field["name"]] = "X" if field["value"] else ""
            else:
                fields[field["name"]] = field["text"].replace("\n", " ")
        truths.append(fields)
    return truths


@pytest.fixture(scope="session")
def pipeline():
    """The default pipeline (shipped model, lexicon, template), loaded once."""
    from medocr.pipeline import Pipeline

    return Pipeline()
