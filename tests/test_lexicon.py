import hashlib
import json
import math
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from medocr.errors import LexiconError
from medocr.lexicon import (
    CASE_POLICY,
    BigramModel,
    Lexicon,
    build_fr_medical,
    canonical_form,
    find_cim10,
    fold,
    is_word_char,
    load_lexicon,
    packaged_lexicon_path,
    read_word_list,
    strip_accents,
    tokenize,
)
from medocr.recognize.alphabet import Alphabet, normalize_text
from medocr.synth.text import Vocabulary, sample_cause_text

REPO = Path(__file__).resolve().parents[1]
CIM10 = (
    (
        Path(os.environ["MEDOCR_DATA"])
        if os.environ.get("MEDOCR_DATA")
        else REPO.parent / "shared" / "data"
    )
    / "cim10"
    / "cim10.csv.gz"
)
needs_cim10 = pytest.mark.skipif(
    not CIM10.is_file(), reason=f"needs the CIM-10 labels ({CIM10}), absent on this machine"
)
CHANGELOG_LINE = re.compile(r"^- (\d+\.\d+\.\d+) \(\d{4}-\d{2}-\d{2}\): (.*) \[(.*)\]$")


def tiny(**kwargs):
    counts = {"insuffisance": 3, "décès": 2, "AVC": 5, "âge": 4, "âgé": 1, "œdème": 1}
    counts.update({"a": 10, "à": 20})
    return Lexicon(counts, name="tiny", version="1.0.0", **kwargs)


def last_changelog_line(lexicon):
    return lexicon.changelog.rstrip("\n").rsplit("\n", 1)[-1]


# --- words -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("d'inhalation", ["d", "inhalation"]),
        ("d’inhalation", ["d", "inhalation"]),
        ("cardio-respiratoire", ["cardio", "respiratoire"]),
        ("48h", ["h"]),
        ("Covid-19", ["Covid"]),
        ("DT2", ["DT"]),
        ("1er mars 2024", ["er", "mars"]),
        ("jour(s)", ["jour", "s"]),
        ("AVC/IDM, HTA.", ["AVC", "IDM", "HTA"]),
        ("K du poumon", ["K", "du", "poumon"]),
        ("m²", ["m"]),
        ("de\u0301ce\u0300s", ["décès"]),
        ("Œdème aigu du poumon", ["Œdème", "aigu", "du", "poumon"]),
        ("pneumopathie_bactérienne", ["pneumopathie", "bactérienne"]),
        ("", []),
        ("  12/03/2024 ? ", []),
    ],
)
def test_tokenize(text, words):
    assert tokenize(text) == words


def test_is_word_char():
    assert all(is_word_char(c) for c in "aZéÉœŒçï")
    assert not any(is_word_char(c) for c in "'’- 1²_/.\u0301")
    assert not is_word_char("ab")


def test_folding_and_canonical_form():
    assert strip_accents("Œdème aigu, ŒDÈME") == "Oedeme aigu, OEDEME"
    assert fold("DÉCÈS") == "deces" and fold("Œsophage") == "oesophage"
    assert canonical_form("AVC") == "AVC" and canonical_form("K") == "K"
    assert canonical_form("Insuffisance") == "insuffisance"


# --- lookup ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("insuffisance", "insuffisance"),
        ("Insuffisance", "insuffisance"),
        ("INSUFFISANCE", "insuffisance"),
        ("décès", "décès"),
        ("DECES", "décès"),
        ("deces", "décès"),
        ("Décés", "décès"),
        ("de\u0301ce\u0300s", "décès"),
        ("avc", "AVC"),
        ("Avc", "AVC"),
        ("oedeme", "œdème"),
        ("OEDÈME", "œdème"),
        ("age", "âge"),  # both âge and âgé fold to "age": the more frequent wins
        ("AGE", "âge"),
        ("agé", "âgé"),  # ... unless the written accents say otherwise
        ("AGÉ", "âgé"),
        ("A", "a"),  # case-insensitive match beats accent-insensitive
        ("À", "à"),
        ("xyz", None),
        ("arrêt cardiaque", None),
        ("", None),
    ],
)
def test_lookup_is_case_and_accent_insensitive_and_gives_the_canonical(written, canonical):
    lexicon = tiny()
    assert lexicon.lookup(written) == canonical
    assert (written in lexicon) is (canonical is not None)


