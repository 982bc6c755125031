import pytest

from medocr.grammar import (
    Duration,
    date_candidates,
    interval_candidates,
    parse_date,
    parse_interval,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3 j", Duration("exact", 3.0, "day")),
        ("48h", Duration("exact", 48.0, "hour")),
        ("10 min", Duration("exact", 10.0, "minute")),
        ("1 SEMAINE", Duration("exact", 1.0, "week")),
        ("2 sem.", Duration("exact", 2.0, "week")),
        ("6 mois", Duration("exact", 6.0, "month")),
        ("2 ans 1/2", Duration("exact", 2.5, "year")),
        ("1 an et demi", Duration("exact", 1.5, "year")),
        ("environ 3 ans", Duration("approximate", 3.0, "year")),
        ("~ 2 j", Duration("approximate", 2.0, "day")),
        ("2-3 sem.", Duration("range", 2.0, "week", 3.0)),
        ("plus de 10 ans", Duration("more_than", 10.0, "year")),
        ("+ de 5 ans", Duration("more_than", 5.0, "year")),
        ("qq jours", Duration("vague", unit="day")),
        ("Quelques heures", Duration("vague", unit="hour")),
        ("brutal", Duration("vague", unit="minute")),
        ("Chronique", Duration("vague", unit="year")),
        ("depuis 2012", Duration("since", year=2012)),
        ("depuis mars 2019", Duration("since", year=2019, month=3)),
        ("depuis février", Duration("since", month=2)),
        ("inconnu", Duration("unknown")),
        ("?", Duration("unknown")),
        ("NC", Duration("unknown")),
        ("indéterminé", Duration("unknown")),
    ],
)
def test_parse_interval(text, expected):
    assert parse_interval(text) == expected


@pytest.mark.parametrize(
    "text", ["", "   ", "cardiaque", "3", "3 kg", "5-2 j", "depuis hier", "depuis 1850"]
)
def test_text_outside_the_interval_grammar_is_none(text):
    assert parse_interval(text) is None


def test_duration_days_and_dict():
    assert Duration("exact", 2.0, "week").days == 14.0
    assert Duration("vague", unit="day").days is None
    assert Duration("range", 2.0, "day", 3.0).to_dict() == {
        "qualifier": "range",
        "value": 2.0,
        "unit": "day",
        "value_max": 3.0,
        "days": 2.0,
    }


def test_every_interval_candidate_parses_and_none_repeats():
    candidates = interval_candidates()
    assert len(candidates) == len(set(candidates)) > 1000
    unparsed = [c for c in candidates if parse_interval(c) is None]
    assert unparsed == []
    assert {"3 jours", "48h", "qq mois", "Inconnu", "PLUSIEURS HEURES"} <= set(candidates)


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("12/03/2024", "2024-03-12"),
        ("12/03/24", "2024-03-12"),
        ("2/3/2024", "2024-03-02"),
        ("12.03.2024", "2024-03-12"),
        ("12 - 03 - 2024", "2024-03-12"),
        ("1er mars 2024", "2024-03-01"),
        ("14 Février 2019", "2019-02-14"),
        ("29/02/2024", "2024-02-29"),
    ],
)
def test_parse_date(text, iso):
    assert parse_date(text) == iso


@pytest.mark.parametrize("text", ["31/02/2024", "12/13/2024", "12 brumaire 2024", "", "2024"])
def test_invalid_dates_are_none(text):
    assert parse_date(text) is None


def test_date_candidates_cover_the_range_and_parse():
    values = date_candidates(2023, 2024)
    assert len(values) == 4 * (365 + 366)
    assert values[:4] == ["01/01/2023", "01/01/23", "01.01.2023", "01.01.23"]
    assert values[-1] == "31.12.24"
    assert all(parse_date(v) is not None for v in values[::37])
    assert len(date_candidates(2023, 2023, separators="/")) == 2 * 365
