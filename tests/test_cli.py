import json
import subprocess
import sys

import numpy as np

from underspec.cli import main


def test_generate_then_solve_with_answers_and_command_oracle(tmp_path, capsys):
    task = tmp_path / "t"
    assert main(["generate", "toy", "--out", str(task), "--seed", "1", "--sizes", "60,120,60"]) == 0
    script = tmp_path / "labeler.py"
    script.write_text("import sys, numpy as np\n"
                      f"print(np.load({str(task / 'answers' / 'y_val.npy')!r})[int(sys.argv[-1])])\n")
    code = main(["solve", str(task), "--budget", "3", "--quiet", "--oracle",
                 f'command:"{sys.executable}" {script}', "--out", str(tmp_path / "p.csv"),
                 "--json", str(tmp_path / "s.json"), "--report", str(tmp_path / "r.html")])
    assert code == 0
    out = capsys.readouterr().out
    assert "labels used" in out
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 60
    html = (tmp_path / "r.html").read_text()
    assert "<img" in html and "The hypotheses disagree on" in html


def test_solve_edits_the_labels_only_when_asked(tmp_path):
    task = tmp_path / "t"
    assert main(["generate", "toy", "--out", str(task), "--seed", "1", "--sizes", "60,120,60"]) == 0
    y = np.load(task / "y_labeled.npy")
    y[:2] = 1 - y[:2]  # two wrong labels among clean ones
    np.save(task / "y_labeled.npy", y)
    answers = f"answers:{task / 'answers' / 'y_val.npy'}"
    for flag in ([], ["--edit-labels"]):
        assert main(["solve", str(task), "--budget", "0", "--quiet", "--oracle", answers, *flag,
                     "--out", str(tmp_path / "p.csv"), "--json", str(tmp_path / "s.json")]) == 0
        editing = json.loads((tmp_path / "s.json").read_text())["label_editing"]
        if flag:
            assert {0, 1} <= set(editing["rows"])
        else:
            assert editing is None


def test_cli_errors_exit_2_without_output(tmp_path, capsys):
    out = tmp_path / "p.csv"
    assert main(["solve", str(tmp_path / "missing"), "--oracle", "prompt", "--out", str(out)]) == 2
    assert "not a directory" in capsys.readouterr().err
    task = tmp_path / "t"
    main(["generate", "toy", "--out", str(task), "--sizes", "30,60,30"])
    assert main(["solve", str(task), "--oracle", "bogus", "--out", str(out)]) == 2
    assert "--oracle" in capsys.readouterr().err
    assert main(["solve", str(task), "--oracle", "answers:x.npy", "--budget", "-1", "--out", str(out)]) == 2
    assert "--budget" in capsys.readouterr().err
    assert main(["generate", "cc", "--out", str(tmp_path / "x"), "--sizes", "1,2"]) == 2
    assert not out.exists() and not (tmp_path / "x").exists()
    np.save(task / "y_labeled.npy", np.zeros(3, dtype=np.int64))
    assert main(["solve", str(task), "--oracle", "prompt", "--out", str(out)]) == 2
    assert "y_labeled.npy has 3" in capsys.readouterr().err


def test_python_dash_m_help_is_fast():
    done = subprocess.run([sys.executable, "-m", "underspec", "--help"], capture_output=True, text=True,
                          check=True)
    assert "generate" in done.stdout and "solve" in done.stdout
    probe = subprocess.run([sys.executable, "-X", "importtime", "-c", "import underspec.cli"],
                           capture_output=True, text=True, check=True)
    assert "torch" not in probe.stderr


def test_prompt_oracle_reads_a_person(tmp_path):
    import io

    from underspec.oracles import PromptOracle

    X = np.random.default_rng(0).normal(size=(3, 1, 8, 16)).astype(np.float32)
    out = io.StringIO()
    oracle = PromptOracle(X, np.array([0, 1]), tmp_path, stdin=io.StringIO("x\n1\n"), stdout=out)
    assert oracle.reveal(2) == 1
    assert (tmp_path / "target_2.png").exists() and "expected one of 0, 1" in out.getvalue()


