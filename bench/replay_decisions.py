"""Replay the submit-or-abstain decisions of a calibration run under other priors.

``bench/calibration.py --keep-decisions DIR`` saves, for every task-run, what
:func:`underspec.ambiguity.decide.decide` was called with. The final predictions and the labels
bought do not depend on the decision's priors, so replaying ``decide`` with other keyword
arguments gives exactly what a new calibration run with those priors would report, in seconds
instead of an hour. Each replay prints the summary lines of ``bench/calibration.py``.

    python bench/replay_decisions.py DIR '{}' '{"ceiling": 0.9}' ...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from calibration import load_decision, summarise
from underspec.ambiguity.decide import decide

KEYS = ("within_1_point_of_oracle", "coverage_90", "wrong_submissions", "wrong_submissions_not_identifiable",
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


def main() -> int:
    folder = Path(sys.argv[1])
    for text in sys.argv[2:] or ["{}"]:
        rows = replay(folder, json.loads(text))
        overall = summarise(rows)["overall"]
        print(text, {k: overall[k] for k in KEYS})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
