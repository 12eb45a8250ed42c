"""Benchmark (not a test): a practitioner's face data trained with ``underspec train`` on the
pixels and on label-free representations, every label known.

UTKFace (32 px, ``../shared/data/utkface``), label gender, a random split per seed: ``--train``
faces to train on (15% of them held out for the best epoch), ``--test`` faces to score. Rows:
``underspec train`` with ``--representation none`` (its defaults: the VGG-style network on the
pixels, at most 30 epochs, patience 5), the same with flips and shifts for 60 epochs (patience
10), ``patches-fast`` and ``face-descriptor`` (dlib's pretrained face embedding; with the MLP, and
with ``--arch linear``), each followed by
``underspec predict`` on the test faces; accuracy overall and per age band (under 18, 18-59,
60 and over), and wall seconds of train + predict.

    python bench/faces_train.py [--faces PATH] [--seeds 0,1] [--train 3000] [--test 2000] [--runs 'A;B']
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from results_io import SHARED, save
from underspec.cli import main as cli

RUNS = {"none": ["--representation", "none"],
        "none, shift_flip, 60 epochs": ["--representation", "none", "--augment", "shift_flip", "--epochs", "60",
                                        "--patience", "10"],
        "patches-fast": ["--representation", "patches-fast"],
        "face-descriptor": ["--representation", "face-descriptor"],
        "face-descriptor, linear": ["--representation", "face-descriptor", "--arch", "linear"]}
BANDS = ((0, 18, "under_18"), (18, 60, "18_59"), (60, 200, "60_over"))


def run_seed(faces: dict, seed: int, n_train: int, n_test: int, folder: Path, runs: list[str]) -> list[dict]:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(faces["gender"]))
    train, test = order[:n_train], order[n_train:n_train + n_test]
    for name, rows in (("train", train), ("test", test)):
        np.savez(folder / f"{name}.npz", x=faces["x"][rows], y=faces["gender"][rows], age=faces["age"][rows])
    y_test, age = faces["gender"][test], faces["age"][test]
    out = []
    for k, representation in enumerate(runs):
        options = RUNS[representation]
        run, preds = folder / f"run-{k}", folder / f"pred-{k}.csv"
        started = time.perf_counter()
        assert cli(["train", str(folder / "train.npz"), "--out", str(run), "--seed", str(seed), *options]) == 0
        assert cli(["predict", str(folder / "test.npz"), "--run", str(run), "--out", str(preds)]) == 0
        seconds = time.perf_counter() - started
        label = pd.read_csv(preds)["label"].to_numpy()
        row = {"seed": seed, "representation": representation,
               "accuracy": round(float((label == y_test).mean()), 4)}
        for low, high, band in BANDS:
            sel = (age >= low) & (age < high)
            row[f"acc_{band}"] = round(float((label[sel] == y_test[sel]).mean()), 4)
        row["seconds"] = round(seconds, 1)
        out.append(row)
        print(row, flush=True)
    return out


def table(rows: list[dict]) -> str:
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    return "\n".join(lines + ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", default=str(SHARED / "utkface" / "utkface_crop_part1_32.npz"))
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--test", type=int, default=2000)
    parser.add_argument("--out", default="bench/results")
    parser.add_argument("--name", default="faces-train")
    parser.add_argument("--runs", default=";".join(RUNS), help=f"which of: {'; '.join(RUNS)} (';'-separated)")
    args = parser.parse_args()
    runs = [r.strip() for r in args.runs.split(";")]
    if unknown := [r for r in runs if r not in RUNS]:
        parser.error(f"--runs: unknown {unknown}; expected some of {list(RUNS)}")
    data = np.load(args.faces)
    faces = {k: data[k] for k in ("x", "gender", "age")}
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            rows += run_seed(faces, seed, args.train, args.test, Path(tmp), runs)
    means = []
    for representation in runs:
        mine = pd.DataFrame([r for r in rows if r["representation"] == representation])
        line = {"representation": representation, "seeds": len(mine)}
        for key in [c for c in mine.columns if c.startswith("acc") or c == "seconds"]:
            line[key] = f"{mine[key].mean():.4g} ({mine[key].min():.4g}-{mine[key].max():.4g})"
        means.append(line)
    command = "python bench/faces_train.py " + " ".join(sys.argv[1:])
    markdown = (f"# Face data trained with every label: pixels against representations\n\nCommand: `{command}` "
                "(2 CPU cores).\n\n" + __doc__.split("\n\n", 1)[1].rsplit("\n\n", 1)[0]
                + "\n\n## Mean (min-max) over seeds\n\n" + table(means) + "\n\n## Every run\n\n" + table(rows) + "\n")
    save(Path(args.out), args.name, {"command": command, "rows": rows, "summary": means}, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
