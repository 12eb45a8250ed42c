"""Benchmark (not a test) of the partition's cluster count (issue 24): a calibration run measured
again where ``partition_head`` now clusters differently, without solving every run again.

``partition_head`` clusters the pool into C clusters and stops there when the labeled items
name them without conflict (at least 98% of them in a cluster of their class); only otherwise
does it try 2 C clusters (a shortcut drawn on either side of the item), and keeps them only if
they are named without conflict. A run whose C clusters are pure, or whose 2 C clusters are
not, therefore takes exactly the path it took before, and its row of the base calibration run
stands. This script regenerates every task-run of ``BASE`` (``bench/calibration.py``'s
output), computes both purities as the solver does (linear features of the labeled,
unlabeled and target items; k-means of the pool; the labeled items the heads train on),
solves again every run that now takes 2 C clusters, and, as a check of the claim,
``--verify`` runs of the others: their new rows must equal the old ones. ``--reuse DIR``
takes the rows of runs already solved again by an earlier run of this script (the same
code path) instead of solving them once more. The result is a calibration result like
``bench/calibration.py``'s, with a table of the runs solved again, before and after.

    python bench/partition_clusters.py BASE OUT [--source digits|mnist] [--verify 4] [--reuse DIR]
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from calibration import ORACLE_ITEMS, generator_kwargs, markdown, reliability_png, run_one, summarise
from results_io import SHARED, save
from underspec.ambiguity.diverse import DiverseHeads, holdout_split
from underspec.ambiguity.erase import linear_features, named_clusters, partition_head
from underspec.data.generators import generate
from underspec.data.sources import load_source

PURE = inspect.signature(partition_head).parameters["pure"].default
COMPARED = ("truth", "estimate", "low", "high", "decision", "labels", "heads", "chosen")


def params(row: dict) -> dict:
    """The row's generator variant, its lists back to tuples."""
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in row["variant"].items()}


def purities(row: dict, source) -> tuple[float, float] | None:
    """Share of the labeled items the heads train on that fall in a cluster named for their
    class, with C and with 2 C clusters, exactly as the solver clusters and names them (None:
    the items are not images, no partition)."""
    kw = generator_kwargs(row["task"], params(row), source)
    task, _ = generate(row["task"], source=source, seed=row["seed"], **kw)
    if task.X_val.ndim <= 2:
        return None
    C, n_l, seed = len(task.classes), len(task.X_labeled), row["seed"]
    y = np.searchsorted(task.classes, task.y_labeled)
    _, train = holdout_split(n_l, DiverseHeads().holdout, seed)
    F = linear_features(np.concatenate([task.X_labeled, task.X_unlabeled, task.X_val]), 512, seed)
    c, two_c = (named_clusters(F[:n_l][train], y[train], F[n_l:], k * C, C, seed)[2] for k in (1, 2))
    return c, two_c


def solve_again(row: dict, source, work: Path) -> dict:
    return run_one(row["task"], params(row), source, row["seed"], work)


def label(row: dict) -> str:
    variant = ", ".join(f"{k} {v}" for k, v in row["variant"].items() if k != "task")
    return f"{row['seed']} {row['task']}" + (f" ({variant})" if variant else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="folder of a bench/calibration.py result (calibration.json)")
    parser.add_argument("out")
    parser.add_argument("--source", default="digits", choices=sorted(ORACLE_ITEMS))
    parser.add_argument("--verify", type=int, default=4, help="runs with pure clusters solved again as a check")
    parser.add_argument("--dry-run", action="store_true", help="only list the runs that would be solved again")
    parser.add_argument("--reuse", default=None, help="a folder of this script's output: its rows solved again")
    args = parser.parse_args()
    base = json.loads((Path(args.base) / "calibration.json").read_text())
    source = load_source(args.source, SHARED / "mnist" / "mnist.npz" if args.source == "mnist" else None)
    rows, changed, checked = list(base["rows"]), [], []
    kept, reuse = [], {}
    if args.reuse:
        for row in json.loads((Path(args.reuse) / "calibration.json").read_text())["rows"]:
            reuse[label(row)] = row
    with tempfile.TemporaryDirectory() as tmp:
        for i, row in enumerate(rows):
            pure = purities(row, source)
            if pure is None:
                continue
            if pure[0] >= PURE or pure[1] < PURE:  # C clusters, as before
                kept.append((i, pure))
                continue
            if args.dry_run:
                print(f"would solve again: {label(row)} (purities {pure}, truth {row['truth']}, {row['decision']})",
                      flush=True)
                continue
            rows[i] = reuse.get(label(row)) or solve_again(row, source, Path(tmp))
            changed.append({"run": label(row), "purity": round(pure[0], 4), "purity_2c": round(pure[1], 4),
                            "reused": label(row) in reuse,
                            **{f"{k}_before": row[k] for k in ("truth", "decision", "estimate")},
                            **{f"{k}_after": rows[i][k] for k in ("truth", "decision", "estimate")}})
            print(f"solved again: {changed[-1]}", flush=True)
        if args.dry_run:
            return 0
        impure = [i for i, pure in kept if pure[0] < PURE]  # the closest to the change: checked first
        pure_rows = impure + [i for i, pure in kept if pure[0] >= PURE]
        picks = impure[:args.verify // 2] + [pure_rows[int(j)] for j in np.linspace(
            len(impure), len(pure_rows) - 1, args.verify - min(len(impure), args.verify // 2))]
        for i in picks:
            again = solve_again(rows[i], source, Path(tmp))
            differ = {k: [rows[i][k], again[k]] for k in COMPARED if again[k] != rows[i][k]}
            checked.append({"run": label(rows[i]), "identical": not differ, **differ})
            print(f"check: {checked[-1]}", flush=True)
    result = {"command": f"{base['command']}  (then: python bench/partition_clusters.py {' '.join(sys.argv[1:])})",
              "source": base["source"], "seeds": base["seeds"], "variants_per_seed": base["variants_per_seed"],
              "rows": rows, "summary": summarise(rows), "solved_again": changed, "checks_of_unchanged_runs": checked}
    result["reliability_png"] = reliability_png(rows)
    extra = ["", "## Runs solved again (their C clusters are impure, their 2 C clusters pure)", "",
             "| run | purity of C clusters | of 2 C | truth before | decision before | truth after | decision after |",
             "|---|---|---|---|---|---|---|"]
    extra += [f"| {c['run']} | {c['purity']} | {c['purity_2c']} | {c['truth_before']} | {c['decision_before']} | "
              f"{c['truth_after']} | {c['decision_after']} |" for c in changed]
    extra += ["", f"Runs with pure C clusters solved again as a check: {sum(c['identical'] for c in checked)} of "
              f"{len(checked)} identical to the base run" + (": " + "; ".join(
                  f"{c['run']}: " + ", ".join(f"{k} {v[0]} -> {v[1]}" for k, v in c.items() if isinstance(v, list))
                  for c in checked if not c["identical"]) if not all(c["identical"] for c in checked) else "."), ""]
    save(Path(args.out), "calibration", {**result, "reliability_png": "(in calibration.md)"},
         markdown(result) + "\n".join(extra))
    print(json.dumps(result["summary"]["overall"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
