"""Old path of ``medocr train classifier``: the command lives in :mod:`medocr.cli.classify`.

Kept so that ``from medocr.classify.cli import add_classifier_parser`` goes on working.
"""

from __future__ import annotations

from medocr.cli.classify import add_classifier_parser

__all__ = ["add_classifier_parser"]
