"""The command line against hostile input (issue 22): every verb, about sixty bad inputs.

For each: exit code 2, a one-line message that names the file or field, no traceback, and the
working folder exactly as before (no output, no half-written output, no user file touched).
Then the properties behind them (any bytes as an array file, any text as a number), Ctrl-C in
the multi-file verbs, and the silent wrong results that now are errors.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits

from underspec.cli import main
from underspec.errors import UnderspecError

ANSWERS = "answers:T/answers/y_val.npy"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """A folder with a task, image sets, a trained run, an audit and a selection (about 10 s)."""
    root = tmp_path_factory.mktemp("world")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        d = load_digits()
        x = (d.images[:300] / 16).astype(np.float32)
        y = d.target[:300] % 3
        sex = np.array(["f", "m"])[np.arange(300) % 2]
        np.savez("full.npz", x=x, y=y, sex=sex)
        np.savez("d.npz", x=x, y=np.where(np.arange(300) < 200, y, -1), sex=sex)
        np.savez("bin.npz", x=x, y=y % 2, sex=sex)
        assert main(["generate", "cc", "--sizes", "60,120,40", "--out", "T"]) == 0
        assert main(["train", "full.npz", "--epochs", "1", "--out", "R"]) == 0
        assert main(["train", "bin.npz", "--epochs", "1", "--out", "R2"]) == 0
        assert (
            main(["audit", "full.npz", "--checks", "label_issues", "--model", "logistic", "--folds", "2", "--out", "A"])
            == 0
        )
        assert main(["label", "select", "d.npz", "--budget", "30", "--embedding", "pixels", "--out", "S"]) == 0
        assert main(["predict", "full.npz", "--run", "R", "--out", "p.csv"]) == 0
        assert main(["admin", "--db", "board.db", "init", "x"]) == 0
    finally:
        os.chdir(cwd)
    return root


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder`` with a hash of its content."""
    out = {}
    for path in sorted(folder.rglob("*")):
        key = path.relative_to(folder).as_posix()
        out[key] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def write(name: str, content: str | bytes):
    def prepare():
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            Path(name).write_bytes(content)
        else:
            Path(name).write_text(content)

    return prepare


def save(name: str, array: np.ndarray):
    return lambda: np.save(name, array, allow_pickle=True)


def savez(name: str, **arrays):
    return lambda: np.savez(name, **arrays)


def copy_then(source: str, target: str, *changes):
    def prepare():
        shutil.copytree(source, target)
        for change in changes:
            change()

    return prepare


def edit_json(path: str, **fields):
    def prepare():
        document = json.loads(Path(path).read_text())
        document.update(fields)
        Path(path).write_text(json.dumps(document))

    return prepare


def nan_images(n: int = 60, value: float = np.nan) -> np.ndarray:
    x = np.full((n, 8, 8), 0.5, np.float32)
    x[3, 2, 2] = value
    return x


