"""Tests for medocr.synth.text: the cause-of-death text sampler."""

from __future__ import annotations

import csv
import gzip
import json
import logging
import os
import re
from pathlib import Path

import numpy as np
import pytest

from medocr.synth.text import (
    ABBREVIATIONS,
    CONNECTORS,
    FRENCH_CHARSET,
    PATIENT_QUALIFIERS,
    UNKNOWN_CAUSES,
    CauseText,
    Vocabulary,
    clean_cim10_label,
    sample_cause_text,
    sample_death_date,
    sample_interval,
)

N = 2000


def _shared_cim10() -> Path | None:
    candidates = []
    if os.environ.get("MEDOCR_DATA"):
        candidates.append(Path(os.environ["MEDOCR_DATA"]) / "cim10")
    candidates.append(Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cim10")
    for folder in candidates:
        if (folder / "cim10.csv.gz").is_file():
            return folder
    return None


SHARED_CIM10 = _shared_cim10()
needs_cim10 = pytest.mark.skipif(
    SHARED_CIM10 is None,
    reason="shared CIM-10 data not found ($MEDOCR_DATA/cim10 or ../shared/data/cim10)",
)


@pytest.fixture(scope="module")
def builtin() -> Vocabulary:
    return Vocabulary.builtin()


@pytest.fixture(scope="module")
def samples(builtin: Vocabulary) -> list[CauseText]:
    return [sample_cause_text(np.random.default_rng(seed), builtin) for seed in range(N)]


def _texts(cause: CauseText) -> list[str]:
    return [*cause.part1, *cause.intervals, *cause.part2, cause.death_date]


def _bad_chars(causes: list[CauseText]) -> set[str]:
    return {ch for cause in causes for text in _texts(cause) for ch in text} - FRENCH_CHARSET


def _plain(line: str) -> str:
    """Undo the writer habits that do not change the words (capital, curly apostrophe)."""
    line = line.replace("’", "'")
    return line[:1].lower() + line[1:]


# --- determinism and structure -----------------------------------------------------------------


def test_same_seed_gives_same_text(builtin: Vocabulary) -> None:
    for seed in range(20):
        first = sample_cause_text(np.random.default_rng(seed), builtin)
        second = sample_cause_text(np.random.default_rng(seed), builtin)
        assert first == second


def test_different_seeds_give_different_texts(samples: list[CauseText]) -> None:
    assert len({cause.part1 for cause in samples[:200]}) > 150


def test_vocabulary_defaults_to_builtin() -> None:
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    assert sample_cause_text(rng_a) == sample_cause_text(rng_b, Vocabulary.builtin())


def test_every_character_is_in_the_charset(samples: list[CauseText]) -> None:
    assert _bad_chars(samples) == set()


def test_builtin_word_lists_use_only_the_charset(builtin: Vocabulary) -> None:
    words = [*builtin.immediate, *builtin.intermediate, *builtin.underlying]
    words += [*builtin.contributing, *CONNECTORS, *UNKNOWN_CAUSES]
    words += [w for pair in ABBREVIATIONS for w in pair]
    words += [w for pair in PATIENT_QUALIFIERS for w in pair]
    words += [w for m in builtin.modifiers for w in (m.masculine, m.feminine)]
    assert {ch for word in words for ch in word} <= FRENCH_CHARSET


def test_builtin_vocabulary_is_rich_and_without_duplicates(builtin: Vocabulary) -> None:
    sizes = builtin.sizes()
    assert sizes["total"] >= 300
    assert builtin.source == "builtin"
    for role in ("immediate", "intermediate", "underlying", "contributing"):
        terms = getattr(builtin, role)
        assert len(terms) == len(set(terms)) == builtin.builtin_sizes[role]


def test_charset_has_french_letters_and_form_punctuation() -> None:
    assert set("éèêëàâîïôùûüçœæÉÈÊËÀÂÎÏÔÙÛÜÇŒÆ '’-,./()?:+%") <= FRENCH_CHARSET
    assert not {"\n", "\t", "*", "[", "°", "²", "ö", '"'} & FRENCH_CHARSET
    assert len(FRENCH_CHARSET) == 26 * 2 + 10 + 15 * 2 + 13


def test_shapes_and_empty_intervals_on_empty_lines(samples: list[CauseText]) -> None:
    for cause in samples:
        assert len(cause.part1) == len(cause.intervals) == 4
        assert len(cause.part2) <= 2
        assert all(line.strip() == line for line in cause.part1 if line)
        for line, interval in zip(cause.part1, cause.intervals, strict=True):
            if not line:
                assert interval == ""
        assert all(cause.part2)
        assert cause.autopsy in (None, True, False)
        assert cause.pregnancy in (None, True, False)


def test_most_certificates_use_partie_one(samples: list[CauseText]) -> None:
    used = [cause.used_lines for cause in samples]
    assert sum(n >= 1 for n in used) / N > 0.97
    assert sum(n == 1 for n in used) / N > 0.2
    assert sum(n >= 3 for n in used) / N > 0.1


def test_used_lines_start_on_line_a(samples: list[CauseText]) -> None:
    for cause in samples:
        if cause.used_lines:
            assert cause.part1[0]
            last = max(i for i, line in enumerate(cause.part1) if line)
            assert sum(1 for line in cause.part1[: last + 1] if not line) <= 1


def test_to_dict_round_trips_through_json(samples: list[CauseText]) -> None:
    for cause in samples[:50]:
        data = json.loads(json.dumps(cause.to_dict(), ensure_ascii=False))
        assert CauseText.from_dict(data) == cause
    assert set(samples[0].to_dict()) == {
        "part1",
        "intervals",
        "part2",
        "death_date",
        "autopsy",
        "pregnancy",
    }


def test_cause_text_rejects_inconsistent_lines() -> None:
    with pytest.raises(ValueError, match=r"interval '3 jours' on an empty Partie I line"):
        CauseText(part1=("coma", "", "", ""), intervals=("", "3 jours", "", ""))
    with pytest.raises(ValueError, match="part1 and intervals must each hold 4 lines"):
        CauseText(part1=("coma", "", ""), intervals=("", "", "", ""))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="part2 holds at most 2 lines, got 3"):
        CauseText(part1=("", "", "", ""), intervals=("", "", "", ""), part2=("a", "b", "c"))


