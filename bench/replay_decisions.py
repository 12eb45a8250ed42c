"""Replay the submit-or-abstain decisions of a calibration run under other priors.

``bench/calibration.py --keep-decisions DIR`` saves, for every task-run, what
:func:`underspec.ambiguity.decide.decide` was called with. The final predictions and the labels
bought do not depend on the decision's priors, so replaying ``decide`` with other keyword
arguments gives exactly what a new calibration run with those priors would report, in seconds
instead of an hour. Each replay prints the summary lines of ``bench/calibration.py``.

    python bench/replay_decisions.py [--name NAME] DIR '{}' '{"ceiling": 0.9}' ...

Every run gets ``chosen_holdout`` from its row as the solver takes it now
(:func:`calibration.load_decision`; ``'{"chosen_holdout": null}'`` replays without it,
``'{"chosen_holdout_of": "mean"}'`` with the mean of the chosen hypothesis's heads, as before
2026-12-07).

Settings are decide()'s keyword arguments, plus the solver's ``gap_bimodality`` and
``gapless_none_prior`` (both together): each run's task is then generated again to measure how
clearly its hypotheses cut the disputed items (:mod:`underspec.ambiguity.cuts`).

With ``--name`` the table goes to ``bench/results/NAME.{md,json}`` (with at most
:data:`FEW_RUNS` runs, every run's estimate and interval under each setting too); with ``--out DIR`` and one
setting, the whole calibration result (``calibration.{md,json}`` of ``bench/calibration.py``,
per task, with the reliability diagram) of the replayed decisions goes to ``DIR``.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

import numpy as np

from calibration import ORACLE_ITEMS, generator_kwargs, load_decision, markdown, reliability_png, summarise
from results_io import SHARED, save
from underspec.ambiguity.cuts import task_cut_bimodality
from underspec.ambiguity.decide import decide
from underspec.ambiguity.hypotheses import group_holdout
from underspec.ambiguity.query import reweigh_none
from underspec.data.generators import generate
from underspec.data.sources import load_source
from underspec.pipelines.solve import SolveSettings

KEYS = ("coverage_90", "below_low", "above_high", "wrong_submissions", "wrong_submissions_not_identifiable",
        "needless_abstentions", "share_of_oracle_policy", "points", "points_always_submit")


RUN_KEYS = ("task", "seed", "truth", "estimate", "low", "high", "decision")
FEW_RUNS = 30
"""With at most this many runs, ``--name``'s table lists every run under each setting."""

GAP_KEYS = ("gap_bimodality", "gapless_none_prior")
"""Solver settings a replay can apply (the rest of the settings go to decide())."""


@functools.cache
def best_cut(path: Path, source: str) -> float | None:
    """The run's :func:`task_cut_bimodality`, on its task generated again (same seed and variant)."""
    row, inputs, _ = load_decision(path)
    src = load_source(source, SHARED / "mnist" / "mnist.npz" if source == "mnist" else None)
    params = {k: (tuple(v) if isinstance(v, list) else v) for k, v in row["variant"].items()}
    task, _ = generate(row["task"], source=src, seed=row["seed"], oracle_items=ORACLE_ITEMS[source],
                       **generator_kwargs(row["task"], params, src))
    target_pred = inputs["proba"].argmax(-1)
    if len(target_pred) < 2 or task.X_val.ndim < 3:
        return None
    return task_cut_bimodality(task.X_labeled, task.X_val, target_pred, seed=row["seed"])


def none_prior_of(cut: float | None, gap_bimodality: float, gapless_none_prior: float) -> float:
    """The prior "none" starts at in a run whose best cut is ``cut`` under these gap settings."""
    gapless = cut is not None and cut < gap_bimodality
    return gapless_none_prior if gapless else SolveSettings.none_prior


def gapless_posterior(posterior: np.ndarray, cut: float | None, settings: dict) -> np.ndarray:
    """The posterior the solver passes on under ``settings``' gap guard: "none" restarted at
    ``gapless_none_prior`` when no hypothesis cuts the disputed items along a gap
    (:meth:`HypothesisPosterior.posterior_under`). The saved posterior was passed on under the
    solver's own guard (``SolveSettings``' defaults), so it is reweighed from the prior it
    started at there, not from ``none_prior`` (a run the guard already caught is not caught
    twice)."""
    if len(posterior) < 3:
        return posterior
    saved = none_prior_of(cut, SolveSettings.gap_bimodality, SolveSettings.gapless_none_prior)
    wanted = none_prior_of(cut, settings["gap_bimodality"], settings["gapless_none_prior"])
    return posterior if saved == wanted else reweigh_none(posterior, saved, wanted)