def test_count_contains_and_entries_merged_by_case():
    lexicon = tiny()
    assert lexicon.count("DECES") == 2 and lexicon.count("xyz") == 0
    assert 42 not in lexicon and lexicon.lookup(42) is None
    merged = Lexicon({"SIDA": 2, "sida": 1, "K": 1, "Alzheimer": 4, "VIH": 1}, name="m")
    assert dict(merged.counts) == {"K": 1, "VIH": 1, "alzheimer": 4, "sida": 3}
    assert merged.acronyms == ("K", "VIH") and merged.case_policy == CASE_POLICY
    assert dict(Lexicon(["qq", "QQ", "qq"], name="w").counts) == {"qq": 3}


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        (
            {"cardio-respiratoire": 1},
            "'cardio-respiratoire' is not one word (medocr reads 'cardio', 'respiratoire')",
        ),
        ({"12": 1}, "'12' has no letters"),
        ({"": 1}, "empty word"),
        ({"avc": -1}, "count -1 of 'avc' is negative"),
        ({"avc": 1.5}, "count of 'avc' must be an int, got 1.5"),
    ],
)
def test_lexicon_refuses_bad_entries(counts, message):
    with pytest.raises(LexiconError, match=f"^{re.escape(message)}$"):
        Lexicon(counts, name="bad")


def test_lexicon_refuses_bad_identity():
    with pytest.raises(LexiconError, match="version must be MAJOR.MINOR.PATCH, got '1.0'"):
        Lexicon(["a"], name="x", version="1.0")
    with pytest.raises(LexiconError, match="bad lexicon name 'a@b'"):
        Lexicon(["a"], name="a@b")
    with pytest.raises(LexiconError, match="not a str"):
        Lexicon("avc", name="x")
    with pytest.raises(LexiconError, match=r"lacks \['licence'\]"):
        Lexicon(["a"], name="x", sources=[{"name": "n", "attribution": "a"}])


def test_lexicon_is_immutable():
    lexicon = tiny()
    with pytest.raises(TypeError):
        lexicon.counts["new"] = 1  # type: ignore[index]
    with pytest.raises(AttributeError):
        lexicon.name = "other"  # type: ignore[misc]
    lexicon.sources.append({"name": "x"})
    assert lexicon.sources == []


# --- changes, versions, CHANGELOG --------------------------------------------------------------


def test_add_bumps_the_version_and_appends_a_changelog_line():
    lexicon = tiny()
    added = lexicon.add({"Métastases": 2, "avc": 1}, note="certificats\n2025")
    assert (lexicon.version, added.version) == ("1.0.0", "1.0.1")
    assert added.counts["métastases"] == 2 and added.counts["AVC"] == 6
    assert "métastases" not in lexicon.counts and lexicon.counts["AVC"] == 5
    version, what, counts = CHANGELOG_LINE.match(last_changelog_line(added)).groups()
    assert version == "1.0.1"
    assert what == "added 1 word, raised 1 count: certificats 2025"
    assert counts == "9 words, 1 acronyms, 49 tokens"
    assert added.changelog.startswith("# Changelog of the tiny lexicon")
    assert added.meta["parent"] == lexicon.ref and added.sha256 != lexicon.sha256
    again = added.add(["HTA"], note="")
    assert again.version == "1.0.2" and again.counts["HTA"] == 1
    assert CHANGELOG_LINE.match(last_changelog_line(again)).group(2) == "added 1 word"
    assert [line[:8] for line in again.changelog.splitlines() if line.startswith("- ")] == [
        "- 1.0.1 ",
        "- 1.0.2 ",
    ]


