"""Benchmark (not a test) of issue 24: a calibration run (``bench/calibration.py``) measured
again after a change of the solver that alters only some task-runs' path, without solving every
run again.

Each change names a test of a task-run's items that tells whether the solver now takes another
path; a run that takes the path it took before keeps its row of the base calibration run. This
script regenerates every task-run of ``BASE``, applies the test, solves again every run whose
path changed, and, as a check of the claim, ``--verify`` runs of the others (those closest to
the change first): their new rows must equal the old ones. ``--reuse DIR`` takes the rows of runs
already solved again by an earlier run of this script (the same code path). The result is a
calibration result like ``bench/calibration.py``'s, with a table of the runs solved again,
before and after.

Changes:

- ``partition``: ``partition_head`` clusters the pool into C clusters and stops there when the
  labeled items name them without conflict (at least 98% of them in a cluster of their class);
  only otherwise does it try 2 C clusters, kept only if named without conflict. Changed: the C
  clusters impure, the 2 C clusters pure.
- ``tiles``: items made of square images side by side have their tiles put in a learnt order
  (``order_image_tiles``) when the tiles are of two kinds whose side varies. Changed: the
  tiles are moved.

    python bench/solve_again.py BASE OUT --change partition|tiles [--source digits|mnist] [--verify 4] [--reuse DIR]
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from calibration import ORACLE_ITEMS, generator_kwargs, markdown, reliability_png, run_one, summarise
from results_io import SHARED, save
from underspec.ambiguity.diverse import DiverseHeads, holdout_split
from underspec.ambiguity.erase import linear_features, named_clusters, partition_head
from underspec.data.generators import generate
from underspec.data.sources import load_source
from underspec.models.tile_order import order_image_tiles

PURE = inspect.signature(partition_head).parameters["pure"].default
COMPARED = ("truth", "estimate", "low", "high", "decision", "labels", "heads", "chosen")


def params(row: dict) -> dict:
    """The row's generator variant, its lists back to tuples."""
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in row["variant"].items()}


def regenerate(row: dict, source):
    kw = generator_kwargs(row["task"], params(row), source)
    return generate(row["task"], source=source, seed=row["seed"], **kw)[0]


def partition_change(row: dict, source) -> tuple[bool, float, dict] | None:
    """Whether the run now takes 2 C clusters, how close it is to the change (lower: closer),
    and the purities: the share of the labeled items the heads train on that fall in a cluster
    named for their class, with C and with 2 C clusters, exactly as the solver clusters and
    names them (None: the items are not images, no partition)."""
    task = regenerate(row, source)
    if task.X_val.ndim <= 2:
        return None
    C, n_l, seed = len(task.classes), len(task.X_labeled), row["seed"]
    y = np.searchsorted(task.classes, task.y_labeled)
    _, train = holdout_split(n_l, DiverseHeads().holdout, seed)
    F = linear_features(np.concatenate([task.X_labeled, task.X_unlabeled, task.X_val]), 512, seed)
    c, two_c = (named_clusters(F[:n_l][train], y[train], F[n_l:], k * C, C, seed)[2] for k in (1, 2))
    return c < PURE <= two_c, float(c >= PURE), {"purity of C clusters": round(c, 4), "of 2 C": round(two_c, 4)}


def tiles_change(row: dict, source) -> tuple[bool, float, dict] | None:
    """Whether the run's tiles are now moved, how close it is to the change (the order's split
    left to reach; lower: closer) and what the order found (None: no tiles)."""
    task = regenerate(row, source)
    info = order_image_tiles([task.X_labeled, task.X_unlabeled, task.X_val], seed=row["seed"])[1]
    if info is None:
        return None
    return info["reordered"], 1.0 - (info["split"] or 0.0), {k: info[k] for k in ("split", "first_kind_on_one_side")}


CHANGES: dict[str, tuple[Callable, str]] = {
    "partition": (partition_change, "their C clusters are impure, their 2 C clusters pure"),
    "tiles": (tiles_change, "their tiles are put in the learnt order"),
}


