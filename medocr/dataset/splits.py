"""Train/validation/test splits by writer (document), never by unit.

Each document gets a number ``u`` in [0, 1) from a seeded SHA-256 of its id, and the
split whose interval holds ``u``. This needs no state, so workers assign splits while
they stream units, every unit of a document lands in the same split, and a document
keeps its split when the dataset grows. Without stratification the intervals follow the
ratios (so the split sizes match them in expectation). With stratification by source,
each source gets its own cut points, chosen among its documents' ``u`` so that its
documents are divided in the ratios as exactly as whole documents allow (largest
remainder); this needs the list of documents first (memory O(documents), not units).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from medocr.errors import MedocrError

DEFAULT_SPLITS: tuple[tuple[str, float], ...] = (("train", 0.8), ("val", 0.1), ("test", 0.1))


def parse_splits(spec: str) -> tuple[tuple[str, float], ...]:
    """Parse ``"train=0.8,val=0.1,test=0.1"`` (ratios are normalised to sum to 1).

    Raises
    ------
    MedocrError
        A part is not ``NAME=RATIO``, a name repeats or is not alphanumeric, or a ratio
        is not a positive number.
    """
    pairs = []
    for part in spec.split(","):
        name, sep, ratio = part.strip().partition("=")
        try:
            value = float(ratio)
        except ValueError:
            value = -1.0
        if not sep or not name.replace("_", "").replace("-", "").isalnum() or value <= 0:
            raise MedocrError(f"splits {spec!r}: expected NAME=RATIO,... with ratios > 0")
        pairs.append((name, value))
    return check_splits(pairs)


def check_splits(pairs: Sequence[tuple[str, float]]) -> tuple[tuple[str, float], ...]:
    """Validate split names and ratios and normalise the ratios to sum to 1."""
    names = [name for name, _ in pairs]
    if not pairs or len(set(names)) != len(names) or any(r <= 0 for _, r in pairs):
        raise MedocrError(f"splits {list(pairs)}: need distinct names and ratios > 0")
    total = sum(r for _, r in pairs)
    return tuple((name, r / total) for name, r in pairs)


def document_position(document: str, seed: int) -> float:
    """Return the seeded position ``u`` in [0, 1) of a document."""
    digest = hashlib.sha256(f"{seed}\x00{document}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class SplitPlan:
    """How documents are assigned to splits.

    Parameters
    ----------
    names : tuple of str
        Split names, in order.
    bounds : tuple of float
        Upper end of each split's interval of ``u`` (the last is above 1).
    seed : int
        Seed of :func:`document_position`.
    strata : dict of str to tuple of float
        Per-source bounds (stratified plans); sources not listed use `bounds`.
    moved : dict of str to str
        Documents seen in several sources, with the source whose bounds apply to them.
    """

    names: tuple[str, ...]
    bounds: tuple[float, ...]
    seed: int = 0
    strata: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    moved: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_ratios(cls, splits: Sequence[tuple[str, float]], seed: int) -> SplitPlan:
        """Plan with intervals proportional to the (normalised) ratios."""
        splits = check_splits(splits)
        cuts = np.cumsum([r for _, r in splits])
        bounds = (*(float(c) for c in cuts[:-1]), 2.0)
        return cls(tuple(n for n, _ in splits), bounds, seed)

    def split_of(self, document: str, source: str) -> str:
        """Return the split of `document` (read from input `source`)."""
        stratum = self.moved.get(document, source)
        bounds = self.strata.get(stratum, self.bounds)
        u = document_position(document, self.seed)
        for name, bound in zip(self.names, bounds, strict=True):
            if u < bound:
                return name
        return self.names[-1]

    def stratified(
        self, documents: Mapping[str, Sequence[str]], ratios: Sequence[float]
    ) -> SplitPlan:
        """Return this plan with cut points fitted per source.

        Parameters
        ----------
        documents : mapping of str to sequence of str
            For each source, its distinct documents (a document listed under several
            sources is assigned with the first).
        ratios : sequence of float
            Normalised ratios, one per split.
        """
        owner: dict[str, str] = {}
        strata: dict[str, tuple[float, ...]] = {}
        moved: dict[str, str] = {}
        for source, docs in documents.items():
            mine = []
            for doc in docs:
                first = owner.setdefault(doc, source)
                if first == source:
                    mine.append(doc)
                else:
                    moved[doc] = first
            positions = np.sort([document_position(d, self.seed) for d in mine])
            strata[source] = _fitted_bounds(positions, ratios)
        return SplitPlan(self.names, self.bounds, self.seed, strata, moved)


def _fitted_bounds(positions: np.ndarray, ratios: Sequence[float]) -> tuple[float, ...]:
    """Cut points putting ``round(ratio * n)`` sorted positions in each split."""
    n = len(positions)
    exact = np.asarray(ratios) * n
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    bounds = []
    for cum in np.cumsum(counts)[:-1]:
        if cum <= 0:
            bounds.append(0.0)
        elif cum >= n:
            bounds.append(2.0)
        else:
            bounds.append(float((positions[cum - 1] + positions[cum]) / 2))
    return (*bounds, 2.0)