def test_add_refuses_what_is_not_one_word():
    with pytest.raises(
        LexiconError,
        match=re.escape("\"d'inhalation\" is not one word (medocr reads 'd', 'inhalation')"),
    ):
        tiny().add(["d'inhalation"], note="")
    with pytest.raises(LexiconError, match="count -2 of 'avc' is negative"):
        tiny().add({"avc": -2}, note="")


def test_remove_matches_case_but_respects_accents():
    lexicon = tiny()
    removed = lexicon.remove(["ÂGE", "avc"], note="test")
    assert "âge" not in removed.counts and "âgé" in removed.counts and "AVC" not in removed
    assert removed.version == "1.0.1"
    assert CHANGELOG_LINE.match(last_changelog_line(removed)).group(2) == "removed 2 words: test"
    with pytest.raises(LexiconError, match="^not in the tiny lexicon: 'age', 'xyz'$"):
        lexicon.remove(["age", "xyz", "AVC"], note="")


def test_merge_and_diff():
    lexicon = tiny()
    source = {"name": "service X", "attribution": "CHU", "licence": "CC0"}
    other = Lexicon({"ÂGE": 1, "Lewy": 3}, name="other", sources=[source])
    merged = lexicon.merge(other, note="m")
    assert merged.counts["âge"] == 5 and merged.counts["lewy"] == 3
    assert merged.sources == [source] and merged.version == "1.0.1"
    assert CHANGELOG_LINE.match(last_changelog_line(merged)).group(2) == (
        f"merged {other.ref} (1 new): m"
    )
    diff = lexicon.diff(merged)
    assert diff.added == ("lewy",) and diff.removed == () and diff.changed == (("âge", 4, 5),)
    assert diff.summary() == f"{lexicon.ref} -> {merged.ref}: +1 word, -0 words, 1 count changed"
    assert diff and not lexicon.diff(tiny())
    back = merged.remove(["lewy"], note="").diff(lexicon)
    assert back.removed == () and back.changed == (("âge", 5, 4),)
    assert lexicon.merge({"avc": 2}, note="").counts["AVC"] == 7


# --- files -------------------------------------------------------------------------------------


def tiny_model(lexicon):
    return BigramModel.from_texts(["insuffisance cardiaque", "décès", "AVC a"], lexicon)


def test_save_and_load_round_trip(tmp_path):
    base = tiny()
    lexicon = Lexicon(
        base.counts, name="tiny", version="2.3.4", bigrams=tiny_model(base), meta={"x": 1}
    )
    folder = lexicon.save(tmp_path / "lex")
    assert sorted(p.name for p in folder.iterdir()) == [
        "CHANGELOG.md",
        "bigrams.tsv",
        "manifest.json",
        "words.tsv",
    ]
    again = load_lexicon(folder)
    assert again.counts == lexicon.counts and again.ref == lexicon.ref
    assert again.version == "2.3.4" and again.origin == str(folder)
    assert (folder / "words.tsv").read_bytes() == lexicon.words_tsv()
    assert (folder / "words.tsv").read_text(encoding="utf-8").startswith("AVC\t5\na\t10\n")
    assert again.bigrams.to_tsv() == lexicon.bigrams.to_tsv()
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["sha256"] == lexicon.sha256
    assert manifest["counts"] == {
        "words": 8,
        "acronyms": 1,
        "tokens": 46,
        "bigrams": len(lexicon.bigrams),
        "bigram_contexts": lexicon.bigrams.contexts,
    }
    assert manifest["normalisation"]["unicode"] == "NFC"
    assert manifest["case_policy"] == CASE_POLICY
    # a change saved over the folder appends to its CHANGELOG
    again.add(["HTA"], note="n").save(folder)
    changelog = (folder / "CHANGELOG.md").read_text(encoding="utf-8").splitlines()
    assert CHANGELOG_LINE.match(changelog[-1]).group(1) == "2.3.5"
    assert load_lexicon(folder).version == "2.3.5" and not list(folder.glob(".*tmp"))