def test_prompt_oracle_leaves_no_queries_folder(tmp_path, monkeypatch):
    import io

    from underspec.oracles import PromptOracle

    monkeypatch.chdir(tmp_path)
    X = np.random.default_rng(0).normal(size=(3, 1, 8, 16)).astype(np.float32)
    oracle = PromptOracle(X, np.array([0, 1]), stdin=io.StringIO("0\n"), stdout=io.StringIO())
    assert oracle.reveal(1) == 0 and (oracle.folder / "target_1.png").exists()
    oracle.close()
    assert not oracle.folder.exists() and list(tmp_path.iterdir()) == []


def test_demo_end_to_end_tiny(tmp_path):
    from underspec.pipelines.demo import run_demo

    lines = []
    rows = run_demo(tmp_path, tasks=("toy", "constant_image"), sizes=(60, 180, 60), echo=lines.append)
    assert [r["task"] for r in rows] == ["00_toy", "02_constant_image"]
    for r in rows:
        assert r["decision"] in ("submit", "abstain") and 0 <= r["labels"] <= 5
        assert 0.0 <= float(r["underspec"]) <= 1.0
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64") >= 2 and "02_constant_image" in html
    # each query says what for
    assert html.count("(check)") + html.count("(tell apart)") == sum(r["labels"] for r in rows)
    assert (tmp_path / "predictions" / "00_toy.csv").exists()


def test_failing_command_oracle_is_a_clear_error():
    import pytest

    from underspec.errors import UnderspecError
    from underspec.oracles import CommandOracle

    with pytest.raises(UnderspecError, match="exited with 1"):
        CommandOracle("false").reveal(0)
    with pytest.raises(UnderspecError, match="expected an integer label"):
        CommandOracle("echo cat").reveal(0)


def test_solve_submit_without_the_leaderboard_names_the_oracle_to_give(tiny_task_dir, tmp_path, capsys):
    code = main(["solve", str(tiny_task_dir), "--oracle", f"answers:{tiny_task_dir}/answers/y_val.npy",
                 "--out", str(tmp_path / "p.csv"), "--submit"])
    assert code == 2 and not (tmp_path / "p.csv").exists()
    assert "--oracle http://HOST:PORT)" in capsys.readouterr().err


def test_the_library_speaks_of_fields_and_only_the_cli_of_flags():
    """Messages of the library name fields (``mix_rate: ...``); the command line turns them into
    flags (``--mix-rate: ...``). A flag written into a library message would be wrong for a
    Python caller."""
    import re
    from pathlib import Path

    import underspec

    root = Path(underspec.__file__).parent
    flagged = []
    for path in root.rglob("*.py"):
        if path.parts[-2] == "commands" or path.name in ("cli.py", "arguments.py", "train_classifieur.py"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "help=" not in line and "``" not in line and re.search(r"[\"'][^\"']*\s--[a-z][a-z-]+", line):
                flagged.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert flagged == []


def test_a_field_message_is_told_with_its_flag(capsys, tmp_path):
    from underspec.cli import main

    assert main(["generate", "cc", "--out", str(tmp_path / "t"), "--sizes", "1,2"]) == 2
    assert "--sizes: expected 3 comma-separated integers" in capsys.readouterr().err
    folder = tmp_path / "imgs" / "cat"
    folder.mkdir(parents=True)
    (folder / "bad.png").write_text("not an image")
    assert main(["audit", str(tmp_path / "imgs"), "--out", str(tmp_path / "a")]) == 2
    assert "or leave them out with --skip-bad" in capsys.readouterr().err
    (tmp_path / "f").write_text("a file")
    assert main(["audit", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "f")]) == 2
    assert f"argument --out: {tmp_path / 'f'}: is a file, not a folder" in capsys.readouterr().err