# (id, preparation run in the copied world, argv, text the message must contain)
CASES = [
    # output paths: a folder, a file, under a file; refused before any work
    ("solve-out-is-folder", None, ["solve", "T", "--oracle", ANSWERS, "--out", "T"], "--out: T: is a folder"),
    ("solve-out-under-file", None, ["solve", "T", "--oracle", ANSWERS, "--out", "d.npz/p.csv"], "d.npz is a file"),
    (
        "solve-json-is-folder",
        None,
        ["solve", "T", "--oracle", ANSWERS, "--out", "p2.csv", "--json", "T"],
        "--json: T: is a folder",
    ),
    ("train-out-is-file", None, ["train", "full.npz", "--out", "d.npz"], "d.npz: is a file"),
    ("audit-out-is-file", None, ["audit", "full.npz", "--out", "p.csv"], "p.csv: is a file"),
    ("audit-out-users-folder", write("mine/thesis.txt", "years"), ["audit", "full.npz", "--out", "mine"], "thesis.txt"),
    (
        "select-out-under-file",
        None,
        ["label", "select", "d.npz", "--budget", "5", "--out", "d.npz/x"],
        "d.npz is a file",
    ),
    ("predict-out-is-folder", None, ["predict", "full.npz", "--run", "R", "--out", "R"], "R: is a folder"),
    ("evaluate-out-is-file", None, ["evaluate", "p.csv", "full.npz", "--out", "d.npz"], "d.npz: is a file"),
    (
        "aggregate-out-is-folder",
        write("ans.csv", "task,worker,label\na,w,1\n"),
        ["label", "aggregate", "ans.csv", "--out", "T"],
        "T: is a folder",
    ),
    ("demo-out-is-current", None, ["demo", "--out", "."], "current folder"),
    (
        "suite-out-users-folder",
        write("mine/notes.txt", "x"),
        ["generate", "--suite", "hackathon", "--sizes", "60,120,40", "--out", "mine"],
        "notes.txt",
    ),
    # unreadable or wrongly typed input files
    (
        "xval-empty-file",
        copy_then("T", "T2", write("T2/X_val.npy", b"")),
        ["solve", "T2", "--oracle", ANSWERS, "--out", "p2.csv"],
        "X_val.npy: not a readable .npy file",
    ),
    (
        "xval-is-folder",
        copy_then("T", "T2", lambda: os.remove("T2/X_val.npy"), lambda: os.mkdir("T2/X_val.npy")),
        ["solve", "T2", "--oracle", ANSWERS, "--out", "p2.csv"],
        "X_val.npy: is a folder",
    ),
    (
        "xval-text",
        copy_then("T", "T2", write("T2/X_val.npy", "1,2,3\n")),
        ["solve", "T2", "--oracle", ANSWERS, "--out", "p2.csv"],
        "X_val.npy: not a readable .npy file",
    ),
    (
        "xval-object",
        copy_then("T", "T2", save("T2/X_val.npy", np.array([None] * 40, dtype=object))),
        ["solve", "T2", "--oracle", ANSWERS, "--out", "p2.csv"],
        "X_val.npy",
    ),
    (
        "task-classes-text",
        copy_then("T", "T2", edit_json("T2/task.json", classes=["a", "b"])),
        ["solve", "T2", "--oracle", ANSWERS, "--out", "p2.csv"],
        "field 'classes'",
    ),
    (
        "task-json-corrupt",
        copy_then("T", "T2", write("T2/task.json", "{nope")),
        ["solve", "T2", "--oracle", ANSWERS, "--out", "p2.csv"],
        "task.json: not valid JSON",
    ),
    (
        "single-class",
        copy_then("T", "T2", save("T2/y_labeled.npy", np.zeros(60, np.int64))),
        ["solve", "T2", "--oracle", ANSWERS, "--out", "p2.csv"],
        "y_labeled.npy: a single class",
    ),
    ("npz-corrupt", write("c.npz", b"PK\x03\x04garbage"), ["audit", "c.npz", "--out", "o"], "c.npz: not a readable"),
    ("npz-empty", write("c.npz", b""), ["train", "c.npz", "--out", "o"], "c.npz: not a readable"),
    (
        "npz-text",
        write("c.npz", "hello"),
        ["label", "select", "c.npz", "--budget", "1", "--out", "o"],
        "c.npz: not a readable",
    ),
    (
        "npz-object",
        savez("c.npz", x=np.array([None] * 3, dtype=object), y=np.array([0, 1, 0])),
        ["train", "c.npz", "--out", "o"],
        "c.npz",
    ),
    ("npz-is-a-npy", save("c.npz", np.zeros((3, 8, 8))), ["train", "c.npz", "--out", "o"], "c.npz"),
    (
        "npz-column-wrong-length",
        savez("c.npz", x=np.zeros((30, 8, 8)), y=np.arange(30) % 2, sex=np.zeros(7)),
        ["audit", "c.npz", "--groups", "sex", "--out", "o"],
        "array 'sex': shape (7,)",
    ),
    (
        "npz-label-minus-two",
        savez("c.npz", x=np.zeros((30, 8, 8)), y=np.where(np.arange(30) == 5, -2, np.arange(30) % 2)),
        ["train", "c.npz", "--out", "o"],
        "label -2",
    ),
    (
        "nan-pixels-audit",
        savez("n.npz", x=nan_images(), y=np.arange(60) % 2),
        ["audit", "n.npz", "--out", "o"],
        "n.npz, array 'x': NaN or infinite value in row 3",
    ),
    (
        "inf-pixels-select",
        savez("n.npz", x=nan_images(value=np.inf), y=np.where(np.arange(60) < 20, np.arange(60) % 2, -1)),
        ["label", "select", "n.npz", "--budget", "5", "--out", "o"],
        "NaN or infinite",
    ),
    (
        "nan-pixels-train",
        savez("n.npz", x=nan_images(), y=np.arange(60) % 2),
        ["train", "n.npz", "--out", "o"],
        "NaN or infinite",
    ),
    (
        "mnist-corrupt",
        write("mnist.npz", b"xx"),
        ["generate", "cc", "--source", "mnist", "--data", "mnist.npz", "--out", "o"],
        "mnist.npz: not a readable",
    ),
    (
        "model-corrupt",
        copy_then("R", "R3", write("R3/model.pt", b"junk")),
        ["predict", "full.npz", "--run", "R3", "--out", "q.csv"],
        "R3/model.pt: not a readable weights file",
    ),
    (
        "init-corrupt",
        write("init.pt", b"junk"),
        ["train", "full.npz", "--init", "init.pt", "--out", "o"],
        "init.pt: not a readable weights file",
    ),
    ("init-missing", None, ["train", "full.npz", "--init", "nope.pt", "--out", "o"], "nope.pt: no such file"),
    (
        "selection-corrupt",
        copy_then("S", "S2", write("S2/selection.csv", 'a,b\n1\n"')),
        ["label", "export", "S2", "--out", "o"],
        "S2/selection.csv",
    ),
    (
        "selection-json-corrupt",
        copy_then("S", "S2", write("S2/selection.json", "[1, 2")),
        ["label", "export", "S2", "--out", "o"],
        "S2/selection.json: not valid JSON",
    ),
    (
        "labels-csv-outside",
        write("f/labels.csv", "path,label\n../d.npz,0\n"),
        ["audit", "f", "--out", "o"],
        "is outside f",
    ),
    (
        "labels-csv-twice",
        lambda: (write("f/a.png", b"x")(), write("f/labels.csv", "path,label\na.png,0\na.png,1\n")()),
        ["audit", "f", "--out", "o"],
        "'a.png' is listed twice",
    ),
    (
        "features-corrupt",
        write("feat.npy", b"\x93NUMPY junk"),
        ["audit", "full.npz", "--model", "logistic", "--features", "feat.npy", "--out", "o"],
        "feat.npy",
    ),
    # the answers oracle: checked when made, before any training, even with nothing to buy
    (
        "answers-folder",
        lambda: os.mkdir("adir"),
        ["solve", "T", "--oracle", "answers:adir", "--out", "p2.csv"],
        "adir: is a folder",
    ),
    (
        "answers-object",
        save("ao.npy", np.array([None] * 40, dtype=object)),
        ["solve", "T", "--oracle", "answers:ao.npy", "--out", "p2.csv"],
        "ao.npy: not a readable",
    ),
    (
        "answers-nan",
        save("an.npy", np.full(40, np.nan)),
        ["solve", "T", "--oracle", "answers:an.npy", "--out", "p2.csv"],
        "an.npy: NaN",
    ),
    (
        "answers-float",
        save("af.npy", np.full(40, 0.7)),
        ["solve", "T", "--oracle", "answers:af.npy", "--out", "p2.csv"],
        "af.npy: 0.7 in row 0",
    ),
    (
        "answers-missing-budget-0",
        None,
        ["solve", "T", "--oracle", "answers:nope.npy", "--budget", "0", "--out", "p2.csv"],
        "nope.npy: no such file",
    ),
    (
        "answers-short",
        save("as.npy", np.zeros(10, np.int64)),
        ["solve", "T", "--oracle", "answers:as.npy", "--out", "p2.csv"],
        "as.npy: shape (10,)",
    ),
    (
        "answers-other-class",
        save("a9.npy", np.full(40, 9)),
        ["solve", "T", "--oracle", "answers:a9.npy", "--out", "p2.csv"],
        "label 9 is not a class",
    ),
    # numbers out of range: refused when the command line is read
    ("epochs-nan", None, ["train", "full.npz", "--epochs", "nan", "--out", "o"], "--epochs: expected a number > 0"),
    ("epochs-zero", None, ["train", "full.npz", "--epochs", "0", "--out", "o"], "--epochs"),
    ("epochs-negative", None, ["audit", "full.npz", "--epochs", "-1", "--out", "o"], "--epochs"),
    ("batch-size-zero", None, ["train", "full.npz", "--batch-size", "0", "--out", "o"], "--batch-size"),
    ("lr-negative", None, ["train", "full.npz", "--lr", "-1", "--out", "o"], "--lr"),
    ("bootstrap-negative", None, ["evaluate", "p.csv", "full.npz", "--bootstrap", "-5", "--out", "o"], "--bootstrap"),
    ("oracle-items-negative", None, ["generate", "cc", "--oracle-items", "-3", "--out", "o"], "--oracle-items"),
    ("sizes-negative", None, ["generate", "cc", "--sizes", "-5,10,10", "--out", "o"], "--sizes"),
    ("sizes-too-large", None, ["generate", "cc", "--sizes", "60,100000,40", "--out", "o"], "--sizes"),
    ("sizes-text", None, ["demo", "--sizes", "a,b,c", "--out", "o"], "--sizes"),
    ("classes-twice", None, ["generate", "cc", "--classes", "3,3", "--out", "o"], "--classes"),
    (
        "agreement-two",
        None,
        ["label", "select", "d.npz", "--budget", "5", "--agreement", "2", "--out", "o"],
        "--agreement",
    ),
    (
        "confidence-negative",
        None,
        ["label", "select", "d.npz", "--budget", "5", "--confidence", "-1", "--out", "o"],
        "--confidence",
    ),
    ("budget-too-large", None, ["label", "select", "d.npz", "--budget", "500", "--out", "o"], "--budget 500"),
    (
        "min-accuracy-two",
        write("ans.csv", "task,worker,label\na,w,1\n"),
        ["label", "aggregate", "ans.csv", "--min-accuracy", "2", "--out", "l.csv"],
        "--min-accuracy",
    ),
    (
        "min-seconds-negative",
        write("ans.csv", "task,worker,label\na,w,1\n"),
        ["label", "aggregate", "ans.csv", "--min-seconds", "-1", "--out", "l.csv"],
        "--min-seconds",
    ),
    (
        "min-confidence-two",
        None,
        ["label", "propagate", "d.npz", "--selection", "S", "--labels", "l.csv", "--min-confidence", "2", "--out", "o"],
        "--min-confidence",
    ),
    ("port-too-large", None, ["serve", "--port", "99999"], "--port"),
    ("training-negative", None, ["label", "export", "S", "--training", "-5", "--out", "o"], "--training"),
    (
        "workers-zero",
        None,
        ["label", "run", "full.npz", "--known", "60", "--budget", "30", "--workers", "0", "--out", "o"],
        "--workers",
    ),
    (
        "known-budget-too-large",
        None,
        ["label", "run", "full.npz", "--known", "200", "--budget", "500", "--out", "o"],
        "--budget 500: expected at most 100",
    ),
    ("points-nan", None, ["admin", "--db", "board.db", "add-exercise", "T", "--points", "nan"], "--points"),
    ("seed-negative", None, ["solve", "T", "--oracle", ANSWERS, "--seed", "-1", "--out", "p2.csv"], "--seed"),
    # results of other data, and data that do not fit
    (
        "drop-issues-other-data",
        savez("o.npz", x=np.zeros((50, 8, 8), np.float32), y=np.arange(50) % 2),
        ["train", "o.npz", "--drop-issues", "A/findings.json", "--out", "o"],
        "A/findings.json: computed on other data",
    ),
    (
        "relabel-issues-other-data",
        savez("o.npz", x=np.zeros((300, 8, 8), np.float32), y=np.arange(300) % 3),
        ["train", "o.npz", "--relabel-issues", "A/findings.json", "--out", "o"],
        "computed on other data",
    ),
    (
        "ood-other-data",
        savez("o.npz", x=np.zeros((50, 8, 8), np.float32), y=np.arange(50) % 2),
        ["train", "o.npz", "--ood", "A/findings.json", "--out", "o"],
        "computed on other data",
    ),
    (
        "export-other-data",
        savez("o.npz", x=np.ones((300, 8, 8), np.float32), y=np.where(np.arange(300) < 200, np.arange(300) % 2, -1)),
        ["label", "export", "S", "--data", "o.npz", "--out", "o"],
        "computed on other data",
    ),
    (
        "evaluate-partial",
        lambda: Path("p50.csv").write_text("".join(Path("p.csv").read_text().splitlines(True)[:51])),
        ["evaluate", "p50.csv", "full.npz", "--out", "o"],
        "predictions for 50 of the 300 labeled items",
    ),
    (
        "postprocess-positive-unknown",
        None,
        ["postprocess", "bin.npz", "--run", "R2", "--groups", "sex", "--positive", "9"],
        "--positive '9': not one of the classes",
    ),
    (
        "propagate-duplicate-tasks",
        write("l.csv", "task,label,confidence\n200,1,0.9\n200,2,0.8\n"),
        ["label", "propagate", "d.npz", "--selection", "S", "--labels", "l.csv", "--no-train", "--out", "o"],
        "'200' appears twice",
    ),
    (
        "answers-header-only",
        write("ans.csv", "task,worker,label\n"),
        ["label", "aggregate", "ans.csv", "--out", "l.csv"],
        "no answers (a header only)",
    ),
    (
        "gold-twice",
        lambda: (
            write("ans.csv", "task,worker,label\n7,w,1\n7,v,1\n")(),
            write("gold.csv", "task,label\n7,1\n7,0\n")(),
        ),
        ["label", "aggregate", "ans.csv", "--gold", "gold.csv", "--out", "l.csv"],
        "'7' appears twice",
    ),
    # the leaderboard's database
    ("db-is-folder", lambda: os.mkdir("dbdir"), ["admin", "--db", "dbdir", "init", "x"], "dbdir: is a folder"),
    (
        "db-corrupt",
        write("bad.db", b"not sqlite at all" * 100),
        ["admin", "--db", "bad.db", "init", "x"],
        "cannot open the leaderboard database",
    ),
    ("approve-unknown-team", None, ["admin", "--db", "board.db", "approve", "other-team"], "no such team"),
]


