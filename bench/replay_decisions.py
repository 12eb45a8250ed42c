"""Replay the submit-or-abstain decisions of a calibration run under other priors.

``bench/calibration.py --keep-decisions DIR`` saves, for every task-run, what
:func:`underspec.ambiguity.decide.decide` was called with. The final predictions and the labels
bought do not depend on the decision's priors, so replaying ``decide`` with other keyword
arguments gives exactly what a new calibration run with those priors would report, in seconds
instead of an hour. Each replay prints the summary lines of ``bench/calibration.py``.

    python bench/replay_decisions.py [--name NAME] DIR '{}' '{"ceiling": 0.9}' ...

With ``--name`` the table goes to ``bench/results/NAME.{md,json}``; with ``--out DIR`` and one
setting, the whole calibration result (``calibration.{md,json}`` of ``bench/calibration.py``,
per task, with the reliability diagram) of the replayed decisions goes to ``DIR``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from calibration import load_decision, markdown, reliability_png, summarise
from results_io import save
from underspec.ambiguity.decide import decide

KEYS = ("coverage_90", "wrong_submissions", "wrong_submissions_not_identifiable",
        "needless_abstentions", "share_of_oracle_policy", "points", "points_always_submit")


def replay(folder: Path, overrides: dict) -> list[dict]:
    """Every saved run's row with the decision taken again under ``overrides``."""
    rows = []
    for path in sorted(folder.glob("*.npz")):
        row, inputs, _ = load_decision(path)
        verdict = decide(**{**inputs, **overrides})
        rows.append({**row, "estimate": round(verdict.estimate, 4), "low": round(verdict.low, 4),
                     "high": round(verdict.high, 4), "decision": verdict.decision})
    return rows


def write_calibration(folder: Path, overrides: dict, out: Path, source: str) -> None:
    """``out/calibration.{md,json}`` of every run saved in ``folder``, decided under ``overrides``."""
    rows = replay(folder, overrides)
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
    lines = []
    for text in args.settings:
        overall = summarise(replay(Path(args.folder), json.loads(text)))["overall"]
        lines.append({"settings": json.loads(text), "runs": overall["runs"], **{k: overall[k] for k in KEYS}})
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
        save(Path(__file__).parent / "results", args.name, {"command": command, "rows": lines},
             "\n".join(table) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
