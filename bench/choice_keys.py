"""The kept runs whose chosen hypothesis depends on how it is chosen (a list for ``settings_ab.py --runs keys:FILE``).

``bench/calibration.py --keep-decisions DIR`` saves each run's hypotheses' probabilities on the
target items and the posterior after every answer. For each run this lists whether
:func:`underspec.ambiguity.hypotheses.choose` picks another hypothesis ``--by`` one rule than by
the posterior alone, with every hypothesis's accuracy on the disputed items (the runs' true
labels are saved too). Only those runs can change when ``SolveSettings.choose_by`` does: the
others take the same path.

    python bench/choice_keys.py bench/work/keep-ms-all --by expected_accuracy --out bench/work/keys.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from underspec.ambiguity.hypotheses import choose


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a calibration run's --keep-decisions folder")
    parser.add_argument("--by", default="expected_accuracy")
    parser.add_argument("--out", required=True, help="the JSON list of runs to write")
    args = parser.parse_args()
    runs, listed = 0, []
    for path in sorted(Path(args.folder).glob("*.npz")):
        with np.load(path) as f:
            proba, posterior, y, row = f["proba"], f["posterior"], f["y"], json.loads(str(f["row"]))
        if len(proba) < 2:
            continue
        runs += 1
        old, new = choose(proba, posterior), choose(proba, posterior, args.by)
        if old != new:
            labels = proba.argmax(-1)
            disputed = (labels != labels[:1]).any(0)
            right = (labels == y)[:, disputed].mean(1)
            listed.append({"task": row["task"], "seed": row["seed"], "variant": row["variant"],
                           "identifiable": row["identifiable"], "chosen": [old, new],
                           "disputed_accuracy": [round(float(right[old]), 3), round(float(right[new]), 3)]})
            print(listed[-1])
    Path(args.out).write_text(json.dumps(listed, indent=1))
    print(f"{len(listed)} of {runs} runs with hypotheses to choose from choose otherwise")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
