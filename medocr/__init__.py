"""medocr: read the handwriting on French death certificates.

The public API is loaded lazily (PEP 562) so that ``import medocr`` stays light:
no TensorFlow, no OpenCV until a function that needs them is used.

>>> import medocr
>>> results = medocr.read("scan.tif")               # doctest: +SKIP
>>> pages = medocr.read_pages("scan.tif")          # doctest: +SKIP
>>> template = medocr.load_template()               # doctest: +SKIP
"""

from __future__ import annotations

from medocr._lazy import lazy_attributes
from medocr._version import __version__

_LAZY = {
    "read": "medocr.pipeline",
    "Pipeline": "medocr.pipeline",
    "PipelineConfig": "medocr.config",
    "FieldReader": "medocr.fields",
    "FieldInput": "medocr.fields",
    "Routing": "medocr.fields",
    "read_image": "medocr.io",
    "read_pages": "medocr.io",
    "load_template": "medocr.templates",
    "Template": "medocr.templates",
    "generate_certificate": "medocr.synth",
    "synthesize": "medocr.synth",
    "Alphabet": "medocr.text",
    "load_lexicon": "medocr.lexicon",
    "Lexicon": "medocr.lexicon",
    "BigramModel": "medocr.lexicon",
    "tokenize": "medocr.text",
    "Page": "medocr.types",
    "FieldCrop": "medocr.types",
    "LineImage": "medocr.types",
    "CharImage": "medocr.types",
    "FrameProbs": "medocr.types",
    "Hypothesis": "medocr.types",
    "FieldResult": "medocr.types",
    "CertificateResult": "medocr.types",
    "LineResult": "medocr.types",
    "MedocrError": "medocr.errors",
    "InputError": "medocr.errors",
    "TemplateError": "medocr.errors",
    "ModelError": "medocr.errors",
    "LexiconError": "medocr.errors",
    "FontError": "medocr.errors",
    "OutputError": "medocr.errors",
}

__all__ = ["__version__", *sorted(_LAZY)]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