@pytest.mark.parametrize("prepare, argv, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_exit_2_one_line_nothing_written(world, tmp_path, monkeypatch, capsys, prepare, argv, fragment):
    work = tmp_path / "w"
    shutil.copytree(world, work)
    monkeypatch.chdir(work)
    if prepare:
        prepare()
    before = snapshot(work)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [
        line
        for line in err.splitlines()  # progress bars and one-line warnings aside
        if line.strip() and "%|" not in line and not line.startswith("underspec: warning: ")
    ]
    assert len(lines) == 1, err
    assert lines[0].startswith("underspec") and "Traceback" not in err
    assert fragment in lines[0], lines[0]
    assert snapshot(work) == before  # nothing written, nothing touched, no temporary file left


def test_every_verb_is_in_the_matrix():
    from underspec.cli import build_parser

    verbs = set()
    for action in build_parser()._subparsers._group_actions:
        for name, sub in action.choices.items():
            nested = [a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction"]
            verbs |= {f"{name} {n}" for a in nested for n in a.choices} if nested else {name}
    tested = {" ".join(argv[:2]) if argv[0] in ("label",) else argv[0] for _, _, argv, _ in CASES}
    tested |= {f"admin {argv[3]}" for _, _, argv, _ in CASES if argv[0] == "admin"}
    untested = {v for v in verbs if v not in tested and not v.startswith("admin")} - {"reveal", "submit"}
    assert not untested, untested  # reveal/submit: tests/test_server.py (a server is needed)


# --- properties -------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_any_bytes_as_an_array_file_read_or_refused(tmp_path, content):
    from underspec.files import load_npy, load_npz

    path = tmp_path / "x.npy"
    path.write_bytes(content)
    for reader in (load_npy, load_npz):
        try:
            reader(path)
        except UnderspecError as exc:
            assert str(path) in str(exc) and "\n" not in str(exc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200).map(lambda b: b"\x93NUMPY\x01\x00" + b))
def test_truncated_npy_headers_refused(tmp_path, content):
    from underspec.files import load_npy

    (tmp_path / "x.npy").write_bytes(content)
    with contextlib.suppress(UnderspecError):  # any other exception fails the test
        load_npy(tmp_path / "x.npy")


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.text(max_size=12), st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers().map(str))
)
def test_numbers_from_the_command_line_in_range_or_refused(text):
    import argparse

    from underspec.constraints import COUNT, NATURAL, POSITIVE, SHARE

    for number in (COUNT, NATURAL, POSITIVE, SHARE):
        try:
            value = number(text)
        except argparse.ArgumentTypeError as exc:
            assert repr(text) in str(exc)
        else:
            assert number.accepts(value) and (not isinstance(value, float) or math.isfinite(value))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["1", "2", "a", "", "x,y", "-1", "1.5", '"']),
            st.sampled_from(["w1", "w2", "", "w3"]),
            st.sampled_from(["0", "1", "", "cat", "nan", "7"]),
        ),
        max_size=12,
    )
)
def test_any_answers_csv_aggregated_or_refused(tmp_path, rows):
    from underspec.pipelines.labeling import aggregate_file

    path = tmp_path / "answers.csv"
    path.write_text("task,worker,label\n" + "".join(f"{t},{w},{label}\n" for t, w, label in rows))
    out = tmp_path / "labels.csv"
    out.unlink(missing_ok=True)  # hypothesis runs every example in the same folder
    try:
        report = aggregate_file(path, out, method="majority")
    except UnderspecError as exc:
        assert "\n" not in str(exc) and not out.exists()
    else:
        assert out.exists() and report["tasks"] >= 1


