"""Hostile lexicon handling (issue #19): a killed save never bricks a lexicon folder, and
words, characters and counts beyond the limits are refused, naming the word."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap

import pytest

import medocr.lexicon as lexicon_module
from medocr.errors import LexiconError
from medocr.lexicon import (
    MAX_COUNT,
    MAX_WORD_LENGTH,
    WORD_LETTERS,
    BigramModel,
    Lexicon,
    load_lexicon,
    packaged_lexicon_path,
    read_word_list,
)
from medocr.lexicon_cli import run

FILES = ["CHANGELOG.md", "bigrams.tsv", "manifest.json", "words.tsv"]

# A child process that saves a change and is SIGKILLed just before its N-th os.replace:
# every step of a save (staged file, manifest switch, moves into place) gets killed once.
KILLED_SAVE = textwrap.dedent(
    """
    import os, signal, sys
    import medocr.lexicon as lx

    folder, kill_at = sys.argv[1], int(sys.argv[2])
    real_replace, calls = os.replace, [0]

    def replace(src, dst):
        calls[0] += 1
        if calls[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_replace(src, dst)

    lexicon = lx.load_lexicon(folder)
    changed = lexicon.add({"xylophagie": 3, "avc": 2}, note="killed")
    os.replace = replace
    changed.save(folder)
    """
)


def cli(*args):
    return run(["lexicon", *map(str, args)])


def tiny():
    words = {"AVC": 5, "insuffisance": 3, "cardiaque": 2, "décès": 2, "âge": 4}
    base = Lexicon(words, name="tiny", version="1.0.0")
    model = BigramModel.from_texts(["insuffisance cardiaque", "décès", "AVC âge"], base)
    return Lexicon(words, name="tiny", version="1.0.0", bigrams=model)


@pytest.fixture
def folder(tmp_path):
    return tiny().save(tmp_path / "lex")


def snapshot(path):
    return {p.name: p.read_bytes() for p in path.iterdir() if p.is_file()}


# --- a killed or failed save ------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
@pytest.mark.parametrize("kill_at", range(1, 9))
def test_a_killed_save_leaves_a_whole_version(folder, kill_at, capsys):
    before = load_lexicon(folder)
    after = before.add({"xylophagie": 3, "avc": 2}, note="killed")
    child = subprocess.run(
        [sys.executable, "-c", KILLED_SAVE, str(folder), str(kill_at)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode in (0, -signal.SIGKILL), child.stderr
    # the folder is one whole version: the previous one, or the new one once switched
    current = load_lexicon(folder)
    assert current.ref in (before.ref, after.ref)
    expected = before if current.ref == before.ref else after
    assert current.counts == expected.counts and current.version == expected.version
    assert current.changelog == expected.changelog
    assert current.bigrams.to_tsv() == before.bigrams.to_tsv()
    if kill_at == 1:  # killed before anything was switched: the previous version is current
        assert child.returncode == -signal.SIGKILL and current.ref == before.ref
    # no stray file where later commands look, and they all work
    assert {p.name for p in folder.iterdir() if not p.name.startswith(".")} <= set(FILES)
    assert cli("info", folder) == 0
    assert f"tiny {expected.version}" in capsys.readouterr().out
    assert cli("add", folder, "hta") == 0
    capsys.readouterr()
    later = load_lexicon(folder)
    assert later.counts == expected.add(["hta"], note="").counts
    # the next save cleaned up what the killed one left
    assert sorted(p.name for p in folder.iterdir()) == FILES


def test_a_failed_save_keeps_the_previous_version(folder, monkeypatch):
    before = snapshot(folder)
    real_replace = os.replace

    def full_disk(src, dst):
        if str(dst).endswith("manifest.json"):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(LexiconError, match="cannot save the lexicon .No space left on device."):
        load_lexicon(folder).add(["hta"], note="").save(folder)
    monkeypatch.undo()
    assert snapshot(folder) == before and sorted(p.name for p in folder.iterdir()) == FILES
    assert load_lexicon(folder).version == "1.0.0"


def test_the_switch_is_the_manifest_and_staged_files_are_read_until_moved(folder):
    """The state a save killed right after its switch leaves: staged files are read."""
    before = load_lexicon(folder)
    after = before.add(["hta"], note="n")
    files = after._files()
    staging = folder / ".staging"
    staging.mkdir()
    for name, data in files.items():
        (staging / f"{name}.{lexicon_module._sha256(data)}").write_bytes(data)
    manifest = json.dumps(after.manifest(files), ensure_ascii=False, indent=2) + "\n"
    (folder / "manifest.json").write_text(manifest, encoding="utf-8")
    current = load_lexicon(folder)
    assert current.ref == after.ref and current.changelog == after.changelog
    after.add(["idm"], note="").save(folder)
    assert not staging.exists() and load_lexicon(folder).version == "1.0.2"


def test_an_old_flat_folder_and_its_stray_temp_files(folder):
    """Folders written before (no CHANGELOG.md sha, a temp file left by a killed write)."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    del manifest["files"]["CHANGELOG.md"]
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (folder / ".words.tsv.abc123.tmp").write_bytes(b"half a fi")
    assert load_lexicon(folder).version == "1.0.0"
    assert load_lexicon(packaged_lexicon_path()).name == "fr-medical"
    assert cli("add", folder, "hta") == 0
    assert sorted(p.name for p in folder.iterdir()) == FILES


def test_changes_at_once_are_serialised(folder):
    words = ["xylophagie", "hta", "idm", "bpco"]
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "medocr.lexicon_cli", "lexicon", "add", str(folder), word],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for word in words
    ]
    errors = [child.communicate(timeout=120)[1] for child in children]
    assert [child.returncode for child in children] == [0] * len(words), errors
    lexicon = load_lexicon(folder)
    assert lexicon.version == "1.0.4" and all(word in lexicon for word in words)
    versions = [ln[2:7] for ln in lexicon.changelog.splitlines() if ln.startswith("- ")]
    assert versions == ["1.0.1", "1.0.2", "1.0.3", "1.0.4"]
    assert sorted(p.name for p in folder.iterdir()) == FILES


