"""Issue 24's "within 1 point of the oracle" for underspec beside the oracle trained again, run by run.

``bench/calibration.py`` counts a run as good when underspec's target accuracy is at least the
oracle's minus 0.01; ``bench/oracle_noise.py`` trains the same oracle again (another training
seed, the same items) on the same runs. Joined on (task, seed, variant), the share of runs the
oracle's second training passes is what the criterion gives a method exactly as good as the
oracle on these runs: the floor under the target. Reads result JSONs only (no training):

    python bench/oracle_floor.py --calibration calibration.json \\
        --noise oracle-noise-digits.json,oracle-noise-digits-five-classes.json --name oracle-floor-digits-0-40
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from calibration import class_count
from compare_calibrations import pair_key
from results_io import save

RESULTS = Path(__file__).parent / "results"


def joined(calibration: list[dict], noise: list[dict]) -> list[dict]:
    """Identifiable calibration rows with their oracle trained again: whether each passes."""
    again = {pair_key(r): r for r in noise}
    rows = []
    for r in calibration:
        if not r.get("identifiable", True) or pair_key(r) not in again:
            continue
        o = again[pair_key(r)]
        rows.append({"task": r["task"], "seed": r["seed"], "classes": class_count(r),
                     "scale": r["variant"].get("scale", 1.0), "underspec": r["truth"] >= r["oracle"] - 0.01,
                     "oracle_again": o["oracle_again"] >= o["oracle"] - 0.01})
    return rows


def summarise(rows: list[dict]) -> dict:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups["**overall**"].append(r)
        groups[f"{r['classes']} classes"].append(r)
        groups[f"scale {r['scale']}"].append(r)

    def stats(part: list[dict]) -> dict:
        n = len(part)
        both = sum(r["underspec"] and r["oracle_again"] for r in part)
        u, o = sum(r["underspec"] for r in part), sum(r["oracle_again"] for r in part)
        return {"runs": n, "underspec_within_1_point": round(u / n, 3), "oracle_again_within_1_point": round(o / n, 3),
                "both": both, "underspec_only": u - both, "oracle_again_only": o - both,
                "neither": n - u - o + both}

    return {k: stats(v) for k, v in sorted(groups.items(), key=lambda kv: (kv[0] != "**overall**", kv[0]))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibration", required=True, help="a calibration JSON (under bench/results unless a path)")
    parser.add_argument("--noise", required=True, help="oracle_noise JSONs of the same runs, comma-separated")
    parser.add_argument("--name", required=True)
    args = parser.parse_args()

    def read(name: str) -> dict:
        path = Path(name) if Path(name).exists() else RESULTS / name
        return json.loads(path.read_text())

    calibration = read(args.calibration)
    noise = [r for name in args.noise.split(",") for r in read(name)["rows"]]
    rows = joined(calibration["rows"], noise)
    summary = summarise(rows)
    command = "python bench/oracle_floor.py " + " ".join(sys.argv[1:])
    cols = ["runs", "underspec_within_1_point", "oracle_again_within_1_point", "both", "underspec_only",
            "oracle_again_only", "neither"]
    lines = ["# Within 1 point of the oracle: underspec beside the oracle trained again", "",
             f"Command: `{command}`", "",
             f"Calibration: `{calibration['command']}`. Identifiable runs of the calibration joined with the "
             "same runs of `bench/oracle_noise.py` (the oracle trained again on the same items, another training "
             "seed). `oracle_again_within_1_point`: what issue 24's criterion gives a method exactly as good as "
             "the oracle on these runs (before any draw of its items); `underspec_only` / `oracle_again_only`: runs "
             "that one passes and the other does not.", "",
             "| group | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    lines += [f"| {k} | " + " | ".join(str(v[c]) for c in cols) + " |" for k, v in summary.items()]
    save(RESULTS, args.name, {"command": command, "calibration": calibration["command"], "rows": rows,
                              "summary": summary}, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
