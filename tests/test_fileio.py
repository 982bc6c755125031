"""The one write path (medocr.fileio): a file appears whole, or not at all."""

import os
import stat

import pytest

from medocr.fileio import (
    atomic_folder,
    atomic_path,
    open_atomic,
    write_atomic,
    write_text_atomic,
)


class InterruptionError(Exception):
    pass


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_write_atomic_writes_and_replaces(tmp_path):
    path = tmp_path / "out.bin"
    write_atomic(path, b"first")
    write_atomic(path, b"second")
    assert path.read_bytes() == b"second"
    assert _names(tmp_path) == ["out.bin"]


def test_write_text_atomic_encodes_without_translating_newlines(tmp_path):
    path = tmp_path / "out.txt"
    write_text_atomic(path, "Œdème\nligne\r\n")
    assert path.read_bytes() == "Œdème\nligne\r\n".encode()


def test_new_files_follow_the_umask_unless_a_mode_is_given(tmp_path):
    previous = os.umask(0o027)
    try:
        write_atomic(tmp_path / "plain", b"x")
        write_atomic(tmp_path / "shared", b"x", file_mode=0o644)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "plain").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "shared").stat().st_mode) == 0o644


def test_an_interrupted_stream_leaves_no_file_and_no_temp_file(tmp_path):
    path = tmp_path / "shard.tfrecord"
    with pytest.raises(InterruptionError), open_atomic(path) as stream:
        stream.write(b"half a rec")
        assert _names(tmp_path) != []  # the temporary file exists meanwhile, hidden
        assert not path.exists()
        raise InterruptionError
    assert _names(tmp_path) == []


def test_an_interrupted_stream_keeps_the_old_file(tmp_path):
    path = tmp_path / "manifest.jsonl"
    path.write_text("old\n")
    with pytest.raises(KeyboardInterrupt), open_atomic(path, "w", encoding="utf-8") as stream:
        stream.write("new, but not finished\n")
        raise KeyboardInterrupt
    assert path.read_text() == "old\n"
    assert _names(tmp_path) == ["manifest.jsonl"]


def test_a_stream_is_published_only_on_commit(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("old\n")
    file = open_atomic(path, "w", encoding="utf-8")
    file.stream.write("é\n")
    file.stream.flush()
    assert path.read_text() == "old\n"  # readers still see the old file, whole
    assert file.tmp.parent == tmp_path and file.tmp.name.startswith(".rows.jsonl.")
    file.commit()
    assert path.read_text(encoding="utf-8") == "é\n"
    assert _names(tmp_path) == ["rows.jsonl"]
    other = open_atomic(tmp_path / "other")
    other.stream.write(b"x")
    other.discard()
    assert _names(tmp_path) == ["rows.jsonl"]


def test_a_failed_write_of_bytes_leaves_nothing(tmp_path):
    with pytest.raises(TypeError):
        write_atomic(tmp_path / "out.json", "text, not bytes")  # type: ignore[arg-type]
    assert _names(tmp_path) == []


def test_open_atomic_refuses_modes_that_are_not_a_new_write(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        open_atomic(tmp_path / "log", "a")
    assert _names(tmp_path) == []


def test_atomic_path_keeps_the_suffix_and_renames_on_success(tmp_path):
    path = tmp_path / "last.keras"
    with atomic_path(path) as staged:
        assert staged.suffix == ".keras" and staged.parent == tmp_path
        assert staged.name.startswith(".last.keras.")
        staged.write_bytes(b"model")
        assert not path.exists()
    assert path.read_bytes() == b"model"
    assert _names(tmp_path) == ["last.keras"]


def test_atomic_path_removes_a_partial_file(tmp_path):
    path = tmp_path / "last.keras"
    path.write_bytes(b"old model")
    with pytest.raises(InterruptionError), atomic_path(path) as staged:
        staged.write_bytes(b"half")
        raise InterruptionError
    assert path.read_bytes() == b"old model"
    assert _names(tmp_path) == ["last.keras"]


def test_atomic_folder_swaps_a_complete_folder_in(tmp_path):
    target = tmp_path / "bundle"
    target.mkdir()
    (target / "old.bin").write_bytes(b"old")
    (tmp_path / ".bundle.tmp").mkdir()  # left by a killed write: cleared first
    (tmp_path / ".bundle.tmp" / "stale").write_bytes(b"")
    with atomic_folder(target) as staging:
        assert _names(staging) == []
        (staging / "new.bin").write_bytes(b"new")
        assert _names(target) == ["old.bin"]  # the old folder is untouched until the swap
    assert _names(target) == ["new.bin"]
    assert _names(tmp_path) == ["bundle"]


def test_an_interrupted_folder_write_keeps_the_old_folder(tmp_path):
    target = tmp_path / "bundle"
    target.mkdir()
    (target / "old.bin").write_bytes(b"old")
    with pytest.raises(InterruptionError), atomic_folder(target) as staging:
        (staging / "new.bin").write_bytes(b"half")
        raise InterruptionError
    assert _names(target) == ["old.bin"]
    assert _names(tmp_path) == ["bundle"]


def test_a_failed_folder_swap_puts_the_old_folder_back(tmp_path, monkeypatch):
    from pathlib import Path

    from medocr.fileio import atomic_folder

    target = tmp_path / "bundle"
    target.mkdir()
    (target / "model").write_text("old")
    rename = Path.rename

    def failing(self, destination):
        if self.name == ".bundle.tmp":
            raise OSError("disk gone")
        return rename(self, destination)

    monkeypatch.setattr(Path, "rename", failing)
    with pytest.raises(OSError, match="disk gone"), atomic_folder(target) as staging:
        (staging / "model").write_text("new")
    monkeypatch.setattr(Path, "rename", rename)
    assert (target / "model").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


def test_a_swap_killed_between_its_renames_is_mended_by_the_next(tmp_path):
    from medocr.fileio import atomic_folder

    old = tmp_path / ".bundle.old"
    old.mkdir()
    (old / "model").write_text("old")  # the target was moved aside, then the process died
    with atomic_folder(tmp_path / "bundle") as staging:
        (staging / "model").write_text("new")
    assert (tmp_path / "bundle" / "model").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]
