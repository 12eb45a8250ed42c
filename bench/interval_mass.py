"""Calibrate the reported 90% interval on kept decisions: which posterior mass covers 90% of truths?

The interval ``decide`` reports is the shortest one holding a share (``interval_mass``) of the
draws of the accuracy. Its priors are conservative on purpose (a hidden shift, a coin toss),
so an interval holding 90% of the draws covers more than 90% of the truths (0.966 on the 697
digits runs of ``calibration-before-interval-mass/``). This script takes the split-conformal
route (Vovk et al. 2005; the recalibration of Kuleshov et al. 2018, for one level): each run's
*level* is the least mass whose reported interval (the shortest, widened to hold the estimate:
:func:`~underspec.ambiguity.decide.reported_interval`) holds its true accuracy; on the runs of
the ``--fit`` seeds, the ``ceil((n + 1) 0.9)``-th smallest level is the mass whose intervals cover at least 90% of new
runs drawn like them. The runs of the other seeds and of the other folders (e.g. MNIST) check it.
Only the interval changes: the decision reads ``p_better``, not the interval.

With ``--by-classes 2,3,4`` the mass is chosen apart for the runs of 2 classes, of 3, and of 4
or more (Mondrian conformal prediction, Vovk et al. 2005, ch. 4: the guarantee then holds in
each stratum; one mass for all let the intervals of 5-class runs hold 0.65 of their truths
while those of 2-class runs held 0.96).

    python bench/interval_mass.py bench/work/keep-digits-0-20 --fit 0-10 [--by-classes 2,3,4] [--name NAME]
    python bench/interval_mass.py bench/work/keep-mnist --mass 0.8 [--name NAME]
    python bench/interval_mass.py ... --settings '{"coin_doubts_agreed": true}'  (under other priors)
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import sys
from pathlib import Path

import numpy as np

from calibration import load_decision, seed_range
from results_io import save
from underspec.ambiguity.decide import accuracy_draws, reported_interval

DRAWS_KEYWORDS = set(inspect.signature(accuracy_draws).parameters)
"""The keywords of a kept decision that make the draws of the accuracy (the rest only decide)."""


def truth_level(samples: np.ndarray, truth: float, steps: int = 30) -> float:
    """The least mass whose reported interval of ``samples`` holds ``truth`` (bisection; 1 if
    even the whole range misses it)."""
    low, high = reported_interval(samples, 1.0)
    if not low <= truth <= high:
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(steps):
        mid = (lo + hi) / 2
        a, b = reported_interval(samples, mid)
        lo, hi = (lo, mid) if a <= truth <= b else (mid, hi)
    return hi


def conformal_mass(levels: np.ndarray, coverage: float = 0.9) -> float:
    """The split-conformal quantile of ``levels``: the ``ceil((n + 1) coverage)``-th smallest."""
    n = len(levels)
    rank = min(n, math.ceil((n + 1) * coverage))
    return float(np.sort(levels)[rank - 1])


def runs(folders: list[Path], settings: dict | None = None) -> list[dict]:
    """Every kept run's task, seed, truth, draws of the accuracy (under ``settings``, decide()
    keywords over the solver's own) and level."""
    out = []
    for folder in folders:
        for path in sorted(folder.glob("*.npz")):
            row, inputs, _ = load_decision(path)
            kwargs = {k: v for k, v in {**inputs, **(settings or {})}.items() if k in DRAWS_KEYWORDS}
            samples = accuracy_draws(**kwargs).samples
            out.append({"folder": str(folder), "task": row["task"], "variant": bool(row["variant"]),
                        "seed": row["seed"], "classes": int(inputs["proba"].shape[-1]), "truth": row["truth"],
                        "samples": samples,
                        "level": truth_level(samples, row["truth"])})
    return out


def stratum(classes: int, starts: list[int]) -> int:
    """The first of ``starts`` (ascending numbers of classes) that a run of ``classes`` falls
    under: its own, or the largest one below it."""
    return max([s for s in starts if s <= classes] or starts[:1])


