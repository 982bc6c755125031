"""Small grammars for the structured fields: intervals ("délai") and dates of death.

A doctor writes the interval between the onset of a condition and death as a number and
a unit ("3 j", "48h", "2 ans 1/2"), a vague quantity ("quelques heures", "qq mois"), a
bound ("plus de 10 ans"), a start ("depuis 2012") or an admission of ignorance
("inconnu", "?"). :func:`parse_interval` turns such text into a :class:`Duration` beside
the written text; :func:`interval_candidates` lists the common spellings so that a
recognizer's output can be ranked against them (:func:`medocr.decode.closed_list`).

Dates are parsed by :func:`parse_date` into ISO ``YYYY-MM-DD``.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import asdict, dataclass
from typing import Any

from medocr.text import fold_accents

#: Unit names of :class:`Duration`, shortest first, and their length in days.
UNIT_DAYS = {
    "minute": 1 / 1440,
    "hour": 1 / 24,
    "day": 1.0,
    "week": 7.0,
    "month": 30.4375,
    "year": 365.25,
}

# Written unit -> unit name; matched on lower-case text without accents or final dots.
_UNIT_WORDS = {
    "min": "minute",
    "mn": "minute",
    "minute": "minute",
    "minutes": "minute",
    "h": "hour",
    "heure": "hour",
    "heures": "hour",
    "hr": "hour",
    "hrs": "hour",
    "j": "day",
    "jour": "day",
    "jours": "day",
    "jrs": "day",
    "jr": "day",
    "sem": "week",
    "semaine": "week",
    "semaines": "week",
    "mois": "month",
    "m": "month",
    "an": "year",
    "ans": "year",
    "annee": "year",
    "annees": "year",
}

# Canonical spellings used to build candidates: unit -> (singular, plural) pairs.
_SPELLINGS = {
    "minute": (("min", "min"), (" min", " min"), (" minute", " minutes"), (" mn", " mn")),
    "hour": (("h", "h"), (" h", " h"), (" heure", " heures")),
    "day": ((" jour", " jours"), (" j", " j"), (" jour", " jrs")),
    "week": ((" semaine", " semaines"), (" sem", " sem"), (" sem.", " sem.")),
    "month": ((" mois", " mois"),),
    "year": ((" an", " ans"),),
}
_MAX_NUMBER = {"minute": 59, "hour": 72, "day": 31, "week": 12, "month": 24, "year": 40}

_UNKNOWN = ("inconnu", "inconnue", "?", "??", "nc", "indetermine", "non connu", "ne sait pas")
_VAGUE_QUANTITY = ("quelques", "qq", "plusieurs")
# Words that carry a time scale without a number.
_VAGUE_WORDS = {
    "brutal": "minute",
    "brutale": "minute",
    "immediat": "minute",
    "instantane": "minute",
    "mort subite": "minute",
    "subit": "minute",
    "rapide": "hour",
    "recent": "day",
    "progressif": "month",
    "annees": "year",
    "ancien": "year",
    "ancienne": "year",
    "chronique": "year",
    "longtemps": "year",
}
_WRITTEN_VAGUE_WORDS = (
    "brutal",
    "immédiat",
    "instantané",
    "mort subite",
    "rapide",
    "récent",
    "progressif",
    "années",
    "ancien",
    "chronique",
    "longtemps",
)
_MONTH_NAMES = (
    "janvier",
    "fevrier",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "aout",
    "septembre",
    "octobre",
    "novembre",
    "decembre",
)


@dataclass(frozen=True)
class Duration:
    """A parsed interval.

    Parameters
    ----------
    qualifier : str
        ``exact`` ("3 j"), ``approximate`` ("environ 3 j"), ``range`` ("2-3 j", `value` to
        `value_max`), ``more_than`` ("plus de 10 ans"), ``since`` ("depuis 2012": `year`
        and/or `month`), ``vague`` ("quelques heures": only `unit`) or ``unknown``.
    value : float or None
        The number of units.
    unit : str or None
        One of :data:`UNIT_DAYS`.
    value_max : float or None
        Upper end of a range.
    year, month : int or None
        Start of a ``since`` interval.
    """

    qualifier: str
    value: float | None = None
    unit: str | None = None
    value_max: float | None = None
    year: int | None = None
    month: int | None = None

    @property
    def days(self) -> float | None:
        """The (lower) duration in days, when a number and a unit are known."""
        if self.value is None or self.unit is None:
            return None
        return self.value * UNIT_DAYS[self.unit]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy without the unset entries, plus ``days`` when known."""
        data = {k: v for k, v in asdict(self).items() if v is not None}
        if self.days is not None:
            data["days"] = round(self.days, 6)
        return data


