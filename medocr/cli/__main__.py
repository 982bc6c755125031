"""``python -m medocr.cli``: the ``medocr`` command."""

import sys

from medocr.cli import main

sys.exit(main())
