"""Diagnosis (not a test) of issue 24's random-side tasks: which hypotheses do the diverse heads
find when the label's digit is on a random side per item?

On ``constant_image_random_row`` the solver ends near 0.75 where the oracle reaches 0.9 to 1.0
(``bench/results/calibration.md``). For each target item this script finds which half holds
the shortcut (the half nearest the per-class template: the medoid of the labeled halves of
that class, the constant image or fill repeated with noise), then scores each head and the
final model against four readings of the item: the digit (the truth), the shortcut's class,
the left half's class and the right half's class.

    python bench/random_side_heads.py [--tasks constant_image_random_row,uniform_color_random_row]
                                      [--seeds 3] [--heads 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from results_io import save
from underspec.data.challenge import read_task
from underspec.data.generators import generate
from underspec.oracles import AnswersOracle
from underspec.pipelines.solve import SolveSettings, solve


def shortcut_on_left(task) -> np.ndarray:
    """Per target item: whether its left half is nearer a class's shortcut template."""
    w = task.X_val.shape[-1] // 2
    templates = []
    for k in np.unique(task.y_labeled):
        items = task.X_labeled[task.y_labeled == k]
        halves = np.concatenate([items[..., :w], items[..., w:]]).reshape(2 * len(items), -1)
        distances = ((halves[:, None] - halves[None]) ** 2).sum(-1)
        templates.append(halves[np.median(distances, 1).argmin()])  # the repeated half
    templates = np.stack(templates)

    def nearest(half: np.ndarray) -> np.ndarray:
        return ((half.reshape(len(half), -1)[:, None] - templates[None]) ** 2).sum(-1).min(1)

    return nearest(task.X_val[..., :w]) < nearest(task.X_val[..., w:])


def one_run(name: str, seed: int, n_heads: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "task"
        answers = generate(name, source="digits", seed=seed, out=folder)[1]
        task = read_task(folder)
        result = solve(folder, AnswersOracle(folder / "answers" / "y_val.npy"),
                       settings=SolveSettings(seed=seed, n_heads=n_heads))
    groups = answers.groups[answers.groups["split"] == "target"].sort_values("row")
    classes = np.unique(task.y_labeled)
    digit, shortcut = groups["label"].to_numpy(), classes[groups["shortcut"].to_numpy()]
    left = shortcut_on_left(task)
    readings = {"digit": digit, "shortcut": shortcut, "left_half": np.where(left, shortcut, digit),
                "right_half": np.where(left, digit, shortcut)}

    def agreement(pred: np.ndarray) -> dict:
        return {k: round(float((pred == v).mean()), 3) for k, v in readings.items()}

    heads = [agreement(classes[p.argmax(-1)]) for p in result.hypotheses.target_proba]
    row = {"task": name, "seed": seed, "n_heads": n_heads, "heads": heads,
           "final": agreement(result.predictions), "decision": result.summary["decision"],
           "p_disputed_labels_random": result.summary["p_disputed_labels_random"]}
    print(json.dumps(row), flush=True)
    return row


def markdown(result: dict) -> str:
    lines = ["# Random-side tasks: what the diverse heads find", "", f"Command: `{result['command']}`", "",
             (__doc__ or "").split("\n\n")[1], "",
             "| task | seed | heads | model | digit (truth) | shortcut | left half | right half | decision |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in result["runs"]:
        for label, a in [*((f"head {k}", h) for k, h in enumerate(r["heads"])), ("final", r["final"])]:
            lines.append(f"| {r['task']} | {r['seed']} | {r['n_heads']} | {label} | {a['digit']} | {a['shortcut']} | "
                         f"{a['left_half']} | {a['right_half']} | {r['decision'] if label == 'final' else ''} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="constant_image_random_row,uniform_color_random_row")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--heads", default="2")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    runs = [one_run(name, seed, int(h)) for name in args.tasks.split(",") for h in args.heads.split(",")
            for seed in range(args.seeds)]
    result = {"command": "python bench/random_side_heads.py " + " ".join(sys.argv[1:]), "runs": runs}
    save(args.out, "random-side-heads", result, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