def test_load_refuses_a_changed_file_naming_it(tmp_path):
    folder = tiny(bigrams=tiny_model(tiny())).save(tmp_path / "lex")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    for name in ("words.tsv", "bigrams.tsv"):
        path = folder / name
        original = path.read_bytes()
        path.write_bytes(original + b"zzz\t1\n")
        expected = manifest["files"][name]["sha256"][:12]
        message = (
            f"{folder}/{name}: sha256 mismatch (manifest {expected}, file "
            f"{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}): the file "
            "was changed after the lexicon was saved"
        )
        with pytest.raises(LexiconError, match=f"^{re.escape(message)}$"):
            load_lexicon(folder)
        path.write_bytes(original)
    (folder / "words.tsv").unlink()
    with pytest.raises(LexiconError, match=f"^{re.escape(str(folder))}/words.tsv: missing$"):
        load_lexicon(folder)
    (folder / "manifest.json").write_text("{", encoding="utf-8")
    with pytest.raises(LexiconError, match="manifest.json: not valid JSON"):
        load_lexicon(folder)
    with pytest.raises(LexiconError, match="manifest.json: missing$"):
        load_lexicon(tmp_path)


def test_save_refuses_the_packaged_folder():
    with pytest.raises(LexiconError, match="shipped inside medocr"):
        tiny().save(packaged_lexicon_path())


# --- user word lists ---------------------------------------------------------------------------


def test_read_word_list_formats(tmp_path):
    path = tmp_path / "mots.csv"
    path.write_bytes(
        "\ufeffword,count\n# mes mots\nAVC,3\n\ndécès\t2  # fin\r\ninsuffisance\nAVC\n"
        "de\u0301ce\u0300s\n".encode()
    )
    assert read_word_list(path) == {"AVC": 4, "décès": 3, "insuffisance": 1}
    lexicon = load_lexicon(path)
    assert (lexicon.name, lexicon.version) == ("mots", "0.0.0")
    assert lexicon.sources[0]["name"] == "word list mots.csv" and lexicon.bigrams is None


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        (b"avc\n\xff\xfe\n", 2, "invalid UTF-8"),
        (b"avc\t3\tx\n", 1, "expected 'word', 'word<TAB>count' or 'word,count', got 3 columns"),
        (b"ok\na,b,c\n", 2, "expected 'word', 'word<TAB>count' or 'word,count', got 3 columns"),
        (b"avc\tdix\n", 1, "count 'dix' is not an integer"),
        (b"avc\t3.5\n", 1, "count '3.5' is not an integer"),
        (b"avc,\n", 1, "count '' is not an integer"),
        (b"avc,-2\n", 1, "count -2 is negative"),
        (b"123\n", 1, "'123' has no letters"),
        (
            b"# c\n\ncardio-respiratoire\n",
            3,
            "'cardio-respiratoire' is not one word (medocr reads 'cardio', 'respiratoire')",
        ),
        (b"arr\xc3\xaat cardiaque\n", 1, "'arrêt cardiaque' is not one word"),
        (b",3\n", 1, "empty word"),
    ],
)
def test_read_word_list_refuses_malformed_lines(tmp_path, content, line, reason):
    path = tmp_path / "words.txt"
    path.write_bytes(content)
    expected = f"{path}:{line}: {reason}"
    with pytest.raises(LexiconError, match=f"^{re.escape(expected)}"):
        read_word_list(path)


def test_read_word_list_missing_file_and_unknown_lexicon(tmp_path):
    path = tmp_path / "none.txt"
    message = f"{path}: cannot read the word list (No such file or directory)"
    with pytest.raises(LexiconError, match=f"^{re.escape(message)}$"):
        read_word_list(path)
    with pytest.raises(LexiconError, match=f"^{re.escape(str(path))}: no such word list$"):
        load_lexicon(path)
    with pytest.raises(
        LexiconError,
        match=re.escape(
            "unknown lexicon 'nope': not a packaged lexicon (fr-medical), a lexicon folder or "
            "a .txt/.csv/.tsv word list"
        ),
    ):
        load_lexicon("nope")


# --- surface forms -----------------------------------------------------------------------------


