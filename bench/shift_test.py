"""Benchmark (not a test): does the two-sample test of the solver see the shift of every task?

For each suite task and the random generator variants of ``bench/calibration.py`` (same draw,
same seeds), the nearest-neighbour two-sample test of the labeled against the target items
(:func:`underspec.ambiguity.shift.shift_test`, on 64 linear features, as ``solve`` runs it).
A task without a shift must show none (``no_shift``); every task with one should show it, or
the solver skips the verification labels there when its heads find no ambiguity.

    python bench/shift_test.py [--source digits|mnist] [--seeds 2] [--variants 4]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from calibration import ORACLE_ITEMS, generate_run, jobs
from results_io import SHARED, save
from underspec.ambiguity.erase import linear_features
from underspec.ambiguity.shift import shift_test
from underspec.data.generators import TASKS
from underspec.data.sources import load_source


def markdown(result: dict) -> str:
    lines = ["# Two-sample test of labeled against target items, per task", "",
             f"Command: `{result['command']}`", "",
             "Nearest-neighbour test (k = 10, 1,000 permutations) on 64 linear features; the solver "
             "skips its verification labels when p >= 0.05 and its heads find no ambiguity.", "",
             "| seed | task | variant | labeled / target | z | p | shift detected | seconds |",
             "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        v = ", ".join(f"{k} {val}" for k, val in r["variant"].items() if k != "task")
        lines.append(f"| {r['seed']} | {r['task']} | {v} | {r['n'][0]} / {r['n'][1]} | {r['z']} | {r['p_value']} "
                     f"| {r['detected']} | {r['seconds']} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="digits", choices=sorted(ORACLE_ITEMS))
    parser.add_argument("--mnist", default=str(SHARED / "mnist" / "mnist.npz"))
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--variants", type=int, default=4)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    source = load_source(args.source, args.mnist if args.source == "mnist" else None)
    names = [n for n, s in TASKS.items() if s.needs in ("digits", "none")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for name, params in jobs(names, args.variants, seed):  # the runs of bench/calibration.py
                task = generate_run(name, params, source, seed, Path(tmp))[1]
                started = time.perf_counter()
                F = linear_features(np.concatenate([task.X_labeled, task.X_val]), 64, seed)
                test = shift_test(F[:len(task.X_labeled)], F[len(task.X_labeled):], seed=seed)
                rows.append({"seed": seed, "task": name, "variant": params,
                             "n": [len(task.X_labeled), len(task.X_val)], **test.as_dict(),
                             "seconds": round(time.perf_counter() - started, 2)})
                print(rows[-1], flush=True)
    name = "shift-test" if args.source == "digits" else f"shift-test-{args.source}"
    result = {"command": "python bench/shift_test.py " + " ".join(sys.argv[1:]), "rows": rows}
    save(Path(args.out), name, result, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
