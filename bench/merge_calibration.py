"""Merge calibration runs over disjoint seeds into one result (``calibration.{md,json}``), or,
with ``--replace``, put the rows of later runs in place of the first run's rows of the same
task-runs (seed, task, variant): the first run measured again after a change that alters only
those task-runs (e.g. a setting read only for vector items).

    python bench/merge_calibration.py OUT RUN_DIR RUN_DIR ...
    python bench/merge_calibration.py OUT BASE_DIR --replace RUN_DIR ...
    python bench/merge_calibration.py OUT BASE_DIR --add RUN_DIR ...   # other task-runs of the same seeds
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from calibration import markdown, reliability_png, summarise
from compare_calibrations import pair_key
from results_io import save


def replaced(base: list[dict], later: list[dict]) -> list[dict]:
    """``base``'s rows with each row of ``later`` in place of the base row of its task-run; every
    row of ``later`` must have one."""
    new = {pair_key(r): r for r in later}
    missing = set(new) - {pair_key(r) for r in base}
    if missing:
        raise SystemExit(f"{len(missing)} task-runs of the later runs are not in the base run, e.g. {min(missing)}")
    return [new.get(pair_key(r), r) for r in base]


def added(base: list[dict], later: list[dict]) -> list[dict]:
    """``base``'s rows, then ``later``'s (task-runs of the same seeds that ``base`` does not hold:
    e.g. variants drawn apart with ``bench/calibration.py --variant-classes``)."""
    held = {pair_key(r) for r in base}
    overlap = [pair_key(r) for r in later if pair_key(r) in held]
    if overlap:
        raise SystemExit(f"{len(overlap)} task-runs of the later runs are in the base run already, e.g. {overlap[0]}")
    return base + later


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("runs", nargs="+", type=Path)
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--replace", action="store_true",
                     help="the runs after the first replace its rows of the same task-runs")
    how.add_argument("--add", action="store_true",
                     help="the runs after the first add task-runs it does not hold (the same seeds allowed)")
    args = parser.parse_intermixed_args()
    runs = [json.loads((d / "calibration.json").read_text()) for d in args.runs]
    later = [r for run in runs[1:] for r in run["rows"]]
    if args.replace:
        rows = replaced(runs[0]["rows"], later)
    elif args.add:
        rows = added(runs[0]["rows"], later)
    else:
        rows = [r for run in runs for r in run["rows"]]
    seeds = sorted({r["seed"] for r in rows})
    if not (args.replace or args.add) and len(seeds) != sum(run["seeds"] for run in runs):
        raise SystemExit("the runs' seeds overlap")
    result = {"command": " + ".join(run["command"] for run in runs) + "  (merged: python bench/merge_calibration.py "
              + " ".join(sys.argv[1:]) + ")", "source": runs[0]["source"], "seeds": len(seeds),
              "variants_per_seed": (" + ".join(str(run["variants_per_seed"]) for run in runs) if args.add
                                    else runs[0]["variants_per_seed"]), "rows": rows, "summary": summarise(rows)}
    result["reliability_png"] = reliability_png(rows)
    save(args.out, "calibration", {**result, "reliability_png": "(in calibration.md)"}, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