# --- rates ---------------------------------------------------------------------------------------


def test_part2_empty_share_matches_the_rate(samples: list[CauseText]) -> None:
    empty = sum(not cause.part2 for cause in samples) / N
    assert abs(empty - 0.55) < 0.04


@pytest.mark.parametrize("rate", [0.0, 1.0])
def test_part2_rate_extremes(builtin: Vocabulary, rate: float) -> None:
    causes = [
        sample_cause_text(np.random.default_rng(s), builtin, empty_part2_rate=rate)
        for s in range(200)
    ]
    assert all(bool(cause.part2) == (rate == 0.0) for cause in causes)


def test_empty_interval_share_on_used_lines(samples: list[CauseText]) -> None:
    pairs = [(p, i) for c in samples for p, i in zip(c.part1, c.intervals, strict=True) if p]
    empty = sum(not interval for _, interval in pairs) / len(pairs)
    assert abs(empty - 0.25) < 0.04


def test_some_writers_drop_all_accents(samples: list[CauseText]) -> None:
    accented = re.compile("[éèêëàâîïôùûüçœæÉÈÊËÀÂÎÏÔÙÛÜÇŒÆ]")
    # "deces"-style writers exist, and never for more than a small share of certificates.
    written = [" ".join(_texts(c)) for c in samples]
    unaccented = [t for t in written if "insuffisance" in t.lower() and not accented.search(t)]
    with_words = [t for t in written if "insuffisance" in t.lower()]
    share = len(unaccented) / len(with_words)
    assert 0.04 < share < 0.25


def test_abbreviation_rate_extremes(builtin: Vocabulary) -> None:
    def lines(rate: float) -> list[str]:
        out = []
        for seed in range(600):
            cause = sample_cause_text(
                np.random.default_rng(seed), builtin, abbreviation_rate=rate, no_accent_rate=0.0
            )
            out += [_plain(line) for line in (*cause.part1, *cause.part2) if line]
        return out

    never, always = lines(0.0), lines(1.0)
    # BPCO is left out: "exacerbation de BPCO" and "chez un patient BPCO" are built-in wording.
    assert not any(re.search(r"\b(AVC|IDM|HTA|ACFA|OAP)\b", line) for line in never)
    assert any("accident vasculaire cérébral" in line for line in never)
    assert not any("accident vasculaire cérébral" in line for line in always)
    assert not any(re.search(r"\bhypertension artérielle\b", line) for line in always)
    assert any(re.search(r"\b(AVC|IDM|HTA)\b", line) for line in always)