def test_a_copy_killed_before_its_switch_can_be_made_again(tmp_path, capsys):
    dest = tmp_path / "copy"
    (dest / ".staging").mkdir(parents=True)
    (dest / ".staging" / "words.tsv.0123").write_bytes(b"half")
    assert cli("copy", "fr-medical", dest) == 0
    assert sorted(p.name for p in dest.iterdir()) == FILES
    assert load_lexicon(dest).ref == load_lexicon().ref


def test_a_lexicon_loaded_before_a_save_keeps_its_bigrams(folder):
    old = load_lexicon(folder)
    tiny().add(["hta"], note="").save(folder)  # bigrams.tsv unchanged, words.tsv replaced
    Lexicon(["hta"], name="tiny").save(folder)  # no bigram model: bigrams.tsv removed
    assert not (folder / "bigrams.tsv").exists()
    assert old.bigrams.to_tsv() == tiny().bigrams.to_tsv()


# --- words, characters and counts beyond the limits ---------------------------------------------


def test_a_word_longer_than_the_limit_is_refused(folder, tmp_path, capsys):
    longest = "a" * MAX_WORD_LENGTH
    assert longest in Lexicon([longest], name="x")
    hostile = "a" * 10_000
    message = f"'{'a' * 32}…' has 10000 characters; a word has at most {MAX_WORD_LENGTH}"
    with pytest.raises(LexiconError, match=f"^{message}$"):
        tiny().add([hostile], note="")
    with pytest.raises(LexiconError, match=f"^{message}$"):
        Lexicon([hostile], name="x")
    words = tmp_path / "long.txt"
    words.write_text(f"avc\n{hostile}\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=f"^{words}:2: {message}$"):
        read_word_list(words)
    before = snapshot(folder)
    assert cli("add", folder, hostile) == 2
    err = capsys.readouterr().err
    assert message in err and len(err) < 200
    assert cli("import", folder, words) == 2
    assert f"{words}:2: {message}" in capsys.readouterr().err
    assert snapshot(folder) == before


def test_many_words_in_one_are_shown_short(folder, capsys):
    with pytest.raises(LexiconError) as error:
        tiny().add(["a-" * 5000], note="")
    assert "is not one word (medocr reads 'a', 'a', 'a', 'a', 'a', …)" in str(error.value)
    assert len(str(error.value)) < 200
    with pytest.raises(LexiconError, match=f"^not in the tiny lexicon: '{'z' * 32}…'$"):
        tiny().remove(["z" * 10_000], note="")
    assert cli("remove", folder, "z" * 10_000, "avc") == 1
    err = capsys.readouterr().err
    assert f"'{'z' * 32}…' is not in the lexicon (skipped)" in err and len(err) < 200


@pytest.mark.parametrize(
    ("word", "char", "name"),
    [
        ("грипп", "г", "U+0433 CYRILLIC SMALL LETTER GHE"),
        ("pneumonieα", "α", "U+03B1 GREEK SMALL LETTER ALPHA"),
        ("肺炎", "肺", "U+80BA CJK UNIFIED IDEOGRAPH-80BA"),
        ("ǅa", "ǅ", "U+01C5 LATIN CAPITAL LETTER D WITH SMALL LETTER Z WITH CARON"),
        ("haÿ", "ÿ", "U+00FF LATIN SMALL LETTER Y WITH DIAERESIS"),
        ("ȩ", "ȩ", "U+0229 LATIN SMALL LETTER E WITH CEDILLA"),  # e + combining cedilla
    ],
)
def test_a_letter_no_recognizer_writes_is_refused(word, char, name, tmp_path, folder, capsys):
    written = "e\u0327" if word == "ȩ" else word
    message = f"{word!r} has the character {char!r} ({name}), which medocr's recognizers do not"
    with pytest.raises(LexiconError, match=f"^{re.escape(message)}"):
        tiny().add([written], note="")
    words = tmp_path / "words.tsv"
    words.write_text(f"# mots\navc\t2\n{written}\t1\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=f"^{re.escape(f'{words}:3: {message}')}"):
        read_word_list(words)
    before = snapshot(folder)
    assert cli("import", folder, words) == 2
    assert f"{words}:3: {message}" in capsys.readouterr().err
    assert snapshot(folder) == before


def test_the_letters_are_those_the_shipped_recognizer_writes():
    meta = packaged_lexicon_path().parents[1] / "models" / "fr-crnn-small" / "meta.json"
    if not meta.is_file():
        pytest.skip("the shipped recognizer is not installed")
    alphabet = set(json.loads(meta.read_text(encoding="utf-8"))["alphabet"]["chars"])
    assert {c.lower() for c in WORD_LETTERS} <= alphabet
    shipped = load_lexicon()
    assert set("".join(shipped)) <= WORD_LETTERS
    assert max(map(len, shipped)) <= MAX_WORD_LENGTH
    Lexicon(shipped.counts, name="again")  # every shipped word passes the limits


@pytest.mark.parametrize(
    ("count", "text"),
    [(MAX_COUNT + 1, "1000000000001"), (10**23, "1" + "0" * 23), (10**5000, "1" + "0" * 5000)],
    ids=["max+1", "1e23", "1e5000"],
)
def test_a_count_beyond_the_limit_is_refused(count, text, tmp_path, folder, capsys):
    with pytest.raises(LexiconError, match=f"is more than {MAX_COUNT}, the largest count"):
        tiny().add({"avc": count}, note="")
    with pytest.raises(LexiconError, match=f"is more than {MAX_COUNT}, the largest count"):
        Lexicon({"avc": count}, name="x")
    words = tmp_path / "counts.csv"
    words.write_text(f"word,count\navc,1\nhta,{text}\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=f"^{words}:3: count .* of 'hta' is more than"):
        read_word_list(words)
    before = snapshot(folder)
    assert cli("import", folder, words) == 2
    assert "is more than" in capsys.readouterr().err
    if len(text) < 30:
        assert cli("add", folder, "hta", "--count", text) == 2
        assert f"--count must be at most {MAX_COUNT}" in capsys.readouterr().err
    else:  # refused by the parser, shortly
        with pytest.raises(SystemExit) as stop:
            cli("add", folder, "hta", "--count", text)
        err = capsys.readouterr().err
        assert stop.value.code == 2 and "not an integer count" in err and len(err) < 1000
    assert snapshot(folder) == before


def test_counts_that_add_up_beyond_the_limit_are_refused(tmp_path):
    assert tiny().add({"hta": MAX_COUNT}, note="").counts["hta"] == MAX_COUNT
    with pytest.raises(LexiconError, match="the count of 'AVC' would be 1000000000005, more"):
        tiny().add({"avc": MAX_COUNT}, note="")
    with pytest.raises(LexiconError, match="the count of 'AVC' would be"):
        tiny().merge({"avc": MAX_COUNT}, note="")
    with pytest.raises(LexiconError, match="the count of 'avc' would be"):
        Lexicon({"avc": MAX_COUNT, "AVC": MAX_COUNT}, name="x")
    words = tmp_path / "twice.txt"
    words.write_text(f"avc,{MAX_COUNT}\navc,1\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=f"^{words}:2: the count of 'avc' would be"):
        read_word_list(words)


def test_a_saved_folder_beyond_the_limits_still_loads_and_can_be_mended(folder):
    """Folders saved before the limits keep working; the bad word can be removed."""
    odd = "ω" * 100
    words = f"{odd}\t{10**20}\n".encode() + (folder / "words.tsv").read_bytes()
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    sha = lexicon_module._sha256(words)
    manifest["files"]["words.tsv"] = {"sha256": sha, "bytes": len(words)}
    manifest["sha256"] = sha
    (folder / "words.tsv").write_bytes(words)
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    lexicon = load_lexicon(folder)
    assert lexicon.counts[odd] == 10**20
    assert cli("add", folder, "hta") == 0
    assert cli("remove", folder, odd) == 0
    assert odd not in load_lexicon(folder) and "hta" in load_lexicon(folder)


# --- an import or add that changes nothing -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no words to import"),
        ("# only a comment\n\n   \n", "no words to import"),
        ("word,count\n", "no words to import"),
        ("avc,0\nDÉCÈS,0\n", "nothing to import"),
    ],
)
def test_an_import_that_adds_nothing_makes_no_version(text, reason, folder, tmp_path, capsys):
    words = tmp_path / "empty.csv"
    words.write_text(text, encoding="utf-8")
    before = snapshot(folder)
    assert cli("import", folder, words) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"lexicon import: {words}: {reason}")
    assert captured.err.endswith(f"; {folder} is unchanged (still 1.0.0)\n")
    assert snapshot(folder) == before


def test_a_change_of_nothing_makes_no_version(folder, capsys):
    before = snapshot(folder)
    assert cli("add", folder, "avc", "Décès", "--count", "0") == 1
    assert "nothing to add" in capsys.readouterr().err
    assert snapshot(folder) == before
    with pytest.raises(LexiconError, match="^nothing to merge: the words given has no words$"):
        tiny().merge({}, note="")
    with pytest.raises(LexiconError, match=r"^nothing to merge: every word of other@0\.0\.0\+"):
        tiny().merge(Lexicon({"âge": 0}, name="other"), note="")
    assert tiny().add({"hta": 0}, note="").counts["hta"] == 0  # a new word is a change


# --- the command on its own ----------------------------------------------------------------------


def test_the_module_ends_quietly_on_a_closed_stdout():
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        out = subprocess.run(
            [sys.executable, "-m", "medocr.lexicon_cli", "lexicon", "info"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr, out.stderr
    assert out.returncode == 141