# --- Ctrl-C in the multi-file verbs -----------------------------------------------------------


def _interrupt_when_started(argv: list[str], cwd: Path, out: str, timeout: float = 120.0) -> tuple[int, str]:
    """Run ``underspec argv`` in ``cwd``, send SIGINT once its temporary output folder exists
    and holds something, return the exit code and the end of what it wrote to stderr."""
    process = subprocess.Popen(
        [sys.executable, "-m", "underspec", *argv],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a test run in the background (SIGINT ignored) must not pass that on
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            temporary = [p for p in cwd.glob(f".{out}.*.tmp") if any(p.iterdir())]
            if temporary or process.poll() is not None:
                break
            time.sleep(0.05)
        assert process.poll() is None, f"finished before it could be interrupted: {process.stderr.read()}"
        process.send_signal(signal.SIGINT)
        code = process.wait(60)
        return code, process.stderr.read()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "--suite", "hackathon", "--sizes", "1000,6000,1000", "--out", "suite"],  # about 2 s of work
        ["demo", "--tasks", "cc,sum", "--sizes", "60,120,40", "--out", "suite"],
        ["label", "run", "../full.npz", "--known", "60", "--budget", "30", "--embedding", "pixels", "--out", "suite"],
    ],
    ids=["generate-suite", "demo", "label-run"],
)
def test_ctrl_c_leaves_no_partial_folder(world, tmp_path, argv):
    work = tmp_path / "w"
    work.mkdir()
    shutil.copy(world / "full.npz", tmp_path / "full.npz")
    code, stderr = _interrupt_when_started(argv, work, "suite")
    assert code == 130, stderr  # one CI run saw 1 here (label run, under load): keep what it said
    assert list(work.iterdir()) == []  # neither the folder nor its temporary sibling


