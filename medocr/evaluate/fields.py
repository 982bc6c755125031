"""Field-level scores: what was read against the truth, per field kind and per field."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from medocr.evaluate.calibration import (
    ERROR_TARGETS,
    automation_rate,
    expected_calibration_error,
)
from medocr.evaluate.metrics import cer, comparable, confusions, exact_match, wer


@dataclass(frozen=True)
class FieldOutcome:
    """One field read by a method, with its truth.

    Parameters
    ----------
    document : str
        Certificate (or line set row) it belongs to.
    field : str
        Field name (``line`` for line sets).
    kind : str
        Field kind.
    truth, text : str
        Expected and read text.
    confidence : float
        The method's confidence (0..1).
    route : str
        ``accept`` or ``review``.
    """

    document: str
    field: str
    kind: str
    truth: str
    text: str
    confidence: float
    route: str = "review"

    def correct(self, *, ignore_case: bool = False, ignore_accents: bool = False) -> bool:
        """Whether the text equals the truth (compared as the metrics compare)."""
        options = {"ignore_case": ignore_case, "ignore_accents": ignore_accents}
        return comparable(self.text, **options) == comparable(self.truth, **options)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return asdict(self)


def summarize(
    outcomes: Sequence[FieldOutcome], *, ignore_case: bool = False, ignore_accents: bool = False
) -> dict[str, Any]:
    """Scores of a group of fields.

    Returns
    -------
    dict
        ``fields``, ``cer``, ``wer``, ``exact``, ``accepted`` (share routed to accept),
        ``accepted_error``, ``ece`` and ``automation`` (share acceptable at each error
        target of :data:`ERROR_TARGETS`, with its confidence threshold).
    """
    options = {"ignore_case": ignore_case, "ignore_accents": ignore_accents}
    truths = [o.truth for o in outcomes]
    texts = [o.text for o in outcomes]
    right = np.array([o.correct(**options) for o in outcomes], dtype=bool)
    conf = np.array([o.confidence for o in outcomes], dtype=np.float64)
    accepted = np.array([o.route == "accept" for o in outcomes], dtype=bool)
    automation = {}
    for target in ERROR_TARGETS:
        share, threshold = automation_rate(conf, right, target)
        automation[f"{target:g}"] = {"share": share, "threshold": threshold}
    return {
        "fields": len(outcomes),
        "cer": cer(truths, texts, **options),
        "wer": wer(truths, texts, **options),
        "exact": exact_match(truths, texts, **options),
        "accepted": float(accepted.mean()) if len(outcomes) else 0.0,
        "accepted_error": float((~right[accepted]).mean()) if accepted.any() else None,
        "ece": expected_calibration_error(conf, right),
        "automation": automation,
    }


def field_report(
    outcomes: Sequence[FieldOutcome], *, ignore_case: bool = False, ignore_accents: bool = False
) -> dict[str, Any]:
    """All field-level metrics: overall, per kind, per field, certificates and confusions.

    ``certificate_exact`` is the share of documents whose every field is right.
    """
    options = {"ignore_case": ignore_case, "ignore_accents": ignore_accents}
    by_kind: dict[str, list[FieldOutcome]] = defaultdict(list)
    by_field: dict[str, list[FieldOutcome]] = defaultdict(list)
    by_document: dict[str, list[bool]] = defaultdict(list)
    for outcome in outcomes:
        by_kind[outcome.kind].append(outcome)
        by_field[outcome.field].append(outcome)
        by_document[outcome.document].append(outcome.correct(**options))
    pairs = confusions([o.truth for o in outcomes], [o.text for o in outcomes], **options)
    return {
        "options": options,
        "overall": summarize(outcomes, **options),
        "kinds": {k: summarize(v, **options) for k, v in sorted(by_kind.items())},
        "per_field": {k: summarize(v, **options) for k, v in by_field.items()},
        "documents": len(by_document),
        "certificate_exact": (
            sum(all(v) for v in by_document.values()) / len(by_document) if by_document else 1.0
        ),
        "confusions": [[r, h, n] for (r, h), n in pairs.most_common(40)],
    }
