"""The dataset card: what a built dataset holds, as JSON (``card.json``) and Markdown.

Counts per split and level, documents (writers) per split, origins, sources, fonts,
charset histogram per level, text-length distribution per level, the dataset's
:class:`~medocr.text.Alphabet`, characters outside a given alphabet,
removed duplicates, skipped inputs and the shard files. Every figure is accumulated
while the manifest streams by, in memory bounded by the charset and the longest text.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from medocr._version import __version__
from medocr.dataset.units import LEVELS
from medocr.errors import MedocrError
from medocr.text import Alphabet

CARD_SCHEMA = "medocr-dataset-card/1"
CARD_JSON, CARD_MD = "card.json", "card.md"


def _nested() -> defaultdict[str, Counter[str]]:
    return defaultdict(Counter)


class CardStats:
    """Accumulates the card's figures from manifest rows, errors and duplicates.

    Parameters
    ----------
    alphabet : Alphabet, optional
        Report the characters (and units per level) outside it.
    """

    def __init__(self, alphabet: Alphabet | None = None) -> None:
        self.alphabet = alphabet
        self.units = _nested()  # split -> level -> n
        self.origins = _nested()  # origin -> level -> n
        self.sources = _nested()  # source -> level -> n
        self.fonts: Counter[str] = Counter()
        self.boxes: Counter[str] = Counter()
        self.charset = _nested()  # level -> char -> n
        self.lengths: defaultdict[str, Counter[int]] = defaultdict(Counter)
        self.unknown_units: Counter[str] = Counter()
        self.removed: Counter[str] = Counter()
        self.cross_split: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.failed_items = 0
        self.shard_files: defaultdict[tuple[str, str], set[str]] = defaultdict(set)

    def add(self, row: dict[str, Any]) -> None:
        """Count one kept unit (a manifest row)."""
        level, text = row["level"], row["text"]
        self.units[row["split"]][level] += 1
        self.origins[row["origin"]][level] += 1
        self.sources[row["source"]][level] += 1
        self.boxes[f"{level}/{row.get('boxes', 'truth')}"] += 1
        if level == "line" and row.get("font"):
            self.fonts[row["font"]] += 1
        self.charset[level].update(text.replace("\n", ""))
        self.lengths[level][len(text)] += 1
        if self.alphabet is not None and self.alphabet.unknown(text.replace("\n", "")):
            self.unknown_units[level] += 1
        self.shard_files[(level, row["split"])].add(row["shard"])

    def duplicate(self, row: dict[str, Any], cross_split: bool) -> None:
        """Count a removed duplicate unit."""
        self.removed[row["level"]] += 1
        self.cross_split[row["level"]] += cross_split
        self.shard_files[(row["level"], row["split"])].add(row["shard"])

    def error(self, entry: dict[str, Any]) -> None:
        """Count a skipped input (a build-log entry)."""
        self.errors[entry["kind"]] += 1

    def to_card(
        self, writers: dict[str, int], conflicts: int, settings: dict[str, Any]
    ) -> dict[str, Any]:
        """Return the card (JSON-ready).

        Parameters
        ----------
        writers : dict of str to int
            Documents per split.
        conflicts : int
            Documents found in more than one split (0 unless something is wrong).
        settings : dict
            The build settings.
        """
        chars = {c for counter in self.charset.values() for c in counter}
        alphabet = Alphabet.from_texts(chars)
        card: dict[str, Any] = {
            "schema": CARD_SCHEMA,
            "medocr_version": __version__,
            "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "settings": settings,
            "units": _plain(self.units),
            "total_units": sum(sum(c.values()) for c in self.units.values()),
            "writers": dict(writers),
            "writer_conflicts": conflicts,
            "origins": _plain(self.origins),
            "sources": _plain(self.sources),
            "fonts": dict(self.fonts.most_common()),
            "boxes": dict(sorted(self.boxes.items())),
            "charset": {lvl: dict(sorted(c.items())) for lvl, c in sorted(self.charset.items())},
            "text_length": {
                lvl: {str(k): v for k, v in sorted(c.items())}
                for lvl, c in sorted(self.lengths.items())
            },
            "alphabet": alphabet.to_dict(),
            "unknown": None,
            "duplicates": {"removed": dict(self.removed), "cross_split": dict(self.cross_split)},
            "errors": {
                "skipped_inputs": sum(self.errors.values()),
                "by_kind": dict(self.errors),
                "failed_items": self.failed_items,
            },
            "shards": self._shard_index(),
        }
        if self.alphabet is not None:
            card["unknown"] = {
                "alphabet": self.alphabet.to_dict(),
                "chars": card_unknown(card, self.alphabet),
                "units": dict(self.unknown_units),
            }
        return card

    def _shard_index(self) -> dict[str, dict[str, Any]]:
        index: dict[str, dict[str, Any]] = {}
        for (level, split), files in sorted(self.shard_files.items()):
            index.setdefault(level, {})[split] = {
                "files": sorted(files),
                "units": self.units[split][level],
            }
        return index


def _plain(nested: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
    return {key: dict(sorted(c.items())) for key, c in sorted(nested.items())}


def load_card(dataset_dir: str | Path) -> dict[str, Any]:
    """Read a built dataset's card.

    Raises
    ------
    MedocrError
        No readable ``card.json`` (not a dataset, or a build that has not finished).
    """
    path = Path(dataset_dir) / CARD_JSON
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise MedocrError(
            f"{dataset_dir}: no {CARD_JSON} (not a medocr dataset, or its build has not "
            "finished: rerun `medocr dataset build` to complete it)"
        ) from exc
    except (OSError, ValueError) as exc:
        raise MedocrError(f"{path}: unreadable dataset card ({exc})") from exc
    if card.get("schema") != CARD_SCHEMA:
        raise MedocrError(f"{path}: not a {CARD_SCHEMA} card")
    return card


def card_alphabet(card: dict[str, Any]) -> Alphabet:
    """Return the alphabet of every character in the dataset's texts (NFC, one apostrophe)."""
    return Alphabet.from_dict(card["alphabet"])