def test_ctrl_c_that_a_library_turns_into_another_error_still_exits_as_interrupted(capsys):
    """CI saw ``underspec demo`` exit 1 with a TypeError when Ctrl-C fell inside np.load (numpy's
    fromfile swallows the KeyboardInterrupt and fails on the file object): the Ctrl-C handler
    records the interruption, so whatever error follows it exits 130 like a Ctrl-C."""
    import argparse
    import contextlib
    import signal

    from underspec.arguments import run_command

    def library_call(args):
        with contextlib.suppress(KeyboardInterrupt):  # swallowed, as numpy's fromfile does
            signal.getsignal(signal.SIGINT)(signal.SIGINT, None)  # what a Ctrl-C runs
        raise TypeError("expected str, bytes or os.PathLike object, not BufferedReader")

    parser = argparse.ArgumentParser(prog="underspec")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as from a terminal, not a
    try:  # background job (SIGINT ignored)
        assert run_command(parser, [], library_call) == 130
        assert "interrupted" in capsys.readouterr().err
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back afterwards
        with pytest.raises(TypeError):  # without a Ctrl-C the error is a bug, and surfaces as one
            run_command(parser, [], lambda args: int(None))
    finally:
        signal.signal(signal.SIGINT, previous)


# --- silent wrong results, stale files, file modes ---------------------------------------------