def _plain(text: str) -> str:
    """Lower case, NFKC, accents folded (``fold_accents``), one space between words, no dots."""
    text = text.replace("½", " 1/2").replace("~", " environ ")  # before NFKC makes ½ '1⁄2'
    ascii_text = fold_accents(unicodedata.normalize("NFKC", text).lower())
    return " ".join(word.rstrip(".") or word for word in ascii_text.split())


_NUMBER = r"(\d+(?:[.,]\d+)?)"
_UNIT = r"([a-z]+)"
_HALF = r"(?:\s*(?:1/2|et demie?))?"
_PATTERNS = (
    ("range", re.compile(rf"^{_NUMBER}\s*(?:-|a|à)\s*{_NUMBER}\s*{_UNIT}$")),
    ("more_than", re.compile(rf"^(?:plus de|\+ de|\+|>)\s*{_NUMBER}\s*{_UNIT}$")),
    ("approximate", re.compile(rf"^(?:environ|env|vers|approx)\s*{_NUMBER}\s*{_UNIT}{_HALF}$")),
    ("exact", re.compile(rf"^{_NUMBER}\s*{_UNIT}{_HALF}$")),
)


def _number(text: str) -> float:
    return float(text.replace(",", "."))


def _half(plain: str) -> float:
    return 0.5 if plain.endswith("1/2") or plain.endswith(("et demi", "et demie")) else 0.0


def _numbered(plain: str) -> Duration | None:
    for qualifier, pattern in _PATTERNS:
        match = pattern.match(plain)
        if match is None:
            continue
        *numbers, unit_word = match.groups()
        unit = _UNIT_WORDS.get(unit_word)
        if unit is None:
            return None
        if qualifier == "range":
            low, high = (_number(n) for n in numbers)
            return Duration("range", low, unit, high) if high > low else None
        return Duration(qualifier, _number(numbers[0]) + _half(plain), unit)
    return None


def _since(plain: str) -> Duration | None:
    if not plain.startswith("depuis "):
        return None
    rest = plain[len("depuis ") :]
    year_match = re.fullmatch(r"(?:(\w+) )?((?:19|20)\d\d)", rest)
    if year_match:
        month_word, year = year_match.groups()
        month = _MONTH_NAMES.index(month_word) + 1 if month_word in _MONTH_NAMES else None
        if month_word and month is None:
            return None
        return Duration("since", year=int(year), month=month)
    if rest in _MONTH_NAMES:
        return Duration("since", month=_MONTH_NAMES.index(rest) + 1)
    return None


def _vague(plain: str) -> Duration | None:
    if plain in _VAGUE_WORDS:
        return Duration("vague", unit=_VAGUE_WORDS[plain])
    words = plain.split()
    if len(words) == 2 and words[0] in _VAGUE_QUANTITY and words[1] in _UNIT_WORDS:
        return Duration("vague", unit=_UNIT_WORDS[words[1]])
    return None


def parse_interval(text: str) -> Duration | None:
    """Parse a written interval.

    Parameters
    ----------
    text : str
        What the doctor wrote (any case, accents or not).

    Returns
    -------
    Duration or None
        None when the text does not follow the grammar (the caller keeps the text and
        routes it to review).

    Examples
    --------
    >>> parse_interval("48h")
    Duration(qualifier='exact', value=48.0, unit='hour', value_max=None, year=None, month=None)
    >>> parse_interval("2 ans 1/2").value
    2.5
    >>> parse_interval("qq jours").unit
    'day'
    >>> parse_interval("inconnu").qualifier
    'unknown'
    """
    plain = _plain(text)
    if not plain:
        return None
    if plain in _UNKNOWN:
        return Duration("unknown")
    return _numbered(plain) or _since(plain) or _vague(plain)