def test_surface_forms_map_every_variant_to_its_canonical():
    lexicon = Lexicon({"œdème": 2, "AVC": 3, "décès": 1, "âge": 4, "âgé": 1}, name="s")
    forms = lexicon.surface_forms()
    oedeme = {"œdème", "Œdème", "ŒDÈME", "oedème", "Oedème", "OEDÈME", "oedeme", "Oedeme", "OEDEME"}
    assert {v for v, c in forms.items() if c == "œdème"} == oedeme
    assert {v for v, c in forms.items() if c == "AVC"} == {"AVC", "avc", "Avc"}
    assert forms["age"] == forms["Age"] == forms["AGE"] == "âge"
    assert forms["ÂGÉ"] == forms["Âgé"] == "âgé" and forms["DECES"] == "décès"
    assert all(lexicon.lookup(v) == c for v, c in forms.items())
    forms["zzz"] = "x"
    assert "zzz" not in lexicon.surface_forms()


def test_surface_forms_restricted_to_an_alphabet():
    lexicon = Lexicon({"œdème": 2, "AVC": 3, "décès": 1, "âge": 4, "âgé": 1}, name="s")
    alphabet = Alphabet.from_texts(["avc AVC deces oedeme age"])
    expected = {
        "AVC": "AVC",
        "avc": "AVC",
        "Avc": "AVC",
        "deces": "décès",
        "oedeme": "œdème",
        "age": "âge",
        "Age": "âge",
    }
    assert lexicon.surface_forms(alphabet) == expected
    assert lexicon.surface_forms(alphabet) == expected  # cached, same answer


# --- bigram model ------------------------------------------------------------------------------

TEXTS = [
    "arrêt cardiaque",
    "arrêt respiratoire",
    "Arret cardiaque",
    "choc septique",
    "embolie pulmonaire\narrêt cardio-respiratoire",  # 'cardio' is not in the lexicon
    "",
]
WORDS = ["arrêt", "cardiaque", "respiratoire", "choc", "septique", "embolie", "pulmonaire"]


def test_bigram_model_probabilities():
    lexicon = Lexicon([*WORDS, "coma"], name="b")
    model = BigramModel.from_texts(TEXTS, lexicon)
    assert model.vocabulary_size == len(lexicon) + 1 and 0 < model.discount < 1
    assert len(model) == 11 and model.tokens == 18
    seen = model.log_prob("arrêt", "cardiaque")
    assert seen > model.log_prob("arrêt", "septique") > model.log_prob("arrêt", "coma")
    assert seen > model.log_prob("cardiaque", "arrêt")
    assert model.log_prob(None, "arrêt") > model.log_prob(None, "cardiaque")
    floor = model.log_prob("arrêt", "xyzzy")
    assert math.isfinite(floor) and floor == model.log_prob("arrêt", "coma")
    assert model.log_prob("ARRET", "Cardiaque") == seen
    for prev in (None, "arrêt", "choc", "pulmonaire", "coma", "unknown"):
        total = sum(math.exp(model.log_prob(prev, w)) for w in [*lexicon, BigramModel.END])
        assert total == pytest.approx(1.0, abs=1e-12), prev


def test_bigram_pruning_keeps_distributions_normalised_and_round_trips(tmp_path):
    lexicon = Lexicon([*WORDS, "coma"], name="b")
    pruned = BigramModel.from_texts(TEXTS, lexicon, min_count=2)
    assert len(pruned) == 4 and "fewer than 2 times" in pruned.describe()["pruned"]
    for prev in (None, "arrêt", "choc"):
        total = sum(math.exp(pruned.log_prob(prev, w)) for w in [*lexicon, BigramModel.END])
        assert total == pytest.approx(1.0, abs=1e-12)
    sha = pruned.save(tmp_path / "bigrams.tsv")
    again = BigramModel.load(tmp_path / "bigrams.tsv")
    assert again.to_tsv() == pruned.to_tsv() and len(sha) == 64
    assert again.log_prob("arrêt", "cardiaque") == pruned.log_prob("arrêt", "cardiaque")
    with pytest.raises(LexiconError, match="^bigrams.tsv:2: malformed line 'X"):
        BigramModel.from_tsv(b"#format=1\nX\tfoo\n")
    with pytest.raises(LexiconError, match="unknown bigram format '9'"):
        BigramModel.from_tsv(b"#format=9\n")