def test_retraining_replaces_the_run_folder_whole(world, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(world / "R2", "run")
    Path("run/thresholds.json").write_text("{}")  # a post-processing of the older model
    assert main(["train", str(world / "bin.npz"), "--epochs", "1", "--seed", "3", "--out", "run"]) == 0
    assert sorted(p.name for p in Path("run").iterdir()) == [".underspec-output", "model.pt", "run.json"]


def test_outputs_follow_the_umask_and_paths_print_cleanly(world, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    old = os.umask(0o022)
    try:
        import underspec.errors as errors

        monkeypatch.setattr(errors, "_UMASK", 0o022)
        assert main(["evaluate", str(world / "p.csv"), str(world / "full.npz"), "--out", "eval/"]) == 0
        assert main(["predict", str(world / "full.npz"), "--run", str(world / "R"), "--out", "q.csv"]) == 0
    finally:
        os.umask(old)
    assert "eval//" not in capsys.readouterr().out
    assert Path("eval").stat().st_mode & 0o777 == 0o755
    assert Path("eval/evaluation.json").stat().st_mode & 0o777 == 0o644
    assert Path("q.csv").stat().st_mode & 0o777 == 0o644


def test_train_refuses_a_diverging_run_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    d = load_digits()
    np.savez("d.npz", x=(d.images[:200] * 1e6).astype(np.float32), y=d.target[:200] % 2)
    code = main(["train", "d.npz", "--epochs", "2", "--lr", "1e12", "--out", "run"])
    if code == 2:  # a NaN loss: refused, nothing written
        assert "diverged" in capsys.readouterr().err and not Path("run").exists()
    else:  # it did not diverge: then the model must predict finite probabilities
        assert main(["predict", "d.npz", "--run", "run", "--out", "p.csv"]) == 0
        probabilities = np.loadtxt("p.csv", delimiter=",", skiprows=1, usecols=(2, 3))
        assert np.isfinite(probabilities).all()


def test_the_readme_python_example_runs_as_written(tmp_path, monkeypatch, capsys):
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = re.search(r"### Python\n```python\n(.*?)```", readme, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert re.search(r"^(submit|abstain) 0\.\d+", out, re.M), out
    assert (tmp_path / "tasks" / "01_cc" / "task.json").exists()


def test_diverse_heads_is_an_estimator_that_checks_its_input():
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    from underspec import DiverseHeads

    heads = DiverseHeads(n_heads=3, epochs=1)
    assert clone(heads).get_params()["n_heads"] == 3
    with pytest.raises(NotFittedError):
        heads.predict_proba(np.zeros((2, 4)))
    X, y = np.random.default_rng(0).random((40, 4)), np.arange(40) % 2
    for bad, message in [
        ((X, y[:-1], X), "y: shape"),
        ((X, np.zeros(40), X), "one class only"),
        ((X, y, X[:0]), "X_unlabeled: Found array with 0 sample"),
        ((np.where(X > 0.99, np.nan, X), y, X), "NaN"),
    ]:
        with pytest.raises(UnderspecError, match=message):
            heads.fit(*bad)
    with pytest.raises(UnderspecError, match="n_heads: expected an integer >= 1"):
        DiverseHeads(n_heads=0).fit(X, y, X)


def test_the_api_is_listed():
    import underspec

    assert {"generate", "solve", "DiverseHeads", "load_image_set"} <= set(dir(underspec))


def test_the_readme_admin_commands_run_as_written(tmp_path, monkeypatch):
    """The organiser's block of the README, line by line (the server and curl lines aside: see
    tests/test_server.py); a line that needs something says so in its comment and in its error."""
    from underspec.data.generators import generate

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = re.search(r"### `underspec serve` and `underspec admin`.*?\n```\n(.*?)```", readme, re.S).group(1)
    lines = [line for line in block.splitlines() if "underspec admin" in line]
    assert len(lines) >= 8
    for name in ("01_cc", "02_cc"):
        generate("cc", seed=int(name[1]), sizes=(60, 120, 40), out=tmp_path / "tasks" / name)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for line in lines:
        done = subprocess.run(["bash", "-c", line.split("  #")[0]], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)
        if "other-team" in line:  # the README says it needs a team that registered on the site
            assert done.returncode == 2 and "no such team" in done.stderr
        else:
            assert done.returncode == 0, (line, done.stderr)
    assert "team" in (tmp_path / "results.csv").read_text().splitlines()[0]