def card_unknown(card: dict[str, Any], alphabet: Alphabet) -> dict[str, int]:
    """Return ``{character: occurrences}`` of the dataset's characters outside `alphabet`."""
    totals: Counter[str] = Counter()
    for counter in card["charset"].values():
        totals.update({c: n for c, n in counter.items() if alphabet.unknown(c)})
    return dict(totals.most_common())


def render_card(card: dict[str, Any], alphabet: Alphabet | None = None) -> str:
    """Render the card as Markdown (what ``medocr dataset stats`` prints).

    Parameters
    ----------
    card : dict
        From :func:`load_card`.
    alphabet : Alphabet, optional
        Also list the characters outside this alphabet.
    """
    parts = [
        f"# Dataset card\n\nmedocr {card['medocr_version']}, built {card['created']}; "
        f"{card['total_units']} units.",
        _sources_line(card),
        _table("Units per split and level", card["units"], "split", card["writers"]),
        _table("Units per origin", card["origins"], "origin"),
        _table("Units per source", card["sources"], "source"),
        _lengths(card),
        _charset(card),
        _unknown(card, alphabet),
        _problems(card),
    ]
    return "\n\n".join(p for p in parts if p) + "\n"


def _sources_line(card: dict[str, Any]) -> str:
    settings = card["settings"]
    splits = ", ".join(f"{n} {r:.2f}" for n, r in settings["splits"])
    strat = " stratified by source" if settings.get("stratify") else ""
    inputs = "; ".join(
        f"{s['name']} ({s['kind']}, {Path(s['path']).name})" for s in settings["sources"]
    )
    return f"Inputs: {inputs}.\nSplits by document{strat} (seed {settings['seed']}): {splits}."


def _table(
    title: str, data: dict[str, dict[str, int]], key: str, documents: dict[str, int] | None = None
) -> str:
    levels = [lvl for lvl in LEVELS if any(lvl in row for row in data.values())]
    header = [key, *levels, *(["documents"] if documents is not None else [])]
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    for name, row in data.items():
        cells = [str(row.get(lvl, 0)) for lvl in levels]
        if documents is not None:
            cells.append(str(documents.get(name, 0)))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return f"## {title}\n\n" + "\n".join(lines)


def _quantile(hist: dict[str, int], q: float) -> int:
    total = sum(hist.values())
    seen = 0
    for length, n in sorted((int(k), v) for k, v in hist.items()):
        seen += n
        if seen >= q * total:
            return length
    return 0


def _lengths(card: dict[str, Any]) -> str:
    lines = ["## Text length (characters)", "", "| level | min | median | p90 | max | mean |"]
    lines.append("|---|---:|---:|---:|---:|---:|")
    for level in LEVELS:
        hist = card["text_length"].get(level)
        if not hist:
            continue
        total = sum(hist.values())
        mean = sum(int(k) * v for k, v in hist.items()) / total
        lengths = [int(k) for k in hist]
        lines.append(
            f"| {level} | {min(lengths)} | {_quantile(hist, 0.5)} | {_quantile(hist, 0.9)} "
            f"| {max(lengths)} | {mean:.1f} |"
        )
    return "\n".join(lines)


def _charset(card: dict[str, Any]) -> str:
    alphabet = card["alphabet"]["chars"]
    level = next(
        (lvl for lvl in ("line", "field", "word", "char") if card["charset"].get(lvl)), None
    )
    out = f"## Charset\n\nAlphabet ({len(alphabet)} characters, NFC, one apostrophe): `{alphabet}`"
    if level is None:
        return out
    counts = sorted(card["charset"][level].items(), key=lambda kv: -kv[1])
    shown = ", ".join(f"`{c}` {n}" for c, n in counts)
    return f"{out}\n\nCharacter counts in {level} texts: {shown}"


def _unknown(card: dict[str, Any], alphabet: Alphabet | None) -> str:
    lines = []
    if card.get("unknown"):
        chars = card["unknown"]["chars"]
        units = card["unknown"]["units"]
        lines.append(
            f"Outside the build's alphabet: {_chars(chars)}; units affected: "
            + (", ".join(f"{k} {v}" for k, v in units.items()) or "none")
        )
    if alphabet is not None:
        lines.append(f"Outside the given alphabet: {_chars(card_unknown(card, alphabet))}")
    return "## Unknown characters\n\n" + "\n".join(lines) if lines else ""


def _chars(chars: dict[str, int]) -> str:
    return ", ".join(f"`{c}` {n}" for c, n in chars.items()) or "none"


def _problems(card: dict[str, Any]) -> str:
    dup, err = card["duplicates"], card["errors"]
    removed = ", ".join(f"{k} {v}" for k, v in dup["removed"].items()) or "none"
    cross = sum(dup["cross_split"].values())
    kinds = ", ".join(f"{k} {v}" for k, v in err["by_kind"].items()) or "none"
    return (
        f"## Duplicates and errors\n\nExact duplicates removed: {removed} ({cross} across "
        f"splits).\nSkipped inputs: {err['skipped_inputs']} ({kinds}); failed work items: "
        f"{err['failed_items']} (details in build.log).\nDocuments in more than one split: "
        f"{card['writer_conflicts']}."
    )
