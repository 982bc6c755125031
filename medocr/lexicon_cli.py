"""Old path of ``medocr lexicon``: the commands live in :mod:`medocr.cli.lexicon`.

Kept so that ``from medocr.lexicon_cli import add_lexicon_parser, run`` and
``python -m medocr.lexicon_cli lexicon ...`` go on working.
"""

from __future__ import annotations

import sys

from medocr.cli.lexicon import add_lexicon_parser, run

__all__ = ["add_lexicon_parser", "run"]

if __name__ == "__main__":
    sys.exit(run())
