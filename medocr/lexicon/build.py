"""Building the ``fr-medical`` lexicon and its bigram model (``medocr lexicon build``).

Words come from the CIM-10 FR labels (:mod:`medocr.cim10`) and a curated list; the bigram
model is trained on the labels and on lines of the synthetic phrase sampler
(:mod:`medocr.synth.text`). Because of that sampler this module sits in the *apps* layer,
above the rest of :mod:`medocr.lexicon` (docs/architecture.md): nothing in the lexicon
package imports it, and ``medocr.lexicon`` names it only as a string for its lazy
re-exports (``from medocr.lexicon import build_fr_medical`` still works).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np

from medocr.cim10 import READ_ERRORS, MissingColumnsError, find_cim10, open_cim10
from medocr.errors import LexiconError
from medocr.lexicon.bigram import BigramModel
from medocr.lexicon.io import (
    CHANGELOG_FILE,
    DEFAULT_LEXICON,
    packaged_lexicon_path,
    parse_word_lines,
    sha256_hex,
)
from medocr.lexicon.model import Lexicon, counts_note
from medocr.lexicon.words import canonical_form, group_by_case
from medocr.synth.text import Vocabulary, sample_cause_text
from medocr.text import normalize_text, tokenize

__all__ = [
    "CIM10_SOURCE",
    "CURATED_FILE",
    "CURATED_SOURCE",
    "DEFAULT_SAMPLES",
    "DEFAULT_SEED",
    "build_fr_medical",
]

CURATED_FILE = "curated.txt"
"""The curated word list, in ``lexicon/fr-medical/`` and in the packaged lexicon's folder."""
_CHANGELOG_VERSION = re.compile(r"^- (\d+\.\d+\.\d+) ", re.MULTILINE)

CIM10_SOURCE: Mapping[str, str] = MappingProxyType(
    {
        "name": "CIM-10 FR labels",
        "attribution": "CIM-10 FR labels © AP-HP (BSD-3-Clause), data from ATIH and the WHO, "
        "as shipped in the PyPI package edsnlp 0.23.0 (edsnlp/resources/cim10.csv.gz)",
        "licence": "BSD-3-Clause",
        "use": "word forms and their counts over the 'long' labels of every code; bigrams of "
        "the labels' word sequences. No label is copied.",
    }
)
CURATED_SOURCE: Mapping[str, str] = MappingProxyType(
    {
        "name": "medocr curated list",
        "attribution": "the medocr team (lexicon/fr-medical/curated.txt)",
        "licence": "MIT",
        "use": "death-certificate vocabulary the CIM-10 labels lack: abbreviations, acronyms, "
        "everyday wording, durations and units, months",
    }
)
DEFAULT_SAMPLES = 20_000
DEFAULT_SEED = 0

# CIM-10 writes "oe" where French writes "œ"; words are stored with the ligature
# (lookups of "oe" spellings still find them).
_OE_WORDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^coeur"), "cœur"),
    (re.compile(r"^coeliaque"), "cœliaque"),
    (re.compile(r"^oeil"), "œil"),
    (re.compile(r"^oeuf"), "œuf"),
    (re.compile(r"oed([èéeê]m)"), r"œd\1"),
    (re.compile(r"oeso"), "œso"),
    (re.compile(r"oestrog"), "œstrog"),
    (re.compile(r"^foet"), "fœt"),
)


def _fix_oe(word: str) -> str:
    lower = word.lower()
    if "oe" not in lower:
        return word
    fixed = lower
    for pattern, replacement in _OE_WORDS:
        fixed = pattern.sub(replacement, fixed)
    if fixed == lower:
        return word
    return fixed.upper() if word.isupper() else (fixed if word.islower() else fixed.capitalize())


def _cim10_labels(path: Path) -> list[str]:
    try:
        with open_cim10(path, ["long"]) as rows:
            return [_fix_oe_text(row["long"] or "") for row in rows]
    except MissingColumnsError:
        raise LexiconError(f"{path}: no 'long' column") from None
    except READ_ERRORS as exc:
        raise LexiconError(f"{path}: cannot read ({exc})") from None


def _fix_oe_text(text: str) -> str:
    text = normalize_text(text)
    if "oe" not in text.lower():
        return text
    return re.sub(r"[^\W\d_]+", lambda m: _fix_oe(m.group()), text)