def label(row: dict) -> str:
    variant = ", ".join(f"{k} {v}" for k, v in row["variant"].items() if k != "task")
    return f"{row['seed']} {row['task']}" + (f" ({variant})" if variant else "")


def main(argv: list[str] | None = None, script: str = "bench/solve_again.py") -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="folder of a bench/calibration.py result (calibration.json)")
    parser.add_argument("out")
    parser.add_argument("--change", required=True, choices=sorted(CHANGES))
    parser.add_argument("--source", default="digits", choices=sorted(ORACLE_ITEMS))
    parser.add_argument("--verify", type=int, default=4, help="unchanged runs solved again as a check")
    parser.add_argument("--dry-run", action="store_true", help="only list the runs that would be solved again")
    parser.add_argument("--reuse", default=None, help="a folder of this script's output: its rows solved again")
    args = parser.parse_args(argv)
    test, why = CHANGES[args.change]
    base = json.loads((Path(args.base) / "calibration.json").read_text())
    source = load_source(args.source, SHARED / "mnist" / "mnist.npz" if args.source == "mnist" else None)
    rows, changed, checked, kept, reuse = list(base["rows"]), [], [], [], {}
    if args.reuse:
        reuse = {label(row): row for row in json.loads((Path(args.reuse) / "calibration.json").read_text())["rows"]}
    with tempfile.TemporaryDirectory() as tmp:
        for i, row in enumerate(rows):
            found = test(row, source)
            if found is None:
                continue
            moved, closeness, info = found
            if not moved:
                kept.append((closeness, i))
                continue
            if args.dry_run:
                print(f"would solve again: {label(row)} ({info}, truth {row['truth']}, {row['decision']})", flush=True)
                continue
            rows[i] = reuse.get(label(row)) or run_one(row["task"], params(row), source, row["seed"], Path(tmp))
            changed.append({"run": label(row), **info, "reused": label(row) in reuse,
                            **{f"{k}_before": row[k] for k in ("truth", "decision", "estimate")},
                            **{f"{k}_after": rows[i][k] for k in ("truth", "decision", "estimate")}})
            print(f"solved again: {changed[-1]}", flush=True)
        if args.dry_run:
            return 0
        closest = [i for _, i in sorted(kept)]
        picks = closest[:args.verify // 2] + [closest[int(j)] for j in np.linspace(
            args.verify // 2, len(closest) - 1, args.verify - args.verify // 2)] if closest else []
        for i in picks:
            again = run_one(rows[i]["task"], params(rows[i]), source, rows[i]["seed"], Path(tmp))
            differ = {k: [rows[i][k], again[k]] for k in COMPARED if again[k] != rows[i][k]}
            checked.append({"run": label(rows[i]), "identical": not differ, **differ})
            print(f"check: {checked[-1]}", flush=True)
    given = " ".join(sys.argv[1:] if argv is None else argv)
    result = {"command": f"{base['command']}  (then: python {script} {given})",
              "source": base["source"], "seeds": base["seeds"], "variants_per_seed": base["variants_per_seed"],
              "rows": rows, "summary": summarise(rows), "solved_again": changed, "checks_of_unchanged_runs": checked}
    result["reliability_png"] = reliability_png(rows)
    shown = [k for k in (changed[0] if changed else {}) if k not in ("run", "reused")]
    extra = ["", f"## Runs solved again ({why})", "",
             "| run | " + " | ".join(k.replace("_", " ") for k in shown) + " |", "|---" * (len(shown) + 1) + "|"]
    extra += ["| " + " | ".join(str(c[k]) for k in ["run", *shown]) + " |" for c in changed]
    extra += ["", f"Unchanged runs solved again as a check: {sum(c['identical'] for c in checked)} of "
              f"{len(checked)} identical to the base run" + (": " + "; ".join(
                  f"{c['run']}: " + ", ".join(f"{k} {v[0]} -> {v[1]}" for k, v in c.items() if isinstance(v, list))
                  for c in checked if not c["identical"]) if not all(c["identical"] for c in checked) else "."), ""]
    save(Path(args.out), "calibration", {**result, "reliability_png": "(in calibration.md)"},
         markdown(result) + "\n".join(extra))
    print(json.dumps(result["summary"]["overall"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
