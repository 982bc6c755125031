"""Average the weights of CRNN bundles of one architecture (a "model soup").

Two runs that continue the same model stay close enough in weight space for their mean
to be a model too, often better than either on writers neither saw (the same idea as
``medocr train recognizer --average-from``, across runs instead of across epochs)::

    python -m medocr.training.average OUT BUNDLE BUNDLE [BUNDLE ...] [--weights 0.5 0.5]

The new bundle takes the first bundle's metadata, with ``training.averaged_from`` naming
each source (its ``ref``) and weight. BatchNorm statistics are averaged like the rest.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medocr.errors import MedocrError


def average_bundles(
    out: str | Path, bundles: Sequence[str | Path], weights: Sequence[float] | None = None
) -> dict[str, Any]:
    """Write the weighted mean of `bundles`' weights as a new bundle in `out`.

    Parameters
    ----------
    out : str or Path
        Destination folder (replaced atomically).
    bundles : sequence of str or Path
        Two or more CRNN bundles (paths or shipped names) of the same architecture and
        alphabet.
    weights : sequence of float, optional
        One non-negative weight per bundle (normalised); default equal.

    Returns
    -------
    dict
        The metadata written.

    Raises
    ------
    MedocrError
        Fewer than two bundles, bad weights, or bundles of different architectures or
        alphabets.
    """
    from medocr.recognize.runtime import Recognizer, save_recognizer

    if len(bundles) < 2:
        raise MedocrError("average: give at least two bundles")
    shares = np.full(len(bundles), 1.0) if weights is None else np.asarray(weights, float)
    if shares.shape != (len(bundles),) or not np.all(shares >= 0) or shares.sum() <= 0:
        raise MedocrError(f"average: need {len(bundles)} non-negative weights, got {weights}")
    shares = shares / shares.sum()
    models = [Recognizer.load(bundle, backend="tensorflow") for bundle in bundles]
    first = models[0]
    for bundle, other in zip(bundles[1:], models[1:], strict=True):
        if other.config != first.config or other.alphabet.chars != first.alphabet.chars:
            raise MedocrError(
                f"average: {bundle} has another architecture or alphabet than {bundles[0]}"
            )
    stacks = zip(*(m.model.get_weights() for m in models), strict=True)
    mean = [
        sum(share * w.astype(np.float64) for share, w in zip(shares, group, strict=True)).astype(
            group[0].dtype
        )
        if np.issubdtype(group[0].dtype, np.floating)
        else group[0]
        for group in stacks
    ]
    first.model.set_weights(mean)
    training = dict(first.meta.get("training", {}))
    training["averaged_from"] = [
        {"model": m.ref, "weight": float(share)} for m, share in zip(models, shares, strict=True)
    ]
    return save_recognizer(out, first.model, first.alphabet, first.config, training=training)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m medocr.training.average OUT BUNDLE BUNDLE ...``."""
    parser = argparse.ArgumentParser(
        prog="python -m medocr.training.average",
        description="Average the weights of CRNN bundles of one architecture into a new one.",
    )
    parser.add_argument("out", help="new bundle folder")
    parser.add_argument("bundles", nargs="+", help="bundles to average (paths or shipped names)")
    parser.add_argument(
        "--weights", nargs="+", type=float, default=None, help="one weight per bundle"
    )
    args = parser.parse_args(argv)
    try:
        meta = average_bundles(args.out, args.bundles, args.weights)
    except MedocrError as exc:
        print(f"average: {exc}", file=sys.stderr)
        return 2
    print(f"average: wrote {args.out} ({meta['parameters']:,} parameters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
