"""How well a hypothesis's held-out accuracy foretells what the final model reads on the disputed items.

``decide`` bounds the prior mean of the chosen hypothesis's component of the disputed accuracy
by a held-out accuracy (``SolveSettings.holdout_prior``). Over the kept decisions of
``bench/calibration.py --keep-decisions`` (runs with two hypotheses or more, the chosen one at a
posterior above ``--min-posterior``, identifiable tasks), this script compares, by the number of
classes, the final model's true accuracy on the disputed target items with each candidate bound:

- ``group_mean``: the mean held-out accuracy of every head of the chosen group (the bound until
  2026-12-07);
- ``representative``: that of the head that represents the group (its first, best-fitting head,
  whose probabilities are the hypothesis's and teach the final model);
- ``final_confidence``: the final model's mean top probability on the disputed items
  (``decide(confidence_cap=True)``).

Mean error (bound minus truth), root mean square error and mean absolute error.

    python bench/holdout_bound.py bench/work/keep-ms-all bench/work/keep-fresh-all ... [--name NAME]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from calibration import load_decision
from results_io import save
from underspec.ambiguity.hypotheses import group_holdout, representative_holdout

BOUNDS = ("group_mean", "representative", "final_confidence")


def bounds_of(folder: Path, min_posterior: float) -> list[dict]:
    """Each kept run's number of classes, disputed truth and candidate bounds."""
    rows = []
    for path in sorted(folder.glob("*.npz")):
        row, inputs, _ = load_decision(path)
        posterior, chosen = np.asarray(inputs["posterior"]), inputs["chosen"]
        if len(posterior) < 3 or not row.get("heads") or not row["identifiable"] or posterior[chosen] <= min_posterior:
            continue
        hyp_pred = inputs["proba"].argmax(-1)
        disputed = (hyp_pred != hyp_pred[:1]).any(0)
        group = row["heads"][chosen]
        rows.append({"folder": str(folder), "classes": int(inputs["proba"].shape[-1]),
                     "disputed_truth": row["disputed_truth"],
                     "group_mean": group_holdout(row["holdout_accuracy"], group),
                     "representative": representative_holdout(row["holdout_accuracy"], group),
                     "final_confidence": float(inputs["final_proba"][disputed].max(1).mean())})
    return rows


def errors(rows: list[dict], bound: str) -> dict:
    """Mean, root mean square and mean absolute error of ``bound`` against the disputed truth."""
    e = np.array([r[bound] - r["disputed_truth"] for r in rows])
    return {"mean_error": round(float(e.mean()), 4), "rmse": round(float(np.sqrt((e ** 2).mean())), 4),
            "mae": round(float(np.abs(e).mean()), 4)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="--keep-decisions folders of bench/calibration.py")
    parser.add_argument("--min-posterior", type=float, default=0.9)
    parser.add_argument("--name", default=None, help="write bench/results/NAME.{md,json}")
    args = parser.parse_args()
    rows = [r for f in args.folders for r in bounds_of(Path(f), args.min_posterior)]
    strata = {"2 classes": [r for r in rows if r["classes"] == 2],
              "3 to 5 classes": [r for r in rows if r["classes"] >= 3], "all": rows}
    table = [{"runs": name, "n": len(part), "bound": bound, **errors(part, bound)}
             for name, part in strata.items() if part for bound in BOUNDS]
    command = "python bench/holdout_bound.py " + " ".join(sys.argv[1:])
    keys = ("runs", "n", "bound", "mean_error", "rmse", "mae")
    md = ["# The chosen hypothesis's bound against the final model's disputed accuracy", "",
          f"Command: `{command}`", "", __doc__.split("\n\n")[1].replace("\n", " "), "",
          "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    md += ["| " + " | ".join(str(line[k]) for k in keys) + " |" for line in table]
    if args.name:
        save(Path(__file__).parent / "results", args.name, {"command": command, "rows": table, "runs": rows},
             "\n".join(md) + "\n")
    else:
        print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
