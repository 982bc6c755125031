"""Build the fr-medical lexicon and write the repository copies.

Run from anywhere::

    python lexicon/fr-medical/build.py [--cim10 DIR] [--samples N] [--seed S] [--out DIR]

Inputs: the CIM-10 FR labels (``cim10.csv.gz``; ``--cim10``, else ``$MEDOCR_DATA/cim10``, else
``../shared/data/cim10`` beside the repository), ``curated.txt`` and ``CHANGELOG.md`` (its last
line gives the version) from this folder, and the synthetic phrase sampler of
``medocr.synth.text``. Only word forms with counts and bigram counts are written, never the
CIM-10 labels themselves.

Outputs (the same bytes for the same inputs):

- ``medocr/data/lexicons/fr-medical/``: ``words.tsv``, ``bigrams.tsv``, ``manifest.json``,
  ``CHANGELOG.md`` and a copy of ``curated.txt`` (so that ``medocr lexicon build`` also works
  from an installed package): the frozen copy that ``medocr.load_lexicon()`` reads;
- ``lexicon/fr-medical/manifest.json``: the same manifest, beside the sources.

With ``--out DIR`` the lexicon is written to DIR only (the repository copies are untouched).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PACKAGED = REPO / "medocr" / "data" / "lexicons" / "fr-medical"

sys.path.insert(0, str(REPO))

from medocr.errors import MedocrError  # noqa: E402
from medocr.lexicon import (  # noqa: E402
    CURATED_FILE,
    DEFAULT_SAMPLES,
    DEFAULT_SEED,
    MANIFEST_FILE,
    Lexicon,
    build_fr_medical,
)


def _default_cim10() -> Path:
    env = os.environ.get("MEDOCR_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def main(argv: list[str] | None = None) -> int:
    """Build the lexicon; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cim10", default=None, help="cim10 folder or cim10.csv.gz")
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="synthetic texts")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="sampler seed")
    parser.add_argument("--out", default=None, help="write here instead of the repository")
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else PACKAGED
    command = "python lexicon/fr-medical/build.py"
    if args.samples != DEFAULT_SAMPLES or args.seed != DEFAULT_SEED:
        command += f" --samples {args.samples} --seed {args.seed}"
    try:
        lexicon = build_fr_medical(
            args.cim10 if args.cim10 else _default_cim10(),
            None,
            curated=HERE / CURATED_FILE,
            changelog=HERE / "CHANGELOG.md",
            samples=args.samples,
            seed=args.seed,
            command=command,
        )
        if args.out is None:
            _write_packaged(lexicon)
        else:
            lexicon.save(out)
    except MedocrError as exc:
        print(f"build: error: {exc}", file=sys.stderr)
        return 2
    model = lexicon.bigrams
    print(
        f"built {lexicon.ref}: {len(lexicon)} words ({len(lexicon.acronyms)} acronyms), "
        f"{lexicon.total} tokens, {len(model) if model else 0} bigrams -> {out}"
    )
    return 0


def _write_packaged(lexicon: Lexicon) -> None:
    """Write the frozen copy in the package and the manifest beside the sources."""
    # Lexicon.save refuses the package folder (the CLI must never write there): save to a
    # temp folder and move the files in.
    with tempfile.TemporaryDirectory(prefix="fr-medical-") as tmp:
        lexicon.save(tmp)
        PACKAGED.mkdir(parents=True, exist_ok=True)
        for name in sorted(p.name for p in Path(tmp).iterdir()):
            shutil.copyfile(Path(tmp) / name, PACKAGED / f".{name}.tmp")
            (PACKAGED / f".{name}.tmp").replace(PACKAGED / name)
    shutil.copyfile(HERE / CURATED_FILE, PACKAGED / CURATED_FILE)
    shutil.copyfile(PACKAGED / MANIFEST_FILE, HERE / MANIFEST_FILE)


if __name__ == "__main__":
    sys.exit(main())
