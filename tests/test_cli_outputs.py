"""Output folders: underspec replaces only what it wrote; a user's files are never deleted or
moved (issue 22, data loss)."""

from __future__ import annotations

import pytest

from underspec.cli import main


def test_generate_refuses_a_users_file_as_out_and_leaves_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("my notes\n")
    assert main(["generate", "cc", "--sizes", "60,100,40", "--out", "notes.txt"]) == 2
    assert "notes.txt: is a file" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "my notes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # no hidden leftovers


def test_generate_refuses_a_folder_of_other_files_and_replaces_its_own(tmp_path, capsys):
    out = tmp_path / "u"
    out.mkdir()
    (out / "thesis.txt").write_text("years of work\n")
    assert main(["generate", "cc", "--sizes", "60,100,40", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "thesis.txt" in err and "not replaced" in err
    assert sorted(p.name for p in out.iterdir()) == ["thesis.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["u"]
    task = tmp_path / "task"
    assert main(["generate", "cc", "--sizes", "60,100,40", "--out", str(task)]) == 0
    assert main(["generate", "cc", "--sizes", "60,100,40", "--seed", "2", "--out", str(task)]) == 0  # its own
    assert (task / "task.json").exists()


@pytest.mark.parametrize("out", [".", ".."])
def test_the_current_folder_is_never_an_output(tmp_path, monkeypatch, capsys, out):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["generate", "cc", "--sizes", "60,100,40", "--out", out]) == 2
    assert "current folder" in capsys.readouterr().err
    assert list(work.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["work"]