def _sampler_lines(samples: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    vocabulary = Vocabulary.builtin()
    lines: list[str] = []
    for _ in range(samples):
        text = sample_cause_text(rng, vocabulary)
        fields = (*text.part1, *text.intervals, *text.part2, text.death_date)
        lines.extend(line for line in fields if line)
    return lines


def _check_changelog_counts(changelog: str, lexicon: Lexicon, source: Path) -> None:
    """Refuse a build whose words differ from what the CHANGELOG's last version line says."""
    lines = [line for line in changelog.splitlines() if _CHANGELOG_VERSION.match(line)]
    expected = counts_note(lexicon)
    if not lines[-1].rstrip().endswith(expected):
        raise LexiconError(
            f"{source}: the last line (version {lexicon.version}) must end with {expected}, "
            "the counts of this build; when the words changed, append a line for a new version"
        )


def _changelog_version(changelog: str, source: str) -> str:
    versions = _CHANGELOG_VERSION.findall(changelog)
    if not versions:
        raise LexiconError(f"{source}: no version line ('- X.Y.Z (DATE): ...')")
    return versions[-1]


def build_fr_medical(
    cim10: str | os.PathLike[str] | None,
    out: str | os.PathLike[str] | None,
    *,
    curated: str | os.PathLike[str] | None = None,
    changelog: str | os.PathLike[str] | None = None,
    samples: int = DEFAULT_SAMPLES,
    seed: int = DEFAULT_SEED,
    command: str = "medocr lexicon build",
) -> Lexicon:
    """Build the ``fr-medical`` lexicon and its bigram model; save it to `out`.

    Words: every word form of the CIM-10 ``long`` labels with its count (``oe`` written
    ``œ`` where French does), plus the curated list (counts added). Bigrams: the word
    sequences of the labels plus every line of `samples` texts of the synthetic phrase
    sampler (built-in vocabulary, seeded). Deterministic: the same inputs give the same
    bytes.

    Parameters
    ----------
    cim10 : str or PathLike or None
        See :func:`medocr.cim10.find_cim10`.
    out : str or PathLike or None
        Folder to save into; None to only return the lexicon.
    curated : str or PathLike, optional
        The curated list (default: ``lexicon/fr-medical/curated.txt`` under the current
        directory when there, else the copy shipped in the package).
    changelog : str or PathLike, optional
        The CHANGELOG.md whose last line gives the version (default: beside `curated`).
    samples, seed : int, optional
        Number of synthetic texts and their seed.
    command : str, optional
        Recorded in the manifest.

    Returns
    -------
    Lexicon
        The built lexicon (with its bigram model).

    Raises
    ------
    LexiconError
        Missing inputs, a malformed or duplicated curated entry, or sampler words
        missing from the lexicon (they must be added to the curated list).

    """
    cim10_file = find_cim10(cim10)
    curated_path = Path(curated) if curated is not None else _default_curated()
    changelog_path = (
        Path(changelog) if changelog is not None else curated_path.with_name(CHANGELOG_FILE)
    )
    curated_bytes = _read_input(curated_path)
    curated_counts = parse_word_lines(curated_bytes, str(curated_path))
    seen: dict[str, str] = {}
    for word in curated_counts:
        if word.casefold() in seen:
            raise LexiconError(
                f"{curated_path}: {word!r} is listed twice (also as {seen[word.casefold()]!r})"
            )
        seen[word.casefold()] = word
    changelog_text = _read_input(changelog_path).decode("utf-8")
    version = _changelog_version(changelog_text, str(changelog_path))

    labels = _cim10_labels(cim10_file)
    label_counts: Counter[str] = Counter()
    for label in labels:
        label_counts.update(tokenize(label))
    cim_words = group_by_case(label_counts.items())
    curated_words = group_by_case(curated_counts.items())
    counts = dict(curated_words)
    curated_case = {w.casefold(): w for w in curated_words}
    for word, count in cim_words.items():
        key = curated_case.get(word.casefold(), word)
        counts[key] = counts.get(key, 0) + count
    sampler = {
        "name": "medocr synthetic phrase sampler",
        "attribution": "the medocr team (medocr.synth.text, built-in vocabulary)",
        "licence": "MIT",
        "use": "bigram counts of every non-empty line (causes, intervals, date) of the "
        "sampled certificates",
        "seed": seed,
        "texts": samples,
    }
    lexicon = Lexicon(
        counts,
        name=DEFAULT_LEXICON,
        version=version,
        sources=[dict(CIM10_SOURCE), dict(CURATED_SOURCE), sampler],
        changelog=changelog_text,
    )
    sampled = _sampler_lines(samples, seed)
    missing = sorted(
        {canonical_form(w) for line in sampled for w in tokenize(line) if w not in lexicon}
    )
    if missing:
        raise LexiconError(
            f"the phrase sampler writes words the lexicon lacks; add them to {curated_path}: "
            + ", ".join(missing)
        )
    _check_changelog_counts(changelog_text, lexicon, changelog_path)
    model = BigramModel.from_texts([*labels, *sampled], lexicon)
    build = {
        "command": command,
        "inputs": {
            "cim10.csv.gz": {"sha256": sha256_hex(cim10_file.read_bytes()), "labels": len(labels)},
            CURATED_FILE: {"sha256": sha256_hex(curated_bytes), "entries": len(curated_counts)},
        },
        "words": {
            "cim10": len(cim_words),
            "curated": len(curated_words),
            "curated_not_in_cim10": len(
                {w.casefold() for w in curated_words} - {w.casefold() for w in cim_words}
            ),
        },
        "sampler": {
            "module": "medocr.synth.text",
            "vocabulary": "builtin",
            "seed": seed,
            "texts": samples,
            "lines": len(sampled),
        },
    }
    result = Lexicon(
        lexicon.counts,
        name=DEFAULT_LEXICON,
        version=version,
        sources=lexicon.sources,
        changelog=changelog_text,
        bigrams=model,
        meta={
            "description": "French words of death certificates: CIM-10 FR label words and "
            "the certificate vocabulary they lack (abbreviations, acronyms, durations), with "
            "a bigram model of cause-of-death phrasing",
            "build": build,
            "bigram_model": {
                "training": f"{len(labels)} CIM-10 labels + {len(sampled)} lines of {samples} "
                f"synthetic certificates (seed {seed})"
            },
        },
    )
    if out is not None:
        result.save(out)
    return result


def _read_input(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise LexiconError(f"{path}: cannot read ({exc.strerror})") from None


def _default_curated() -> Path:
    repo = Path.cwd() / "lexicon" / DEFAULT_LEXICON / CURATED_FILE
    if repo.is_file():
        return repo
    packaged = packaged_lexicon_path(DEFAULT_LEXICON)
    if packaged is not None and (packaged / CURATED_FILE).is_file():
        return packaged / CURATED_FILE
    raise LexiconError(f"no {CURATED_FILE} found: pass --curated FILE")
