"""Benchmark (not a test): the hackathon suite on MNIST at the original sizes, and vehicle_animal.

For every task: accuracy of plain training on the labeled set, of underspec with at most 5
labels, and of an oracle (the same network trained on 1,200 target-distribution items with
their true labels); labels used, decision, wall seconds, peak memory; and the points-weighted
total score under the original rules (default 0.8, or 0.5 for the two hardest tasks).

    python bench/challenge.py [--mnist PATH] [--cifar10 PATH] [--tasks a,b] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from results_io import SHARED, save
from underspec.data.challenge import read_task
from underspec.data.generators import TASKS, generate
from underspec.data.sources import load_source
from underspec.oracles import AnswersOracle
from underspec.pipelines.demo import format_table, trained_accuracy
from underspec.pipelines.solve import SolveSettings, solve


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(tasks, mnist, cifar10, work: Path, sizes_888=None, overrides: dict | None = None) -> list[dict]:
    settings = SolveSettings(**(overrides or {}))
    mnist_src = load_source("mnist", mnist)
    rows = []
    for name in tasks:
        spec = TASKS[name]
        kw = {"source": mnist_src} if spec.needs in ("digits", "none") else {
            "source": "cifar10", "data": cifar10, "sizes": sizes_888}
        # Keep only the answers: solve reads the task back from disk.
        answers = generate(name, seed=42, oracle_items=1200, out=work / name, **kw)[1]
        y_val = answers.y_val
        started = time.perf_counter()
        result = solve(work / name, AnswersOracle(work / name / "answers" / "y_val.npy"),
                       settings=settings)
        seconds = time.perf_counter() - started
        task = read_task(work / name)
        ours = float((result.predictions == y_val).mean())
        plain = trained_accuracy(task.X_labeled, task.y_labeled, task, y_val, settings)
        oracle = trained_accuracy(answers.extra["oracle_X"], answers.extra["oracle_y"], task, y_val,
                             settings)
        s = result.summary
        rows.append({
            "task": f"{spec.id:02d}_{name}", "points": spec.points, "default": spec.default_score,
            "plain": round(plain, 4), "underspec": round(ours, 4), "oracle": round(oracle, 4),
            "gap_to_oracle": round(oracle - ours, 4), "labels": s["labels_used"],
            "hypotheses": s["hypotheses"]["count"], "estimated": s["estimated_accuracy"],
            "interval_90": s["interval_90"],
            "covered": s["interval_90"][0] <= ours <= s["interval_90"][1],
            "checks": f"{s['checks']['hits']}/{s['checks']['count']}",
            "p_random": s["p_disputed_labels_random"],
            "decision": s["decision"], "seconds": round(seconds, 1),
            "peak_rss_mb": round(peak_rss_mb()),
        })
        print(format_table(rows[-1:]), flush=True)
    return rows


def totals(rows: list[dict]) -> dict:
    def score(r, acc_key):
        return r[acc_key] if r["decision"] == "submit" or acc_key != "underspec" else r["default"]

    return {
        "points": sum(r["points"] for r in rows),
        "underspec_with_decisions": round(sum(r["points"] * score(r, "underspec") for r in rows), 3),
        "underspec_submit_all": round(sum(r["points"] * r["underspec"] for r in rows), 3),
        "plain_submit_all": round(sum(r["points"] * r["plain"] for r in rows), 3),
        "oracle_submit_all": round(sum(r["points"] * r["oracle"] for r in rows), 3),
        "all_default": round(sum(r["points"] * r["default"] for r in rows), 3),
        "underspec_seconds": round(sum(r["seconds"] for r in rows), 1),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in rows),
        "intervals_covering_the_accuracy": f"{sum(r['covered'] for r in rows)} of {len(rows)}",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", default=str(SHARED / "mnist" / "mnist.npz"))
    parser.add_argument("--cifar10", default=str(SHARED / "cifar10_full_jpeg" / "cifar10_jpeg.npz"))
    parser.add_argument("--tasks", help="comma-separated subset")
    parser.add_argument("--sizes-888", help="NL,NU,NV for vehicle_animal (default: original)")
    parser.add_argument("--out", default="bench/results")
    parser.add_argument("--name", default="challenge", help="stem of the result files")
    parser.add_argument("--work", default="bench/work")
    parser.add_argument("--settings", default="{}", help="JSON overrides of SolveSettings (ablations)")
    args = parser.parse_args()
    names = args.tasks.split(",") if args.tasks else [n for n in TASKS if n != "humans"]
    sizes_888 = tuple(int(v) for v in args.sizes_888.split(",")) if args.sizes_888 else None
    rows = run(names, args.mnist, args.cifar10, Path(args.work), sizes_888, json.loads(args.settings))
    summary = totals(rows)
    mnist_rows = [r for r in rows if not r["task"].startswith("888")]
    summary["mnist_suite_seconds"] = round(sum(r["seconds"] for r in mnist_rows), 1)
    command = "python " + " ".join(sys.argv)
    md = [f"# Challenge benchmark\n\nCommand: `{command}` (2 CPU cores, torch CPU).\n",
          "Accuracies on the target set; oracle = the same network trained on 1,200 "
          "target-distribution items with true labels. `checks`: hits of the final model on the "
          "disputed items drawn at random and held out of its training (only they measure the "
          "accuracy there); `p_random`: posterior that the disputed labels are a coin toss.\n",
          format_table(rows).join(["```\n", "\n```\n"]),
          "\n## Totals (points-weighted, defaults 0.8 / 0.5)\n", "```", json.dumps(summary, indent=2), "```\n"]
    save(Path(args.out), args.name, {"command": command, "rows": rows, "totals": summary},
         "\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