def interval_candidates() -> list[str]:
    """List common spellings of intervals, to rank a recognizer's output against.

    Returns
    -------
    list of str
        Numbers with every unit spelling (singular and plural, with and without a
        space), vague quantities and the usual words for "unknown", each also with a
        capital first letter and in capitals; about 1,900 strings.
    """
    out: dict[str, None] = {}
    for unit, spellings in _SPELLINGS.items():
        for n in range(1, _MAX_NUMBER[unit] + 1):
            for singular, plural in spellings:
                out[f"{n}{singular if n == 1 else plural}"] = None
                out[f"{n}{plural if n == 1 else singular}"] = None
        for quantity in _VAGUE_QUANTITY:
            for _, plural in spellings:
                out[f"{quantity} {plural.strip()}"] = None
    out.update(dict.fromkeys(_WRITTEN_VAGUE_WORDS))
    out.update(dict.fromkeys(("inconnu", "inconnue", "?", "??", "NC", "indéterminé", "non connu")))
    # Writers capitalise the first letter, or write in capitals only.
    for value in list(out):
        out[value[:1].upper() + value[1:]] = None
        out[value.upper()] = None
    return list(out)


def date_candidates(
    first_year: int = 2000, last_year: int | None = None, separators: str = "/."
) -> list[str]:
    """Every date from `first_year` to `last_year` as ``dd/mm/yyyy`` and ``dd/mm/yy``.

    Parameters
    ----------
    first_year : int, optional
        First year listed.
    last_year : int, optional
        Last year listed; default next year.
    separators : str, optional
        Each of these characters separates day, month and year in turn (default: slashes
        and dots, ``dd.mm.yyyy``, as doctors write them too).

    Returns
    -------
    list of str
        About 730 strings per year and separator.
    """
    last_year = dt.date.today().year + 1 if last_year is None else last_year
    day = dt.date(first_year, 1, 1)
    end = dt.date(last_year, 12, 31)
    out = []
    while day <= end:
        for sep in separators:
            out.append(f"{day.day:02d}{sep}{day.month:02d}{sep}{day.year}")
            out.append(f"{day.day:02d}{sep}{day.month:02d}{sep}{day.year % 100:02d}")
        day += dt.timedelta(days=1)
    return out


_DATE_NUMERIC = re.compile(r"^(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{2}|\d{4})$")
_DATE_WORDS = re.compile(r"^(\d{1,2}|1er)\s+([a-z]+)\s+(\d{4})$")


def parse_date(text: str, *, pivot_year: int = 2000) -> str | None:
    """Parse a written date ("12/03/2024", "12/03/24", "1er mars 2024", "12.03.2024").

    Parameters
    ----------
    text : str
        The written date.
    pivot_year : int, optional
        Two-digit years are read as ``pivot_year + yy``.

    Returns
    -------
    str or None
        ISO ``YYYY-MM-DD``, or None when the text is not a valid date.

    Examples
    --------
    >>> parse_date("1er mars 2024")
    '2024-03-01'
    >>> parse_date("31/02/2024") is None
    True
    """
    plain = _plain(text)
    numeric = _DATE_NUMERIC.match(plain)
    if numeric:
        day, month, year = (int(g) for g in numeric.groups())
        if len(numeric.group(3)) == 2:
            year += pivot_year
    else:
        words = _DATE_WORDS.match(plain)
        if words is None or words.group(2) not in _MONTH_NAMES:
            return None
        day = 1 if words.group(1) == "1er" else int(words.group(1))
        month = _MONTH_NAMES.index(words.group(2)) + 1
        year = int(words.group(3))
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None