# --- the packaged fr-medical lexicon -----------------------------------------------------------

ACRONYMS = (
    "AVC IDM BPCO HTA ACFA SDRA EP IRC IRA K OAP TVP ICC SCA AEG DNID DID SLA VIH AOMI ATCD DT NC"
)
WORDS_OF_CERTIFICATES = (
    "métastases méta mtx arrêt cardio respiratoire chute fausse route décès suite post opératoire "
    "sur avec probable sévère terminal jours j semaines sem mois ans an heures h min minutes "
    "quelques qq plusieurs inconnu brutal depuis d l"
)


def test_packaged_lexicon_loads_and_knows_certificate_words():
    lexicon = load_lexicon()
    assert lexicon is load_lexicon("fr-medical")  # cached: it is immutable
    assert lexicon.name == "fr-medical" and re.fullmatch(r"\d+\.\d+\.\d+", lexicon.version)
    assert lexicon.ref == f"fr-medical@{lexicon.version}+{lexicon.sha256[:12]}"
    assert len(lexicon) > 5000 and len(lexicon.acronyms) > 100
    for acronym in ACRONYMS.split():
        assert lexicon.lookup(acronym) == acronym
        assert lexicon.lookup(acronym.lower()) == acronym
    for word in WORDS_OF_CERTIFICATES.split():
        assert lexicon.lookup(word) == word, word
    assert lexicon.lookup("DECES") == lexicon.lookup("deces") == "décès"
    assert lexicon.lookup("INSUFFISANCE") == "insuffisance"
    assert lexicon.lookup("oesophage") == "œsophage" and lexicon.lookup("coeur") == "cœur"
    forms = lexicon.surface_forms()
    assert forms["DECES"] == "décès" and forms["Avc"] == "AVC" and len(forms) > 3 * len(lexicon)


def test_packaged_lexicon_manifest_files_and_attribution():
    folder = packaged_lexicon_path()
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    lexicon = load_lexicon()
    assert manifest["sha256"] == lexicon.sha256 and manifest["version"] == lexicon.version
    assert manifest["counts"]["words"] == len(lexicon)
    assert manifest["counts"]["bigrams"] == len(lexicon.bigrams)
    attribution = " ".join(s["attribution"] for s in manifest["sources"])
    for needed in ("AP-HP", "BSD-3", "ATIH", "WHO", "edsnlp 0.23.0", "medocr team"):
        assert needed in attribution
    sampler = manifest["sources"][2]
    assert sampler["texts"] == manifest["build"]["sampler"]["texts"] and "seed" in sampler
    assert manifest["bigram_model"]["smoothing"] == "interpolated absolute discounting"
    assert "pruned" in manifest["bigram_model"]
    size = sum((folder / name).stat().st_size for name in ("words.tsv", "bigrams.tsv"))
    assert size < 5_000_000
    versions = re.findall(r"^- (\d+\.\d+\.\d+) ", lexicon.changelog, re.MULTILINE)
    assert versions[-1] == lexicon.version


def test_packaged_bigrams_prefer_certificate_phrasing():
    model = load_lexicon().bigrams
    assert model.log_prob("arrêt", "cardiaque") > model.log_prob("cardiaque", "arrêt")
    assert model.log_prob("embolie", "pulmonaire") > model.log_prob("pulmonaire", "embolie")
    assert model.log_prob("fausse", "route") > model.log_prob("route", "fausse")
    assert math.isfinite(model.log_prob("arrêt", "xyzzy"))


