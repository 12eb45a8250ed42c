"""Benchmark (not a test): which cleanlab filter the last round of a several-round label-issue
check should flag by, on ``bench/audit.py``'s data and noise.

For each data set and noise kind: the audit's logistic model on ``--representation`` runs the
rounds as ``label_issues`` does (each round fitted out of fold on the items the last flagged
by ``prune_by_noise_rate`` left); on the same last-round probabilities, the items each filter
flags, scored against the injected errors, and the count it flags against the injected count.
``true count``: the lowest-quality items, as many as were injected (the ranking's own limit).

    python bench/audit_filters.py [--datasets cifar4,mnist,fashion] [--representation imagenet]
                                  [--rounds 3] [--name audit-filters] [--out bench/results]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from audit import inject, load, scores
from results_io import command_line, save
from underspec.audit.registry import AuditContext, AuditOptions
from underspec.data.image_sets import ImageSet
from underspec.data.items import ItemTable

FILTERS = ("prune_by_noise_rate", "low_self_confidence", "both", "confident_learning")


def run(name: str, noise: str, representation: str, rounds: int) -> dict:
    """The rounds on one data set; each filter's flags on the last round's probabilities."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    started = time.perf_counter()
    x, y, _, _, classes = load(name, 10000)
    noisy, flipped = inject(y, len(classes), noise)
    table = pd.DataFrame({"id": np.arange(len(y)), "split": "train", "label": noisy})
    ctx = AuditContext(ImageSet(ItemTable(x, table), classes, source=name),
                       AuditOptions(model="logistic", representation=representation, seed=0, progress=False))
    proba = ctx.proba
    for _ in range(rounds - 1):
        proba = ctx.out_of_fold(trusted=~find_label_issues(noisy, proba, filter_by="prune_by_noise_rate"))
    row = {"dataset": name, "noise": noise, "representation": representation, "rounds": rounds,
           "injected": int(flipped.sum()),
           "out_of_fold_accuracy_true_labels": round(float((proba.argmax(1) == y).mean()), 4),
           "filters": {f: scores(find_label_issues(noisy, proba, filter_by=f), flipped) for f in FILTERS}}
    quality = get_label_quality_scores(noisy, proba)  # scores() ranks by it for its true-count F1
    row["true_count_f1"] = scores(flipped, flipped, quality)["f1_at_true_count"]
    row["seconds"] = round(time.perf_counter() - started, 1)
    return row


def markdown(result: dict) -> str:
    lines = ["# The last round's cleanlab filter", "", f"Command: `{result['command']}`.", "",
             "The audit's logistic model, rounds as `label_issues` runs them; each filter on the last round's "
             "probabilities. F1 (items flagged).", "",
             "| data | noise | representation | rounds | injected | model right (true labels) | "
             + " | ".join(FILTERS) + " | true count |",
             "|---|---|---|---|---|---|" + "---|" * len(FILTERS) + "---|"]
    for r in result["runs"]:
        cells = [f"{r['filters'][f]['f1']} ({r['filters'][f]['flagged']})" for f in FILTERS]
        lines.append(f"| {r['dataset']} | {r['noise']} | {r['representation']} | {r['rounds']} | {r['injected']} | "
                     f"{r['out_of_fold_accuracy_true_labels']} | " + " | ".join(cells) + f" | {r['true_count_f1']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="cifar4")
    parser.add_argument("--representation", default="imagenet")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--name", default="audit-filters")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    runs = [run(name, noise, args.representation, args.rounds)
            for name in args.datasets.split(",") for noise in ("uniform", "pair")]
    result = {"command": command_line("audit_filters.py", argv), "runs": runs}
    save(args.out, args.name, result, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