def test_plain_chain_has_immediate_first_and_underlying_last(builtin: Vocabulary) -> None:
    quiet = {
        "abbreviation_rate": 0.0,
        "no_accent_rate": 0.0,
        "modifier_rate": 0.0,
        "connector_rate": 0.0,
        "patient_rate": 0.0,
        "doubt_rate": 0.0,
        "gap_rate": 0.0,
        "unknown_rate": 0.0,
        "empty_part1_rate": 0.0,
    }
    joined = re.compile(
        r" (sur|secondaire à|suite à|dans un contexte|dû à|due à|compliquée? de?|avec)[ ']"
    )
    known = {*builtin.immediate, *builtin.intermediate, *builtin.underlying}
    lengths = set()
    for seed in range(500):
        cause = sample_cause_text(np.random.default_rng(seed), builtin, **quiet)
        lines = [_plain(line) for line in cause.part1 if line]
        assert lines and lines == [_plain(line) for line in cause.part1[: len(lines)]]
        lengths.add(len(lines))
        if any(joined.search(line) and line not in known for line in lines):
            assert len(lines) == 4  # five conditions: two had to share a line
            continue
        if len(lines) == 1:
            assert lines[0] in builtin.underlying or lines[0] in builtin.immediate
            continue
        assert lines[-1] in builtin.underlying
        assert lines[0] in builtin.immediate or lines[0] in builtin.intermediate
        assert all(line in builtin.intermediate for line in lines[1:-1])
    assert lengths == {1, 2, 3, 4}


def test_connectors_modifiers_and_doubt_appear(builtin: Vocabulary) -> None:
    text = []
    for seed in range(N):
        cause = sample_cause_text(np.random.default_rng(seed), builtin, no_accent_rate=0.0)
        text += [_plain(line) for line in cause.part1 if line]
    joined = "\n".join(text)
    for word in (" sur ", " secondaire à ", " probable", "?", " massive", "K "):
        assert word in joined, word
    assert "embolie pulmonaire massif" not in joined
    assert "EP massif" not in joined


def test_gap_and_unknown_rates(builtin: Vocabulary) -> None:
    gaps = [sample_cause_text(np.random.default_rng(s), builtin, gap_rate=1.0) for s in range(300)]
    with_gap = [c for c in gaps if c.part1[0] and not c.part1[1] and c.part1[2]]
    assert with_gap
    assert all(c.intervals[1] == "" for c in with_gap)
    unknown = [
        sample_cause_text(
            np.random.default_rng(s),
            builtin,
            unknown_rate=1.0,
            empty_part1_rate=0.0,
            no_accent_rate=0.0,
        )
        for s in range(100)
    ]
    for cause in unknown:
        assert _plain(cause.part1[0]) in UNKNOWN_CAUSES
        assert cause.part1[1:] == ("", "", "")


# --- intervals and dates -------------------------------------------------------------------------


def test_sample_interval_is_deterministic_and_varied() -> None:
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    first = [sample_interval(rng_a) for _ in range(500)]
    assert first == [sample_interval(rng_b) for _ in range(500)]
    assert all(first) and {ch for text in first for ch in text} <= FRENCH_CHARSET
    assert len(set(first)) > 100
    assert {"?", "inconnu"} & set(first)


def test_depuis_year_is_not_after_death() -> None:
    rng = np.random.default_rng(0)
    texts = [sample_interval(rng, min_scale=5, death_year=2016) for _ in range(3000)]
    years = [int(m.group(1)) for t in texts if (m := re.fullmatch(r"depuis (\d{4})", t))]
    assert years and max(years) <= 2016


def test_min_scale_years_gives_no_minutes() -> None:
    rng = np.random.default_rng(1)
    texts = [sample_interval(rng, min_scale=5) for _ in range(500)]
    assert not any(re.search(r"\d\s*(min|h|j|jours?|sem)\b", t) for t in texts)


def test_sample_death_date_formats() -> None:
    rng = np.random.default_rng(5)
    dates = [sample_death_date(rng, start_year=2018, end_year=2019) for _ in range(1000)]
    months = "janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre"
    pattern = re.compile(
        rf"\d{{2}}/\d{{2}}/(2018|2019|18|19)|\d{{1,2}}/\d{{1,2}}/(2018|2019)"
        rf"|\d{{2}}\.\d{{2}}\.(2018|2019)|(1er|\d{{1,2}}) ({months}) (2018|2019)"
    )
    assert all(pattern.fullmatch(d) for d in dates), [d for d in dates if not pattern.fullmatch(d)]
    assert sum(bool(re.fullmatch(r"\d{2}/\d{2}/\d{4}", d)) for d in dates) > 600
    assert any(" " in d for d in dates) and any(re.fullmatch(r"../../..", d) for d in dates)


