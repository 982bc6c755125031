"""Synthetic handwritten death certificates with full ground truth.

>>> from medocr.synth import generate_certificate
>>> cert = generate_certificate(seed=0, index=0)        # doctest: +SKIP
>>> cert.image.shape, cert.truth["fields"][0]["text"]   # doctest: +SKIP

See :mod:`medocr.synth.certificate` for the ground-truth schema and
:func:`medocr.synth.runner.synthesize` (``medocr synth``) to write many to a folder.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "generate_certificate": "medocr.synth.certificate",
    "SynthCertificate": "medocr.synth.certificate",
    "TRUTH_SCHEMA": "medocr.synth.certificate",
    "synthesize": "medocr.synth.runner",
    "SynthSummary": "medocr.synth.runner",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'medocr.synth' has no attribute {name!r}")
    return getattr(import_module(module), name)