def replay(folder: Path, overrides: dict, source: str = "digits") -> list[dict]:
    """Every saved run's row with the decision taken again under ``overrides`` (decide()
    settings, and optionally both ``GAP_KEYS``)."""
    rows = []
    gap = {k: overrides[k] for k in GAP_KEYS if k in overrides}
    mean_holdout = overrides.get("chosen_holdout_of") == "mean"
    overrides = {k: v for k, v in overrides.items() if k not in (*GAP_KEYS, "chosen_holdout_of")}
    for path in sorted(folder.glob("*.npz")):
        row, inputs, _ = load_decision(path)
        if mean_holdout and inputs.get("chosen_holdout") is not None:
            inputs["chosen_holdout"] = group_holdout(row["holdout_accuracy"], row["heads"][inputs["chosen"]])
        if gap:
            inputs["posterior"] = gapless_posterior(np.asarray(inputs["posterior"], float), best_cut(path, source), gap)
        verdict = decide(**{**inputs, **overrides})
        rows.append({**row, "estimate": round(verdict.estimate, 4), "low": round(verdict.low, 4),
                     "high": round(verdict.high, 4), "decision": verdict.decision})
    return rows


def write_calibration(folder: Path, overrides: dict, out: Path, source: str) -> None:
    """``out/calibration.{md,json}`` of every run saved in ``folder``, decided under ``overrides``."""
    rows = replay(folder, overrides, source)
    command = f"python bench/replay_decisions.py {folder} '{json.dumps(overrides)}' --out {out} --source {source}"
    result = {"command": command + "  (the decisions of the runs saved in the folder, taken again under these "
              "decide() settings; predictions and labels as the runs made them)",
              "source": source, "seeds": len({r["seed"] for r in rows}),
              "variants_per_seed": sum(bool(r["variant"]) for r in rows) // len({r["seed"] for r in rows}),
              "rows": rows, "summary": summarise(rows)}
    result["reliability_png"] = reliability_png(rows)
    save(out, "calibration", {**result, "reliability_png": "(in calibration.md)"}, markdown(result))
    print(json.dumps(result["summary"]["overall"], indent=1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a calibration run's --keep-decisions folder")
    parser.add_argument("settings", nargs="*", default=["{}"], help="decide() keyword arguments, JSON")
    parser.add_argument("--name", default=None, help="write bench/results/NAME.{md,json}")
    parser.add_argument("--out", default=None, help="with one setting: write DIR/calibration.{md,json}")
    parser.add_argument("--source", default="digits", help="the runs' source, for --out's title")
    args = parser.parse_args()
    if args.out:
        if len(args.settings) != 1:
            raise SystemExit("--out: expected exactly one setting")
        write_calibration(Path(args.folder), json.loads(args.settings[0]), Path(args.out), args.source)
        return 0
    lines, every = [], []
    for text in args.settings:
        rows = replay(Path(args.folder), json.loads(text), args.source)
        overall = summarise(rows)["overall"]
        lines.append({"settings": json.loads(text), "runs": overall["runs"], **{k: overall[k] for k in KEYS}})
        every.append([{k: r[k] for k in RUN_KEYS} for r in rows])
        print(lines[-1], flush=True)
    if args.name:
        command = "python bench/replay_decisions.py " + " ".join(
            a if not a.startswith("{") else f"'{a}'" for a in sys.argv[1:])
        table = ["# Decisions replayed under other priors", "", f"Command: `{command}`", "",
                 "Every run's decision taken again from the saved inputs of decide() (the predictions "
                 "and the labels bought do not change); `{}` is the solver's own setting.", "",
                 "| decide() settings | runs | " + " | ".join(KEYS) + " |",
                 "|---|---|" + "---|" * len(KEYS)]
        table += [f"| `{json.dumps(r['settings'])}` | {r['runs']} | " + " | ".join(str(r[k]) for k in KEYS) + " |"
                  for r in lines]
        if len(every[0]) <= FEW_RUNS:
            table += ["", "## Every run", "", "| decide() settings | " + " | ".join(RUN_KEYS) + " | covered |",
                      "|---|" + "---|" * (len(RUN_KEYS) + 1)]
            table += [f"| `{json.dumps(r['settings'])}` | " + " | ".join(str(run[k]) for k in RUN_KEYS)
                      + f" | {run['low'] <= run['truth'] <= run['high']} |"
                      for r, runs in zip(lines, every, strict=True) for run in runs]
        save(Path(__file__).parent / "results", args.name, {"command": command, "rows": lines,
                                                             **({"runs": every} if len(every[0]) <= FEW_RUNS else {})},
             "\n".join(table) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
