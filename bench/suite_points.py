"""The 42-point suite scored with decisions, from the results of the runs that measured its parts
(not a test; it solves nothing).

The MNIST tasks come from ``bench/challenge.py`` (``challenge-96d1f73.json``: the MNIST suite
solved at 96d1f73, the same decisions as ``challenge-halves.json`` before it), vehicle_animal
and humans from ``bench/photographs.py``, each at one generation seed. A task scores its
target accuracy when it was submitted, its default otherwise, times its points (``../shared/spec/challenge.md``).

    python bench/suite_points.py [--seed 42] [--mnist challenge-96d1f73]
        [--vehicle-animal photographs-true-labels-first] [--humans photographs-humans-standardised]
        [--name suite-points]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from results_io import save
from underspec.data.generators import TASKS

RESULTS = Path(__file__).parent / "results"


def committed_in(name: str) -> str:
    """The commit that last wrote ``bench/results/NAME.json`` (the code it measured is that
    commit's or an earlier one's), or ``?`` outside a git checkout."""
    try:
        return subprocess.run(["git", "log", "-1", "--format=%h", "--", f"{name}.json"], cwd=RESULTS,
                              capture_output=True, text=True, check=True).stdout.strip() or "?"
    except (OSError, subprocess.CalledProcessError):
        return "?"


def load(name: str) -> dict:
    """``bench/results/NAME.json``, its rows tagged with the file they come from."""
    result = json.loads((RESULTS / f"{name}.json").read_text())
    return {**result, "rows": [{**row, "from": f"{name}.json"} for row in result["rows"]]}


def score(row: dict, task: str) -> dict:
    spec = TASKS[task]
    submitted = row["decision"] == "submit"
    return {"task": task, "points": spec.points, "default": spec.default_score, "accuracy": row["underspec"],
            "decision": row["decision"],
            "score": spec.points * (row["underspec"] if submitted else spec.default_score),
            "oracle_policy": spec.points * max(row["underspec"], spec.default_score),
            "from": row["from"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42, help="generation seed of the photograph rows")
    parser.add_argument("--mnist", default="challenge-96d1f73", help="bench/challenge.py result (seed 42)")
    parser.add_argument("--vehicle-animal", default="photographs-true-labels-first")
    parser.add_argument("--humans", default="photographs-humans-standardised")
    parser.add_argument("--name", default=None, help="write bench/results/NAME.{md,json}")
    args = parser.parse_args()
    parts = {}
    for name in (args.mnist, args.vehicle_animal, args.humans):
        try:
            parts[name] = load(name)
        except (OSError, ValueError, KeyError) as error:
            print(f"bench/results/{name}.json: {error}; expected a benchmark result with rows", file=sys.stderr)
            return 2
    scored = [score(r, r["task"].split("_", 1)[1]) for r in parts[args.mnist]["rows"]]
    for name, task in ((args.vehicle_animal, "vehicle_animal"), (args.humans, "humans")):
        row = next((r for r in parts[name]["rows"] if r["task"].endswith(task) and r["seed"] == args.seed), None)
        if row is None:
            print(f"{name}.json: no {task} row of seed {args.seed}", file=sys.stderr)
            return 2
        scored.append(score(row, task))
    total = round(sum(r["score"] for r in scored), 3)
    result = {"command": "python bench/suite_points.py " + " ".join(sys.argv[1:]), "seed": args.seed,
              "rows": scored, "points": sum(r["points"] for r in scored), "score_with_decisions": total,
              "score_oracle_policy": round(sum(r["oracle_policy"] for r in scored), 3),
              "score_all_default": round(sum(r["points"] * r["default"] for r in scored), 3),
              "commands": sorted(f"{name}.json (committed in {committed_in(name)}): {part['command']}"
                                 for name, part in parts.items())}
    lines = ["# The 42-point suite scored with decisions", "", f"Command: `{result['command']}`", "",
             "Composed from the runs that measured each part (generation seed 42 for the MNIST tasks, "
             f"seed {args.seed} for the photographs):", ""] + [f"- {c}" for c in result["commands"]] + [
             "", "| task | points | default | accuracy | decision | score | from |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['task']} | {r['points']:g} | {r['default']:g} | {r['accuracy']} | {r['decision']} | "
              f"{r['score']:.3f} | {r['from']} |" for r in scored]
    lines += ["", f"**Score with decisions: {total} of {result['points']:g}** (submitting exactly the tasks that "
              f"beat their default: {result['score_oracle_policy']}; nothing submitted: "
              f"{result['score_all_default']})."]
    text = "\n".join(lines) + "\n"
    if args.name:
        save(RESULTS, args.name, result, text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
