"""Benchmark (not a test): does the two-sample test of the solver see the shift of every task?

For each suite task and the random generator variants of ``bench/calibration.py`` (same draw,
same seeds), the nearest-neighbour two-sample test of the labeled against the target items
(:func:`underspec.ambiguity.shift.shift_test`, on 64 linear features, as ``solve`` runs it).
A task without a shift must show none (``no_shift``); every task with one should show it, or
the solver skips the verification labels there when its heads find no ambiguity.

Each task-run is tested two or three times: each image once (one item per group of near copies
in each sample, ``shift_test(each_image_once=True)``), on every item, and, where the items are
made of square tiles, on every item passing over the neighbours that share a tile's image
(``shift_test(parts=...)``). The solver runs the last where there are tiles (its
``shift_parts`` setting), the second elsewhere.

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
from underspec.ambiguity.copies import part_features
from underspec.ambiguity.erase import linear_features
from underspec.ambiguity.shift import shift_test
from underspec.data.generators import TASKS
from underspec.data.sources import load_source
from underspec.models.tile_order import tile_count


def summary(rows: list[dict]) -> list[str]:
    """Per task (its variants apart): runs, and in how many each test found a shift."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["task"] + (" (variant)" if r["variant"] else ""), []).append(r)
    lines = ["| task | runs | shift found: each image once | every item | passing over shared tiles "
             "| z, passing over shared tiles (min to max) |", "|---|---|---|---|---|---|"]
    for task, runs in groups.items():
        tiled = [r["parts"] for r in runs if r.get("parts")]
        z = f"{min(p['z'] for p in tiled)} to {max(p['z'] for p in tiled)}" if tiled else ""
        parts = f"{sum(p['detected'] for p in tiled)} of {len(tiled)} tiled" if tiled else ""
        lines.append(f"| {task} | {len(runs)} | {sum(r['detected'] for r in runs)} "
                     f"| {sum(r['every_item']['detected'] for r in runs)} | {parts} | {z} |")
    return lines


def markdown(result: dict) -> str:
    lines = ["# Two-sample test of labeled against target items, per task", "",
             f"Command: `{result['command']}`", "",
             "Nearest-neighbour test (k = 10, 1,000 permutations) on 64 linear features; the solver "
             "skips its verification labels when p >= 0.05 and its heads find no ambiguity; on items made of "
             "tiles it runs the last test below whatever the heads found, and keeps the best-fitting hypothesis "
             "alone when it finds no shift. First with each image once (one item per group of near copies in "
             "each sample), then on every item (the solver's test on items without tiles), then on every item "
             "passing over an item's neighbours that hold a near copy of one of its tiles (the solver's test on "
             "tiled items).", "",
             *summary(result["rows"]), "",
             "| seed | task | variant | labeled / target | z | p | shift detected | z, every item | p, every item "
             "| detected, every item | z, parts | p, parts | detected, parts | seconds |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        v = ", ".join(f"{k} {val}" for k, val in r["variant"].items() if k != "task")
        every = r["every_item"]
        parts = r.get("parts") or {"z": "", "p_value": "", "detected": "(no tiles)"}
        lines.append(f"| {r['seed']} | {r['task']} | {v} | {r['n'][0]} / {r['n'][1]} | {r['z']} | {r['p_value']} "
                     f"| {r['detected']} | {every['z']} | {every['p_value']} | {every['detected']} "
                     f"| {parts['z']} | {parts['p_value']} | {parts['detected']} | {r['seconds']} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="digits", choices=sorted(ORACLE_ITEMS))
    parser.add_argument("--mnist", default=str(SHARED / "mnist" / "mnist.npz"))
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--variants", type=int, default=4)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    source = load_source(args.source, args.mnist if args.source == "mnist" else None)
    names = [n for n, s in TASKS.items() if s.needs in ("digits", "none")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for name, params in jobs(names, args.variants, seed):  # the runs of bench/calibration.py
                task = generate_run(name, params, source, seed, Path(tmp))[1]
                started = time.perf_counter()
                F = linear_features(np.concatenate([task.X_labeled, task.X_val]), 64, seed)
                A, B = F[:len(task.X_labeled)], F[len(task.X_labeled):]
                test = shift_test(A, B, seed=seed, each_image_once=True)
                every = shift_test(A, B, seed=seed, each_image_once=False)
                k = tile_count(task.X_val.shape[1:]) if task.X_val.ndim == 4 else 1
                parts = None
                if k > 1:
                    P = part_features(np.concatenate([task.X_labeled, task.X_val]), k, 64, seed)
                    parts = shift_test(A, B, seed=seed, parts=(P[:len(A)], P[len(A):])).as_dict()
                rows.append({"seed": seed, "task": name, "variant": params,
                             "n": [len(task.X_labeled), len(task.X_val)], **test.as_dict(),
                             "every_item": every.as_dict(), "parts": parts,
                             "seconds": round(time.perf_counter() - started, 2)})
                print(rows[-1], flush=True)
    name = "shift-test" if args.source == "digits" else f"shift-test-{args.source}"
    result = {"command": "python bench/shift_test.py " + " ".join(sys.argv[1:]), "rows": rows}
    save(Path(args.out), name, result, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
