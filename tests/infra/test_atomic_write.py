"""Atomic writes: the file appears whole or not at all, and no temp file is left behind."""

import os

import pytest

from infra.files import atomic_write


def test_atomic_write_creates_the_folder_and_replaces_whole(tmp_path):
    path = tmp_path / "a" / "metrics.json"
    atomic_write(path, lambda p: open(p, "w").write("one"))
    atomic_write(path, lambda p: open(p, "w").write("two"))
    assert path.read_text() == "two" and [f.name for f in path.parent.iterdir()] == ["metrics.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "m.json"
    path.write_text("old")

    def broken(p):
        open(p, "w").write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, broken)
    assert path.read_text() == "old" and [f.name for f in tmp_path.iterdir()] == ["m.json"]


def test_the_temp_file_is_hidden_beside_the_target(tmp_path):
    seen = []

    def write(tmp):
        seen.append(tmp)
        open(tmp, "w").write("x")

    atomic_write(str(tmp_path / "sub" / "a.bin"), write)
    folder, name = os.path.split(seen[0])
    assert folder == str(tmp_path / "sub") and name.startswith(".a.bin.tmp-")