# --- CIM-10 --------------------------------------------------------------------------------------

ROWS = [
    ("I469", "0", "Arrêt cardiaque, sans précision"),
    ("I420", "0", "Myocardiopathie avec dilatation"),
    ("C160", "0", "Tumeur maligne du cardia"),
    ("I253", "0", "Anévrisme du coeur"),
    ("B20", "3", "Immunodéficience humaine virale [VIH], à l'origine de maladies infectieuses"),
    ("J449", "0", "Maladie pulmonaire obstructive chronique, sans précision"),
    ("I698", "4", "Séquelles de maladies cérébrovasculaires, autres et non précisées"),
    ("K703", "0", "Cirrhose alcoolique du foie"),
    ("I10", "0", "Hypertension essentielle (primitive)"),
    ("G122", "0", "Maladie du neurone moteur"),
    ("C80+0", "3", "*** SU17 *** Tumeur maligne primitive de siège inconnu"),
    ("B24", "0", "SIDA déclaré"),
    ("N180", "3", "*** SU10 *** Insuffisance rénale terminale"),
    ("F03", "0", "Démence, sans précision"),
    ("I678", "0", "Autres maladies cérébrovasculaires précisées"),
    ("Z950", "0", "Présence d'un stimulateur cardiaque"),
    ("W010", "2", "Chute de plain-pied"),
    ("K029", "0", "Carie dentaire, sans précision"),
    ("F900", "0", "Perturbation de l'activité et de l'attention"),
    ("M0225", "0", "Arthropathie post-vaccinale - Articulations de la hanche"),
    ("C884", "0", "Macroglobulinémie de Waldenström"),
    ("G580", "0", "Affections des nerfs crâniens multiples"),
    ("E6600", "0", "Obésité due à un excès calorique de l'adulte avec indice de masse corporelle"),
]
# "arrêt cardiaque" and "insuffisance rénale terminale" are built-in terms already: not repeated.
EXPECTED_UNDERLYING = {
    "myocardiopathie avec dilatation",
    "tumeur maligne du cardia",
    "anévrisme du cœur",
    "immunodéficience humaine virale",
    "maladie pulmonaire obstructive chronique",
    "séquelles de maladies cérébrovasculaires",
    "cirrhose alcoolique du foie",
    "hypertension essentielle",
    "maladie du neurone moteur",
    "tumeur maligne primitive de siège inconnu",
    "SIDA déclaré",
}
EXPECTED_CONTRIBUTING = EXPECTED_UNDERLYING - {
    "tumeur maligne du cardia",
    "immunodéficience humaine virale",
    "tumeur maligne primitive de siège inconnu",
    "SIDA déclaré",
}