def test_every_word_of_the_phrase_sampler_is_in_the_lexicon():
    lexicon = load_lexicon()
    vocabulary = Vocabulary.builtin()
    missing: Counter[str] = Counter()
    rng = np.random.default_rng(2024)
    for _ in range(3000):
        text = sample_cause_text(rng, vocabulary)
        for line in (*text.part1, *text.intervals, *text.part2, text.death_date):
            missing.update(w for w in tokenize(line) if w not in lexicon)
    terms = [*vocabulary.immediate, *vocabulary.intermediate, *vocabulary.underlying]
    terms += [*vocabulary.contributing, *vocabulary.connectors]
    terms += [t for pair in vocabulary.abbreviations + vocabulary.patient_qualifiers for t in pair]
    terms += [t for m in vocabulary.modifiers for t in (m.masculine, m.feminine)]
    missing.update(w for term in terms for w in tokenize(term) if w not in lexicon)
    assert not missing, f"add to lexicon/fr-medical/curated.txt: {sorted(missing)}"


def test_packaged_curated_copy_matches_the_repository():
    source = REPO / "lexicon" / "fr-medical" / "curated.txt"
    if not source.is_file():
        pytest.skip("not run from the repository")
    assert (packaged_lexicon_path() / "curated.txt").read_bytes() == source.read_bytes()
    manifest = json.loads((REPO / "lexicon" / "fr-medical" / "manifest.json").read_text("utf-8"))
    assert manifest == json.loads((packaged_lexicon_path() / "manifest.json").read_text("utf-8"))


def test_normalisation_is_the_alphabet_one():
    for text in ("l’état", "de\u0301ce\u0300s", "AVC`s", "plain"):
        assert tokenize(text) == tokenize(normalize_text(text))
    assert load_lexicon().lookup("l’") is None


# --- building ----------------------------------------------------------------------------------


def test_find_cim10_says_what_is_missing(tmp_path):
    with pytest.raises(LexiconError, match="no cim10.csv.gz there"):
        find_cim10(tmp_path)


@needs_cim10
@pytest.mark.slow
def test_build_is_reproducible_and_matches_the_packaged_words(tmp_path):
    curated = REPO / "lexicon" / "fr-medical" / "curated.txt"
    if not curated.is_file():
        curated = packaged_lexicon_path() / "curated.txt"
    first = build_fr_medical(CIM10, tmp_path / "a", curated=curated, samples=200, seed=3)
    build_fr_medical(CIM10, tmp_path / "b", curated=curated, samples=200, seed=3)
    for name in ("words.tsv", "bigrams.tsv", "manifest.json", "CHANGELOG.md"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    # the words do not depend on the sampler: the frozen copy must be up to date
    assert first.sha256 == load_lexicon().sha256, "rerun python lexicon/fr-medical/build.py"
    assert load_lexicon(tmp_path / "a").bigrams.to_tsv() == first.bigrams.to_tsv()


@needs_cim10
@pytest.mark.slow
def test_build_refuses_a_curated_list_missing_sampler_words(tmp_path):
    (tmp_path / "curated.txt").write_text("AVC\t3\n", encoding="utf-8")
    (tmp_path / "CHANGELOG.md").write_text("- 0.1.0 (2026-01-01): test\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="the phrase sampler writes words the lexicon lacks"):
        build_fr_medical(CIM10, None, curated=tmp_path / "curated.txt", samples=50)
    (tmp_path / "curated.txt").write_text("AVC\t3\navc\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="'avc' is listed twice"):
        build_fr_medical(CIM10, None, curated=tmp_path / "curated.txt", samples=50)
    (tmp_path / "curated.txt").write_bytes((packaged_lexicon_path() / "curated.txt").read_bytes())
    packaged = load_lexicon()
    counts = f"[{len(packaged)} words, {len(packaged.acronyms)} acronyms, {packaged.total} tokens]"
    message = (
        f"{tmp_path / 'CHANGELOG.md'}: the last line (version 0.1.0) must end with {counts}, the "
        "counts of this build; when the words changed, append a line for a new version"
    )
    with pytest.raises(LexiconError, match=f"^{re.escape(message)}$"):
        build_fr_medical(CIM10, None, curated=tmp_path / "curated.txt", samples=50)
