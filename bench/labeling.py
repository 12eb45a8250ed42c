"""Benchmark (not a test) of the labeling issue: aggregation of a simulated crowd, and what
underspec's selection buys compared with random selection.

1. Aggregation. 2,000 MNIST and 2,000 CIFAR-4 items (their real class mix), 30 simulated
   workers with accuracies spread from 0.95 down to chance and their errors on preferred
   classes, 10% spammers who always give one label, overlap 3, pages of 50 tasks with one
   honeypot each (the pools of ``underspec label export``). Accuracy on the 2,000 items of
   every underspec aggregator, with and without the honeypot filter, against crowd-kit's
   MajorityVote and DawidSkene on the same answers, and the Bayes-optimal aggregate computed
   with the workers' true confusion matrices (the limit). Several crowds (seeds), mean and sd.
2. Budget. CIFAR-4: 200 known labels, the rest of a training sample unlabeled; for each number
   of items labeled by the simulated crowd, the test accuracy of the final network for
   underspec's selection (select -> crowd -> Dawid-Skene -> propagate -> train) and for random
   selection (random items -> crowd -> Dawid-Skene -> train on known + crowd labels); random
   selection followed by the same propagation is also reported, to separate what the
   selection does from what propagation does.

    python bench/labeling.py [--part aggregation,budget] [--crowds 5] [--n-train 6000] [--epochs 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from audit import load  # bench/audit.py: the MNIST and CIFAR-4 samples
from results_io import save
from underspec.labeling.aggregate import DawidSkene, GoldMajorityVote, MajorityVote
from underspec.labeling.crowd import answer_pages, bayes_optimal, make_workers
from underspec.labeling.export import ExportOptions, build_pools
from underspec.labeling.quality import screen_workers

N_ITEMS, N_WORKERS, OVERLAP, PAGE = 2000, 30, 3, 50


def crowd_answers(y: np.ndarray, n_classes: int, seed: int, quality_control: bool):
    """Answers of a simulated crowd on items ``y[:N_ITEMS]``, honeypots drawn from the rest;
    with ``quality_control`` the honeypot filter bans workers while the answers come in."""
    names = [str(c) for c in range(n_classes)]
    truth = {f"i{k}": names[c] for k, c in enumerate(y)}
    items = list(truth)[:N_ITEMS]
    known = pd.Series({t: truth[t] for t in list(truth)[N_ITEMS:N_ITEMS + 200]})
    pools = build_pools(items, known, ExportOptions(overlap=OVERLAP, page_size=PAGE, training=0, exam=0,
                                                    seed=seed))
    production = pools[pools["pool"] == "production"]
    gold = production.loc[production["golden"] != "", ["task", "golden"]].drop_duplicates("task")
    gold = gold.set_index("task")["golden"]
    confusion = make_workers(N_WORKERS, n_classes, seed=seed)
    answers = answer_pages(production, truth, names, confusion, overlap=OVERLAP, seed=seed,
                           gold=gold if quality_control else None)
    return answers, gold, confusion, names, truth, items


def accuracy(labels: pd.Series, truth: dict, items: list) -> float:
    return float((labels.reindex(items).to_numpy() == np.asarray([truth[t] for t in items])).mean())


def aggregation(datasets: list[str], crowds: int) -> dict:
    """For each data set and crowd: the same crowd answering without quality control and with
    the honeypot filter running during collection (banned workers' pages redone by others)."""
    from crowdkit.aggregation import DawidSkene as CKDawidSkene
    from crowdkit.aggregation import MajorityVote as CKMajorityVote

    result = {}
    for name in datasets:
        _, y, _, _, classes = load(name, N_ITEMS + 200)
        rows = []
        for seed in range(crowds):
            row = {"seed": seed}
            for qc in (False, True):
                answers, gold, confusion, names, truth, items = crowd_answers(y, len(classes), seed, qc)
                tag = "honeypot_filter" if qc else "no_filter"
                answers = answers.drop(columns="page")
                row[f"answers_accepted_{tag}"] = len(answers)
                row[f"answers_rejected_{tag}"] = answers.attrs.get("rejected", 0)
                row[f"bayes_optimal_limit_{tag}"] = accuracy(bayes_optimal(answers, confusion, names), truth, items)
                t0 = time.perf_counter()
                row[f"underspec_dawid_skene_{tag}"] = accuracy(DawidSkene(classes=names).fit_predict(answers, gold),
                                                               truth, items)
                row[f"seconds_underspec_ds_{tag}"] = time.perf_counter() - t0
                t0 = time.perf_counter()
                row[f"crowdkit_dawid_skene_{tag}"] = accuracy(CKDawidSkene(n_iter=100).fit_predict(answers),
                                                              truth, items)
                row[f"seconds_crowdkit_ds_{tag}"] = time.perf_counter() - t0
                row[f"crowdkit_majority_{tag}"] = accuracy(CKMajorityVote().fit_predict(answers), truth, items)
                if qc:
                    continue
                row["underspec_dawid_skene_classical_no_filter"] = accuracy(
                    DawidSkene(classes=names, shrinkage=0).fit_predict(answers, gold), truth, items)
                row["underspec_majority_no_filter"] = accuracy(MajorityVote(classes=names).fit_predict(answers),
                                                               truth, items)
                row["underspec_gold_majority_no_filter"] = accuracy(
                    GoldMajorityVote(classes=names).fit_predict(answers, gold), truth, items)
                kept, excluded = screen_workers(answers, gold)
                row["excluded_after_the_fact"] = len(excluded)
                row["underspec_dawid_skene_filter_after_the_fact"] = accuracy(
                    DawidSkene(classes=names).fit_predict(kept, gold), truth, items)
            rows.append(row)
            print(name, {k: round(v, 4) for k, v in row.items()}, flush=True)
        frame = pd.DataFrame(rows)
        result[name] = {"classes": len(classes), "per_crowd": rows,
                        "mean": frame.mean().round(4).to_dict(), "sd": frame.std().round(4).to_dict()}
    return result


def aggregation_markdown(result: dict) -> str:
    methods = sorted(k for k in next(iter(result.values()))["mean"] if k != "seed")
    lines = ["| method | " + " | ".join(result) + " |", "|---|" + "---|" * len(result)]
    for m in methods:
        cells = [f"{r['mean'][m]:.4f} ± {r['sd'][m]:.4f}" for r in result.values()]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default="aggregation,budget")
    parser.add_argument("--datasets", default="mnist,cifar4")
    parser.add_argument("--crowds", type=int, default=5)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    parts = args.part.split(",")
    result = {"command": "python bench/labeling.py " + " ".join(sys.argv[1:])}
    markdown = f"# Labeling benchmark\n\nCommand: `{result['command']}`\n\n"
    if "aggregation" in parts:
        result["aggregation"] = aggregation(args.datasets.split(","), args.crowds)
        markdown += "## Aggregation accuracy (mean ± sd over crowds)\n\n" + aggregation_markdown(result["aggregation"])
    save(Path(args.out), "labeling", result, markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