def _write_cim10(folder: Path, rows: list[tuple[str, str, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "cim10.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["code", "type", "ssr", "psy", "short", "long"])
        for code, kind, label in rows:
            writer.writerow([code, kind, "NOOO", "0", label.upper(), label])
    return path


@pytest.mark.parametrize(
    ("label", "cleaned"),
    [
        ("Arrêt cardiaque, sans précision", "arrêt cardiaque"),
        ("Embolie pulmonaire, (sans mention de coeur pulmonaire aigu)", "embolie pulmonaire"),
        ("*** SU10 *** Insuffisance rénale terminale", "insuffisance rénale terminale"),
        ("Tumeur maligne de l'oesophage", "tumeur maligne de l'œsophage"),
        ("Démence de la maladie d'Alzheimer (G30.-)", "démence de la maladie d'Alzheimer"),
        ("Giardiase [lambliase] intestinale", "giardiase intestinale"),
        (
            "Troubles mentaux liés à l'alcool : intoxication aiguë",
            "troubles mentaux liés à l'alcool",
        ),
        ("VIH infection", "VIH infection"),
        ("Démence, sans précision", None),
        ("Autres maladies cérébrovasculaires précisées", None),
        ("Artérite cérébrale au cours de maladies classées ailleurs", None),
        ("Affections des nerfs crâniens multiples", None),
        ("Macroglobulinémie de Waldenström", None),
        ("Syndrome de sevrage d'autres stimulants", None),
        ("Tumeur maligne de la tête du pancréas", None),
        ("Hypothermie, température corporelle égale ou inférieure à 32 °C", None),
        ("", None),
    ],
)
def test_clean_cim10_label(label: str, cleaned: str | None) -> None:
    assert clean_cim10_label(label) == cleaned


def test_from_cim10_adds_cleaned_terms_and_skips_chapters(
    tmp_path: Path, builtin: Vocabulary
) -> None:
    _write_cim10(tmp_path / "cim10", ROWS)
    vocab = Vocabulary.from_cim10(tmp_path / "cim10")
    assert vocab.source == "builtin+cim10"
    extra_under = set(vocab.underlying[builtin.builtin_sizes["underlying"] :])
    extra_contrib = set(vocab.contributing[builtin.builtin_sizes["contributing"] :])
    assert extra_under == EXPECTED_UNDERLYING
    assert extra_contrib == EXPECTED_CONTRIBUTING
    assert vocab.underlying[: len(builtin.underlying)] == builtin.underlying
    assert vocab.immediate == builtin.immediate
    everything = set(vocab.underlying) | set(vocab.contributing)
    assert "présence d'un stimulateur cardiaque" not in everything  # Z chapter
    assert "chute de plain-pied" not in everything  # W chapter
    assert "carie dentaire" not in everything  # K00-K14 (mouth) skipped
    assert vocab.families_of("tumeur maligne du cardia") == {"cancer"}
    assert vocab.families_of("cirrhose alcoolique du foie") == {"digest"}
    assert vocab.families_of("séquelles de maladies cérébrovasculaires") == {"neuro", "cardio"}
    assert vocab.sizes()["underlying"] == len(builtin.underlying) + len(EXPECTED_UNDERLYING)


def test_from_cim10_accepts_file_folder_or_parent(tmp_path: Path) -> None:
    path = _write_cim10(tmp_path / "cim10", ROWS)
    for where in (path, tmp_path / "cim10", tmp_path):
        assert Vocabulary.from_cim10(where).source == "builtin+cim10"
    assert Vocabulary.default(tmp_path).source == "builtin+cim10"


def test_cim10_terms_are_sampled(tmp_path: Path) -> None:
    _write_cim10(tmp_path / "cim10", ROWS)
    vocab = Vocabulary.from_cim10(tmp_path)
    causes = [
        sample_cause_text(np.random.default_rng(s), vocab, extra_term_rate=1.0, no_accent_rate=0)
        for s in range(300)
    ]
    written = " ".join(_plain(line) for c in causes for line in (*c.part1, *c.part2))
    assert "tumeur maligne du cardia" in written
    assert _bad_chars(causes) == set()


def test_missing_cim10_falls_back_to_builtin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert Vocabulary.default(tmp_path / "nowhere").source == "builtin"
    with caplog.at_level(logging.WARNING, logger="medocr.synth.text"):
        vocab = Vocabulary.from_cim10(tmp_path / "nowhere")
    assert vocab.source == "builtin"
    assert vocab.underlying == Vocabulary.builtin().underlying
    assert "no cim10.csv.gz under" in caplog.text
    monkeypatch.delenv("MEDOCR_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    assert Vocabulary.default().source == "builtin"


def test_default_reads_medocr_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_cim10(tmp_path / "data" / "cim10", ROWS)
    monkeypatch.setenv("MEDOCR_DATA", str(tmp_path / "data"))
    assert Vocabulary.default().source == "builtin+cim10"


@pytest.mark.parametrize(
    "content", [b"not a gzip file", gzip.compress(b"x,y\n1,2\n"), gzip.compress(b"\xff\xfe\x00")]
)
def test_unreadable_cim10_falls_back_to_builtin(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "cim10.csv.gz").write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="medocr.synth.text"):
        vocab = Vocabulary.from_cim10(tmp_path)
    assert vocab.source == "builtin"
    assert "cannot read" in caplog.text


@needs_cim10
def test_shared_cim10_vocabulary() -> None:
    assert SHARED_CIM10 is not None
    vocab = Vocabulary.from_cim10(SHARED_CIM10)
    builtin = Vocabulary.builtin()
    assert vocab.source == "builtin+cim10"
    assert len(vocab.underlying) > len(builtin.underlying) + 500
    assert len(vocab.contributing) > len(builtin.contributing) + 300
    terms = [*vocab.underlying, *vocab.contributing]
    assert {ch for term in terms for ch in term} <= FRENCH_CHARSET
    assert not [t for t in terms if re.match(r"(?i)autres?\b", t) or "ailleurs" in t]
    extra = (
        vocab.underlying[len(builtin.underlying) :]
        + vocab.contributing[len(builtin.contributing) :]
    )
    assert all(2 <= len(t.split()) <= 6 and len(t) <= 45 for t in extra)
    causes = [sample_cause_text(np.random.default_rng(s), vocab) for s in range(N)]
    assert _bad_chars(causes) == set()
