"""Merge calibration runs over disjoint seeds into one result (``calibration.{md,json}``).

    python bench/merge_calibration.py OUT RUN_DIR RUN_DIR ...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from calibration import markdown, reliability_png, summarise
from results_io import save


def main() -> int:
    out, runs = Path(sys.argv[1]), [json.loads((Path(d) / "calibration.json").read_text()) for d in sys.argv[2:]]
    rows = [r for run in runs for r in run["rows"]]
    seeds = sorted({r["seed"] for r in rows})
    if len(seeds) != sum(run["seeds"] for run in runs):
        raise SystemExit("the runs' seeds overlap")
    result = {"command": " + ".join(run["command"] for run in runs) + "  (merged: python bench/merge_calibration.py "
              + " ".join(sys.argv[1:]) + ")", "source": runs[0]["source"], "seeds": len(seeds),
              "variants_per_seed": runs[0]["variants_per_seed"], "rows": rows, "summary": summarise(rows)}
    result["reliability_png"] = reliability_png(rows)
    save(out, "calibration", {**result, "reliability_png": "(in calibration.md)"}, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
