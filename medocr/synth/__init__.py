"""Synthetic handwritten death certificates with full ground truth.

>>> from medocr.synth import generate_certificate
>>> cert = generate_certificate(seed=0, index=0)        # doctest: +SKIP
>>> cert.image.shape, cert.truth["fields"][0]["text"]   # doctest: +SKIP

See :mod:`medocr.synth.certificate` for the ground-truth schema and
:func:`medocr.synth.runner.synthesize` (``medocr synth``) to write many to a folder.
"""

from __future__ import annotations

from medocr._lazy import lazy_attributes

_LAZY = {
    "generate_certificate": "medocr.synth.certificate",
    "SynthCertificate": "medocr.synth.certificate",
    "TRUTH_SCHEMA": "medocr.synth.certificate",
    "synthesize": "medocr.synth.runner",
    "SynthSummary": "medocr.synth.runner",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