def coverage(part: list[dict], masses: dict[int, float], starts: list[int]) -> dict:
    """Coverage, misses below and above and mean width of the intervals holding each run's
    stratum's mass (``masses``: stratum -> mass)."""
    mass = [masses[stratum(r["classes"], starts)] for r in part]
    bounds = np.array([reported_interval(r["samples"], m) for r, m in zip(part, mass, strict=True)])
    truth = np.array([r["truth"] for r in part])
    return {"runs": len(part), "mass": round(float(np.mean(mass)), 4),
            "coverage_90": round(float(np.mean((bounds[:, 0] <= truth) & (truth <= bounds[:, 1]))), 3),
            "below_low": round(float(np.mean(truth < bounds[:, 0])), 3),
            "above_high": round(float(np.mean(truth > bounds[:, 1])), 3),
            "mean_width": round(float(np.mean(bounds[:, 1] - bounds[:, 0])), 4)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="--keep-decisions folders of bench/calibration.py")
    parser.add_argument("--fit", default=None, metavar="A-B",
                        help="seeds whose runs (of the first folder) choose the mass")
    parser.add_argument("--mass", type=float, default=None, help="no fit: check this mass")
    parser.add_argument("--by-classes", default="2", metavar="2,3,4",
                        help="with --fit: a mass apart for each stratum of runs from these numbers of classes up")
    parser.add_argument("--settings", default="{}", help="decide() keywords over the solver's own, JSON")
    parser.add_argument("--name", default=None, help="write bench/results/NAME.{md,json}")
    args = parser.parse_args()
    if (args.fit is None) == (args.mass is None):
        raise SystemExit("expected exactly one of --fit and --mass")
    starts = sorted(int(c) for c in args.by_classes.split(",")) if args.fit else [2]
    every = runs([Path(f) for f in args.folders], json.loads(args.settings))
    if args.fit:
        first, last = seed_range(args.fit, f"--fit {args.fit!r}")
        fit = [r for r in every if r["folder"] == args.folders[0] and first <= r["seed"] <= last]
        masses = {s: conformal_mass(np.array([r["level"] for r in fit if stratum(r["classes"], starts) == s]))
                  for s in starts}
    else:
        fit, masses = [], {2: args.mass}
    fitted = {id(r) for r in fit}
    check = [r for r in every if id(r) not in fitted]
    parts = {"fit": fit, "check": check} if fit else {"check": check}
    by_folder = {f"check, {f}": [r for r in check if r["folder"] == f] for f in args.folders}
    parts.update({k: v for k, v in by_folder.items() if len(by_folder) > 1 and v})
    if len(starts) > 1:
        parts.update({f"{name}, {s}{'+' if s == starts[-1] else ''} classes": sub for name, part in list(parts.items())
                      for s in starts if (sub := [r for r in part if stratum(r["classes"], starts) == s])})
    flat = dict.fromkeys(starts, 0.9)
    table = [{"part": name, "at": label, **coverage(part, m, starts)}
             for name, part in parts.items() if part for label, m in (("0.9", flat), ("chosen", masses))]
    command = "python bench/interval_mass.py " + " ".join(sys.argv[1:])
    for line in table:
        print(line)
    if args.name:
        keys = ("part", "at", "runs", "mass", "coverage_90", "below_low", "above_high", "mean_width")
        md = ["# The reported interval's mass, calibrated on kept decisions", "", f"Command: `{command}`", "",
              __doc__.split("\n\n")[1].replace("\n", " "), "",
              "Mass chosen: " + ", ".join(f"**{m:.4f}**" + (f" ({s}{'+' if s == starts[-1] else ''} classes)"
                                                               if len(starts) > 1 else "") for s, m in masses.items())
              + (f" (split-conformal on the {len(fit)} runs of seeds {args.fit})" if fit else " (given)") + ".", "",
              "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        md += ["| " + " | ".join(str(line[k]) for k in keys) + " |" for line in table]
        save(Path(__file__).parent / "results", args.name,
             {"command": command, "mass": masses[starts[0]] if len(starts) == 1 else None,
              "mass_by_classes": {str(s): m for s, m in masses.items()}, "fit_seeds": args.fit, "rows": table,
              "levels": [{k: r[k] for k in ("folder", "task", "variant", "seed", "classes", "truth", "level")}
                         for r in every]},
             "\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
