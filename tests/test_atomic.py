"""Outputs appear whole or not at all: files through a temporary name, folders likewise."""

from __future__ import annotations

import pytest

from underspec.errors import OUTPUT_MARK, atomic_dir, atomic_path, write_text_atomic


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.csv"
    write_text_atomic(target, "old\n")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash while writing")
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_a_folder_is_replaced_whole_or_kept(tmp_path):
    target = tmp_path / "pool"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("first")
        assert not target.exists()  # nothing visible before the end
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "b.txt").write_text("second")
        raise RuntimeError("crash while exporting")
    assert sorted(p.name for p in target.iterdir()) == [OUTPUT_MARK, "a.txt"]
    with atomic_dir(target) as tmp:
        (tmp / "c.txt").write_text("third")
    assert sorted(p.name for p in target.iterdir()) == [OUTPUT_MARK, "c.txt"]  # the old folder's files are gone
    assert [p.name for p in tmp_path.iterdir()] == ["pool"]  # no temporary or old folder left
