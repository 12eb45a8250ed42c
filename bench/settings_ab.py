"""Benchmark (not a test) of issue 24: task-runs of a calibration result solved again under
several solver settings, side by side, at today's code.

A calibration result's rows come from solves at the commits that made them; a change of the
solver is measured fairly only against today's code without it. This script regenerates the
chosen task-runs of ``bench/results/calibration.json`` (digits), solves each one under every
setting (the first is the baseline, ``{}``: today's defaults) and reports, per setting, the
mean accuracy, how many runs end within 1 point of their oracle (the oracle of the calibration
row: the same task generated again), wrong submissions and needless abstentions (as
``bench/calibration.py`` counts them), and every run beside its plain training and its oracle
(the full-label ceiling of the digits runs: the same network on 1,200 target items with their
true labels), both from the calibration row.

    python bench/settings_ab.py --runs variants:tint,brightness --name NAME '{}' '{"partition_views": ["statistics"]}'
    python bench/settings_ab.py --runs named:0-9 ...   # the named tasks of seeds 0-9 (pixel sums included)

``--render NAME`` writes ``NAME.md`` again from ``NAME.json`` (the plain training of each run
taken from the calibration row where the JSON lacks it); with ``--calibration-row``, the
calibration rows' own results come first as the baseline (for a setting solved alone).

``edited:FILE``: the runs in which ``bench/label_editing.py`` (its JSON result ``FILE``) saw
labeled items left out (the others are solved the same with and without ``edit_labels``).
``keys:FILE``: the runs a JSON list of ``{"task", "seed", "variant"}`` names.
``heads-below:G``: the runs where some head's held-out accuracy lies more than G below the
best head's (those a ``fit_gap`` of G can change; the others take the same path).
``seeds:A-B``: every run of generation seeds A to B, variants included (``seeds:A-B:N1,N2``:
of the tasks N1, N2 only); ``--source mnist --calibration FILE`` takes the runs of an MNIST
calibration result.
``variants:K1,K2``: the variant runs whose shortcut kind is one of those (identifiable ones);
``named:A-B``: the suite's tasks of generation seeds A to B, the embedding tasks left out (their
items are vectors, which no partition reads); ``tasks:N1,N2:A-B``: the named tasks N1, N2 of
generation seeds A to B.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from calibration import generate_run, seed_range
from compare_calibrations import pair_key
from results_io import SHARED, save
from underspec.data.generators import TASKS
from underspec.data.sources import load_source
from underspec.oracles import AnswersOracle
from underspec.pipelines.solve import SolveSettings, solve

RESULTS = Path(__file__).parent / "results"
ROW_FIELDS = ("task", "variant", "seed", "identifiable", "plain", "oracle", "default")
"""What each run keeps of its calibration row."""


def pick(rows: list[dict], spec: str) -> list[dict]:
    """The calibration rows ``spec`` names (see the module docstring)."""
    kind, _, value = spec.partition(":")
    if kind == "named":
        low, high = seed_range(value, f"--runs {spec!r}")
        return [r for r in rows if not r["variant"] and low <= r["seed"] <= high and not r["task"].startswith("embed")]
    if kind == "variants":
        kinds = value.split(",")
        return [r for r in rows if r["identifiable"] and r["variant"] and r["variant"].get("shortcut") in kinds]
    if kind == "seeds":  # every run of those seeds, named tasks and variants, or of the tasks named
        seeds, _, names = value.partition(":")
        low, high = seed_range(seeds, f"--runs {spec!r}")
        return [r for r in rows if low <= r["seed"] <= high and (not names or r["task"] in names.split(","))]
    if kind == "tasks":
        names, _, seeds = value.partition(":")
        low, high = seed_range(seeds, f"--runs {spec!r}")
        return [r for r in rows if not r["variant"] and low <= r["seed"] <= high and r["task"] in names.split(",")]
    if kind == "edited":  # the runs whose labeled items bench/label_editing.py saw left out
        edited = json.loads(Path(value).read_text())["runs"]
        keys = {pair_key(e) for e in edited if e["dropped"]}
        return [r for r in rows if pair_key(r) in keys]
    if kind == "keys":  # the runs listed in a JSON file: [{"task", "seed", "variant"}, ...]
        keys = {pair_key(e) for e in json.loads(Path(value).read_text())}
        return [r for r in rows if pair_key(r) in keys]
    if kind == "heads-below":  # the runs whose held-out accuracies a fit_gap of G can change
        try:
            gap = float(value)
        except ValueError:
            raise SystemExit(f"--runs {spec!r}: expected heads-below:G, G a number") from None
        def counted(row: dict) -> list[float]:  # the heads find_hypotheses counts (min_fit)
            classes = len(row["variant"].get("classes") or TASKS[row["task"]].classes)
            return [a for a in row["holdout_accuracy"] if a >= 1 / classes + 0.1]

        return [r for r in rows if min(counted(r)) < max(r["holdout_accuracy"]) - gap]
    raise SystemExit(f"--runs {spec!r}: expected variants:KINDS, named:A-B, tasks:NAMES:A-B, seeds:A-B[:NAMES], "
                     "edited:FILE, keys:FILE or heads-below:G")


def solve_row(row: dict, settings: list[dict], source, work: Path) -> list[dict]:
    """The run of ``row`` generated again and solved under each setting."""
    params = {k: (tuple(v) if isinstance(v, list) else v) for k, v in row["variant"].items()}
    folder, _, answers = generate_run(row["task"], params, source, row["seed"], work)
    out = []
    for overrides in settings:
        started = time.perf_counter()
        result = solve(folder, AnswersOracle(folder / "answers" / "y_val.npy"),
                       settings=SolveSettings(seed=row["seed"], **overrides))
        out.append({"truth": round(float((result.predictions == answers.y_val).mean()), 4),
                    "decision": result.summary["decision"], "estimate": result.summary["estimated_accuracy"],
                    "hypotheses": result.summary["hypotheses"]["count"],
                    "seconds": round(time.perf_counter() - started, 1)})
    return out


def totals(runs: list[dict], k: int) -> dict:
    """Setting ``k``'s counts over ``runs``."""
    known = [r for r in runs if r["identifiable"]]
    got = [r["solved"][k] for r in runs]
    return {"runs": len(runs), "identifiable": len(known),
            "mean_identifiable": round(float(np.mean([r["solved"][k]["truth"] for r in known])), 4) if known else None,
            "mean_plain_identifiable": round(float(np.mean([r["plain"] for r in known])), 4) if known else None,
            "mean_oracle_identifiable": round(float(np.mean([r["oracle"] for r in known])), 4) if known else None,
            "within_1_point": sum(r["solved"][k]["truth"] >= r["oracle"] - 0.01 for r in known),
            "below_plain_by_1_point": sum(s["truth"] < r["plain"] - 0.01 for r, s in zip(runs, got, strict=True)),
            "wrong_submissions": sum(s["decision"] == "submit" and s["truth"] < r["default"] for r, s in zip(runs, got,
                                                                                                        strict=True)),
            "wrong_on_pixel_sums": sum(s["decision"] == "submit" and s["truth"] < r["default"] and not r["identifiable"]
                                       for r, s in zip(runs, got, strict=True)),
            "needless_abstentions": sum(s["decision"] == "abstain" and s["truth"] >= r["default"] + 0.05
                                        for r, s in zip(runs, got, strict=True)),
            "seconds": round(sum(s["seconds"] for s in got), 1) if all(s.get("seconds") is not None for s in got)
            else None}


