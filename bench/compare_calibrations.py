"""Compare two runs of ``bench/calibration.py`` task-run by task-run (not a test).

The runs are paired by generation seed, task and variant; only the task-runs both finished
count. For each run, the summary lines of ``bench/calibration.py``, and per task the mean target
accuracy and how often the task was found ambiguous.

    python bench/compare_calibrations.py A/calibration.json B/calibration.json --labels before,after
        [--name NAME] [--about TEXT]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from calibration import summarise
from results_io import save

KEYS = ("mean_truth", "within_1_point_of_oracle", "below_plain_by_1_point", "coverage_90", "wrong_submissions",
        "needless_abstentions", "share_of_oracle_policy", "points", "points_always_submit")


def pair_key(row: dict) -> tuple:
    return row["seed"], row["task"], json.dumps(row["variant"], sort_keys=True)


def task_name(row: dict) -> str:
    return row["task"] + (" (variant)" if row["variant"] else "")


def markdown(result: dict) -> str:
    runs = result["runs"]
    lines = ["# Two calibration runs compared task-run by task-run", "",
             f"Command: `{result['command']}`", "",
             f"{result['pairs']} task-runs finished by both (generation seeds {result['seeds']}). "
             + result["about"], "",
             "| run | " + " | ".join(KEYS) + " | no_shift found ambiguous | trojan found ambiguous |",
             "|---|" + "---|" * (len(KEYS) + 2)]
    for name in runs:
        s = result["summary"][name]
        lines.append(f"| {name} | " + " | ".join(str(s[k]) for k in KEYS)
                     + f" | {s['no_shift_ambiguous']} | {s['trojan_ambiguous']} |")
    lines += ["", "Mean target accuracy per task (and runs found ambiguous):", "",
              "| task | runs | " + " | ".join(runs) + " |", "|---|---|" + "---|" * len(runs)]
    for task, per in result["by_task"].items():
        lines.append(f"| {task} | {per['runs']} | "
                     + " | ".join(f"{per[n]['truth']} ({per[n]['ambiguous']})" for n in runs) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--labels", default="first,second")
    parser.add_argument("--about", default="", help="what the runs are, for the Markdown")
    parser.add_argument("--name", default=None, help="write bench/results/NAME.{md,json}")
    args = parser.parse_args()
    first, second = (json.loads(Path(p).read_text())["rows"] for p in (args.first, args.second))
    by_key = {pair_key(r): r for r in second}
    pairs = [(r, by_key[pair_key(r)]) for r in first if pair_key(r) in by_key]
    if not pairs:
        print("no task-run in both", file=sys.stderr)
        return 2
    names = args.labels.split(",")
    runs = {names[0]: [a for a, _ in pairs], names[1]: [b for _, b in pairs]}
    summary = {}
    for name, rows in runs.items():
        s = summarise(rows)["overall"]
        summary[name] = {**{k: s[k] for k in KEYS},
                         "no_shift_ambiguous": f"{sum(r['ambiguous'] for r in rows if r['task'] == 'no_shift')} of "
                                               f"{sum(r['task'] == 'no_shift' for r in rows)}",
                         "trojan_ambiguous": f"{sum(r['ambiguous'] for r in rows if r['task'] == 'trojan')} of "
                                             f"{sum(r['task'] == 'trojan' for r in rows)}"}
    by_task: dict[str, dict] = {}
    for i, (a, _) in enumerate(pairs):
        per = by_task.setdefault(task_name(a), {"runs": 0, **{n: {"truth": 0.0, "ambiguous": 0} for n in runs}})
        per["runs"] += 1
        for name, rows in runs.items():
            per[name]["truth"] += rows[i]["truth"]
            per[name]["ambiguous"] += int(rows[i]["ambiguous"])
    for per in by_task.values():
        for name in runs:
            per[name]["truth"] = round(per[name]["truth"] / per["runs"], 4)
    result = {"command": "python bench/compare_calibrations.py " + shlex.join(sys.argv[1:]), "pairs": len(pairs),
              "seeds": sorted({a["seed"] for a, _ in pairs}), "about": args.about,
              "runs": list(runs), "summary": summary, "by_task": dict(sorted(by_task.items()))}
    text = markdown(result)
    if args.name:
        save(Path(__file__).parent / "results", args.name, result, text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
