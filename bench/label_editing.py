"""Benchmark (not a test) of issue 24: which labeled items the solver's label editing leaves out
(``SolveSettings.edit_labels``, :func:`underspec.audit.editing.edit_labels`), over every run of a
calibration result, without solving.

Each run of the calibration result is generated again and prepared as the solver prepares it
(:func:`underspec.pipelines.solve.prepare_task` with ``edit_labels`` on, whatever the default:
tiles ordered, labels edited). Per task: the runs where items were left out, the items left out,
and on ``trojan`` the items whose label the generator forced to 1 on an image of another digit
(the poisoned items: caught / in all). Every other item left out carries its true label (the
generators' labels are clean elsewhere).

    python bench/label_editing.py --calibration bench/results/calibration-2-to-4-classes/calibration.json \\
        --name label-editing-digits
    python bench/label_editing.py --source mnist \\
        --calibration bench/results/calibration-mnist-current/calibration.json \\
        --name label-editing-mnist
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from calibration import generate_run
from results_io import SHARED, save
from underspec.data.challenge import read_task
from underspec.data.sources import load_source
from underspec.pipelines.solve import SolveSettings, prepare_task


def poisoned(folder: Path, source, task) -> np.ndarray:
    """Labeled items of a ``trojan`` run whose label is not the digit their image shows."""
    groups = pd.read_csv(folder / "answers" / "groups.csv")
    labeled = groups[groups.split == "labeled"]
    return source.y[labeled.image.to_numpy()] != task.y_labeled


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="digits")
    ap.add_argument("--data", default=None, help="the source's file (default: the shared MNIST)")
    ap.add_argument("--calibration", default="bench/results/calibration.json")
    ap.add_argument("--name", required=True)
    args = ap.parse_args()
    data = args.data or (str(SHARED / "mnist" / "mnist.npz") if args.source == "mnist" else None)
    source = load_source(args.source, data)
    rows = json.loads(Path(args.calibration).read_text())["rows"]
    per_task = defaultdict(lambda: {"runs": 0, "runs_edited": 0, "dropped": 0, "labeled": 0, "poisoned": 0,
                                    "poisoned_dropped": 0, "agreement_min": 1.0, "not_edited_low_agreement": 0})
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, row in enumerate(rows):
            params = {k: (tuple(v) if isinstance(v, list) else v) for k, v in row["variant"].items()}
            folder, _, _ = generate_run(row["task"], params, source, row["seed"], Path(tmp))
            task = read_task(folder)
            editing = prepare_task(task, SolveSettings(seed=row["seed"], edit_labels=True)).editing
            key = row["task"] + (" (variant)" if row["variant"] else "")
            t = per_task[key]
            bad = poisoned(folder, source, task) if row["task"] == "trojan" else np.zeros(len(task.y_labeled), bool)
            t["runs"] += 1
            t["labeled"] += len(task.y_labeled)
            t["poisoned"] += int(bad.sum())
            if editing is not None:
                t["runs_edited"] += int(len(editing.dropped) > 0)
                t["dropped"] += len(editing.dropped)
                t["poisoned_dropped"] += int(bad[editing.dropped].sum())
                t["agreement_min"] = min(t["agreement_min"], editing.agreement)
                t["not_edited_low_agreement"] += int(editing.contradicted > 0 and not len(editing.dropped))
                if len(editing.dropped) or bad.any():
                    runs.append({"task": row["task"], "variant": row["variant"], "seed": row["seed"],
                                 **editing.as_dict(), "poisoned": int(bad.sum()),
                                 "poisoned_dropped": int(bad[editing.dropped].sum())})
            shutil.rmtree(folder, ignore_errors=True)  # the runs are many; the disk is not
            print(f"\r{i + 1}/{len(rows)} runs", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    result = {"command": "python " + " ".join(sys.argv), "source": args.source, "calibration": args.calibration,
              "tasks": dict(per_task), "runs": runs}
    lines = ["# Label editing: the labeled items the solver leaves out", "",
             f"Command: `{result['command']}`", "",
             f"Every run of `{args.calibration}` ({args.source}) generated again and prepared as the solver does "
             "(tiles ordered, then `edit_labels`: an item fewer than half of whose 10 nearest labeled items carry its "
             "label is left out, where at least 90% of the items agree with their neighbours). `poisoned`: trojan's "
             "labeled items whose label was forced to 1 on an image of another digit; every other item left out "
             "carries its true label.", "",
             "| task | runs | runs edited | labeled items | left out | poisoned | poisoned left out | "
             "least agreement | runs not edited (agreement < 0.9) |", "|---|---|---|---|---|---|---|---|---|"]
    for key, t in sorted(per_task.items()):
        lines.append(f"| {key} | {t['runs']} | {t['runs_edited']} | {t['labeled']} | {t['dropped']} | {t['poisoned']} "
                     f"| {t['poisoned_dropped']} | {t['agreement_min']:.3f} | {t['not_edited_low_agreement']} |")
    save(Path(__file__).parent / "results", args.name, result, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