def markdown(result: dict) -> str:
    settings = [json.dumps(s) for s in result["settings"]]
    keys = list(result["totals"][0])
    lines = ["# Task-runs solved again under other solver settings", "", f"Command: `{result['command']}`", "",
             "Each run of the calibration result generated again and solved at today's code under each "
             "setting (`{}`: the defaults). Within 1 point: of the oracle of the calibration row; wrong: "
             "submitted under the default score; needless: abstained with the truth 5 points above it.", "",
             "| setting | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    lines += [f"| `{s}` | " + " | ".join(str(t[k]) for k in keys) + " |"
              for s, t in zip(settings, result["totals"], strict=True)]
    lines += ["", "## Every run (accuracy / decision / hypotheses)", "",
              "| task | seed | variant | plain | oracle | default | " + " | ".join(f"`{s}`" for s in settings) + " |",
              "|---|---|---|---|---|---|" + "---|" * len(settings)]
    for r in result["runs"]:
        variant = ", ".join(f"{k}={v}" for k, v in r["variant"].items() if k != "task")
        cells = [f"{s['truth']} / {s['decision']} / {s['hypotheses']}" for s in r["solved"]]
        lines.append(f"| {r['task']} | {r['seed']} | {variant} | {r['plain']} | {r['oracle']} | {r['default']} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


CALIBRATION_ROW = {"calibration row": "the defaults"}
"""The setting ``--render --calibration-row`` puts first: each run as its calibration row has it."""


def render(name: str, calibration: list[dict], with_row: bool = False) -> None:
    """``NAME.md`` written again from ``NAME.json``, each run's plain training filled in from
    its calibration row (the same task-run) where the JSON lacks it; ``with_row``: the
    calibration rows' own results first, as the baseline (a run solved again at the defaults
    of a later commit reproduces its row where the solver's path did not change: checked for
    the 697 digits runs at 63ada9b and the 194 of ``settings-ab-fit-gap-digits.md``)."""
    result = json.loads((RESULTS / f"{name}.json").read_text())
    by_key = {pair_key(r): r for r in calibration}
    for run in result["runs"]:
        row = by_key[pair_key(run)]
        run.setdefault("plain", row["plain"])
        if with_row and result["settings"][0] != CALIBRATION_ROW:
            run["solved"].insert(0, {"truth": row["truth"], "decision": row["decision"], "estimate": row["estimate"],
                                     "hypotheses": len(row["heads"]), "seconds": row["seconds"]})
    if with_row and result["settings"][0] != CALIBRATION_ROW:
        result["settings"].insert(0, CALIBRATION_ROW)
    result["totals"] = [totals(result["runs"], k) for k in range(len(result["settings"]))]
    again = f"python bench/settings_ab.py --render {name}" + " --calibration-row" * with_row
    if again not in result["command"]:
        result["command"] += f"; written again by {again} (plain training from the calibration rows)"
    save(RESULTS, name, result, markdown(result))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="*", help="SolveSettings overrides, JSON; the first is the baseline")
    parser.add_argument("--runs", help="variants:KINDS, named:A-B, tasks:NAMES:A-B, seeds:A-B[:NAMES], "
                        "edited:FILE, keys:FILE or heads-below:G")
    parser.add_argument("--render", default=None, help="only write NAME.md again from NAME.json")
    parser.add_argument("--calibration-row", action="store_true",
                        help="with --render: the calibration rows' own results first, as the baseline")
    parser.add_argument("--calibration", default=str(RESULTS / "calibration.json"))
    parser.add_argument("--source", default="digits", choices=("digits", "mnist"), help="the calibration's source")
    parser.add_argument("--mnist", default=str(SHARED / "mnist" / "mnist.npz"), help="MNIST .npz (--source mnist)")
    parser.add_argument("--name", default=None, help="write bench/results/NAME.{md,json}")
    args = parser.parse_args()
    calibration = json.loads(Path(args.calibration).read_text())["rows"]
    if args.render:
        render(args.render, calibration, args.calibration_row)
        return 0
    if not args.runs or not args.settings:
        raise SystemExit("expected --runs and at least one setting (or --render NAME)")
    settings = [json.loads(s) for s in args.settings]
    rows = pick(calibration, args.runs)
    source = load_source(args.source, args.mnist if args.source == "mnist" else None)
    work = Path(tempfile.mkdtemp())
    runs = []
    for row in rows:
        solved = solve_row(row, settings, source, work)
        runs.append({k: row[k] for k in ROW_FIELDS}
                    | {"solved": solved})
        print(row["task"], row["seed"], row["oracle"], [(s["truth"], s["decision"]) for s in solved], flush=True)
    command = "python bench/settings_ab.py " + " ".join(a if not a.startswith("{") else f"'{a}'" for a in sys.argv[1:])
    result = {"command": command, "settings": settings, "runs": runs,
              "totals": [totals(runs, k) for k in range(len(settings))]}
    if args.name:
        save(RESULTS, args.name, result, markdown(result))
    else:
        print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
